"""cred and capability-set arguments of kernel functions (commit_creds,
security_capset), as Tetragon shows them (process_credentials_arg, the
cap_*_arg hex strings), from real children that change their ids and
capabilities. Kernel functions need kprobes or fentry: the VM matrix."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from google.protobuf import json_format

from tests.kernel.test_syscall_kprobes import PY, kprobe_events, planned_or_skip
from vigil.api.gen.tetragon import events_pb2
from vigil.encode.tetragon import arg_json
from vigil.runtime import Runtime
from vigil.wire.cred_arg import CredFields

from .runtime_sink import Collect
from .vigil_runner import EVENT_TIMEOUT

pytestmark = pytest.mark.needs("tracepoint", "ringbuf")

CAPSET = """
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
hdr = (ctypes.c_uint32 * 2)(0x20080522, 0)   # _LINUX_CAPABILITY_VERSION_3, this process
data = (ctypes.c_uint32 * 6)(1, 1, 0, 0, 0, 0)  # effective, permitted, inheritable: CAP_CHOWN
if libc.syscall(126, hdr, data) != 0:          # SYS_capset
    raise OSError(ctypes.get_errno(), "capset")
"""


def user_ns_inum() -> int:
    return os.stat("/proc/self/ns/user").st_ino


@pytest.mark.parametrize("rung", ("kprobe", "fentry"))
def test_the_cred_of_a_setuid(runtime: tuple[Runtime, Collect], rung: str) -> None:
    """setgid(65533) then setuid(65534) from root: commit_creds's new cred
    each time, field by field; after the setuid the capabilities a root
    process loses with its ids are gone."""
    rt, sink = runtime
    for plan in planned_or_skip("""
        kprobes:
        - call: commit_creds
          syscall: false
          args: [{index: 0, type: cred}]
    """, rung):
        rt.add_tracepoint(plan)
    child = subprocess.Popen([PY, "-c", "import os; os.setgid(65533); os.setuid(65534)"])
    assert child.wait(EVENT_TIMEOUT) == 0
    # its exec's commit_creds, then the setgid's and the setuid's
    evs = kprobe_events(rt, sink, child.pid, 3)
    creds = [e.args[0].value for e in evs]
    setuid = next(e for e, c in zip(evs, creds, strict=True)
                  if isinstance(c, CredFields) and c.uid == 65534)
    before = next(c for c in creds if isinstance(c, CredFields) and c.gid == 65533
                  and c.uid == 0)
    cred = setuid.args[0].value
    assert isinstance(cred, CredFields)
    inum = user_ns_inum()
    assert cred == CredFields(65534, 65533, 65534, 65533, 65534, 65533, 65534, 65533, (), 0, 0,
                              0, 0, 0, 0, inum)
    assert arg_json(setuid.args[0]) == {"process_credentials_arg": {
        "uid": 65534, "gid": 65533, "euid": 65534, "egid": 65533, "suid": 65534,
        "sgid": 65533, "fsuid": 65534, "fsgid": 65533, "caps": {},
        "user_ns": {"level": 0, "uid": 0, "gid": 0, "ns": {"inum": inum, "is_host": True}}}}
    assert before.cap_effective != 0  # still root's
    line = sink.lines[sink.events.index(setuid)]
    json_format.Parse(line, events_pb2.GetEventsResponse())


def test_tetragons_privileges_raise_example(tmp_path: Path) -> None:
    """policylibrary/privileges/privileges-raise.yaml under `vigil run`: a
    capset(2) to CAP_CHOWN alone is reported by security_capset with the
    old cred and the three new sets as Tetragon's hex strings (the nop
    argument shows nothing)."""
    from tests.tetragon_examples import runnable_example

    from .vigil_runner import VigilRun

    f = runnable_example("policylibrary/privileges/privileges-raise.yaml")
    run = VigilRun(tmp_path, ["--tracing-policy", str(f)])
    try:
        child = subprocess.Popen([PY, "-c", CAPSET])
        assert child.wait(EVENT_TIMEOUT) == 0
        ev = run.wait_for(lambda e: e.get("process_kprobe", {}).get("function_name")
                          == "security_capset" and e["process_kprobe"]["process"]["pid"]
                          == child.pid, "the child's capset")
    finally:
        run.stop()
    body = ev["process_kprobe"]
    assert body["message"] == "Process changed its capabilities using capset system call"
    cred, *sets = body["args"]
    assert sets == [{"cap_effective_arg": "0000000000000001"},
                    {"cap_inheritable_arg": "0000000000000000"},
                    {"cap_permitted_arg": "0000000000000001"}]
    old = cred["process_credentials_arg"]
    assert (old["uid"], old["euid"], old["user_ns"]["level"]) == (0, 0, 0)
    assert "CAP_SYS_ADMIN" in old["caps"]["effective"]
    json_format.ParseDict(ev, events_pb2.GetEventsResponse())
