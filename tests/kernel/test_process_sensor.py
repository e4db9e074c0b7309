"""The base process sensor on the running kernel: real programs, real child
processes, the events `vigil run` exports for them."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from vigil.process.model import quote_args

from .vigil_runner import (
    EVENT_TIMEOUT,
    READY_TIMEOUT,
    STOP_TIMEOUT,
    Event,
    VigilRun,
    exec_of,
    exit_of,
    read_line,
)

pytestmark = pytest.mark.needs("tracepoint", "raw_tracepoint", "ringbuf")


@pytest.fixture(scope="module")
def early_child() -> Iterator[subprocess.Popen[bytes]]:
    """A process that is already running when vigil starts."""
    child = subprocess.Popen(["/bin/sleep", "300"])
    yield child
    child.kill()
    child.wait()


@pytest.fixture(scope="module")
def vigil(tmp_path_factory: pytest.TempPathFactory,
          early_child: subprocess.Popen[bytes]) -> Iterator[VigilRun]:
    run = VigilRun(tmp_path_factory.mktemp("vigil"))
    yield run
    run.stop()


def process(ev: Event) -> dict[str, object]:
    kind = "process_exec" if "process_exec" in ev else "process_exit"
    return ev[kind]["process"]  # type: ignore[no-any-return]


def test_exec_with_spaces_and_quotes(vigil: VigilRun) -> None:
    args = ["a b", 'say "hi"', "it's", "plain", ""]
    child = subprocess.run(["/bin/echo", *args], stdout=subprocess.DEVNULL, check=True)
    del child
    ev = vigil.wait_for(
        lambda e: "process_exec" in e and process(e)["binary"] == "/bin/echo"
        and "say" in str(process(e).get("arguments", "")), "exec of /bin/echo")
    p = ev["process_exec"]["process"]
    assert p["arguments"] == quote_args(args)
    assert p["flags"] == "execve"
    assert p["uid"] == os.getuid()
    assert p["cwd"] == os.getcwd()
    assert p["pid"] == p["tid"]
    # protobuf's Timestamp JSON: 9, 6, 3 or no fractional digits.
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3}|\.\d{6}|\.\d{9})?Z",
                        p["start_time"])
    parent = ev["process_exec"]["parent"]
    assert parent["pid"] == os.getpid()
    assert p["parent_exec_id"] == parent["exec_id"]
    assert ev["node_name"] == os.uname().nodename


def test_shell_script_through_shebang(vigil: VigilRun, tmp_path: Path) -> None:
    script = tmp_path / "hello.sh"
    script.write_text("#!/bin/sh\nexit 0\n")
    script.chmod(0o755)
    proc = subprocess.Popen([str(script), "first", "second arg"], cwd=tmp_path)
    proc.wait()
    ev = vigil.wait_for(exec_of(proc.pid), "exec of the script")
    p = ev["process_exec"]["process"]
    assert p["binary"] == str(script)
    # The kernel rewrites argv for the interpreter: sh, the script, its args.
    assert p["arguments"] == quote_args([str(script), "first", "second arg"])
    assert p["cwd"] == str(tmp_path)
    vigil.wait_for(exit_of(proc.pid), "exit of the script")


def test_relative_binary_is_made_absolute(vigil: VigilRun, tmp_path: Path) -> None:
    shutil.copy("/bin/true", tmp_path / "rel-true")
    proc = subprocess.Popen(["./rel-true"], cwd=tmp_path)
    proc.wait()
    ev = vigil.wait_for(exec_of(proc.pid), "exec of ./rel-true")
    assert ev["process_exec"]["process"]["binary"] == str(tmp_path / "rel-true")


def test_process_started_before_vigil(vigil: VigilRun,
                                      early_child: subprocess.Popen[bytes]) -> None:
    early_child.kill()
    early_child.wait()
    ev = vigil.wait_for(exit_of(early_child.pid), "exit of the early child")
    body = ev["process_exit"]
    assert body["process"]["flags"] == "procFS"
    assert body["process"]["binary"] == os.path.realpath("/bin/sleep")  # /proc/<pid>/exe
    assert body["process"]["arguments"] == "300"
    assert body["signal"] == "SIGKILL"
    assert body["parent"]["pid"] == os.getpid()
    assert body["process"]["parent_exec_id"] == body["parent"]["exec_id"]


def test_children_of_a_process_started_before_vigil_know_their_parent(
        vigil: VigilRun) -> None:
    # pytest itself was found in /proc; its child's parent is pytest.
    proc = subprocess.run(["/bin/true"], check=True)
    del proc
    ev = vigil.wait_for(
        lambda e: "process_exec" in e and process(e)["binary"] == "/bin/true"
        and e["process_exec"]["parent"]["pid"] == os.getpid(), "exec of /bin/true")
    assert ev["process_exec"]["parent"]["flags"] == "procFS"


def test_fork_without_exec_is_a_clone(vigil: VigilRun) -> None:
    code = textwrap.dedent("""
        import os, sys, time
        pid = os.fork()
        if pid == 0:
            time.sleep(0.2)
            os._exit(7)
        print(pid, flush=True)
        os.waitpid(pid, 0)
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
    child_pid = int(read_line(proc.stdout))
    proc.wait()
    ev = vigil.wait_for(exit_of(child_pid), "exit of the forked child")
    body = ev["process_exit"]
    assert body["process"]["flags"] == "clone"
    assert body["status"] == 7
    assert body["parent"]["pid"] == proc.pid
    assert body["process"]["binary"] == body["parent"]["binary"]


def test_exit_code(vigil: VigilRun) -> None:
    proc = subprocess.Popen(["/bin/sh", "-c", "exit 3"])
    assert proc.wait() == 3
    ev = vigil.wait_for(exit_of(proc.pid), "exit of sh -c 'exit 3'")
    assert ev["process_exit"]["status"] == 3
    assert "signal" not in ev["process_exit"]


def test_killed_by_sigkill(vigil: VigilRun) -> None:
    proc = subprocess.Popen(["/bin/sleep", "100"])
    vigil.wait_for(exec_of(proc.pid), "exec of sleep")
    proc.kill()
    proc.wait()
    ev = vigil.wait_for(exit_of(proc.pid), "exit of the killed sleep")
    assert ev["process_exit"]["signal"] == "SIGKILL"
    assert "status" not in ev["process_exit"]


def test_threads_exiting_first_give_exactly_one_exit(vigil: VigilRun) -> None:
    code = textwrap.dedent("""
        import threading, time
        threads = [threading.Thread(target=time.sleep, args=(0.05,)) for _ in range(8)]
        for t in threads: t.start()
        for t in threads: t.join()
        time.sleep(0.2)
    """)
    proc = subprocess.Popen([sys.executable, "-c", code])
    proc.wait()
    vigil.wait_for(exit_of(proc.pid), "exit of the threaded process")
    # Give a wrong second exit time to arrive before counting.
    marker = subprocess.Popen(["/bin/true"])
    marker.wait()
    vigil.wait_for(exit_of(marker.pid), "exit of a later marker")
    exits = [e for e in vigil.events() if exit_of(proc.pid)(e)]
    assert len(exits) == 1


def test_long_argv_is_truncated_and_flagged(vigil: VigilRun) -> None:
    args = [f"arg{i:05d}" + "x" * 90 for i in range(100)]  # ~9.6 KB of argv
    proc = subprocess.Popen(["/bin/true", *args])
    proc.wait()
    ev = vigil.wait_for(exec_of(proc.pid), "exec with a long argv")
    p = ev["process_exec"]["process"]
    assert p["flags"] == "execve truncArgs"
    # The first 4096 bytes of argv ("/bin/true\0" then each argument and its
    # NUL), the last argument cut where the bytes end.
    raw = b"".join(a.encode() + b"\0" for a in ["/bin/true", *args])[:4096]
    assert p["arguments"] == quote_args([a.decode() for a in raw.split(b"\0")[1:]])


def test_cwd_in_a_deep_directory(vigil: VigilRun, tmp_path: Path) -> None:
    deep = tmp_path
    for i in range(40):
        deep = deep / f"level-{i:02d}"
    deep.mkdir(parents=True)
    proc = subprocess.Popen(["/bin/true"], cwd=deep)
    proc.wait()
    ev = vigil.wait_for(exec_of(proc.pid), "exec in a deep directory")
    assert ev["process_exec"]["process"]["cwd"] == str(deep.resolve())


def test_root_cwd_is_flagged(vigil: VigilRun) -> None:
    proc = subprocess.Popen(["/bin/true"], cwd="/")
    proc.wait()
    p = vigil.wait_for(exec_of(proc.pid), "exec in /")["process_exec"]["process"]
    assert p["cwd"] == "/"
    assert p["flags"] == "execve rootcwd"


def test_child_running_as_another_uid(vigil: VigilRun) -> None:
    proc = subprocess.Popen(["/bin/true"], user=65534, group=65534, cwd="/")
    proc.wait()
    p = vigil.wait_for(exec_of(proc.pid), "exec as uid 65534")["process_exec"]["process"]
    assert p["uid"] == 65534
    # Dropping to an unprivileged uid clears the effective capabilities.
    assert "effective" not in p.get("cap", {})


# In the VM matrix (TCG, no KVM, 9p root) each exec is ~100x slower than on
# the host; the burst there proves the same path with fewer processes.
BURST = 300 if os.environ.get("VIGIL_VM") else 2000


def test_burst_of_2000_processes_loses_nothing(tmp_path: Path) -> None:
    binary = tmp_path / "burst-true"
    shutil.copy("/bin/true", binary)
    run = VigilRun(tmp_path)
    try:
        pids = []
        for _ in range(BURST):
            pids.append(os.posix_spawn(str(binary), [str(binary)], os.environ))
        for pid in pids:
            os.waitpid(pid, 0)
        last = pids[-1]
        run.wait_for(exit_of(last), "exit of the last burst process", timeout=EVENT_TIMEOUT * 3)
    finally:
        summary = run.stop(signal.SIGINT)
    execs = {process(e)["pid"] for e in run.events()
             if "process_exec" in e and process(e)["binary"] == str(binary)}
    exits = {process(e)["pid"] for e in run.events()
             if "process_exit" in e and process(e)["binary"] == str(binary)}
    assert execs == set(pids)
    assert exits == set(pids)
    assert re.search(r"lost: 0\b", summary), summary


def program_ids_of(pid: int | None = None) -> set[int]:
    """Ids of loaded BPF programs: all of them, or those `pid` holds an fd of."""
    if pid is None:
        out = subprocess.run(["bpftool", "-j", "prog", "show"], capture_output=True,
                             text=True, check=True).stdout
        return {p["id"] for p in json.loads(out)}
    ids = set()
    for fd in os.listdir(f"/proc/{pid}/fdinfo"):
        try:
            info = Path(f"/proc/{pid}/fdinfo/{fd}").read_text()
        except OSError:
            continue
        for line in info.splitlines():
            if line.startswith("prog_id:"):
                ids.add(int(line.split()[1]))
    return ids


def test_stop_detaches_everything_and_reports(tmp_path: Path) -> None:
    run = VigilRun(tmp_path)
    try:
        ours = program_ids_of(run.proc.pid)
    finally:
        summary = run.stop(signal.SIGINT)
    assert len(ours) == 8  # exec (four stages), fork, exit, cgroup mkdir and rmdir
    assert run.proc.returncode == 0
    last = summary.strip().splitlines()[-1]
    assert re.match(r"vigil: stopped\. events seen: \d+ .*exported: \d+; lost: 0", last), last
    assert not ours & program_ids_of()


@pytest.mark.kernel_independent("the compact encoder and export filters")
def test_compact_output_and_filters(tmp_path: Path) -> None:
    binary = tmp_path / "marker-true"
    shutil.copy("/bin/true", binary)
    proc = subprocess.Popen(
        [sys.executable, "-m", "vigil", "run", "-o", "compact", "--binary-regex",
         "marker-true$"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert proc.stderr is not None
        assert "vigil: watching" in read_line(proc.stderr, timeout=READY_TIMEOUT)
        subprocess.run([str(binary), "x y"], check=True)
        subprocess.run(["/bin/true"], check=True)
    finally:
        # Both processes have been reaped, so their records are in the ring
        # buffer; vigil drains it before it stops.
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=STOP_TIMEOUT)
    lines = out.decode().splitlines()
    node = os.uname().nodename
    assert lines == [f"🚀 process {node} {binary} \"x y\"",
                     f"💥 exit    {node} {binary} \"x y\" 0"]


def test_not_root_is_a_clear_error() -> None:
    # The interpreter may live where an unprivileged user cannot run it, so
    # drop privileges in a fork of this (already loaded) process instead.
    import vigil.cli
    import vigil.kernel.cli
    import vigil.kernel.mounts
    import vigil.libbpf
    import vigil.preflight
    import vigil.run

    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        sys.stderr = open(write_end, "w")  # noqa: SIM115 - the child ends below
        vigil.cli.build_parser()  # imports what main() needs while root may still read it
        os.setgroups([])
        os.setresgid(65534, 65534, 65534)
        os.setresuid(65534, 65534, 65534)
        code = vigil.cli.main(["run"])
        sys.stderr.flush()
        os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end) as f:
        stderr = f.read()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 1
    assert "needs root" in stderr
    assert "sudo" in stderr
