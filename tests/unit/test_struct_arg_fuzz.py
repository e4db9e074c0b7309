"""Any bytes the kernel could hand over for a struct argument decode to a
value or raise DecodeError (which the agent counts); nothing else escapes.
The sizes drawn cover each struct's own size and both sides of it."""

from __future__ import annotations

import ctypes

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vigil.agent import arg_value
from vigil.events.model import Arg
from vigil.sensors.plan import ArgPlan
from vigil.wire.decode import DecodeError
from vigil.wire.records import (
    ARG_STR_MAX,
    ArgKind,
    BpfMapArg,
    BpfProgArg,
    CredArg,
    ModuleArg,
    PerfEventArg,
    SkbArg,
    SockArg,
    UserNsArg,
)

PLANS = [ArgPlan(0, ArgKind.FILE, 0, 8, "file"), ArgPlan(0, ArgKind.FD, 0, 4, "fd"),
         ArgPlan(0, ArgKind.PATH, 0, 8, "path"), ArgPlan(0, ArgKind.DENTRY, 0, 8, "dentry"),
         ArgPlan(0, ArgKind.BINPRM, 0, 8, "linux_binprm"),
         ArgPlan(0, ArgKind.SOCK, 0, 8, "sock"), ArgPlan(0, ArgKind.CRED, 0, 8, "cred"),
         ArgPlan(0, ArgKind.KERNEL_CAP, 0, 8, "cap_effective"),
         ArgPlan(0, ArgKind.NET_DEV, 0, 8, "net_device"),
         *(ArgPlan(0, kind, 0, 8, name) for kind, name in (
             (ArgKind.SOCKET, "socket"), (ArgKind.SKB, "skb"), (ArgKind.SOCKADDR, "sockaddr"),
             (ArgKind.USER_NS, "user_namespace"), (ArgKind.BPF_ATTR, "bpf_attr"),
             (ArgKind.BPF_PROG, "bpf_prog"), (ArgKind.BPF_MAP, "bpf_map"),
             (ArgKind.PERF_EVENT, "perf_event"), (ArgKind.MODULE, "module"),
             (ArgKind.LOAD_INFO, "load_info"), (ArgKind.SOCKADDR_UN, "sockaddr_un")))]
SIZES = sorted({0, 7, 8, 9, ARG_STR_MAX, *(ctypes.sizeof(s) + d for s in (
    SockArg, CredArg, SkbArg, UserNsArg, BpfProgArg, BpfMapArg, PerfEventArg, ModuleArg)
    for d in (-1, 0, 1))})


@pytest.mark.parametrize("plan", PLANS, ids=lambda p: p.tetragon_type)
@given(data=st.data())
def test_any_bytes_decode_or_raise_decode_error(plan: ArgPlan, data: st.DataObject) -> None:
    size = data.draw(st.one_of(st.sampled_from(SIZES), st.integers(0, ARG_STR_MAX)))
    raw = data.draw(st.binary(min_size=size, max_size=size))
    try:
        arg = arg_value(plan, raw)
    except DecodeError as err:
        assert err.cause == "generic_lengths"
        return
    assert isinstance(arg, Arg) and arg.key == plan.json_key
