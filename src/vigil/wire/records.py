"""Python mirrors of the wire records in bpf/events.h.

bpf/events.h is the source of truth. Each ctypes structure below quotes the C
struct it mirrors; tests/unit/test_struct_layout.py checks every size and field
offset here against the BTF of the compiled object, so drift fails a test
instead of corrupting events.
"""

from __future__ import annotations

import ctypes
import enum
from ctypes import c_char, c_uint8, c_uint16, c_uint32, c_uint64

__all__ = [
    "ABI_SIZES",
    "ARGS_MAX",
    "BIN_PATH_MAX",
    "CGROUP_NAME_MAX",
    "CGROUP_PATH_MAX",
    "CGROUP_SCOPES_MAX",
    "CWD_MAX",
    "FILENAME_MAX",
    "MATCH_BITS",
    "MESSAGE_ENUMS",
    "MESSAGE_STRUCTS",
    "RATE_ARG_BYTES",
    "ArgMeta",
    "Baseline",
    "BinKey",
    "BpfMapArg",
    "BpfProgArg",
    "CgroupFixed",
    "CgroupFlag",
    "CgroupRecord",
    "CloneRecord",
    "CredArg",
    "Creds",
    "ExecIdentity",
    "ExecRecord",
    "ExitRecord",
    "GenericData",
    "GenericReturn",
    "MatchBits",
    "MatchConfig",
    "ModuleArg",
    "MsgHeader",
    "Namespaces",
    "Op",
    "PathArg",
    "PathFlag",
    "PerfEventArg",
    "PidKey",
    "ProcFlag",
    "ProcKey",
    "RateKey",
    "SeedKey",
    "SelAction",
    "SelArg",
    "SelCapSet",
    "SelCaps",
    "SelFlag",
    "SelNs",
    "SelOp",
    "SelPidFlag",
    "SelPids",
    "SelRateScope",
    "SelStrKey",
    "SelTask",
    "SelValueKey",
    "Selector",
    "Selectors",
    "SkbArg",
    "SockArg",
    "SockaddrUnArg",
    "SockaddrUnFlag",
    "Stat",
    "UserNsArg",
]

# Sizes of an exec record's variable parts (events.h explains the layout;
# tests/unit/test_struct_layout.py checks these against the object's BTF).
PART_MAX = 4096
FILENAME_MAX = ARGS_MAX = CWD_MAX = EXE_MAX = PART_MAX
DATA_OFF_MASK = (1 << 14) - 1
EXEC_DATA_MAX = DATA_OFF_MASK + 1 + PART_MAX
# Generic hooks' records (events.h).
GENERIC_ARGS_MAX = 5
ARG_STR_MAX = 1024
GENERIC_DATA_MAX = (1 << 13) + 4 + ARG_STR_MAX + 4
# A generic hook's compiled selectors (bpf/generic/selectors.h).
SEL_MAX = 5
SEL_PIDS_MAX = 4
SEL_ARGS_MAX = 5
SEL_RET_ARGS_MAX = 2
SEL_VALUES_MAX = 4
SEL_ACTIONS_MAX = 3
SEL_STR_MAX = 256
SEL_POOL_WORDS = 1024
# Match bits (matchBinaries, followForks) and the binary maps' keys.
BIN_PATH_MAX = 256
MATCH_BITS = 64
RATE_ARG_BYTES = 40
SEL_NS_MAX = 10
SEL_CAPS_MAX = 3
# A char_buf's bytes after its 4-byte original length; a const_buf's mask.
CHAR_BUF_MAX = ARG_STR_MAX - 4
IOVEC_MAX = 8  # a char_iovec's buffers read (VIGIL_IOVEC_MAX)
IOVEC_LEN_MAX = 64  # ... and whose lengths are summed; past it the length is 0xFFFFFFFF
RESOLVE_MAX = 10  # steps of a resolve: path
CONST_BUF_MASK = 0x3FF
# A return record's arguments: the return value, and a returnCopy argument.
RETURN_ARGS_MAX = 2
ARG_SLOT_MAX = 4 + ARG_STR_MAX + 4
# A file argument's path after its struct vigil_path_arg.
PATH_ARG_MAX = ARG_STR_MAX - 8
# A string value of a filter whose values are in the hook's trie.
SEL_TRIE_STR_MAX = 248
SYSCALL64_32BIT = 0x8000_0000
# Cgroups (events.h): an exec record's cgroup name with its NUL, a cgroup
# record's path (the kernel's TRACE_CGROUP_PATH_LEN), a policy's subtrees.
CGROUP_NAME_MAX = 128
CGROUP_PATH_MAX = 1024
CGROUP_SCOPES_MAX = 8


class Op(enum.IntEnum):
    """enum vigil_op: the record kind in every header."""

    EXEC = 1
    CLONE = 2
    EXIT = 3
    GENERIC_TRACEPOINT = 4
    GENERIC_RETURN = 5
    GENERIC_DATA = 6
    CGROUP_MKDIR = 7
    CGROUP_RMDIR = 8
    TEST_FIRST = 0x7F00  # ops from here up belong to test objects (bpf/selftest/)


class ProcFlag(enum.IntFlag):
    """enum vigil_proc_flag."""

    EXECVE = 1 << 0
    PROCFS = 1 << 1
    CLONE = 1 << 2
    TRUNC_ARGS = 1 << 3
    TRUNC_FILENAME = 1 << 4
    TRUNC_CWD = 1 << 5
    ROOTCWD = 1 << 6
    ERROR_ARGS = 1 << 7
    ERROR_CWD = 1 << 8
    NO_PARENT = 1 << 9
    EXE_UNLINKED = 1 << 10
    TRUNC_EXE = 1 << 11
    MISS = 1 << 12  # set by user space: the process was not in the cache


class Stat(enum.IntEnum):
    """enum vigil_stat: index of the per-CPU loss and error counters."""

    RINGBUF_FULL_EXEC = 0
    RINGBUF_FULL_CLONE = 1
    RINGBUF_FULL_EXIT = 2
    EXEC_MAP_FULL = 3
    HEAP_MISSING = 4
    ARGS_READ_ERROR = 5
    CWD_READ_ERROR = 6
    FILENAME_READ_ERROR = 7
    EXE_READ_ERROR = 8
    TAIL_CALL_FAILED = 9
    RINGBUF_FULL_GENERIC = 10
    RETURN_PENDING_FULL = 11
    RINGBUF_FULL_DATA = 12
    ENFORCER_OVERWRITTEN = 13
    ENFORCER_UNUSED = 14
    RINGBUF_FULL_CGROUP = 15


STAT_MAX = len(Stat)


class ArgKind(enum.IntEnum):
    """enum vigil_arg_kind: how a generic hook reads one argument."""

    NONE = 0
    INT = 1
    STR_ARRAY = 2
    STR_DATALOC = 3
    STR_PTR = 4
    SYSCALL64 = 5
    CONST_BUF = 6
    CHAR_BUF = 7
    FILE = 8
    PATH = 9
    DENTRY = 10
    FD = 11
    SOCK = 12
    KERNEL_CAP = 13
    CRED = 14
    BINPRM = 15
    NET_DEV = 16
    SOCKET = 17
    SKB = 18
    SOCKADDR = 19
    USER_NS = 20
    BPF_ATTR = 21
    BPF_PROG = 22
    BPF_MAP = 23
    PERF_EVENT = 24
    MODULE = 25
    LOAD_INFO = 26
    CHAR_IOVEC = 27
    IOV_ITER = 28
    KIOCB = 29
    SOCKADDR_UN = 30
    FILENAME = 31
    LAST = 31  # the struct kinds: FILE to LAST (events.h)


class PathFlag(enum.IntFlag):
    """enum vigil_path_flag: a file argument's flags."""

    UNRESOLVED = 0x2


class SockaddrUnFlag(enum.IntFlag):
    """enum vigil_sockaddr_un_flag."""

    ABSTRACT = 0x1


class ArgMeta(enum.IntFlag):
    """enum vigil_arg_meta: flags of a char_buf's length knob (arg_meta_size)."""

    SIGNED = 0x80


class Action(enum.IntEnum):
    """enum vigil_action: what a generic hook did."""

    POST = 1
    NOPOST = 2
    SIGKILL = 3
    SIGNAL = 4
    OVERRIDE = 5
    NOTIFY_ENFORCER = 6
    CLEANUP_ENFORCER = 7
    TRACK_SOCK = 8
    UNTRACK_SOCK = 9


class SelOp(enum.IntEnum):
    """enum vigil_sel_op: a compiled filter's operator."""

    NONE = 0
    PID_IN = 1
    PID_NOT_IN = 2
    EQ = 3
    NEQ = 4
    GT = 5
    LT = 6
    MASK = 7
    IN_RANGE = 8
    NOT_IN_RANGE = 9
    STR_EQ = 10
    STR_NEQ = 11
    PREFIX = 12
    NOT_PREFIX = 13
    POSTFIX = 14
    NOT_POSTFIX = 15
    IN_MAP = 16
    NOT_IN_MAP = 17
    SPORT = 18
    NOT_SPORT = 19
    DPORT = 20
    NOT_DPORT = 21
    SPORT_PRIV = 22
    NOT_SPORT_PRIV = 23
    DPORT_PRIV = 24
    NOT_DPORT_PRIV = 25
    FAMILY = 26
    PROTOCOL = 27
    STATE = 28
    SADDR = 29
    NOT_SADDR = 30
    DADDR = 31
    NOT_DADDR = 32
    FILE_TYPE = 33
    NOT_FILE_TYPE = 34


class SelFlag(enum.IntFlag):
    """enum vigil_sel_flag: how an integer filter widens its argument."""

    SIGNED = 1
    PATH = 2
    TRIE = 4


class SelPidFlag(enum.IntFlag):
    """enum vigil_sel_pid_flag."""

    FOLLOW = 1


class SelRateScope(enum.IntEnum):
    """enum vigil_sel_rate_scope: Tetragon's rateLimitScope numbers."""

    THREAD = 0
    PROCESS = 1
    GLOBAL = 2


class SelTask(enum.IntFlag):
    """enum vigil_sel_task: what a selector's filters on the current task read."""

    NSPID = 1
    NS = 2
    CAPS = 4
    NS_CHANGE = 8
    CAP_CHANGE = 16


class SelCapSet(enum.IntEnum):
    """enum vigil_sel_cap_set: a capability set, numbered as Tetragon numbers it."""

    PERMITTED = 0
    EFFECTIVE = 1
    INHERITABLE = 2


class MsgHeader(ctypes.Structure):
    """struct vigil_msg_header { __u16 op; __u16 pad; __u32 size; __u64 ktime; };"""

    _fields_ = [("op", c_uint16), ("pad", c_uint16), ("size", c_uint32), ("ktime", c_uint64)]


class ProcKey(ctypes.Structure):
    """struct vigil_proc_key { __u32 pid; __u32 pad; __u64 ktime; };"""

    _fields_ = [("pid", c_uint32), ("pad", c_uint32), ("ktime", c_uint64)]


class ExecIdentity(ctypes.Structure):
    """struct vigil_exec_identity { key; parent; __u32 flags; __u32 pad;
    __u64 bin; __u64 follow; };"""

    _fields_ = [("key", ProcKey), ("parent", ProcKey), ("flags", c_uint32), ("pad", c_uint32),
                ("bin", c_uint64), ("follow", c_uint64)]


class MatchBits(ctypes.Structure):
    """struct vigil_match_bits { __u64 bin, follow, clear; }: a vigil_match_seed value."""

    _fields_ = [("bin", c_uint64), ("follow", c_uint64), ("clear", c_uint64)]


class MatchConfig(ctypes.Structure):
    """struct vigil_match_config { __u64 follow_children, valid, baselines; }."""

    _fields_ = [("follow_children", c_uint64), ("valid", c_uint64), ("baselines", c_uint64)]


class PidKey(ctypes.Structure):
    """struct vigil_pid_key { __u32 prefixlen; __u32 pid; }: an exact LPM key."""

    _fields_ = [("prefixlen", c_uint32), ("pid", c_uint32)]


class SeedKey(ctypes.Structure):
    """struct vigil_seed_key { __u32 prefixlen; __u32 pid; __u64 ktime; }: an
    exact LPM key (prefixlen 96) naming a process's identity."""

    _fields_ = [("prefixlen", c_uint32), ("pid", c_uint32), ("ktime", c_uint64)]


class BinKey(ctypes.Structure):
    """struct vigil_bin_key { __u32 len; char path[256]; }: a binary map's key."""

    _fields_ = [("len", c_uint32), ("path", c_char * BIN_PATH_MAX)]


class Creds(ctypes.Structure):
    """struct vigil_creds { uid, euid, gid, egid, auid, pad; cap_permitted,
    cap_effective, cap_inheritable; };"""

    _fields_ = [
        ("uid", c_uint32),
        ("euid", c_uint32),
        ("gid", c_uint32),
        ("egid", c_uint32),
        ("auid", c_uint32),
        ("pad", c_uint32),
        ("cap_permitted", c_uint64),
        ("cap_effective", c_uint64),
        ("cap_inheritable", c_uint64),
    ]


NAMESPACE_NAMES = (
    "uts",
    "ipc",
    "mnt",
    "pid",
    "pid_for_children",
    "net",
    "time",
    "time_for_children",
    "cgroup",
    "user",
)


class Namespaces(ctypes.Structure):
    """struct vigil_namespaces: one __u32 inode number per namespace kind."""

    _fields_ = [(name, c_uint32) for name in NAMESPACE_NAMES]


class Baseline(ctypes.Structure):
    """struct vigil_baseline { struct vigil_namespaces ns; __u32 pad; __u64 caps[3]; }:
    a vigil_task_baseline value, caps indexed by SelCapSet."""

    _fields_ = [("ns", Namespaces), ("pad", c_uint32), ("caps", c_uint64 * 3)]


class ExecRecord(ctypes.Structure):
    """struct vigil_exec_event { hdr; key; parent; __u32 tid; __u32 flags;
    creds; ns; __u64 cgroup_id, start_boottime, exe_ino; __u32 exe_nlink, pad;
    char cgroup_name[VIGIL_CGROUP_NAME_MAX];
    __u16 filename_len, args_len, cwd_len, exe_len; char data[VIGIL_EXEC_DATA_MAX]; };

    Only the bytes up to the end of the used part of `data` are sent, so
    records are decoded from the fixed part and sliced for the rest."""

    _fields_ = [
        ("hdr", MsgHeader),
        ("key", ProcKey),
        ("parent", ProcKey),
        ("tid", c_uint32),
        ("flags", c_uint32),
        ("creds", Creds),
        ("ns", Namespaces),
        ("cgroup_id", c_uint64),
        ("start_boottime", c_uint64),
        ("exe_ino", c_uint64),
        ("exe_nlink", c_uint32),
        ("pad", c_uint32),
        ("cgroup_name", c_char * CGROUP_NAME_MAX),
        ("filename_len", c_uint16),
        ("args_len", c_uint16),
        ("cwd_len", c_uint16),
        ("exe_len", c_uint16),
        ("data", c_char * EXEC_DATA_MAX),
    ]


EXEC_FIXED_SIZE = ExecRecord.data.offset


class _ExecFixed(ctypes.Structure):
    """The fixed part of ExecRecord: what from_buffer_copy can take from a
    record that is shorter than the full structure."""

    _fields_ = ExecRecord._fields_[:-1]


class CloneRecord(ctypes.Structure):
    """struct vigil_clone_event { hdr; key; parent; __u32 tid; __u32 flags;
    __u64 start_boottime; __u64 cgroup_id; };"""

    _fields_ = [
        ("hdr", MsgHeader),
        ("key", ProcKey),
        ("parent", ProcKey),
        ("tid", c_uint32),
        ("flags", c_uint32),
        ("start_boottime", c_uint64),
        ("cgroup_id", c_uint64),
    ]


class CgroupFlag(enum.IntFlag):
    """enum vigil_cgroup_flag."""

    TRUNC_PATH = 0x1
    ERROR_PATH = 0x2


class CgroupRecord(ctypes.Structure):
    """struct vigil_cgroup_event { hdr; __u64 cgroup_id; __u32 level;
    __u16 path_len; __u16 flags; char path[VIGIL_CGROUP_PATH_MAX]; };

    Only the fixed part and path_len bytes of `path` are sent."""

    _fields_ = [
        ("hdr", MsgHeader),
        ("cgroup_id", c_uint64),
        ("level", c_uint32),
        ("path_len", c_uint16),
        ("flags", c_uint16),
        ("path", c_char * CGROUP_PATH_MAX),
    ]


CGROUP_FIXED_SIZE = CgroupRecord.path.offset


class CgroupFixed(ctypes.Structure):
    """The fixed part of CgroupRecord (a record is shorter than the whole)."""

    _fields_ = CgroupRecord._fields_[:-1]


class ExitRecord(ctypes.Structure):
    """struct vigil_exit_event { hdr; key; parent; __u32 tid; __u32 exit_code;
    __u64 start_boottime; };"""

    _fields_ = [
        ("hdr", MsgHeader),
        ("key", ProcKey),
        ("parent", ProcKey),
        ("tid", c_uint32),
        ("exit_code", c_uint32),
        ("start_boottime", c_uint64),
    ]


class GenericRecord(ctypes.Structure):
    """struct vigil_generic_event { hdr; key; __u32 tid, hook_id, action;
    __u16 nargs, data_len; char data[VIGIL_GENERIC_DATA_MAX]; };"""

    _fields_ = [
        ("hdr", MsgHeader),
        ("key", ProcKey),
        ("tid", c_uint32),
        ("hook_id", c_uint32),
        ("action", c_uint32),
        ("nargs", c_uint16),
        ("data_len", c_uint16),
        ("data", c_char * GENERIC_DATA_MAX),
    ]


GENERIC_FIXED_SIZE = GenericRecord.data.offset


class _GenericFixed(ctypes.Structure):
    _fields_ = GenericRecord._fields_[:-1]


class GenericReturn(ctypes.Structure):
    """struct vigil_generic_return { the fixed part of vigil_generic_event;
    __u64 enter_ktime; char data[VIGIL_RETURN_ARGS_MAX * VIGIL_ARG_SLOT_MAX]; }"""

    _fields_ = [*GenericRecord._fields_[:-1], ("enter_ktime", c_uint64),
                ("data", c_char * (RETURN_ARGS_MAX * ARG_SLOT_MAX))]


RETURN_FIXED_SIZE = GenericReturn.data.offset

MAX_DATA = 327360  # a maxData buffer's bytes sent at most (Tetragon's limit)
DATA_CHUNK = 4032  # of them in one OP_GENERIC_DATA record


class GenericData(ctypes.Structure):
    """struct vigil_generic_data: a chunk of a maxData buffer argument."""

    _fields_ = [("hdr", MsgHeader), ("hook_id", c_uint32), ("tid", c_uint32),
                ("enter_ktime", c_uint64), ("arg", c_uint16), ("pad", c_uint16),
                ("offset", c_uint32), ("len", c_uint32), ("pad2", c_uint32),
                ("data", c_char * DATA_CHUNK)]


DATA_FIXED_SIZE = GenericData.data.offset


class SelPids(ctypes.Structure):
    """struct vigil_sel_pids { __u8 op, nvalues, flags, bit; __u32 values[4]; };"""

    _fields_ = [("op", c_uint8), ("nvalues", c_uint8), ("flags", c_uint8), ("bit", c_uint8),
                ("values", c_uint32 * SEL_VALUES_MAX)]


class SelArg(ctypes.Structure):
    """struct vigil_sel_arg { __u8 index, op, nvalues, flags, size, pad[3];
    __u64 lo[4], hi[4]; };"""

    _fields_ = [("index", c_uint8), ("op", c_uint8), ("nvalues", c_uint8),
                ("flags", c_uint8), ("size", c_uint8), ("pad", c_uint8 * 3),
                ("lo", c_uint64 * SEL_VALUES_MAX), ("hi", c_uint64 * SEL_VALUES_MAX)]


class SelAction(ctypes.Structure):
    """struct vigil_sel_action { __u32 action, arg, rate_ms, rate_scope, sig, pad; };"""

    _fields_ = [("action", c_uint32), ("arg", c_uint32), ("rate_ms", c_uint32),
                ("rate_scope", c_uint32), ("sig", c_uint32), ("pad", c_uint32)]


class RateKey(ctypes.Structure):
    """struct vigil_rate_key { __u32 sel; __u32 pad; __u64 scope_id; __u8 data[5 * 40]; }"""

    _fields_ = [("sel", c_uint32), ("pad", c_uint32), ("scope_id", c_uint64),
                ("data", c_uint8 * (GENERIC_ARGS_MAX * RATE_ARG_BYTES))]


class SelNs(ctypes.Structure):
    """struct vigil_sel_ns { __u8 kind, not_in, nvalues, pad; __u32 values[4]; };"""

    _fields_ = [("kind", c_uint8), ("not_in", c_uint8), ("nvalues", c_uint8), ("pad", c_uint8),
                ("values", c_uint32 * SEL_VALUES_MAX)]


class SelCaps(ctypes.Structure):
    """struct vigil_sel_caps { __u8 set, not_in; __u16 pad; __u32 host_user_ns;
    __u64 mask; };"""

    _fields_ = [("set", c_uint8), ("not_in", c_uint8), ("pad", c_uint16),
                ("host_user_ns", c_uint32), ("mask", c_uint64)]


class Selector(ctypes.Structure):
    """struct vigil_selector { __u8 npids, nargs, nactions, pad; pids[4];
    args[5]; actions[3]; __u64 bin_set, bin_clear; __u8 task, nspid, nns, ncaps;
    __u32 pad2; ns[10]; caps[3]; __u16 ns_change; __u8 ncap_changes, pad3; __u32 pad4;
    cap_changes[3]; };"""

    _fields_ = [("npids", c_uint8), ("nargs", c_uint8), ("nactions", c_uint8),
                ("pad", c_uint8), ("pids", SelPids * SEL_PIDS_MAX),
                ("args", SelArg * SEL_ARGS_MAX), ("actions", SelAction * SEL_ACTIONS_MAX),
                ("bin_set", c_uint64), ("bin_clear", c_uint64),
                ("task", c_uint8), ("nspid", c_uint8), ("nns", c_uint8), ("ncaps", c_uint8),
                ("pad2", c_uint32), ("ns", SelNs * SEL_NS_MAX), ("caps", SelCaps * SEL_CAPS_MAX),
                ("ns_change", c_uint16), ("ncap_changes", c_uint8), ("pad3", c_uint8),
                ("pad4", c_uint32), ("cap_changes", SelCaps * SEL_CAPS_MAX),
                ("nret_args", c_uint8), ("nret_actions", c_uint8), ("pad5", c_uint16),
                ("pad6", c_uint32), ("ret_args", SelArg * SEL_RET_ARGS_MAX),
                ("ret_actions", SelAction * SEL_ACTIONS_MAX)]


class Selectors(ctypes.Structure):
    """struct vigil_selectors { __u32 nsel; __u32 pad; sel[5]; __u64 pool[1024]; }:
    the one value of a generic hook's vigil_selectors map."""

    _fields_ = [("nsel", c_uint32), ("pad", c_uint32), ("sel", Selector * SEL_MAX),
                ("pool", c_uint64 * SEL_POOL_WORDS)]


class SelValueKey(ctypes.Structure):
    """struct vigil_sel_value_key { __u32 set; __u32 pad; __u64 value; }: a key of
    a hook's vigil_sel_values map (InMap/NotInMap values)."""

    _fields_ = [("set", c_uint32), ("pad", c_uint32), ("value", c_uint64)]


class SelStrKey(ctypes.Structure):
    """struct vigil_sel_str_key { __u32 prefixlen; __u32 set; __u8 data[248]; }:
    a key of a hook's vigil_sel_strs LPM trie."""

    _fields_ = [("prefixlen", c_uint32), ("set", c_uint32),
                ("data", c_uint8 * SEL_TRIE_STR_MAX)]


class SockArg(ctypes.Structure):
    """struct vigil_sock_arg: a sock argument's slot."""

    _fields_ = [("family", c_uint16), ("type", c_uint16), ("protocol", c_uint16),
                ("state", c_uint8), ("pad", c_uint8), ("mark", c_uint32),
                ("priority", c_uint32), ("sport", c_uint16), ("dport", c_uint16),
                ("pad2", c_uint32), ("cookie", c_uint64), ("saddr", c_uint8 * 16),
                ("daddr", c_uint8 * 16)]


class UserNsArg(ctypes.Structure):
    """struct vigil_user_ns_arg: a user namespace's level, owner and inode."""

    _fields_ = [("level", ctypes.c_int32), ("uid", c_uint32), ("gid", c_uint32),
                ("inum", c_uint32)]


class CredArg(ctypes.Structure):
    """struct vigil_cred_arg: a cred argument's slot."""

    _fields_ = [*((n, c_uint32) for n in ("uid", "gid", "suid", "sgid", "euid", "egid",
                                          "fsuid", "fsgid", "securebits", "pad")),
                ("cap_permitted", c_uint64), ("cap_effective", c_uint64),
                ("cap_inheritable", c_uint64), ("user_ns", UserNsArg)]


class SkbArg(ctypes.Structure):
    """struct vigil_skb_arg: a packet's headers in a sock's layout, then its
    hash, length and IPsec security path."""

    _fields_ = [("tuple", SockArg), ("hash", c_uint32), ("len", c_uint32),
                ("secpath_len", c_uint32), ("secpath_olen", c_uint32)]


BPF_OBJ_NAME_LEN = 16
KSYM_NAME_LEN = 128
MODULE_NAME_LEN = 64


class BpfProgArg(ctypes.Structure):
    """struct vigil_bpf_prog_arg: a program being loaded (bpf_attr) or loaded."""

    _fields_ = [("prog_type", c_uint32), ("insn_cnt", c_uint32),
                ("name", ctypes.c_char * BPF_OBJ_NAME_LEN)]


class BpfMapArg(ctypes.Structure):
    """struct vigil_bpf_map_arg."""

    _fields_ = [("map_type", c_uint32), ("key_size", c_uint32), ("value_size", c_uint32),
                ("max_entries", c_uint32), ("name", ctypes.c_char * BPF_OBJ_NAME_LEN)]


class PerfEventArg(ctypes.Structure):
    """struct vigil_perf_event_arg."""

    _fields_ = [("type", c_uint32), ("pad", c_uint32), ("config", c_uint64),
                ("probe_offset", c_uint64), ("kprobe_func", ctypes.c_char * KSYM_NAME_LEN)]


class ModuleArg(ctypes.Structure):
    """struct vigil_module_arg: a kernel module's name, taints, signature."""

    _fields_ = [("taints", c_uint64), ("sig_ok", c_uint32), ("pad", c_uint32),
                ("name", ctypes.c_char * MODULE_NAME_LEN)]


class SockaddrUnArg(ctypes.Structure):
    """struct vigil_sockaddr_un_arg: what precedes a unix address's path."""

    _fields_ = [("flags", c_uint32), ("family", c_uint16), ("pad", c_uint16)]


class PathArg(ctypes.Structure):
    """struct vigil_path_arg { __u32 flags; __u16 mode; __u16 pad; }: what
    precedes a file argument's path in its slot."""

    _fields_ = [("flags", c_uint32), ("mode", c_uint16), ("pad", c_uint16)]


# C struct name -> mirror, for the layout check against BTF.
MESSAGE_STRUCTS: dict[str, type[ctypes.Structure]] = {
    "vigil_msg_header": MsgHeader,
    "vigil_proc_key": ProcKey,
    "vigil_exec_identity": ExecIdentity,
    "vigil_creds": Creds,
    "vigil_namespaces": Namespaces,
    "vigil_baseline": Baseline,
    "vigil_exec_event": ExecRecord,
    "vigil_clone_event": CloneRecord,
    "vigil_exit_event": ExitRecord,
    "vigil_generic_event": GenericRecord,
    "vigil_generic_return": GenericReturn,
    "vigil_sel_pids": SelPids,
    "vigil_sel_arg": SelArg,
    "vigil_sel_action": SelAction,
    "vigil_selector": Selector,
    "vigil_selectors": Selectors,
    "vigil_bin_key": BinKey,
    "vigil_pid_key": PidKey,
    "vigil_seed_key": SeedKey,
    "vigil_match_bits": MatchBits,
    "vigil_match_config": MatchConfig,
    "vigil_rate_key": RateKey,
    "vigil_sel_ns": SelNs,
    "vigil_sel_caps": SelCaps,
    "vigil_sel_value_key": SelValueKey,
    "vigil_path_arg": PathArg,
    "vigil_sel_str_key": SelStrKey,
    "vigil_sock_arg": SockArg,
    "vigil_cred_arg": CredArg,
    "vigil_user_ns_arg": UserNsArg,
    "vigil_skb_arg": SkbArg,
    "vigil_bpf_prog_arg": BpfProgArg,
    "vigil_bpf_map_arg": BpfMapArg,
    "vigil_perf_event_arg": PerfEventArg,
    "vigil_module_arg": ModuleArg,
    "vigil_generic_data": GenericData,
    "vigil_sockaddr_un_arg": SockaddrUnArg,
    "vigil_cgroup_event": CgroupRecord,
}


# C enum name -> (mirror, prefix of its C constants), for the same check.
MESSAGE_ENUMS: dict[str, tuple[type[enum.IntEnum] | type[enum.IntFlag], str]] = {
    "vigil_op": (Op, "VIGIL_OP_"),
    "vigil_proc_flag": (ProcFlag, "VIGIL_F_"),
    "vigil_stat": (Stat, "VIGIL_STAT_"),
    "vigil_arg_kind": (ArgKind, "VIGIL_ARG_"),
    "vigil_arg_meta": (ArgMeta, "VIGIL_ARG_META_"),
    "vigil_path_flag": (PathFlag, "VIGIL_PATH_F_"),
    "vigil_sockaddr_un_flag": (SockaddrUnFlag, "VIGIL_SOCKADDR_UN_F_"),
    "vigil_action": (Action, "VIGIL_ACTION_"),
    "vigil_sel_op": (SelOp, "VIGIL_SEL_OP_"),
    "vigil_sel_flag": (SelFlag, "VIGIL_SEL_F_"),
    "vigil_sel_pid_flag": (SelPidFlag, "VIGIL_SEL_PID_F_"),
    "vigil_sel_rate_scope": (SelRateScope, "VIGIL_SEL_RATE_"),
    "vigil_sel_task": (SelTask, "VIGIL_SEL_T_"),
    "vigil_sel_cap_set": (SelCapSet, "VIGIL_SEL_CAP_"),
    "vigil_cgroup_flag": (CgroupFlag, "VIGIL_CGROUP_F_"),
}

# events.h's size macros, anchored in abi.bpf.c as enum vigil_abi_sizes.
ABI_SIZES = {
    "VIGIL_ABI_PART_MAX": PART_MAX,
    "VIGIL_ABI_DATA_OFF_MASK": DATA_OFF_MASK,
    "VIGIL_ABI_EXEC_DATA_MAX": EXEC_DATA_MAX,
    "VIGIL_ABI_GENERIC_ARGS_MAX": GENERIC_ARGS_MAX,
    "VIGIL_ABI_ARG_STR_MAX": ARG_STR_MAX,
    "VIGIL_ABI_GENERIC_DATA_MAX": GENERIC_DATA_MAX,
    "VIGIL_ABI_SEL_MAX": SEL_MAX,
    "VIGIL_ABI_SEL_PIDS_MAX": SEL_PIDS_MAX,
    "VIGIL_ABI_SEL_ARGS_MAX": SEL_ARGS_MAX,
    "VIGIL_ABI_SEL_VALUES_MAX": SEL_VALUES_MAX,
    "VIGIL_ABI_SEL_ACTIONS_MAX": SEL_ACTIONS_MAX,
    "VIGIL_ABI_SEL_STR_MAX": SEL_STR_MAX,
    "VIGIL_ABI_SEL_POOL_WORDS": SEL_POOL_WORDS,
    "VIGIL_ABI_BIN_PATH_MAX": BIN_PATH_MAX,
    "VIGIL_ABI_MATCH_BITS": MATCH_BITS,
    "VIGIL_ABI_RATE_ARG_BYTES": RATE_ARG_BYTES,
    "VIGIL_ABI_SEL_NS_MAX": SEL_NS_MAX,
    "VIGIL_ABI_SEL_CAPS_MAX": SEL_CAPS_MAX,
    "VIGIL_ABI_CHAR_BUF_MAX": CHAR_BUF_MAX,
    "VIGIL_ABI_IOVEC_MAX": IOVEC_MAX,
    "VIGIL_ABI_IOVEC_LEN_MAX": IOVEC_LEN_MAX,
    "VIGIL_ABI_RESOLVE_MAX": RESOLVE_MAX,
    "VIGIL_ABI_MAX_DATA": MAX_DATA,
    "VIGIL_ABI_DATA_CHUNK": DATA_CHUNK,
    "VIGIL_ABI_CONST_BUF_MASK": CONST_BUF_MASK,
    "VIGIL_ABI_RETURN_ARGS_MAX": RETURN_ARGS_MAX,
    "VIGIL_ABI_PATH_ARG_MAX": PATH_ARG_MAX,
    "VIGIL_ABI_SEL_TRIE_STR_MAX": SEL_TRIE_STR_MAX,
    "VIGIL_ABI_SEL_RET_ARGS_MAX": SEL_RET_ARGS_MAX,
    "VIGIL_ABI_CGROUP_NAME_MAX": CGROUP_NAME_MAX,
    "VIGIL_ABI_CGROUP_PATH_MAX": CGROUP_PATH_MAX,
    "VIGIL_ABI_CGROUP_SCOPES_MAX": CGROUP_SCOPES_MAX,
}
