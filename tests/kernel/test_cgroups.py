"""Cgroups and containers on the running kernel: a child moved into a cgroup
the test made is named by that cgroup's id and path from its exec on (made
before vigil started, found by the walk; or made a moment before the exec,
known from the kernel's cgroup_mkdir record); a removed cgroup leaves the
map; a policy scoped to a cgroup subtree sees a child inside it and not one
outside; a real runc container's process carries the id runc reports in
Tetragon's `docker` field; `vigil run --container-id` and `--cgroup` export
only those processes."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from vigil.events.model import PROCESS_EXEC, PROCESS_EXIT, Event, TracepointEvent
from vigil.kernel.mounts import cgroup2_mount
from vigil.policy import load_file
from vigil.runtime import Runtime
from vigil.sensors.compile import compile_policy

from .runtime_sink import Collect
from .vigil_runner import EVENT_TIMEOUT, VigilRun, exec_of

pytestmark = pytest.mark.needs("tracepoint", "raw_tracepoint", "ringbuf")

TRUE = os.path.realpath(shutil.which("true") or "/bin/true")
BUSYBOX = shutil.which("busybox")
RUNC = shutil.which("runc")

# Made in the child, between fork and exec: `mkdir` (may be "") is created
# first, then the child moves itself into `into` and execs the rest.
MOVE_CHILD = """
import os, sys
mkdir, into = sys.argv[1], sys.argv[2]
if mkdir:
    os.mkdir(mkdir)
with open(os.path.join(into, "cgroup.procs"), "w") as f:
    f.write(str(os.getpid()))
os.execv(sys.argv[3], sys.argv[3:])
"""


def run_child(into: Path | None, *argv: str, mkdir: Path | None = None) -> int:
    """A child that moves itself into cgroup `into` (none: stays) and execs
    argv; returns its pid once it has exited successfully."""
    if into is None:
        child = subprocess.Popen(list(argv))
    else:
        child = subprocess.Popen([sys.executable, "-I", "-S", "-c", MOVE_CHILD,
                                  str(mkdir or ""), str(into), *argv])
    assert child.wait(EVENT_TIMEOUT) == 0
    return child.pid


@pytest.fixture(scope="module")
def cgroup_root() -> Iterator[Path]:
    """The cgroup v2 mount (a hybrid host mounts it at /sys/fs/cgroup/unified),
    or one mounted here for the module."""
    found = cgroup2_mount()
    if found is not None:
        yield Path(found)
        return
    made = Path(tempfile.mkdtemp(prefix="vigil-cgroup2-"))
    r = subprocess.run(["mount", "-t", "cgroup2", "none", str(made)], capture_output=True,
                       text=True)
    if r.returncode:
        made.rmdir()
        pytest.skip(f"no cgroup v2 hierarchy here and none can be mounted: {r.stderr.strip()}")
    try:
        yield made
    finally:
        subprocess.run(["umount", str(made)], check=True)
        made.rmdir()


def remove_tree(path: Path) -> None:
    """rmdir a cgroup and those below it, deepest first (each is empty)."""
    for sub in sorted((p for p in path.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
        sub.rmdir()
    path.rmdir()


@pytest.fixture
def test_cgroup(cgroup_root: Path, request: pytest.FixtureRequest) -> Iterator[Path]:
    """A cgroup of this test, made before the runtime starts when the test
    asks for the runtime after it."""
    path = cgroup_root / f"vigil-test-{os.getpid()}-{request.node.name[:40]}"
    path.mkdir()
    try:
        yield path
    finally:
        remove_tree(path)


def rel(root: Path, cgroup: Path) -> str:
    """The cgroup's path as the kernel and /proc/<pid>/cgroup name it."""
    return "/" + str(cgroup.relative_to(root))


def wait_event(rt: Runtime, sink: Collect, match: Callable[[Event], bool], what: str,
               timeout: float = EVENT_TIMEOUT) -> Event:
    deadline = time.monotonic() + timeout
    while True:
        for ev in sink.events:
            if match(ev):
                return ev
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} within {timeout}s ({len(sink.events)} events)")
        rt.step(50)


def exec_event(pid: int, binary: str) -> Callable[[Event], bool]:
    return lambda ev: (ev.kind == PROCESS_EXEC and ev.process.pid == pid
                       and ev.process.binary == binary)


def exit_event(pid: int) -> Callable[[Event], bool]:
    return lambda ev: ev.kind == PROCESS_EXIT and ev.process.pid == pid


def json_process(sink: Collect, ev: Event) -> dict[str, Any]:
    line = sink.lines[sink.events.index(ev)]
    return dict(json.loads(line)[ev.kind]["process"])


def test_exec_in_a_cgroup_made_before_start(
        cgroup_root: Path, test_cgroup: Path, runtime: tuple[Runtime, Collect]) -> None:
    """The cgroup was there when the runtime walked the hierarchy."""
    rt, sink = runtime
    pid = run_child(test_cgroup, TRUE)
    ev = wait_event(rt, sink, exec_event(pid, TRUE), "exec of true in the test's cgroup")
    p = ev.process
    assert (p.cgroup_id, p.cgroup_path, p.docker) == (
        test_cgroup.stat().st_ino, rel(cgroup_root, test_cgroup), "")
    assert "docker" not in json_process(sink, ev)


def test_exec_in_a_cgroup_made_just_before(
        cgroup_root: Path, test_cgroup: Path, runtime: tuple[Runtime, Collect]) -> None:
    """The child makes a container-like cgroup after the runtime started and
    execs in it at once: only the kernel's cgroup_mkdir record, ahead of the
    exec record in the ring buffer, can name it. Then it is removed and the
    cgroup_rmdir record takes it out of the map."""
    rt, sink = runtime
    cid = secrets.token_hex(32)
    new = test_cgroup / f"docker-{cid}.scope"
    pid = run_child(new, TRUE, mkdir=new)
    ev = wait_event(rt, sink, exec_event(pid, TRUE), "exec of true in a new cgroup")
    ino = new.stat().st_ino
    p = ev.process
    assert (p.cgroup_id, p.cgroup_path, p.docker) == (ino, rel(cgroup_root, new), cid[:31])
    assert json_process(sink, ev)["docker"] == cid[:31]
    assert rt.cache.cgroups.get(ino) is not None
    new.rmdir()
    deadline = time.monotonic() + EVENT_TIMEOUT
    while rt.cache.cgroups.get(ino) is not None:
        assert time.monotonic() < deadline, "the cgroup_rmdir record never came"
        rt.step(50)


POLICY = """\
apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: cgroup-scoped
spec:
  options:
  - name: cgroup-path
    value: {scope}
  tracepoints:
  - subsystem: syscalls
    event: sys_enter_openat
"""


@pytest.mark.needs("task_under_cgroup")
def test_policy_scoped_to_a_cgroup_subtree(
        cgroup_root: Path, test_cgroup: Path, runtime: tuple[Runtime, Collect],
        tmp_path: Path) -> None:
    """A policy scoped to the test's cgroup: a child in a cgroup made below it
    after the policy loaded is reported, a child outside it is not (both
    exits are seen first, so the outside child's events would have come)."""
    rt, sink = runtime
    policy = tmp_path / "scoped.yaml"
    policy.write_text(POLICY.format(scope=rel(cgroup_root, test_cgroup)))
    (loaded,) = load_file(str(policy))
    plans = compile_policy(loaded)
    assert [p.cgroup_paths for p in plans] == [(rel(cgroup_root, test_cgroup),)]
    hooks = [rt.add_tracepoint(plan) for plan in plans]
    try:
        below = test_cgroup / "below"
        inside = run_child(below, TRUE, mkdir=below)
        outside = run_child(None, TRUE)
        for pid in (inside, outside):
            wait_event(rt, sink, exit_event(pid), f"exit of {pid}")
    finally:
        for hook in hooks:
            rt.remove_tracepoint(hook)
    hits = [ev for ev in sink.events if isinstance(ev, TracepointEvent)]
    inside_hits = [ev for ev in hits if ev.process.pid == inside]
    assert inside_hits, "no openat of the child inside the cgroup"
    assert {ev.process.binary for ev in inside_hits} == {TRUE}
    assert [ev for ev in hits if ev.process.pid == outside] == []
    assert {ev.process.cgroup_path for ev in inside_hits} == {rel(cgroup_root, below)}


# ---- a real container runtime --------------------------------------------------------


class RuncContainer:
    """A runc container of a busybox root filesystem built here (no image can
    be pulled): created, its pid read from `runc state`, then started."""

    def __init__(self, bundle: Path, argv: list[str]) -> None:
        assert RUNC is not None and BUSYBOX is not None
        self.id = secrets.token_hex(32)  # as docker, containerd and podman name them
        rootfs = bundle / "rootfs"
        (rootfs / "bin").mkdir(parents=True)
        shutil.copy(BUSYBOX, rootfs / "bin" / "busybox")
        for applet in ("sh", "true", "sleep"):
            (rootfs / "bin" / applet).symlink_to("busybox")
        r = subprocess.run([RUNC, "spec"], cwd=bundle, capture_output=True, text=True)
        if r.returncode:
            pytest.skip(f"runc spec failed here: {r.stderr.strip()}")
        config = json.loads((bundle / "config.json").read_text())
        config["process"]["terminal"] = False
        config["process"]["args"] = argv
        config["root"] = {"path": str(rootfs), "readonly": True}
        (bundle / "config.json").write_text(json.dumps(config))
        # The container's stdio is runc's (no terminal): files, not pipes a
        # reader would wait on for as long as the container lives.
        log = bundle / "runc.stderr"
        with open(log, "wb") as err:
            created = subprocess.run([RUNC, "create", "--bundle", str(bundle), self.id],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=err, timeout=EVENT_TIMEOUT)
        if created.returncode:
            pytest.skip(f"runc cannot create a container here: {log.read_text().strip()}")
        state = json.loads(self._runc("state", self.id))
        assert state["id"] == self.id
        self.pid = int(state["pid"])
        proc_cgroup = Path(f"/proc/{self.pid}/cgroup").read_text().splitlines()
        self.cgroup = next(line[3:] for line in proc_cgroup if line.startswith("0::"))

    def _runc(self, *args: str) -> str:
        assert RUNC is not None
        r = subprocess.run([RUNC, *args], capture_output=True, text=True,
                           timeout=EVENT_TIMEOUT)
        assert r.returncode == 0, f"runc {' '.join(args)}: {r.stderr}"
        return r.stdout

    def start(self) -> None:
        self._runc("start", self.id)

    def delete(self) -> None:
        assert RUNC is not None
        subprocess.run([RUNC, "delete", "--force", self.id], capture_output=True,
                       timeout=EVENT_TIMEOUT)


@pytest.fixture
def container(tmp_path: Path) -> Iterator[RuncContainer]:
    if RUNC is None:
        pytest.skip("runc is not installed (scripts/setup installs it: apt-get install runc)")
    if BUSYBOX is None:
        pytest.skip("busybox is not installed (scripts/setup installs busybox-static)")
    made = RuncContainer(tmp_path / "bundle", ["/bin/true"])
    try:
        yield made
    finally:
        made.delete()


def test_runc_container_process_carries_its_container_id(
        cgroup_root: Path, runtime: tuple[Runtime, Collect],
        container: RuncContainer) -> None:
    """runc puts the container in the cgroup it names after the container
    (/<id> by default); the container's process is named by that cgroup and
    its `docker` field is the id runc reports, as Tetragon cuts it."""
    rt, sink = runtime
    container.start()
    ev = wait_event(rt, sink, lambda ev: ev.kind == PROCESS_EXEC
                    and ev.process.pid == container.pid, "exec of the container's process")
    p = ev.process
    assert p.binary == "/bin/true"  # as the container's root names it
    assert (p.cgroup_path, p.docker) == (container.cgroup, container.id[:31])
    assert p.cgroup_id == Path(str(cgroup_root) + container.cgroup).stat().st_ino
    assert json_process(sink, ev)["docker"] == container.id[:31]


@pytest.mark.kernel_independent("the export filters")
def test_vigil_run_exports_only_the_container(tmp_path: Path,
                                              container: RuncContainer) -> None:
    """--container-id: a regular expression on the docker field, as
    Tetragon's container_id filter; a process outside the container is not
    exported."""
    vigil = VigilRun(tmp_path, ["--container-id", f"^{container.id[:12]}"])
    try:
        container.start()
        outside = run_child(None, TRUE)
        ev = vigil.wait_for(exec_of(container.pid), "exec of the container's process")
        vigil.wait_for(lambda e: "process_exit" in e
                       and e["process_exit"]["process"]["pid"] == container.pid,
                       "exit of the container's process")
    finally:
        vigil.stop()
    assert ev["process_exec"]["process"]["docker"] == container.id[:31]
    assert {e[k]["process"]["docker"] for e in vigil.events() for k in e
            if k.startswith("process_")} == {container.id[:31]}
    assert not [e for e in vigil.events() if exec_of(outside)(e)]


@pytest.mark.kernel_independent("the export filters")
def test_vigil_run_exports_only_the_cgroup_subtree(cgroup_root: Path, test_cgroup: Path,
                                                   tmp_path: Path) -> None:
    """--cgroup: the processes in a cgroup or below it, named from the
    hierarchy's root."""
    vigil = VigilRun(tmp_path, ["--cgroup", rel(cgroup_root, test_cgroup)])
    try:
        below = test_cgroup / "below"
        inside = run_child(below, TRUE, mkdir=below)
        outside = run_child(None, TRUE)
        vigil.wait_for(lambda e: exec_of(inside)(e)
                       and e["process_exec"]["process"]["binary"] == TRUE,
                       "exec of true below the cgroup")
    finally:
        vigil.stop()  # after the last records are handled: the outside child's too
    pids = {e[k]["process"]["pid"] for e in vigil.events() for k in e
            if k.startswith("process_")}
    assert inside in pids and outside not in pids
