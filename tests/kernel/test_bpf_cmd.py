"""bpf_cmd: bpf(2)'s command shown by its name in Tetragon's BpfCmd enum, on
every rung of the ladder (the syscall fallback runs on the host)."""

from __future__ import annotations

import pytest

from tests.kernel.test_net_kernel_args import BPF_CHILD, check_schema, child
from tests.kernel.test_syscall_kprobes import (
    kprobe_events,
    rung,  # noqa: F401  (the fixture)
    start,
)
from vigil.encode.tetragon import arg_json
from vigil.runtime import Runtime

from .runtime_sink import Collect

pytestmark = pytest.mark.needs("tracepoint", "ringbuf")


def test_bpf_cmd_of_the_bpf_syscall(runtime: tuple[Runtime, Collect],
                                    rung: str) -> None:  # noqa: F811
    rt, sink = runtime
    start(rt, """
    kprobes:
    - call: sys_bpf
      args: [{index: 0, type: bpf_cmd}]
    """, rung)
    pid, _ = child(BPF_CHILD)
    evs = kprobe_events(rt, sink, pid, 2)
    assert [arg_json(e.args[0]) for e in evs] == [{"bpf_cmd_arg": "BPF_MAP_CREATE"},
                                                  {"bpf_cmd_arg": "BPF_PROG_LOAD"}]
    check_schema(sink, evs[0])
