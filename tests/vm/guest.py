"""What the matrix runs inside each guest (and on the host for the host column).

It prepares the kernel filesystems, checks which hook kinds load and attach,
records `vigil probe --json`, runs pytest with a JUnit report, and writes
everything to OUT/status.json. The host reads only files in OUT: the guest's
console carries kernel messages too, so nothing is parsed from it.

Standard library only: it runs under the project venv's Python, whose packages
may be half-installed while other engineers work.

    python tests/vm/guest.py --out DIR --repo REPO [--hooks OBJ] [-- PYTEST_ARGS...]
"""

from __future__ import annotations

import argparse
import ctypes
import errno
import json
import os
import platform
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

# (mount point, fstype): what the kernel tests need; virtme-ng mounts some of them.
MOUNTS = (
    ("/sys/fs/bpf", "bpf"),
    ("/sys/kernel/tracing", "tracefs"),
    ("/sys/kernel/debug", "debugfs"),
    ("/sys/kernel/security", "securityfs"),
)

# How pytest writes the JUnit report the host reads (kmatrix.parse_junit).
# xfail_strict: an xpass is a failure (its mark is wrong), and the report says so.
REPORT_OPTIONS = ("-o", "junit_family=xunit1", "-o", "xfail_strict=true")

# Program name in hooks.bpf.c -> the hook kind the matrix reports.
HOOK_PROGRAMS = (
    "tracepoint",
    "raw_tracepoint",
    "kprobe",
    "kretprobe",
    "fentry",
    "fexit",
    "fmod_ret",
    "lsm",
)


def mounted() -> set[str]:
    with open("/proc/self/mounts") as f:
        return {line.split()[1] for line in f}


def mount_filesystems() -> dict[str, str]:
    result: dict[str, str] = {}
    have = mounted()
    for target, fstype in MOUNTS:
        if target in have:
            result[target] = "already mounted"
            continue
        proc = subprocess.run(
            ["mount", "-t", fstype, fstype, target], capture_output=True, text=True
        )
        result[target] = "mounted" if proc.returncode == 0 else f"failed: {proc.stderr.strip()}"
    return result


def read(path: str) -> str | None:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return None


def check_hooks(obj_path: str) -> dict[str, dict[str, Any]]:
    """Load and attach each program of hooks.bpf.c alone; report ok or errno."""
    try:
        lib = ctypes.CDLL("libbpf.so.1", use_errno=True)
    except OSError as e:
        missing = {"ok": False, "error": f"libbpf.so.1 not found: {e}"}
        return {name: dict(missing) for name in HOOK_PROGRAMS}
    vp = ctypes.c_void_p
    lib.bpf_object__open_file.restype = vp
    lib.bpf_object__open_file.argtypes = [ctypes.c_char_p, vp]
    lib.bpf_object__next_program.restype = vp
    lib.bpf_object__next_program.argtypes = [vp, vp]
    lib.bpf_program__name.restype = ctypes.c_char_p
    lib.bpf_program__name.argtypes = [vp]
    lib.bpf_program__set_autoload.argtypes = [vp, ctypes.c_bool]
    lib.bpf_object__load.argtypes = [vp]
    lib.bpf_program__attach.restype = vp
    lib.bpf_program__attach.argtypes = [vp]
    lib.bpf_link__destroy.argtypes = [vp]
    lib.bpf_object__close.argtypes = [vp]
    # Silence libbpf's stderr chatter: the errno below is what the matrix reports.
    printer = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int, ctypes.c_char_p, vp)(lambda *a: 0)
    lib.libbpf_set_print.restype = vp
    lib.libbpf_set_print.argtypes = [vp]
    lib.libbpf_set_print(ctypes.cast(printer, vp))

    def err(step: str) -> dict[str, Any]:
        code = ctypes.get_errno()
        return {
            "ok": False,
            "step": step,
            "error": f"{errno.errorcode.get(code, code)} ({os.strerror(code)})",
        }

    results: dict[str, dict[str, Any]] = {}
    for wanted in HOOK_PROGRAMS:
        obj = lib.bpf_object__open_file(obj_path.encode(), None)
        if not obj:
            results[wanted] = err("open")
            continue
        try:
            prog, target = None, None
            while True:
                prog = lib.bpf_object__next_program(obj, prog)
                if not prog:
                    break
                name = lib.bpf_program__name(prog).decode()
                lib.bpf_program__set_autoload(prog, name == wanted)
                if name == wanted:
                    target = prog
            if target is None:
                results[wanted] = {"ok": False, "error": f"no program {wanted} in {obj_path}"}
                continue
            if lib.bpf_object__load(obj) != 0:
                results[wanted] = err("load")
                continue
            link = lib.bpf_program__attach(target)
            if not link:
                results[wanted] = err("attach")
                continue
            lib.bpf_link__destroy(link)
            results[wanted] = {"ok": True}
        finally:
            lib.bpf_object__close(obj)
    return results


def run_probe(python: str, repo: str) -> dict[str, Any]:
    """`vigil probe --json`, or why it is not there yet."""
    try:
        proc = subprocess.run(
            [python, "-m", "vigil", "probe", "--json"],
            cwd=repo,
            capture_output=True,
            text=True,
            timeout=120,
        )
    except subprocess.TimeoutExpired:
        return {"available": False, "error": "vigil probe --json timed out after 120 s"}
    if proc.returncode != 0:
        return {
            "available": False,
            "exit_code": proc.returncode,
            "error": (proc.stderr.strip() or proc.stdout.strip())[-2000:],
        }
    try:
        return {"available": True, "result": json.loads(proc.stdout)}
    except ValueError as e:
        return {"available": False, "error": f"output is not JSON ({e}): {proc.stdout[:500]}"}


def wait_pytest(
    proc: subprocess.Popen[bytes], deadline: float | None, status: dict[str, Any]
) -> int:
    """Wait for pytest; at the deadline interrupt it as Ctrl-C would.

    On SIGINT pytest stops after the running test, prints where it was and still
    writes the JUnit report, so a hanging test costs only itself.
    """
    try:
        return proc.wait(timeout=None if deadline is None else max(1.0, deadline - time.time()))
    except subprocess.TimeoutExpired:
        pass
    status["pytest_interrupted"] = "the matrix's deadline came: pytest was sent SIGINT"
    proc.send_signal(signal.SIGINT)
    try:
        return proc.wait(timeout=45)
    except subprocess.TimeoutExpired:
        status["pytest_interrupted"] += ", then SIGKILL 45 s later (no JUnit report)"
        proc.kill()
        return proc.wait()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--repo", required=True)
    ap.add_argument("--hooks", help="hooks.bpf.o to check; skipped when absent")
    ap.add_argument("--no-mount", action="store_true")
    ap.add_argument("--vm", help="the matrix's name for this kernel; tests see it as VIGIL_VM")
    ap.add_argument(
        "--deadline",
        type=float,
        help="epoch seconds: interrupt pytest then, so its JUnit report keeps what finished",
    )
    ap.add_argument("pytest_args", nargs="*")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "started").write_text(f"{time.time()}\n")
    started = time.monotonic()

    status: dict[str, Any] = {
        "uname": platform.release(),
        "version": read("/proc/version"),
        "cmdline": read("/proc/cmdline"),
        "lsm": read("/sys/kernel/security/lsm"),
        "btf": os.path.exists("/sys/kernel/btf/vmlinux"),
    }
    if not args.no_mount:
        status["mounts"] = mount_filesystems()
        status["lsm"] = read("/sys/kernel/security/lsm")
    # 5.10 charges BPF maps to RLIMIT_MEMLOCK (memcg accounting came in 5.11).
    # Some hosts (containers) forbid raising the hard limit: then take what is allowed.
    try:
        resource.setrlimit(resource.RLIMIT_MEMLOCK, (resource.RLIM_INFINITY,) * 2)
    except (ValueError, OSError):
        hard = resource.getrlimit(resource.RLIMIT_MEMLOCK)[1]
        resource.setrlimit(resource.RLIMIT_MEMLOCK, (hard, hard))
    status["memlock"] = resource.getrlimit(resource.RLIMIT_MEMLOCK)[0]

    if args.hooks and os.path.exists(args.hooks):
        status["hooks"] = check_hooks(args.hooks)

    # The checkout under test first: a git worktree shares a venv whose editable
    # install points at another checkout, and the host's PYTHONPATH stays outside.
    os.environ["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(Path(args.repo) / "src"), os.environ.get("PYTHONPATH")]))
    python = sys.executable
    status["probe"] = run_probe(python, args.repo)

    # The repository is read-only in the guest: no bytecode, no pytest cache.
    # Its own src/ first: the venv's editable install may point at another
    # checkout (a git worktree shares the main one's venv).
    env = dict(
        os.environ,
        PYTHONDONTWRITEBYTECODE="1",
        PYTHONPATH=os.pathsep.join(
            filter(None, [str(Path(__file__).resolve().parent), str(Path(args.repo) / "src"),
                          os.environ.get("PYTHONPATH")])
        ),
    )
    if args.vm:
        # TCG is 10-50x slower than the host: heavy tests may scale down when it is set.
        env["VIGIL_VM"] = args.vm
        # Loading and verifying vigil's programs takes a minute or more under
        # TCG with two guests at once: bounds to wait for it, not to time it.
        env.setdefault("VIGIL_TEST_READY_TIMEOUT", "300")
        env.setdefault("VIGIL_TEST_EVENT_TIMEOUT", "120")
    if (out / "modules").is_dir():
        # the guest kernel's test modules (kmatrix.copy_test_modules)
        env["VIGIL_TEST_MODULES"] = str(out / "modules")
    cmd = [
        python,
        "-m",
        "pytest",
        "-p",
        "no:cacheprovider",
        "-p",
        "needs_plugin",
        f"--junitxml={out / 'junit.xml'}",
        *REPORT_OPTIONS,
        "-rs",
        # What the matrix's time goes to, at the end of pytest.log.
        "--durations=40",
        *args.pytest_args,
    ]
    status["pytest_cmd"] = cmd
    t0 = time.monotonic()
    with open(out / "pytest.log", "w") as log:
        proc = subprocess.Popen(cmd, cwd=args.repo, env=env, stdout=log, stderr=subprocess.STDOUT)
        status["pytest_exit"] = wait_pytest(proc, args.deadline, status)
    status["pytest_seconds"] = round(time.monotonic() - t0, 1)
    status["guest_seconds"] = round(time.monotonic() - started, 1)

    tmp = out / "status.json.tmp"
    tmp.write_text(json.dumps(status, indent=2) + "\n")
    tmp.rename(out / "status.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
