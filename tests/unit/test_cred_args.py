"""cred and capability-set arguments: the kernel's bytes decoded, their
JSON as Tetragon's (process_credentials_arg, cap_*_arg as %016x), parseable
with its schema, and their plans (keys, the object that reads them)."""

from __future__ import annotations

import ctypes

import orjson
import pytest
from google.protobuf import json_format
from hypothesis import given
from hypothesis import strategies as st

from vigil.agent import arg_value
from vigil.api.gen.tetragon import events_pb2
from vigil.encode.tetragon import JsonEncoder, RenderOptions
from vigil.events.model import Arg, FilePath
from vigil.sensors.generic_tracepoint import OBJECT, STRUCT_ARGS_OBJECT, object_for
from vigil.sensors.plan import CAP_TYPES, ArgPlan, TracepointHookPlan
from vigil.sensors.selectors import ArgFilter, SelectorPlan, compile_selectors
from vigil.wire.cred_arg import CredFields, decode_cred_arg
from vigil.wire.decode import DecodeError
from vigil.wire.records import ArgKind, CredArg, Selectors, SelOp, UserNsArg

from .test_kprobe_encoders import kprobe


def cred_bytes(**kw: int) -> bytes:
    """A cred's slot; ns_* keywords fill its user namespace."""
    ns = {k[3:]: kw.pop(k) for k in list(kw) if k.startswith("ns_")}
    return bytes(CredArg(**kw, user_ns=UserNsArg(**ns)))


def test_decode() -> None:
    raw = cred_bytes(uid=1, gid=2, suid=3, sgid=4, euid=5, egid=6, fsuid=7, fsgid=8,
                     securebits=0x11, cap_permitted=1 << 21, cap_effective=1,
                     cap_inheritable=0, ns_level=1, ns_uid=1000, ns_gid=1001, ns_inum=77)
    assert decode_cred_arg(raw) == CredFields(1, 2, 5, 6, 3, 4, 7, 8,
                                              ("SecBitNoRoot", "SecBitKeepCaps"),
                                              1 << 21, 1, 0, 1, 1000, 1001, 77)


@given(st.binary(max_size=120))
def test_only_a_whole_cred_decodes(raw: bytes) -> None:
    try:
        decode_cred_arg(raw)
    except DecodeError:
        assert len(raw) != ctypes.sizeof(CredArg)
    else:
        assert len(raw) == ctypes.sizeof(CredArg)


def test_json_and_schema() -> None:
    host = decode_cred_arg(cred_bytes(cap_effective=(1 << 0) | (1 << 21), ns_inum=4026531837))
    nested = decode_cred_arg(cred_bytes(uid=0, ns_level=2, ns_uid=1000, ns_gid=1000,
                                        ns_inum=4026532999, securebits=0x1))
    ev = kprobe("commit_creds", [Arg("process_credentials_arg", host),
                                 Arg("process_credentials_arg", nested),
                                 Arg("cap_effective_arg", "0000000000200001")])
    line = JsonEncoder(RenderOptions(node_name="n")).encode(ev)
    args = orjson.loads(line)["process_kprobe"]["args"]
    ids = {k: 0 for k in ("uid", "gid", "euid", "egid", "suid", "sgid", "fsuid", "fsgid")}
    assert args == [
        {"process_credentials_arg": {**ids, "caps": {"effective": ["CAP_CHOWN", "CAP_SYS_ADMIN"]},
                                     "user_ns": {"level": 0, "uid": 0, "gid": 0,
                                                 "ns": {"inum": 4026531837, "is_host": True}}}},
        {"process_credentials_arg": {**ids, "securebits": ["SecBitNoRoot"], "caps": {},
                                     "user_ns": {"level": 2, "uid": 1000, "gid": 1000,
                                                 "ns": {"inum": 4026532999}}}},
        {"cap_effective_arg": "0000000000200001"},
    ]
    msg = json_format.Parse(line, events_pb2.GetEventsResponse())
    assert msg.process_kprobe.args[1].process_credentials_arg.user_ns.level.value == 2


@pytest.mark.parametrize("type_", CAP_TYPES)
def test_capability_sets_are_hex(type_: str) -> None:
    plan = ArgPlan(2, ArgKind.KERNEL_CAP, 16, 8, type_)
    assert arg_value(plan, (0x1FFFFFFFFFF).to_bytes(8, "little")) == Arg(
        f"{type_}_arg", "000001ffffffffff")


def test_a_capability_set_is_filtered_as_a_u64() -> None:
    plan = ArgPlan(2, ArgKind.KERNEL_CAP, 16, 8, "cap_effective")
    sel = Selectors.from_buffer_copy(compile_selectors(
        [SelectorPlan(args=(ArgFilter(2, "NotEqual", ("0",)),))], (plan,)))
    a = sel.sel[0].args[0]
    assert (a.op, a.size, a.flags, a.lo[0]) == (SelOp.NEQ, 8, 0, 0)


def test_a_cred_cannot_be_filtered() -> None:
    plan = ArgPlan(0, ArgKind.CRED, 0, 8, "cred")
    with pytest.raises(ValueError) as err:
        compile_selectors([SelectorPlan(args=(ArgFilter(0, "Equal", ("0",)),))], (plan,))
    assert str(err.value) == ("selectors[0].matchArgs[0].index: filters on cred arguments "
                              "are not supported yet")


@pytest.mark.parametrize(("kind", "type_", "obj"), [
    (ArgKind.INT, "int", OBJECT), (ArgKind.STR_PTR, "string", OBJECT),
    (ArgKind.FILE, "file", STRUCT_ARGS_OBJECT), (ArgKind.SOCK, "sock", STRUCT_ARGS_OBJECT),
    (ArgKind.CRED, "cred", STRUCT_ARGS_OBJECT),
    (ArgKind.KERNEL_CAP, "cap_permitted", STRUCT_ARGS_OBJECT),
])
def test_the_object_a_hook_loads(kind: ArgKind, type_: str, obj: str) -> None:
    size = 4 if kind is ArgKind.INT else 8
    plan = TracepointHookPlan("p", "", "f", (ArgPlan(0, kind, 0, size, type_),))
    assert object_for(plan) == obj


def test_net_device_capability_and_binprm_json() -> None:
    ev = kprobe("f", [Arg("net_dev_arg", "eth0"), Arg("capability_arg", 21),
                      Arg("capability_arg", 99), Arg("linux_binprm_arg", FilePath(
                          "/usr/bin/id", "", "-rwxr-xr-x"))])
    line = JsonEncoder(RenderOptions(node_name="n")).encode(ev)
    assert orjson.loads(line)["process_kprobe"]["args"] == [
        {"net_dev_arg": {"name": "eth0"}},
        {"capability_arg": {"value": 21, "name": "CAP_SYS_ADMIN"}},
        {"capability_arg": {"value": 99}},
        {"linux_binprm_arg": {"path": "/usr/bin/id", "permission": "-rwxr-xr-x"}}]
    msg = json_format.Parse(line, events_pb2.GetEventsResponse())
    assert msg.process_kprobe.args[1].capability_arg.value.value == 21
    assert msg.process_kprobe.args[3].linux_binprm_arg.path == "/usr/bin/id"
