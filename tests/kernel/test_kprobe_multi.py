"""kprobe.multi: a kprobe whose call is a list of kernel functions (a list
with no type, or generated_ftrace's pattern) is one program and one link
(and one kretprobe.multi link for the returns) for all of them, each
function's events under its own name and joined with its own return. The
ladder takes it where the kernel has kprobe.multi (6.1, 6.12 in the VM
matrix); 5.10 has none, and the plan says so."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from tests.kernel.test_syscall_kprobes import PY, planned_or_skip
from vigil.events.model import KprobeEvent
from vigil.runtime import Runtime

from .runtime_sink import Collect
from .vigil_runner import EVENT_TIMEOUT

pytestmark = pytest.mark.needs("tracepoint", "ringbuf")

FUNCTIONS = ["security_file_open", "security_file_permission", "security_inode_getattr"]

SPEC = f"""
    lists:
    - name: files
      values: {FUNCTIONS}
    kprobes:
    - call: list:files
      syscall: false
      return: true
      returnArg: {{index: 0, type: int}}
"""


def child(path: Path) -> int:
    """Opens, reads and stats `path`: the three functions, each at least once."""
    out = subprocess.run([PY, "-c", f"""
import os
fd = os.open({str(path)!r}, os.O_RDONLY)
os.read(fd, 4)
os.stat({str(path)!r})
print(os.getpid(), flush=True)
"""], capture_output=True, text=True, timeout=EVENT_TIMEOUT, check=True)
    return int(out.stdout)


def test_a_list_of_functions_is_one_program_and_one_link(runtime: tuple[Runtime, Collect],
                                                          tmp_path: Path) -> None:
    rt, sink = runtime
    plan, = planned_or_skip(SPEC, "kprobe_multi")
    assert plan.program.kind == "kprobe_multi"
    assert plan.call is not None and plan.call.functions == tuple(FUNCTIONS)
    hook = rt.add_tracepoint(plan)
    loaded = sorted(name for name, p in hook.programs.items() if p.fd >= 0)
    assert loaded == ["vigil_generic_kprobe_multi", "vigil_generic_kretprobe_multi"]
    assert len(hook._links) == 2  # kretprobe.multi, then kprobe.multi
    target = tmp_path / "f"
    target.write_text("data")
    pid = child(target)
    # each function's calls, under its name, each joined with its return
    deadline = time.monotonic() + EVENT_TIMEOUT
    while True:
        evs = [e for e in sink.events if isinstance(e, KprobeEvent) and e.process.pid == pid]
        if {e.function_name for e in evs} >= set(FUNCTIONS) or time.monotonic() > deadline:
            break
        rt.step(50)
    assert {e.function_name for e in evs} == set(FUNCTIONS)
    assert all(e.ret is not None and (e.ret.key, e.ret.value) == ("int_arg", 0) for e in evs)


def test_kprobe_rung_takes_one_program_per_function() -> None:
    plans = planned_or_skip(SPEC, "kprobe")
    assert [(p.program.kind, p.event) for p in plans] == [("kprobe", f) for f in FUNCTIONS]


def test_generated_ftrace_lists_the_functions_ftrace_has() -> None:
    if not os.access("/sys/kernel/tracing/available_filter_functions", os.R_OK):
        pytest.skip("tracefs available_filter_functions cannot be read here")
    try:
        text = Path("/sys/kernel/tracing/available_filter_functions").read_text()
    except OSError as err:
        pytest.skip(f"tracefs available_filter_functions cannot be read here: {err}")
    want = sorted({line.split()[0] for line in text.splitlines()
                   if line.split() and line.split()[0] in ("security_file_open",
                                                           "security_file_permission")})
    plans = planned_or_skip("""
    lists:
    - {name: sec, type: generated_ftrace, pattern: "^security_file_(open|permission)$"}
    kprobes:
    - {call: "list:sec", syscall: false}
    """, "kprobe_multi")
    assert [p.call.functions for p in plans if p.call is not None] == [tuple(want)]
