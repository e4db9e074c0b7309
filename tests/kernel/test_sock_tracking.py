"""Sock tracking, as Tetragon's datagram and tcp-accept examples use it: a
sock returned by sk_alloc is tracked (returnArgAction: TrackSock), and the
events that read it name the process that made it, not whoever uses it;
UntrackSock forgets it. And a return value read as a struct (returnArg
type sock, file).

A child makes a UDP socket and forks; its child sends on it: the sends are
the owner's. Kernel functions: these run in the VM matrix."""

from __future__ import annotations

import errno
import subprocess
from pathlib import Path

import pytest

from tests.kernel.test_syscall_kprobes import PY, kprobe_events, planned_or_skip
from vigil.events.model import KprobeEvent
from vigil.runtime import Runtime
from vigil.wire.sock_arg import SockFields

from .runtime_sink import Collect
from .vigil_runner import EVENT_TIMEOUT

pytestmark = pytest.mark.needs("tracepoint", "ringbuf")

RUNGS = ("kprobe", "fentry")

# sk_alloc(struct net *, int family, gfp_t, struct proto *, int kern)
TRACK = """
        kprobes:
        - call: sk_alloc
          syscall: false
          return: true
          args: [{{index: 1, type: int, label: family}}]
          returnArg: {{index: 0, type: sock}}
          returnArgAction: TrackSock
          selectors:
          - matchArgs: [{{index: 1, operator: Equal, values: ["2"]}}]
            matchActions: [{{action: {entry}}}]
        - call: udp_sendmsg
          syscall: false
          args: [{{index: 0, type: sock}}, {{index: 2, type: size_t}}]
          selectors:
          - matchArgs: [{{index: 2, operator: Equal, values: ["1"]}}]
            matchActions: [{{action: UntrackSock, argSock: 0}}]
          - matchArgs: [{{index: 2, operator: Equal, values: ["2"]}}]
"""


def owner_and_user() -> tuple[int, int]:
    """A child that makes a UDP socket and forks; the fork sends 2 bytes, 1
    byte (untracking it), then 2 bytes. Their pids: (owner, user)."""
    child = subprocess.run([PY, "-c", """
import os, socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
to = s.getsockname()
print(os.getpid(), flush=True)
pid = os.fork()
if pid == 0:
    for data in (b"xy", b"x", b"xy"):
        s.sendto(data, to)
    print(os.getpid(), flush=True)
    os._exit(0)
os.waitpid(pid, 0)
"""], capture_output=True, timeout=EVENT_TIMEOUT, check=True)
    owner, user = (int(x) for x in child.stdout.split())
    return owner, user


def sends(rt: Runtime, sink: Collect, want: int) -> list[KprobeEvent]:
    """udp_sendmsg events of any process, once `want` came."""
    import time

    deadline = time.monotonic() + EVENT_TIMEOUT
    while True:
        found = [e for e in sink.events if isinstance(e, KprobeEvent)
                 and e.function_name == "udp_sendmsg"]
        if len(found) >= want or time.monotonic() > deadline:
            return found
        rt.step(50)


@pytest.mark.parametrize("rung", RUNGS)
@pytest.mark.parametrize("entry", ["Post", "NoPost"])
def test_a_tracked_sock_names_its_owner_until_untracked(
        runtime: tuple[Runtime, Collect], rung: str, entry: str) -> None:
    """With NoPost at sk_alloc's entry (tcp-listen.yaml's way) the return
    still tracks the sock; with Post its event shows the sock returned."""
    rt, sink = runtime
    for plan in planned_or_skip(TRACK.format(entry=entry), rung):
        rt.add_tracepoint(plan)
    owner, user = owner_and_user()
    first, untracking, last = (e for e in sends(rt, sink, 3)
                               if e.process.pid in (owner, user))
    # as the sock was read: the untracking send is still the owner's
    assert [(e.process.pid, e.args[1].value) for e in (first, untracking, last)] == [
        (owner, 2), (owner, 1), (user, 2)]
    assert first.process.tid == owner and last.process.tid == user
    sock = first.args[0].value
    assert isinstance(sock, SockFields) and sock.cookie != 0
    assert {untracking.args[0].value.cookie, last.args[0].value.cookie} == {sock.cookie}
    allocs = kprobe_events(rt, sink, owner, 1 if entry == "Post" else 0)
    allocs = [e for e in allocs if e.function_name == "sk_alloc"]
    if entry == "NoPost":
        assert allocs == []
        return
    made = [e for e in allocs if e.ret is not None and e.ret.value.cookie == sock.cookie]
    assert len(made) == 1, allocs
    ev, = made
    assert (ev.args[0].value, ev.ret.key, ev.ret.value.family) == (2, "sock_arg", "AF_INET")


def test_an_untracked_policy_names_the_user(runtime: tuple[Runtime, Collect]) -> None:
    """The same sends without TrackSock: each is the process that sent it."""
    rt, sink = runtime
    spec = """
        kprobes:
        - call: udp_sendmsg
          syscall: false
          args: [{index: 0, type: sock}, {index: 2, type: size_t}]
    """
    for plan in planned_or_skip(spec, "kprobe"):
        rt.add_tracepoint(plan)
    owner, user = owner_and_user()
    evs = [e for e in sends(rt, sink, 3) if e.process.pid in (owner, user)]
    assert [(e.process.pid, e.args[1].value) for e in evs] == [(user, 2), (user, 1), (user, 2)]


@pytest.mark.parametrize("rung", RUNGS)
def test_a_file_returned_is_named(runtime: tuple[Runtime, Collect], tmp_path: Path,
                                  rung: str) -> None:
    """do_filp_open returns the struct file * it opened (returnArg type
    file): its path; or an ERR_PTR, which is an error_arg with its errno."""
    rt, sink = runtime
    there, missing = tmp_path / "there", tmp_path / "missing"
    there.write_text("x")
    spec = f"""
        kprobes:
        - call: do_filp_open
          syscall: false
          return: true
          args: [{{index: 1, type: filename}}]
          returnArg: {{index: 0, type: file}}
          selectors:
          - matchArgs: [{{index: 1, operator: Prefix, values: ["{tmp_path}/"]}}]
    """
    for plan in planned_or_skip(spec, rung):
        rt.add_tracepoint(plan)
    child = subprocess.run([PY, "-c", f"""
import os
os.close(os.open({str(there)!r}, os.O_RDONLY))
try:
    os.open({str(missing)!r}, os.O_RDONLY)
except FileNotFoundError:
    print(os.getpid())
"""], capture_output=True, timeout=EVENT_TIMEOUT, check=True)
    pid = int(child.stdout)
    opened, failed = kprobe_events(rt, sink, pid, 2)
    assert (opened.args[0].value, opened.ret.key, opened.ret.value.path) == (
        str(there), "file_arg", str(there))
    assert (failed.args[0].value, failed.ret.key) == (str(missing), "error_arg")
    assert failed.ret.value == f"could not read argument: errno {errno.ENOENT}"
