"""spec.fentries: kprobe specs that Tetragon attaches as fentry (and fexit
for a return), with the same events (process_kprobe). A trampoline kernel
is needed: they run in the VM matrix, and on the host the plan says why not."""

from __future__ import annotations

import subprocess

import pytest

from tests.kernel.test_syscall_kprobes import PY, kprobe_events, plans
from vigil.events.model import FilePath
from vigil.policy import PolicyError
from vigil.runtime import Runtime

from .runtime_sink import Collect
from .vigil_runner import EVENT_TIMEOUT

pytestmark = pytest.mark.needs("tracepoint", "ringbuf")

SPEC = """
    fentries:
    - call: security_bprm_check
      syscall: false
      return: true
      args: [{index: 0, type: linux_binprm}]
      returnArg: {index: 0, type: int}
"""


def test_fentries_attach_as_fentry_and_report_kprobe_events(
        runtime: tuple[Runtime, Collect]) -> None:
    rt, sink = runtime
    try:
        planned = plans(SPEC)
    except PolicyError as err:
        message = str(err.issues[0])
        if "spec.fentries attach as fentry only, and fentry needs fentry" not in message:
            raise
        pytest.skip(message.split(": ", 2)[2])
    assert [p.program.kind for p in planned] == ["fentry"]
    for plan in planned:
        rt.add_tracepoint(plan)
    out = subprocess.run([PY, "-c", """
import os
pid = os.fork()
if pid == 0:
    os.execv("/bin/true", ["true"])
os.waitpid(pid, 0)
print(pid, flush=True)
"""], capture_output=True, text=True, timeout=EVENT_TIMEOUT, check=True)
    ev, = kprobe_events(rt, sink, int(out.stdout), 1)
    assert ev.function_name == "security_bprm_check"
    assert ev.args[0].key == "linux_binprm_arg"
    assert isinstance(ev.args[0].value, FilePath) and ev.args[0].value.path == "/usr/bin/true"
    assert ev.ret is not None and (ev.ret.key, ev.ret.value) == ("int_arg", 0)
