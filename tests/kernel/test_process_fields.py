"""`vigil run`'s optional fields and filters on the real kernel: namespaces,
credentials, ancestors, auid, the cgroup a child was moved to, `--pid` and
`--event-types`. Each child is set up so the right value is known (read from
/proc while it lives, or chosen by the test), and compared exactly."""

from __future__ import annotations

import itertools
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from .vigil_runner import Event, VigilRun, exec_of, exit_of

pytestmark = pytest.mark.needs("tracepoint", "raw_tracepoint", "ringbuf")

# Every binary is run by its real path, so `binary` is the same whether vigil
# reports the path as passed to execve or the file the task executes.
TRUE = os.path.realpath(shutil.which("true") or "/bin/true")
SLEEP = os.path.realpath(shutil.which("sleep") or "/bin/sleep")
SH = os.path.realpath("/bin/sh")
UNSHARE = os.path.realpath(shutil.which("unshare") or "/usr/bin/unshare")
# Tetragon's Namespaces message, which are also the names under /proc/PID/ns.
NAMESPACES = ("uts", "ipc", "mnt", "pid", "pid_for_children", "net", "time",
              "time_for_children", "cgroup", "user")
AUDIT_UNSET = 4294967295  # (uid_t)-1: no login uid

# Set up in the child, then exec: the exec record sees the result.
CRED_CHILD = """
import os, sys
os.setgroups([])
os.setresgid(1001, 1002, 1003)
os.setresuid(2001, 2002, 2003)
os.execv(sys.argv[1], sys.argv[1:])
"""
LOGINUID_CHILD = """
import os, sys
with open("/proc/self/loginuid", "w") as f:
    f.write(sys.argv[1])
os.execv(sys.argv[2], sys.argv[2:])
"""
CGROUP_CHILD = """
import os, sys
with open(os.path.join(sys.argv[1], "cgroup.procs"), "w") as f:
    f.write(str(os.getpid()))
os.execv(sys.argv[2], sys.argv[2:])
"""
GO_CHILD = """
import os, sys
sys.stdin.readline()
os.execv(sys.argv[1], sys.argv[1:])
"""


def python_child(code: str, *args: str, **popen: Any) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-I", "-S", "-c", code, *args], **popen)


def kind(ev: Event) -> str:
    (name,) = (k for k in ev if k.startswith("process_"))
    return name


def process(ev: Event) -> dict[str, Any]:
    return dict(ev[kind(ev)]["process"])


def exec_as(pid: int, binary: str) -> Callable[[Event], bool]:
    """The exec of `binary` by `pid` (the same pid may exec python first)."""
    return lambda ev: exec_of(pid)(ev) and process(ev)["binary"] == binary


def exec_as_child_of(parent: int, binary: str) -> Callable[[Event], bool]:
    return lambda ev: (kind(ev) == "process_exec" and process(ev)["binary"] == binary
                       and ev["process_exec"]["parent"]["pid"] == parent)


def ns_inodes(pid: int | str) -> dict[str, int]:
    """/proc/PID/ns/NAME -> inode number, for the kinds this kernel has."""
    found = {}
    for name in NAMESPACES:
        try:
            link = os.readlink(f"/proc/{pid}/ns/{name}")  # "uts:[4026531838]"
        except FileNotFoundError:
            continue
        found[name] = int(link[link.index("[") + 1 : -1])
    return found


def host_namespaces() -> dict[str, int]:
    """pid 1's namespaces, which vigil calls the host's; {} where even root may
    not read them (some VMs' init is not dumpable), and vigil cannot either."""
    try:
        return ns_inodes(1)
    except PermissionError:
        return {}


def ppid_of(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat[stat.rindex(")") + 2 :].split()[1])


@pytest.fixture(scope="module")
def vigil(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VigilRun]:
    run = VigilRun(tmp_path_factory.mktemp("vigil"),
                   ["--enable-process-ns", "--enable-process-cred", "--enable-ancestors"])
    try:
        yield run
    finally:
        run.stop()


def test_flags_of_a_plain_exec(vigil: VigilRun, tmp_path: Path) -> None:
    elsewhere = subprocess.Popen([TRUE], cwd=tmp_path)
    at_root = subprocess.Popen([TRUE], cwd="/")
    elsewhere.wait()
    at_root.wait()
    p = process(vigil.wait_for(exec_as(elsewhere.pid, TRUE), "exec of true in a temp dir"))
    assert (p["flags"], p["cwd"]) == ("execve", str(tmp_path.resolve()))
    p = process(vigil.wait_for(exec_as(at_root.pid, TRUE), "exec of true in /"))
    assert (p["flags"], p["cwd"]) == ("execve rootcwd", "/")


def test_namespaces_are_the_childs_while_it_lives(vigil: VigilRun, tmp_path: Path) -> None:
    # unshare execs sleep in place: one pid, two execs, the second in new namespaces.
    child = subprocess.Popen([UNSHARE, "--uts", "--ipc", "--net", "--", SLEEP, "300"],
                             cwd=tmp_path)
    try:
        ev = vigil.wait_for(exec_as(child.pid, SLEEP), "exec of sleep in new namespaces")
        live = ns_inodes(child.pid)  # read while it lives: the inodes are its own
    finally:
        child.kill()
        child.wait()
    host, mine = host_namespaces(), ns_inodes(os.getpid())
    before = vigil.wait_for(exec_as(child.pid, UNSHARE), "exec of unshare")

    ns = process(ev)["ns"]
    assert {name: entry["inum"] for name, entry in ns.items()} == live
    for name, inum in live.items():
        # protobuf's JSON leaves a false is_host out
        assert ns[name].get("is_host", False) is (inum == host.get(name)), name
    for name in ("uts", "ipc", "net"):
        assert live[name] != mine[name], f"unshare made no new {name} namespace"
    assert {name: live[name] for name in live if name not in ("uts", "ipc", "net")} == {
        name: mine[name] for name in mine if name not in ("uts", "ipc", "net")}
    # Before unshare(2) ran, the same pid was in this process's namespaces.
    assert {name: e["inum"] for name, e in process(before)["ns"].items()} == mine
    assert process(ev)["flags"] == "execve"


def test_credentials_with_distinct_real_and_effective_ids(
        vigil: VigilRun, tmp_path: Path) -> None:
    child = python_child(CRED_CHILD, TRUE, cwd=tmp_path)
    assert child.wait() == 0
    p = process(vigil.wait_for(exec_as(child.pid, TRUE), "exec of true with set ids"))
    assert p["uid"] == 2001
    creds = p["process_credentials"]
    assert (creds["uid"], creds["gid"], creds["euid"], creds["egid"]) == (2001, 1001, 2002, 1002)
    # Not root, no file capabilities: exec cleared every capability.
    assert "cap" not in p
    assert p["flags"] == "execve"


def test_ancestors_of_a_three_level_chain(vigil: VigilRun, tmp_path: Path) -> None:
    # "; exit 0" keeps each shell from exec'ing its last command in place.
    inner = f"{shlex.quote(TRUE)}; exit 0"
    outer = subprocess.Popen([SH, "-c", f"{shlex.quote(SH)} -c {shlex.quote(inner)}; exit 0"],
                             cwd=tmp_path)
    chain = [outer.pid, os.getpid()]
    while chain[-1] > 1:  # this process's ancestors, up to init
        chain.append(ppid_of(chain[-1]))
    if chain[-1] == 0:  # no init above us (a pid namespace): the chain ends before
        chain.pop()
    assert outer.wait() == 0

    first = vigil.wait_for(exec_as(outer.pid, SH), "exec of the outer sh")
    mid = vigil.wait_for(exec_as_child_of(outer.pid, SH), "exec of the inner sh")
    inner_pid = process(mid)["pid"]
    last = vigil.wait_for(exec_as_child_of(inner_pid, TRUE), "exec of true")

    body = last["process_exec"]
    assert (body["parent"]["pid"], body["parent"]["exec_id"]) == (
        inner_pid, process(mid)["exec_id"])
    ancestors = body["ancestors"]
    # Nearest first, beyond the parent: the outer sh, this test, its ancestors.
    assert [a["pid"] for a in ancestors] == chain
    assert ancestors[0]["exec_id"] == process(first)["exec_id"]
    assert ancestors[1]["exec_id"] == first["process_exec"]["parent"]["exec_id"]
    assert body["parent"]["parent_exec_id"] == ancestors[0]["exec_id"]
    for child, parent in itertools.pairwise(ancestors):
        assert child["parent_exec_id"] == parent["exec_id"], (child, parent)
    assert [process(e)["flags"] for e in (first, mid, last)] == ["execve"] * 3
    # The inner sh's own ancestors start at this test.
    assert [a["pid"] for a in mid["process_exec"]["ancestors"]] == chain[1:]


def test_auid_is_the_login_uid_at_exec(vigil: VigilRun, tmp_path: Path) -> None:
    if not Path("/proc/self/loginuid").exists():
        # Without CONFIG_AUDIT the kernel keeps no login uid: vigil reports it unset.
        child = subprocess.Popen([TRUE], cwd=tmp_path)
        child.wait()
        assert process(vigil.wait_for(exec_as(child.pid, TRUE), "exec of true"))["auid"] == (
            AUDIT_UNSET)
        return
    for value in (1234, AUDIT_UNSET):
        child = python_child(LOGINUID_CHILD, str(value), TRUE, cwd=tmp_path)
        assert child.wait() == 0, f"could not write {value} to /proc/self/loginuid"
        p = process(vigil.wait_for(exec_as(child.pid, TRUE), f"exec with loginuid {value}"))
        assert p["auid"] == value


@pytest.fixture
def cgroup_dir() -> Iterator[Path]:
    """A new cgroup v2 directory, on the host's cgroup2 mount or on one made here."""
    mounts = [line.split() for line in Path("/proc/self/mounts").read_text().splitlines()]
    found = next((Path(m[1]) for m in mounts if m[2] == "cgroup2"), None)
    made = None
    if found is None:
        made = Path(tempfile.mkdtemp(prefix="vigil-cgroup2-"))
        subprocess.run(["mount", "-t", "cgroup2", "none", str(made)], check=True)
        found = made
    path = found / f"vigil-test-{os.getpid()}"
    path.mkdir()
    try:
        yield path
    finally:
        path.rmdir()
        if made is not None:
            subprocess.run(["umount", str(made)], check=True)
            made.rmdir()


def test_child_moved_into_a_new_cgroup(
        vigil: VigilRun, cgroup_dir: Path, tmp_path: Path) -> None:
    child = python_child(CGROUP_CHILD, str(cgroup_dir), SLEEP, "300", cwd=tmp_path)
    try:
        ev = vigil.wait_for(exec_as(child.pid, SLEEP), "exec of sleep in the new cgroup")
        lines = Path(f"/proc/{child.pid}/cgroup").read_text().splitlines()
    finally:
        child.kill()
        child.wait()
    unified = next(line[3:] for line in lines if line.startswith("0::"))
    assert Path(unified).name == cgroup_dir.name, lines
    p = process(ev)
    assert (p["pid"], p["binary"], p["arguments"], p["flags"]) == (child.pid, SLEEP, "300",
                                                                  "execve")
    # vigil's JSON carries no cgroup id today: Tetragon's Process has no such
    # field (it names the pod and container instead) and strict parsing rejects
    # unknown ones. Wherever one appears, it is the directory's inode number.
    for key in ("cgroup_id", "cgroupId", "cgroup"):
        if key in p:
            assert p[key] == cgroup_dir.stat().st_ino


# ---- filters and defaults: a vigil of their own each -----------------------------------


@pytest.mark.kernel_independent("the export filters")
def test_pid_filter_exports_only_that_pid(tmp_path: Path) -> None:
    child = python_child(GO_CHILD, TRUE, stdin=subprocess.PIPE, cwd=tmp_path)
    assert child.stdin is not None
    run = VigilRun(tmp_path, ["--pid", str(child.pid)])
    try:
        others = [subprocess.Popen([TRUE], cwd=tmp_path) for _ in range(3)]
        for other in others:
            other.wait()
        child.stdin.write(b"go\n")
        child.stdin.close()
        assert child.wait() == 0
        # Records reach vigil in order: the others' came before this one.
        run.wait_for(exit_of(child.pid), "exit of the --pid child")
    finally:
        run.stop()
    events = run.events()
    assert [(kind(e), process(e)["pid"], process(e)["binary"]) for e in events] == [
        ("process_exec", child.pid, TRUE), ("process_exit", child.pid, TRUE)]
    # Without the options, their fields are absent.
    for e in events:
        body = e[kind(e)]
        assert "ancestors" not in body
        assert "ns" not in body["process"] and "process_credentials" not in body["process"]


@pytest.mark.kernel_independent("the export filters")
def test_event_types_process_exit_exports_no_exec(tmp_path: Path) -> None:
    run = VigilRun(tmp_path, ["--event-types", "process_exit"])
    try:
        child = subprocess.Popen([TRUE], cwd=tmp_path)
        assert child.wait() == 0
        ev = run.wait_for(exit_of(child.pid), "exit of true")
    finally:
        run.stop()
    # Its exec record came before its exit record: seen, and not exported.
    assert {kind(e) for e in run.events()} == {"process_exit"}
    body = ev["process_exit"]
    assert (body["process"]["binary"], body["process"]["flags"]) == (TRUE, "execve")
    assert body["parent"]["pid"] == os.getpid()
    assert "status" not in body and "signal" not in body  # exit 0: omitted, as Tetragon does
