"""The multi-kernel test matrix: tests/kernel inside VMs on other kernels.

The host kernel refuses kprobe, fentry/fexit, fmod_ret and LSM programs, so the
tests that need them are proven here, on Debian's kernels, booted with
virtme-ng under QEMU (TCG) on the host's own root filesystem. For each kernel
of tests/vm/kernels.toml it:

1. resolves and downloads the kernel package with apt from its suite, using a
   private apt configuration under CACHE/apt (the host's apt sources and lists
   are never touched), and unpacks it under CACHE/kernels/RELEASE;
2. links CACHE/kernels/RELEASE/lib/modules/RELEASE to /lib/modules/RELEASE,
   where virtme-ng looks for the 9p, virtio and overlay modules of the guest;
3. boots it with `vng --run vmlinuz --disable-kvm --append lsm=lockdown,capability,bpf`
   and runs tests/vm/guest.py inside: mounts, hook check, `vigil probe --json`,
   pytest with a JUnit report, all written to results/vm/NAME/;
4. merges the reports into results/kernel-matrix.json and .md: kernel x test,
   pass / fail / skip with its reason, and the tests that ran nowhere.

Exit status: 0 all green; 1 any failure (a test, a boot, a hook check, a test
that ran nowhere, a kernel on which no test ran, a guest running another kernel
than the one meant to boot, an xfail or an xpass: neither is a pass); 5 no
kernel collected any test (pytest's "no tests").

    python tests/vm/kmatrix.py [--kernels 6.1,5.10] [--jobs 2] [--no-host] [TESTS...]

Environment (what `make test-kernels` passes): KERNELS, TESTS, JOBS, HOST=0,
HOST_JUNIT (the host column from `make test`'s report: tests/vm/host_report.py),
VM_TIMEOUT, VM_CPUS, VM_MEMORY, VM_APPEND (more kernel arguments), VIGIL_KERNEL_CACHE.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
import tomllib
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import host_report

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
KERNELS_TOML = HERE / "kernels.toml"
CACHE = Path(os.environ.get("VIGIL_KERNEL_CACHE", "/var/cache/vigil-kernels"))
MIRROR = "http://deb.debian.org/debian"
KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"
VNG_REQUIREMENT = "virtme-ng==1.42"
CMDLINE = "lsm=lockdown,capability,bpf"
APT_MAX_AGE = 24 * 3600
# Debian package -> a file it installs: what the harness needs on the host.
HOST_PACKAGES = {
    "qemu-system-x86": "/usr/bin/qemu-system-x86_64",
    "busybox-static": "/bin/busybox",  # virtme-ng builds the guest's initramfs with it
    "kmod": "/sbin/depmod",
    "python3-venv": "",  # checked by importing ensurepip
    "debian-archive-keyring": KEYRING,
}
# Outcomes of a test that ran; only "pass" is green. An xfail is a known
# failure and an xpass a test whose mark is wrong: both fail the matrix.
RAN = ("pass", "fail", "error", "xfail", "xpass")
NOT_PASSED = ("fail", "error", "xfail", "xpass")
# How pytest's JUnit writer reports a strict xfail that passed (the guest runs
# pytest with xfail_strict, so every xpass is reported): a <failure> whose
# message starts with this, or (pytest < 8) a <skipped> with the message below.
XPASS_PREFIX = "[XPASS(strict)]"
XPASS_MESSAGE = "xfail-marked test passes unexpectedly"
PYTEST_EXIT = {
    0: "passed",
    1: "tests failed",
    2: "interrupted (collection error?)",
    3: "pytest internal error",
    4: "pytest usage error",
    5: "no tests collected",
}


class MatrixError(Exception):
    """A step before the tests could not be done; the message says what to do."""


@dataclass
class Kernel:
    name: str
    suite: str
    package: str | None = None
    mirror: str = MIRROR
    default: bool = True
    expect_hooks: list[str] = field(default_factory=list)


@dataclass
class Column:
    """One kernel's run: how it booted, what it loaded, and every test's outcome."""

    name: str
    suite: str = "host"
    package: str = ""
    version: str = ""
    release: str = ""
    status: str = "not run"  # ok | download failed | boot failed | panic | timeout | ...
    error: str = ""
    console_tail: list[str] = field(default_factory=list)
    boot_seconds: float | None = None
    total_seconds: float | None = None
    pytest_exit: int | None = None
    pytest_result: str = ""
    hooks: dict[str, Any] = field(default_factory=dict)
    hook_failures: list[str] = field(default_factory=list)
    probe: dict[str, Any] = field(default_factory=dict)
    tests: dict[str, dict[str, str]] = field(default_factory=dict)
    guest: dict[str, Any] = field(default_factory=dict)


def log(msg: str) -> None:
    print(f"test-kernels: {msg}", file=sys.stderr, flush=True)


def run(cmd: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


# ---------------------------------------------------------------- configuration


def load_kernels(path: Path = KERNELS_TOML) -> list[Kernel]:
    with open(path, "rb") as f:
        data = tomllib.load(f)
    return [Kernel(**k) for k in data["kernel"]]


def select_kernels(kernels: list[Kernel], wanted: str) -> list[Kernel]:
    """KERNELS="6.1 5.10" (or comma separated); empty: the default ones."""
    names = [n for n in wanted.replace(",", " ").split() if n]
    if not names:
        return [k for k in kernels if k.default]
    by_name = {k.name: k for k in kernels}
    unknown = [n for n in names if n not in by_name]
    if unknown:
        raise MatrixError(
            f"unknown kernel(s) {', '.join(unknown)}: {KERNELS_TOML} has {', '.join(by_name)}"
        )
    return [by_name[n] for n in names]


# ---------------------------------------------------------------- host tools


def ensure_host_tools() -> None:
    if os.geteuid() != 0:
        raise MatrixError(
            "run as root: the matrix installs packages, writes /lib/modules "
            "and loads BPF programs (sudo make test-kernels)"
        )
    missing = [
        pkg
        for pkg, path in HOST_PACKAGES.items()
        if not (
            os.path.exists(path)
            if path
            else run(["python3", "-c", "import ensurepip"]).returncode == 0
        )
    ]
    if not missing:
        return
    log(f"installing Debian packages: {' '.join(missing)}")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    upd = run(["apt-get", "update", "-q"], env=env)
    inst = run(["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing], env=env)
    if inst.returncode != 0:
        what = "qemu missing" if "qemu-system-x86" in missing else "host packages missing"
        raise MatrixError(
            f"{what}: apt-get install {' '.join(missing)} failed "
            f"(exit {inst.returncode}):\n{(upd.stderr + inst.stderr)[-2000:]}"
        )


def ensure_vng() -> Path:
    """virtme-ng in its own venv under CACHE (the project venv stays the project's)."""
    venv = CACHE / "venv"
    vng = venv / "bin" / "vng"
    stamp = venv / ".requirement"
    if vng.exists() and stamp.exists() and stamp.read_text() == VNG_REQUIREMENT:
        return vng
    log(f"installing {VNG_REQUIREMENT} into {venv}")
    CACHE.mkdir(parents=True, exist_ok=True)
    # The system interpreter, not the project venv's: `make setup` may rebuild that.
    python3 = shutil.which("python3", path="/usr/bin:/bin") or "python3"
    steps = [
        [python3, "-m", "venv", "--clear", str(venv)],
        [str(venv / "bin" / "pip"), "install", "-q", VNG_REQUIREMENT],
    ]
    for cmd in steps:
        p = run(cmd)
        if p.returncode != 0:
            raise MatrixError(
                f"installing virtme-ng failed: {' '.join(cmd)} (exit "
                f"{p.returncode}):\n{(p.stdout + p.stderr)[-2000:]}"
            )
    stamp.write_text(VNG_REQUIREMENT)
    return vng


# ---------------------------------------------------------------- virtiofsd

# The guests' root filesystem. Over 9p (virtme-ng's fallback, cache=none) every
# stat and read is a round trip to QEMU, about 6 ms under TCG: importing
# vigil's policy validator took 24 s in a 5.10 guest, over virtiofs (cached) 4 s.
# virtme-ng wants the Rust virtiofsd, which bookworm lacks; trixie has it, built
# against trixie's glibc, so it runs here with trixie's own loader and libraries,
# unpacked under CACHE/virtiofsd and nowhere else.
VIRTIOFSD_SUITE = "trixie"
VIRTIOFSD_PACKAGES = ("virtiofsd", "libc6", "libcap-ng0", "libseccomp2", "libgcc-s1")
VIRTIOFSD_WRAPPER = """#!/bin/sh
# Written by tests/vm/kmatrix.py: trixie's virtiofsd on its own glibc.
exec {lib}/ld-linux-x86-64.so.2 --library-path {lib} {tree}/usr/libexec/virtiofsd "$@"
"""


def ensure_virtiofsd(apt: Apt, vng: Path) -> bool:
    """Put a working `virtiofsd` beside vng (first on vng's PATH), or remove a
    stale one so that virtme-ng falls back to 9p. True if the guests get virtiofs."""
    root = CACHE / "virtiofsd"
    wrapper = vng.parent / "virtiofsd"
    try:
        versions = {}
        for pkg in VIRTIOFSD_PACKAGES:
            found = apt.madison(pkg)
            if VIRTIOFSD_SUITE not in found:
                raise MatrixError(f"{pkg} is not in {VIRTIOFSD_SUITE}")
            versions[pkg] = found[VIRTIOFSD_SUITE]
        tree = root / "tree"
        stamp = root / ".unpacked"
        want = json.dumps(versions, sort_keys=True)
        if not stamp.exists() or stamp.read_text() != want:
            if tree.exists():
                shutil.rmtree(tree)
            tree.mkdir(parents=True)
            for pkg, version in versions.items():
                deb = apt.download(pkg, version, root / "debs")
                p = run(["dpkg-deb", "-x", str(deb), str(tree)])
                if p.returncode != 0:
                    raise MatrixError(f"unpacking {deb} failed: {p.stderr[-500:]}")
            stamp.write_text(want)
        lib = tree / "usr" / "lib" / "x86_64-linux-gnu"
        wrapper.write_text(VIRTIOFSD_WRAPPER.format(lib=shlex.quote(str(lib)),
                                                    tree=shlex.quote(str(tree))))
        wrapper.chmod(0o755)
        p = run([str(wrapper), "--version"])
        if p.returncode != 0:
            raise MatrixError(f"{wrapper} --version: exit {p.returncode}: {p.stderr[-300:]}")
    except MatrixError as e:
        wrapper.unlink(missing_ok=True)
        log(f"note: no virtiofsd ({e}); the guests' root is 9p, several times slower")
        return False
    log(f"virtiofsd {versions['virtiofsd']} from {VIRTIOFSD_SUITE}: the guests' root is virtiofs")
    return True


# ---------------------------------------------------------------- kernels via apt


class Apt:
    """apt with a private sources list, lists and cache under CACHE/apt."""

    def __init__(self, sources: list[tuple[str, str]]) -> None:
        """sources: (mirror, suite) pairs."""
        self.dir = CACHE / "apt"
        self.sources = sorted(set(sources))
        self.suites = [suite for _, suite in self.sources]
        self.opts = [
            "-o",
            f"Dir::Etc::sourcelist={self.dir / 'sources.list'}",
            "-o",
            "Dir::Etc::sourceparts=-",
            "-o",
            f"Dir::State::Lists={self.dir / 'lists'}",
            "-o",
            f"Dir::Cache={self.dir}",
            "-o",
            f"Dir::Cache::archives={self.dir / 'archives'}",
            "-o",
            "APT::Sandbox::User=root",
        ]

    def update(self) -> None:
        (self.dir / "lists" / "partial").mkdir(parents=True, exist_ok=True)
        (self.dir / "archives" / "partial").mkdir(parents=True, exist_ok=True)
        sources = "".join(f"deb [signed-by={KEYRING}] {m} {s} main\n" for m, s in self.sources)
        src = self.dir / "sources.list"
        stamp = self.dir / "updated"
        fresh = (
            src.exists()
            and src.read_text() == sources
            and stamp.exists()
            and time.time() - stamp.stat().st_mtime < APT_MAX_AGE
        )
        if fresh:
            return
        src.write_text(sources)
        log(f"apt-get update for {', '.join(self.suites)} (private lists in {self.dir})")
        p = run(["apt-get", *self.opts, "update", "-q"])
        if p.returncode != 0 or "\nE: " in "\n" + p.stderr:
            raise MatrixError(
                f"download failed: apt-get update of {', '.join(self.suites)} "
                f"(exit {p.returncode}):\n{p.stderr[-2000:]}"
            )
        stamp.touch()

    def resolve(self, k: Kernel) -> tuple[str, str]:
        """(package, version) of the kernel image for k."""
        if k.package:
            pkg = k.package
            versions = self.madison(pkg)
        else:
            meta = self.madison("linux-image-amd64")
            if k.suite not in meta:
                raise MatrixError(
                    f"download failed: no linux-image-amd64 in suite {k.suite} "
                    f"(suites seen: {', '.join(meta) or 'none'})"
                )
            p = run(["apt-cache", *self.opts, "show", f"linux-image-amd64={meta[k.suite]}"])
            depends = next((ln for ln in p.stdout.splitlines() if ln.startswith("Depends:")), "")
            pkg = depends.removeprefix("Depends:").split(",")[0].split("(")[0].strip()
            if not pkg:
                raise MatrixError(
                    f"download failed: cannot tell which image "
                    f"linux-image-amd64={meta[k.suite]} depends on"
                )
            versions = self.madison(pkg)
        if k.suite not in versions:
            raise MatrixError(
                f"download failed: {pkg} is not in suite {k.suite} "
                f"(found in: {', '.join(versions) or 'none'})"
            )
        return pkg, versions[k.suite]

    def madison(self, pkg: str) -> dict[str, str]:
        """suite -> newest version of pkg there."""
        p = run(["apt-cache", *self.opts, "madison", pkg])
        return parse_madison(p.stdout)

    def download(self, pkg: str, version: str, dest: Path) -> Path:
        dest.mkdir(parents=True, exist_ok=True)
        for deb in dest.glob(f"{pkg}_*.deb"):
            if run(["dpkg-deb", "-f", str(deb), "Version"]).stdout.strip() == version:
                return deb
        log(f"downloading {pkg}={version}")
        p = run(["apt-get", *self.opts, "download", f"{pkg}={version}"], cwd=dest)
        debs = [
            d
            for d in dest.glob(f"{pkg}_*.deb")
            if run(["dpkg-deb", "-f", str(d), "Version"]).stdout.strip() == version
        ]
        if p.returncode != 0 or not debs:
            raise MatrixError(
                f"download failed: apt-get download {pkg}={version} "
                f"(exit {p.returncode}):\n{p.stderr[-2000:]}"
            )
        return debs[0]


def parse_madison(text: str) -> dict[str, str]:
    """`apt-cache madison` lines -> {suite: version} (first, i.e. newest, per suite)."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        parts = [p.strip() for p in line.split("|")]
        if len(parts) < 3:
            continue
        words = parts[2].split()  # "http://deb.debian.org/debian bullseye/main amd64 Packages"
        if len(words) >= 2:
            out.setdefault(words[1].split("/")[0], parts[1])
    return out


def unpack(deb: Path) -> tuple[str, Path]:
    """Unpack the image under CACHE/kernels and make its modules visible to virtme-ng.

    Returns (release, vmlinuz).
    """
    listing = run(["dpkg-deb", "-c", str(deb)]).stdout
    images = [ln.split()[-1] for ln in listing.splitlines() if "/boot/vmlinuz-" in ln]
    if not images:
        raise MatrixError(f"download failed: {deb} holds no /boot/vmlinuz-*")
    release = images[0].rsplit("/vmlinuz-", 1)[1]
    root = CACHE / "kernels" / release
    stamp = root / ".unpacked"
    if not stamp.exists() or stamp.read_text() != deb.name:
        if root.exists():
            shutil.rmtree(root)
        root.mkdir(parents=True)
        p = run(["dpkg-deb", "-x", str(deb), str(root)])
        if p.returncode != 0:
            raise MatrixError(f"unpacking {deb} failed: {p.stderr[-1000:]}")
        stamp.write_text(deb.name)
    mods = root / "lib" / "modules" / release
    link = Path("/lib/modules") / release
    if link.is_symlink() and link.resolve() != mods.resolve():
        link.unlink()
    if not link.exists():
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(mods)
    elif not link.is_symlink():
        log(f"{link} is a real directory (installed kernel?); using it as it is")
    if not (link / "modules.dep").exists() or (link / "modules.dep").stat().st_size == 0:
        p = run(["depmod", "-a", release])
        if p.returncode != 0:
            raise MatrixError(f"depmod -a {release} failed: {p.stderr[-1000:]}")
    return release, root / "boot" / f"vmlinuz-{release}"


def prepare_kernel(apt: Apt, k: Kernel, col: Column) -> Path:
    """Resolve, download and unpack; falls back to the last good download offline."""
    memo = CACHE / "resolved" / f"{k.name}.json"
    try:
        pkg, version = apt.resolve(k)
        deb = apt.download(pkg, version, CACHE / "debs")
    except MatrixError as e:
        if not memo.exists():
            raise
        last = json.loads(memo.read_text())
        deb = Path(last["deb"])
        if not deb.exists():
            raise
        log(f"{k.name}: {e}; using the cached {deb.name}")
        pkg, version = last["package"], last["version"]
    release, vmlinuz = unpack(deb)
    memo.parent.mkdir(parents=True, exist_ok=True)
    memo.write_text(json.dumps({"package": pkg, "version": version, "deb": str(deb)}))
    col.package, col.version, col.release = pkg, version, release
    return vmlinuz


# Modules the kernel tests load (tests/kernel/test_module_args.py): small, with
# no dependencies and nothing to drive. The guests see no /var/cache, so they
# are copied next to the guest's results, which it sees (VIGIL_TEST_MODULES).
TEST_MODULES = ("kernel/drivers/net/dummy.ko",)


def copy_test_modules(release: str, into: Path) -> None:
    mods = CACHE / "kernels" / release / "lib" / "modules" / release
    into.mkdir(parents=True, exist_ok=True)
    for rel in TEST_MODULES:
        # Debian compresses them (.ko.xz on 6.x); insmod reads either
        found = sorted((mods / rel).parent.glob(Path(rel).name + "*"))
        if found:
            shutil.copy2(found[0], into / found[0].name)


# ---------------------------------------------------------------- hook object


def build_hooks() -> Path:
    clang = os.environ.get("CLANG", "clang-19")
    out = REPO / "build" / "vm" / "hooks.bpf.o"
    src = HERE / "hooks.bpf.c"
    if out.exists() and out.stat().st_mtime >= src.stat().st_mtime:
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    arch = os.uname().machine.replace("x86_64", "x86").replace("aarch64", "arm64")
    triplet = f"/usr/include/{os.uname().machine}-linux-gnu"
    p = run(
        [
            clang,
            "-g",
            "-O2",
            "-target",
            "bpf",
            f"-D__TARGET_ARCH_{arch}",
            f"-I{triplet}",
            "-c",
            str(src),
            "-o",
            str(out),
        ]
    )
    if p.returncode != 0:
        raise MatrixError(f"building {src} failed ({clang}):\n{p.stderr[-2000:]}")
    return out


# ---------------------------------------------------------------- running


def guest_command(
    python: Path,
    out: Path,
    hooks: Path,
    tests: list[str],
    vm: str | None,
    deadline: float | None = None,
) -> list[str]:
    cmd = [
        str(python),
        str(HERE / "guest.py"),
        "--out",
        str(out),
        "--repo",
        str(REPO),
        "--hooks",
        str(hooks),
    ]
    if vm:
        cmd += ["--vm", vm]
    if deadline:
        cmd += ["--deadline", f"{deadline:.0f}"]
    return [*cmd, "--", *tests]


def boot(
    vng: Path,
    vmlinuz: Path,
    guest: list[str],
    out: Path,
    col: Column,
    timeout: float,
    cpus: int,
    memory: str,
) -> None:
    """Boot vmlinuz, run guest inside, wait; fills col.status/error/boot_seconds."""
    cmd = [
        str(vng),
        "--run",
        str(vmlinuz),
        "--disable-kvm",
        "--cpus",
        str(cpus),
        "--memory",
        memory,
        "--verbose",
        "--name",
        f"vigil-{col.name}",
        "--append",
        f"{CMDLINE} {os.environ.get('VM_APPEND', '')}".strip(),
        "--rwdir",
        str(out),
        "--exec",
        shlex.join(guest),
    ]
    env = dict(os.environ)
    # vng calls its sibling scripts (virtme-run, ...) through PATH.
    env["PATH"] = f"{vng.parent}{os.pathsep}{env.get('PATH', '/usr/bin:/bin')}"
    console = out / "console.log"
    t0, wall0 = time.monotonic(), time.time()
    with open(console, "w") as con:
        con.write(f"$ {shlex.join(cmd)}\n")
        con.flush()
        proc = subprocess.Popen(
            cmd,
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=con,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        timed_out = False
        while proc.poll() is None:
            if col.boot_seconds is None and (out / "started").exists():
                col.boot_seconds = round(time.monotonic() - t0, 1)
            if time.monotonic() - t0 > timeout:
                timed_out = True
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                break
            time.sleep(0.5)
    col.total_seconds = round(time.monotonic() - t0, 1)
    if col.boot_seconds is None and (out / "started").exists():
        col.boot_seconds = round((out / "started").stat().st_mtime - wall0, 1)
    text = console.read_text(errors="replace")
    col.console_tail = text.splitlines()[-40:]
    if (out / "status.json").exists():
        col.status = "ok"
    elif "Kernel panic" in text:
        lines = text.splitlines()
        at = next(i for i, ln in enumerate(lines) if "Kernel panic" in ln)
        col.status = "panic"
        col.error = "guest kernel panicked: " + lines[at].split("] ", 1)[-1]
        # The panic line, what led to it, and the trace after it.
        col.console_tail = lines[max(0, at - 15) : at + 25]
    elif timed_out:
        col.status = "timeout"
        col.error = (
            f"no result after {timeout:.0f} s ("
            + (
                "booted, tests still running"
                if (out / "started").exists()
                else "the guest never started the test script"
            )
            + ")"
        )
    elif (out / "started").exists():
        col.status = "guest failed"
        col.error = "the test script started in the guest but wrote no status.json"
    else:
        col.status = "boot failed"
        col.error = f"vng exited {proc.returncode} before the guest ran the test script"


def read_guest(out: Path, col: Column, expect_hooks: list[str]) -> None:
    status = json.loads((out / "status.json").read_text())
    col.guest = {
        k: status.get(k)
        for k in ("uname", "lsm", "cmdline", "btf", "mounts", "pytest_seconds", "guest_seconds")
    }
    col.hooks = status.get("hooks", {})
    col.probe = status.get("probe", {})
    col.pytest_exit = status.get("pytest_exit")
    col.pytest_result = PYTEST_EXIT.get(col.pytest_exit or 0, f"exit {col.pytest_exit}")
    col.hook_failures = [h for h in expect_hooks if not col.hooks.get(h, {}).get("ok")]
    junit = out / "junit.xml"
    col.tests = parse_junit(junit.read_text()) if junit.exists() else {}
    if status.get("pytest_interrupted"):
        col.pytest_result = "interrupted at the deadline (VM_TIMEOUT)"
    if col.pytest_exit not in (0, 1, 5):
        tail = (out / "pytest.log").read_text(errors="replace").splitlines()[-30:]
        col.error = f"pytest: {col.pytest_result}\n" + "\n".join(tail)
    if col.release and status.get("uname") != col.release:
        # Every result of that guest is about another kernel: none of them counts.
        col.status = "wrong kernel"
        col.error = (
            f"meant to boot {col.release}, but the guest's `uname -r` is "
            f"{status.get('uname')!r}: its results are not this kernel's"
            + (f"\n{col.error}" if col.error else "")
        )


def run_kernel(
    k: Kernel,
    apt: Apt | None,
    vng: Path,
    python: Path,
    hooks: Path,
    tests: list[str],
    opts: argparse.Namespace,
) -> Column:
    col = Column(name=k.name, suite=k.suite)
    out = REPO / "results" / "vm" / k.name
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    try:
        assert apt is not None
        vmlinuz = prepare_kernel(apt, k, col)
    except MatrixError as e:
        col.status, col.error = "download failed", str(e)
        return col
    copy_test_modules(col.release, out / "modules")
    log(f"{k.name}: booting {col.release} ({col.package} {col.version})")
    boot(
        vng,
        vmlinuz,
        # The guest interrupts pytest 90 s before the VM is killed, to keep a report.
        guest_command(python, out, hooks, tests, k.name, time.time() + opts.timeout - 90),
        out,
        col,
        opts.timeout,
        opts.cpus,
        opts.memory,
    )
    if col.status == "ok":
        read_guest(out, col, k.expect_hooks)
    log(
        f"{k.name}: {col.status}"
        + (f", pytest {col.pytest_result}" if col.pytest_exit is not None else "")
        + f" in {col.total_seconds} s"
    )
    return col


def host_from_report(junit: Path, tests: list[str]) -> Column:
    """The host column from the report of the `make test` run just before
    (tests/vm/host_report.py): its tests/kernel part, as the host ran it."""
    col = Column(name="host", release=os.uname().release)
    try:
        info, xml_text = host_report.host_tests(junit, tests)
    except host_report.StaleReport as e:
        raise MatrixError(f"HOST_JUNIT: {e}") from e
    col.status = "ok"
    col.pytest_exit = int(info["pytest_exit"])
    col.pytest_result = PYTEST_EXIT.get(col.pytest_exit, f"exit {col.pytest_exit}")
    col.tests = {t: r for t, r in parse_junit(xml_text).items()
                 if t.startswith(host_report.KERNEL_TESTS)}
    col.guest = {"uname": col.release, "report": str(junit)}
    log(f"host: the column of {junit} (`make test`, pytest {col.pytest_result}, "
        f"{len(col.tests)} kernel tests)")
    return col


def run_host(python: Path, hooks: Path, tests: list[str]) -> Column:
    col = Column(name="host", release=os.uname().release)
    out = REPO / "results" / "vm" / "host"
    if out.exists():
        shutil.rmtree(out)
    t0 = time.monotonic()
    p = run(guest_command(python, out, hooks, tests, None), cwd=REPO)
    col.total_seconds = round(time.monotonic() - t0, 1)
    if not (out / "status.json").exists():
        col.status, col.error = "guest failed", (p.stdout + p.stderr)[-2000:]
        return col
    col.status = "ok"
    read_guest(out, col, [])  # the host's hooks are informational
    log(f"host: pytest {col.pytest_result} in {col.total_seconds} s")
    return col


# ---------------------------------------------------------------- reports


def node_id(case: ET.Element) -> str:
    """JUnit testcase -> pytest node id (tests/kernel/test_x.py::TestY::test_z)."""
    name = case.get("name", "?")
    classname = case.get("classname", "")
    file = case.get("file")
    if file and file.endswith(".py"):
        module = file[:-3].replace("/", ".")
        rest = classname[len(module) + 1 :] if classname.startswith(module) else ""
        return "::".join([file, *(rest.split(".") if rest else []), name])
    return f"{classname.replace('.', '/')}.py::{name}" if classname else name


def parse_junit(xml_text: str) -> dict[str, dict[str, str]]:
    """{node id: {outcome, message, needs}} from pytest's JUnit XML (xunit1)."""
    tests: dict[str, dict[str, str]] = {}
    for case in ET.fromstring(xml_text).iter("testcase"):
        outcome, message = "pass", ""
        for child in case:
            if child.tag == "skipped":
                kind = child.get("type", "")
                message = child.get("message", "")
                if kind == "pytest.xfail":
                    outcome = "xfail"
                elif not kind and message == XPASS_MESSAGE:
                    outcome = "xpass"
                else:
                    outcome = "skip"
            elif child.tag in ("failure", "error"):
                # A teardown error after a pass is reported as a second element.
                outcome = "fail" if child.tag == "failure" else "error"
                message = (
                    (child.get("message") or "").splitlines()[0][:300]
                    if child.get("message")
                    else ""
                )
                if outcome == "fail" and message.startswith(XPASS_PREFIX):
                    outcome, message = "xpass", message[len(XPASS_PREFIX) :].strip()
        needs = next(
            (p.get("value", "") for p in case.iter("property") if p.get("name") == "needs"), ""
        )
        tests[node_id(case)] = {"outcome": outcome, "message": message, "needs": needs}
    return tests


def is_host(c: Column) -> bool:
    return c.suite == "host"


def column_failures(c: Column, judge_empty: bool = True) -> list[str]:
    """Why one kernel's column is not green (empty: it is).

    A VM kernel on which no test ran (all skipped, or none collected) fails:
    the matrix proved nothing there. With judge_empty False (no kernel collected
    any test: exit 5) that is left to the caller. The host's column is exempt:
    it lacks hooks by design, so a TESTS selection may rightly skip all there.
    """
    if c.status != "ok":
        return [f"{c.name}: {c.status}: {c.error.splitlines()[0] if c.error else ''}"]
    failures = [
        f"{c.name}: hook {h} did not load/attach: {c.hooks.get(h, {}).get('error')}"
        for h in c.hook_failures
    ]
    failures += [
        f"{c.name}: {t} {r['outcome']}" + (f": {r['message']}" if r["message"] else "")
        for t, r in c.tests.items()
        if r["outcome"] in NOT_PASSED
    ]
    if c.pytest_exit not in (0, 1, 5):
        failures.append(f"{c.name}: pytest {c.pytest_result}")
    ran = sum(1 for r in c.tests.values() if r["outcome"] in RAN)
    if judge_empty and not ran and not is_host(c):
        failures.append(
            f"{c.name}: no test ran: all {len(c.tests)} collected were skipped"
            if c.tests
            else f"{c.name}: no test ran: none was collected (pytest {c.pytest_result})"
        )
    return failures


def summarize(cols: list[Column], full: bool = True) -> dict[str, Any]:
    """full: the default kernels all ran, so a test that ran nowhere is a failure.

    With a selection (KERNELS=5.10) it is only reported: a test may need a newer kernel.
    """
    good = [c for c in cols if c.status == "ok"]
    ids = sorted({t for c in good for t in c.tests})
    ran_nowhere = [
        t for t in ids if not any(c.tests.get(t, {}).get("outcome") in RAN for c in good)
    ]
    no_tests = all(c.status == "ok" and c.pytest_exit == 5 for c in cols)
    failures: list[str] = []
    for c in cols:
        failures += column_failures(c, judge_empty=not no_tests)
    counts = {
        o: sum(1 for c in good for r in c.tests.values() if r["outcome"] == o)
        for o in ("pass", "fail", "error", "skip", "xfail", "xpass")
    }
    if failures or (ran_nowhere and full):
        exit_code = 1
    elif no_tests or not ids:
        exit_code = 5
    else:
        exit_code = 0
    return {
        "tests": ids,
        "ran_nowhere": ran_nowhere,
        "ran_nowhere_is_failure": full,
        "failures": failures,
        "counts": counts,
        "no_tests_collected": no_tests,
        "exit_code": exit_code,
    }


def cell(c: Column, test: str) -> str:
    if c.status != "ok":
        return c.status
    r = c.tests.get(test)
    if r is None:
        return "not collected"
    if r["outcome"] == "skip":
        return f"skip: {r['message']}"
    return r["outcome"] + (f": {r['message']}" if r["message"] and r["outcome"] != "pass" else "")


def probe_summary(probe: dict[str, Any]) -> str:
    if not probe:
        return ""
    if probe.get("available"):
        return "ok"
    last = (str(probe.get("error") or "").strip().splitlines() or [""])[-1]
    return f"unavailable: {last[:100]}"


def probe_table(cols: list[Column], esc: Any) -> list[str]:
    """`vigil probe --json` features x kernels, from its {"features": {name: {...}}}."""
    features: dict[str, dict[str, str]] = {}
    for c in cols:
        result = c.probe.get("result") if c.probe.get("available") else None
        found = result.get("features") if isinstance(result, dict) else None
        if not isinstance(found, dict):
            continue
        for name, f in found.items():
            if isinstance(f, dict):
                ok = f.get("available")
                features.setdefault(name, {})[c.name] = (
                    "yes" if ok else f"no: {str(f.get('reason', ''))[:90]}"
                )
    if not features:
        return []
    lines = [
        "",
        "## Feature probe (`vigil probe --json`)",
        "",
        "| feature | " + " | ".join(c.name for c in cols) + " |",
        "| --- |" + " --- |" * len(cols),
    ]
    for name in sorted(features):
        row = [esc(features[name].get(c.name, "")) for c in cols]
        lines.append(f"| {name} | " + " | ".join(row) + " |")
    return lines


def render_md(cols: list[Column], summary: dict[str, Any]) -> str:
    def esc(s: str) -> str:
        return s.replace("|", "\\|").replace("\n", " ")

    lines = [
        "# vigil kernel matrix",
        "",
        f"Generated {time.strftime('%Y-%m-%d %H:%M:%S %Z')} "
        "by `make test-kernels` (tests/vm/kmatrix.py).",
        "",
        "## Kernels",
        "",
        "| kernel | suite | package | release | status | boot s | total s | pytest | vigil probe |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for c in cols:
        probe = esc(probe_summary(c.probe))
        lines.append(
            f"| {c.name} | {c.suite} | {c.package} {c.version} | {c.release} | "
            f"{c.status} | {c.boot_seconds if c.boot_seconds is not None else ''} | "
            f"{c.total_seconds if c.total_seconds is not None else ''} | "
            f"{esc(c.pytest_result)} | {probe} |"
        )
    hooks = sorted({h for c in cols for h in c.hooks})
    if hooks:
        lines += [
            "",
            "## Hook check (tests/vm/hooks.bpf.c: load + attach)",
            "",
            "| hook | " + " | ".join(c.name for c in cols) + " |",
            "| --- |" + " --- |" * len(cols),
        ]
        for h in hooks:
            row = []
            for c in cols:
                r = c.hooks.get(h)
                row.append(
                    ""
                    if r is None
                    else "ok"
                    if r.get("ok")
                    else esc(f"{r.get('step', '')} {r.get('error', '')}".strip())
                )
            lines.append(f"| {h} | " + " | ".join(row) + " |")
    lines += probe_table(cols, esc)
    lines += ["", "## Tests", ""]
    if summary["tests"]:
        lines += [
            "| test | needs | " + " | ".join(c.name for c in cols) + " |",
            "| --- | --- |" + " --- |" * len(cols),
        ]
        for t in summary["tests"]:
            needs = next((c.tests[t]["needs"] for c in cols if t in c.tests), "")
            lines.append(
                f"| {esc(t)} | {needs} | " + " | ".join(esc(cell(c, t)) for c in cols) + " |"
            )
    else:
        lines.append("No test was collected on any kernel (pytest exit 5: no tests).")
    lines += ["", "## Summary", ""]
    lines.append(
        "Ran nowhere (skipped or absent on every kernel): "
        + (", ".join(summary["ran_nowhere"]) or "none")
    )
    if summary["ran_nowhere"] and not summary.get("ran_nowhere_is_failure", True):
        lines.append("")
        lines.append("(Not counted as a failure: only some kernels of the default matrix ran.)")
    lines.append("")
    if summary["failures"]:
        lines += ["Failures:", ""] + [f"- {esc(f)}" for f in summary["failures"]]
    else:
        lines.append("Failures: none")
    for c in cols:
        if c.status != "ok" or c.error:
            lines += [
                "",
                f"### {c.name}: {c.status}",
                "",
                "```",
                c.error,
                "",
                *c.console_tail,
                "```",
            ]
    return "\n".join(lines) + "\n"


def write_reports(cols: list[Column], summary: dict[str, Any], results: Path) -> None:
    results.mkdir(parents=True, exist_ok=True)
    data = {
        "generated": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "cmdline": CMDLINE,
        "kernels": [asdict(c) for c in cols],
        "summary": summary,
        "matrix": {t: {c.name: cell(c, t) for c in cols} for t in summary["tests"]},
    }
    (results / "kernel-matrix.json").write_text(json.dumps(data, indent=2) + "\n")
    (results / "kernel-matrix.md").write_text(render_md(cols, summary))


# ---------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    env = os.environ
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument(
        "--kernels",
        default=env.get("KERNELS", ""),
        help="names from tests/vm/kernels.toml (default: the default ones)",
    )
    ap.add_argument(
        "--jobs", type=int, default=int(env.get("JOBS", "2")), help="VMs at once (default 2)"
    )
    ap.add_argument(
        "--timeout",
        type=float,
        default=float(env.get("VM_TIMEOUT", "3300")),
        help="seconds per kernel, boot + tests (default 3300)",
    )
    ap.add_argument("--cpus", type=int, default=int(env.get("VM_CPUS", "1")))
    ap.add_argument("--memory", default=env.get("VM_MEMORY", "2G"))
    ap.add_argument(
        "--no-host",
        action="store_true",
        default=env.get("HOST", "1") == "0",
        help="leave out the host column",
    )
    ap.add_argument(
        "--host-junit",
        default=env.get("HOST_JUNIT", ""),
        help="the host column from this report of `make test` (results/host/junit.xml) "
        "instead of running tests/kernel on the host again",
    )
    ap.add_argument("tests", nargs="*", help="pytest arguments (default: tests/kernel)")
    args = ap.parse_args(argv)
    if not args.tests:
        args.tests = shlex.split(env.get("TESTS", "")) or ["tests/kernel"]
    return args


def lock_results() -> Any:
    """One matrix at a time per tree: two would share results/vm/NAME."""
    import fcntl

    (REPO / "results").mkdir(exist_ok=True)
    f = open(REPO / "results" / ".kernel-matrix.lock", "w")  # noqa: SIM115 - held until exit
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
        raise MatrixError(
            f"another kernel matrix is running in {REPO} (results/.kernel-matrix.lock); wait for it"
        ) from e
    return f


# virtme-ng mounts fresh tmpfs over these in the guest: a tree under them is invisible there.
GUEST_HIDDEN = ("/var/tmp", "/var/log", "/var/cache", "/var/lib/apt", "/run", "/dev/shm")


def run_matrix(opts: argparse.Namespace) -> tuple[list[Column], dict[str, Any]]:
    kernels = select_kernels(load_kernels(), opts.kernels)
    hidden = [d for d in GUEST_HIDDEN if Path(d) == REPO or Path(d) in REPO.parents]
    if hidden:
        raise MatrixError(
            f"{REPO} is under {hidden[0]}, which the guests see as an empty tmpfs: "
            "clone the repository elsewhere (e.g. under /tmp, /work or /home)"
        )
    python = REPO / ".venv" / "bin" / "python"
    if not python.exists():
        raise MatrixError(f"{python} is missing: run `make setup` first")
    objects = REPO / "src" / "vigil" / "bpf_objects"
    if not objects.is_dir():
        log(f"note: {objects} does not exist (nothing built yet, or `make build` not run)")
    ensure_host_tools()
    lock = lock_results()
    try:
        vng = ensure_vng()
        hooks = build_hooks()
        # Every suite of kernels.toml, whatever is selected: one stable list to refresh.
        apt = Apt([(k.mirror, k.suite) for k in load_kernels()]
                  + [(MIRROR, VIRTIOFSD_SUITE)])
        try:
            apt.update()
        except MatrixError as e:
            log(f"{e}\n(kernels already downloaded are used from {CACHE})")
        ensure_virtiofsd(apt, vng)
        t0 = time.monotonic()
        host = (None if opts.no_host
                else host_from_report(Path(opts.host_junit), opts.tests) if opts.host_junit
                else run_host(python, hooks, opts.tests))
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, opts.jobs)) as pool:
            futures = [
                pool.submit(run_kernel, k, apt, vng, python, hooks, opts.tests, opts)
                for k in kernels
            ]
            cols = [f.result() for f in futures]
        if host is not None:
            cols.append(host)
        defaults = {k.name for k in load_kernels() if k.default}
        summary = summarize(cols, full=defaults <= {k.name for k in kernels})
        summary["wall_seconds"] = round(time.monotonic() - t0, 1)
        write_reports(cols, summary, REPO / "results")
    finally:
        lock.close()
    return cols, summary


def counts_line(summary: dict[str, Any]) -> str:
    """The last line: every cell counted once; xfails and xpasses apart, not passed."""
    c = summary["counts"]
    return (
        f"kernel-matrix: {c['pass']} passed, {c['fail'] + c['error']} failed, "
        f"{c['skip']} skipped, {c['xfail']} xfailed, {c['xpass']} xpassed"
    )


def main(argv: list[str] | None = None) -> int:
    opts = parse_args(argv)
    try:
        _, summary = run_matrix(opts)
    except MatrixError as e:
        log(f"error: {e}")
        return 1
    print((REPO / "results" / "kernel-matrix.md").read_text())
    print(
        f"Reports: {REPO / 'results' / 'kernel-matrix.json'} and kernel-matrix.md; raw "
        f"files per kernel in {REPO / 'results' / 'vm'}/"
    )
    if summary["no_tests_collected"]:
        print("kernel-matrix: no tests collected on any kernel (pytest exit 5)")
    print(
        f"ran nowhere: {len(summary['ran_nowhere'])}"
        + (f" ({', '.join(summary['ran_nowhere'])})" if summary["ran_nowhere"] else " (none)")
    )
    print(counts_line(summary))
    return int(summary["exit_code"])


if __name__ == "__main__":
    sys.exit(main())
