"""Arguments that describe the kernel's own objects -> the fields of
Tetragon's UserNamespace, KprobeBpfAttr/KprobeBpfProg, KprobeBpfMap,
KprobePerfEvent and KernelModule, with the names of pkg/reader/bpf and
pkg/reader/kernel for types and taints."""

from __future__ import annotations

import ctypes
from dataclasses import dataclass
from typing import TypeVar

from vigil.wire.decode import DecodeError
from vigil.wire.records import BpfMapArg, BpfProgArg, ModuleArg, PerfEventArg, UserNsArg

__all__ = ["BPF_CMDS", "MAP_TYPES", "PERF_TYPES", "PROG_TYPES", "TAINTS", "BpfMapFields",
           "BpfProgFields", "ModuleFields", "PerfEventFields", "UserNsFields", "decode_bpf_map_arg",
           "decode_bpf_prog_arg", "decode_module_arg", "decode_perf_event_arg",
           "decode_user_ns_arg", "type_name"]

# uapi/linux/bpf.h's enum bpf_prog_type, as Tetragon names it (pkg/reader/bpf).
PROG_TYPES = dict(enumerate(f"BPF_PROG_TYPE_{n}" for n in (
    "UNSPEC", "SOCKET_FILTER", "KPROBE", "SCHED_CLS", "SCHED_ACT", "TRACEPOINT", "XDP",
    "PERF_EVENT", "CGROUP_SKB", "CGROUP_SOCK", "LWT_IN", "LWT_OUT", "LWT_XMIT", "SOCK_OPS",
    "SK_SKB", "CGROUP_DEVICE", "SK_MSG", "RAW_TRACEPOINT", "CGROUP_SOCK_ADDR",
    "LWT_SEG6LOCAL", "LIRC_MODE2", "SK_REUSEPORT", "FLOW_DISSECTOR", "CGROUP_SYSCTL",
    "RAW_TRACEPOINT_WRITABLE", "CGROUP_SOCKOPT", "TRACING", "STRUCT_OPS", "EXT", "LSM",
    "SK_LOOKUP", "SYSCALL")))
# enum bpf_map_type
MAP_TYPES = dict(enumerate(f"BPF_MAP_TYPE_{n}" for n in (
    "UNSPEC", "HASH", "ARRAY", "PROG_ARRAY", "PERF_EVENT_ARRAY", "PERCPU_HASH",
    "PERCPU_ARRAY", "STACK_TRACE", "CGROUP_ARRAY", "LRU_HASH", "LRU_PERCPU_HASH", "LPM_TRIE",
    "ARRAY_OF_MAPS", "HASH_OF_MAPS", "DEVMAP", "SOCKMAP", "CPUMAP", "XSKMAP", "SOCKHASH",
    "CGROUP_STORAGE", "REUSEPORT_SOCKARRAY", "PERCPU_CGROUP_STORAGE", "QUEUE", "STACK",
    "SK_STORAGE", "DEVMAP_HASH", "STRUCT_OPS", "RINGBUF", "INODE_STORAGE", "TASK_STORAGE",
    "BLOOM_FILTER")))
# uapi/linux/bpf.h's enum bpf_cmd, as Tetragon's BpfCmd enum names it.
BPF_CMDS = dict(enumerate(f"BPF_{n}" for n in (
    "MAP_CREATE", "MAP_LOOKUP_ELEM", "MAP_UPDATE_ELEM", "MAP_DELETE_ELEM", "MAP_GET_NEXT_KEY",
    "PROG_LOAD", "OBJ_PIN", "OBJ_GET", "PROG_ATTACH", "PROG_DETACH", "PROG_TEST_RUN",
    "PROG_GET_NEXT_ID", "MAP_GET_NEXT_ID", "PROG_GET_FD_BY_ID", "MAP_GET_FD_BY_ID",
    "OBJ_GET_INFO_BY_FD", "PROG_QUERY", "RAW_TRACEPOINT_OPEN", "BTF_LOAD", "BTF_GET_FD_BY_ID",
    "TASK_FD_QUERY", "MAP_LOOKUP_AND_DELETE_ELEM", "MAP_FREEZE", "BTF_GET_NEXT_ID",
    "MAP_LOOKUP_BATCH", "MAP_LOOKUP_AND_DELETE_BATCH", "MAP_UPDATE_BATCH", "MAP_DELETE_BATCH",
    "LINK_CREATE", "LINK_UPDATE", "LINK_GET_FD_BY_ID", "LINK_GET_NEXT_ID", "ENABLE_STATS",
    "ITER_CREATE", "LINK_DETACH", "PROG_BIND_MAP", "TOKEN_CREATE")))
# uapi/linux/perf_event.h's enum perf_type_id
PERF_TYPES = dict(enumerate(f"PERF_TYPE_{n}" for n in (
    "HARDWARE", "SOFTWARE", "TRACEPOINT", "HW_CACHE", "RAW", "BREAKPOINT", "MAX")))
# The taints a module brings, as Tetragon's TaintedBitsType (each value is
# 1 << the kernel's TAINT_* bit).
TAINTS = ((1 << 0, "TAINT_PROPRIETARY_MODULE"), (1 << 1, "TAINT_FORCED_MODULE"),
          (1 << 2, "TAINT_FORCED_UNLOAD_MODULE"), (1 << 10, "TAINT_STAGED_MODULE"),
          (1 << 12, "TAINT_OUT_OF_TREE_MODULE"), (1 << 13, "TAINT_UNSIGNED_MODULE"),
          (1 << 15, "TAINT_KERNEL_LIVE_PATCH_MODULE"), (1 << 18, "TAINT_TEST_MODULE"))


_S = TypeVar("_S", bound=ctypes.Structure)


def type_name(names: dict[int, str], n: int) -> str:
    """A type's name, or its number where Tetragon knows no name."""
    return names.get(n, str(n))


def _cstr(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("utf-8", "backslashreplace")


@dataclass(slots=True, frozen=True)
class UserNsFields:
    level: int
    uid: int
    gid: int
    inum: int


@dataclass(slots=True, frozen=True)
class BpfProgFields:
    """KprobeBpfAttr's and KprobeBpfProg's fields."""

    prog_type: str
    insn_cnt: int
    prog_name: str


@dataclass(slots=True, frozen=True)
class BpfMapFields:
    map_type: str
    key_size: int
    value_size: int
    max_entries: int
    map_name: str


@dataclass(slots=True, frozen=True)
class PerfEventFields:
    kprobe_func: str
    type: str
    config: int
    probe_offset: int


@dataclass(slots=True, frozen=True)
class ModuleFields:
    """KernelModule's fields; signature_ok None where it was not checked (a
    struct module, not a load_info)."""

    name: str
    signature_ok: bool | None
    tainted: tuple[str, ...]


def _struct(kind: type[_S], raw: bytes, what: str) -> _S:
    size = ctypes.sizeof(kind)
    if len(raw) != size:
        raise DecodeError("generic_lengths", f"a {what} argument of {len(raw)} bytes, not {size}")
    return kind.from_buffer_copy(raw)


def decode_user_ns_arg(raw: bytes) -> UserNsFields:
    u = _struct(UserNsArg, raw, "user_namespace")
    return UserNsFields(u.level, u.uid, u.gid, u.inum)


def decode_bpf_prog_arg(raw: bytes) -> BpfProgFields:
    p = _struct(BpfProgArg, raw, "bpf_prog")
    return BpfProgFields(type_name(PROG_TYPES, p.prog_type), p.insn_cnt, _cstr(bytes(p.name)))


def decode_bpf_map_arg(raw: bytes) -> BpfMapFields:
    m = _struct(BpfMapArg, raw, "bpf_map")
    return BpfMapFields(type_name(MAP_TYPES, m.map_type), m.key_size, m.value_size,
                        m.max_entries, _cstr(bytes(m.name)))


def decode_perf_event_arg(raw: bytes) -> PerfEventFields:
    p = _struct(PerfEventArg, raw, "perf_event")
    return PerfEventFields(_cstr(bytes(p.kprobe_func)), type_name(PERF_TYPES, p.type),
                           p.config, p.probe_offset)


def decode_module_arg(raw: bytes, signature: bool) -> ModuleFields:
    """A module; `signature`: it is a load_info, whose signature was checked."""
    m = _struct(ModuleArg, raw, "module")
    return ModuleFields(_cstr(bytes(m.name)), bool(m.sig_ok) if signature else None,
                        tuple(name for bit, name in TAINTS if m.taints & bit))
