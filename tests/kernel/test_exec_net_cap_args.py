"""linux_binprm, net_device and capability arguments of kernel functions
(security_bprm_check, dev_hard_start_xmit, cap_capable), as Tetragon shows
them, from real children: an exec of a copied binary, a UDP datagram over
loopback, a nice(2) that needs CAP_SYS_NICE. The VM matrix runs them."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.kernel.test_syscall_kprobes import PY, kprobe_events, planned_or_skip
from vigil.encode.tetragon import arg_json
from vigil.events.model import Arg, FilePath, KprobeEvent
from vigil.runtime import Runtime
from vigil.wire.path_arg import mode_string

from .runtime_sink import Collect
from .vigil_runner import EVENT_TIMEOUT

pytestmark = pytest.mark.needs("tracepoint", "ringbuf")

RUNGS = ("kprobe", "fentry")


@pytest.mark.parametrize("rung", RUNGS)
def test_linux_binprm_names_the_file_executed(runtime: tuple[Runtime, Collect],
                                             tmp_path: Path, rung: str) -> None:
    """Tetragon's security_bprm_check.yaml, with its binary a copy of true
    the test makes: the exec is reported with the file's path and mode."""
    rt, sink = runtime
    exe = tmp_path / "sample-exec"
    shutil.copy("/bin/true", exe)
    for plan in planned_or_skip(f"""
        kprobes:
        - call: security_bprm_check
          syscall: false
          args: [{{index: 0, type: linux_binprm}}]
          selectors: [{{matchArgs: [{{index: 0, operator: Equal, values: ["{exe}"]}}]}}]
    """, rung):
        rt.add_tracepoint(plan)
    child = subprocess.Popen([str(exe)])
    assert child.wait(EVENT_TIMEOUT) == 0
    ev, = kprobe_events(rt, sink, child.pid, 1)
    want = FilePath(str(exe), "", mode_string(exe.stat().st_mode))
    assert ev.args == [Arg("linux_binprm_arg", want)]
    assert arg_json(ev.args[0]) == {"linux_binprm_arg": {"path": str(exe),
                                                         "permission": want.permission}}


@pytest.mark.parametrize("rung", RUNGS)
def test_net_device_names_the_device(runtime: tuple[Runtime, Collect], rung: str) -> None:
    """A UDP datagram to 127.0.0.1 leaves through lo: dev_hard_start_xmit's
    device is named, and Equal on the name filters it."""
    rt, sink = runtime
    for plan in planned_or_skip("""
        kprobes:
        - call: dev_hard_start_xmit
          syscall: false
          args: [{index: 1, type: net_device}]
          selectors: [{matchArgs: [{index: 1, operator: Equal, values: ["lo"]}]}]
    """, rung):
        rt.add_tracepoint(plan)
    sink_sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink_sock.bind(("127.0.0.1", 0))
    port = sink_sock.getsockname()[1]
    child = subprocess.Popen([PY, "-c", f"""
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.sendto(b"x", ("127.0.0.1", {port}))
"""])
    assert child.wait(EVENT_TIMEOUT) == 0
    ev = kprobe_events(rt, sink, child.pid, 1)[0]
    assert ev.args == [Arg("net_dev_arg", "lo")]
    assert arg_json(ev.args[0]) == {"net_dev_arg": {"name": "lo"}}


@pytest.mark.parametrize("rung", RUNGS)
def test_capability_has_its_name(runtime: tuple[Runtime, Collect], rung: str) -> None:
    """nice(-1) asks for CAP_SYS_NICE (23): among the child's capability
    checks, cap_capable's capability comes with its name. (Tetragon 1.7
    compares no capability argument, so no selector narrows them.)"""
    rt, sink = runtime
    for plan in planned_or_skip("""
        kprobes:
        - call: cap_capable
          syscall: false
          args: [{index: 2, type: capability}]
    """, rung):
        rt.add_tracepoint(plan)
    child = subprocess.Popen([PY, "-c", "import os; os.nice(-1); print(os.getpid())"])
    assert child.wait(EVENT_TIMEOUT) == 0
    deadline = time.monotonic() + EVENT_TIMEOUT
    while True:
        evs = [e for e in sink.events if isinstance(e, KprobeEvent)
               and e.process.pid == child.pid and e.args == [Arg("capability_arg", 23)]]
        if evs or time.monotonic() > deadline:
            break
        rt.step(50)
    assert evs, "no cap_capable(CAP_SYS_NICE) of the child"
    ev = evs[0]
    assert arg_json(ev.args[0]) == {"capability_arg": {"value": 23, "name": "CAP_SYS_NICE"}}
