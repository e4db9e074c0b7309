"""What a policy's hook compiles into: the data a generic sensor loads and
the data user space decodes its records with.

A plan is built from a validated TracingPolicy and the running kernel
(tracefs formats, BTF); the sensor turns it into const volatile knobs, the
agent turns the hook's records back into events with it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from dataclasses import field as dataclass_field

from vigil.sensors.match_bits import Wanted
from vigil.sensors.selectors import (
    SelectorPlan,
    compile_selectors,
    match_wants,
    selector_strings,
    selector_values,
)
from vigil.wire.records import CONST_BUF_MASK, GENERIC_ARGS_MAX, Action, ArgKind

__all__ = [
    "CAP_TYPES",
    "FILE_ARG_KEYS",
    "FUNCTION_PROGRAMS",
    "HOOK_PROGRAMS",
    "INT_SIZES",
    "RETURN_PROGRAMS",
    "RETURN_SOCK_ACTIONS",
    "RETURN_STRUCT_KINDS",
    "STRUCT_ARG_KEYS",
    "TETRAGON_INT_KEYS",
    "TRACEFS_TRACEPOINT",
    "ArgPlan",
    "CallView",
    "ProgramChoice",
    "ReturnPlan",
    "TracepointHookPlan",
    "UserTarget",
]

INT_SIZES = (1, 2, 4, 8)

# Tetragon's argument type -> its JSON key for an integer (pkg/grpc/tracing,
# GetProcessTracepoint: uint64 -> size_arg, int64 -> long_arg, uint32/16/8 ->
# uint_arg, int32/16/8 -> int_arg).
TETRAGON_INT_KEYS = {
    "uint64": "size_arg", "size_t": "size_arg", "syscall64": "size_arg",
    "int64": "long_arg", "long": "long_arg",
    "uint32": "uint_arg", "uint16": "uint_arg", "uint8": "uint_arg",
    "int": "int_arg", "int32": "int_arg", "int16": "int_arg", "int8": "int_arg",
    "bpf_cmd": "bpf_cmd_arg",
}

# File arguments -> their key in Tetragon's JSON (file and fd: file_arg,
# path and dentry: path_arg, as pkg/grpc/tracing shows them).
FILE_ARG_KEYS = {ArgKind.FILE: "file_arg", ArgKind.FD: "file_arg", ArgKind.KIOCB: "file_arg",
                 ArgKind.PATH: "path_arg", ArgKind.DENTRY: "path_arg",
                 ArgKind.BINPRM: "linux_binprm_arg"}
# Every argument read from a kernel struct -> its key.
STRUCT_ARG_KEYS = {**FILE_ARG_KEYS, ArgKind.SOCK: "sock_arg", ArgKind.SOCKET: "sock_arg",
                   ArgKind.CRED: "process_credentials_arg", ArgKind.NET_DEV: "net_dev_arg",
                   ArgKind.SKB: "skb_arg", ArgKind.SOCKADDR: "sockaddr_arg",
                   ArgKind.USER_NS: "user_ns_arg", ArgKind.BPF_ATTR: "bpf_attr_arg",
                   ArgKind.BPF_PROG: "bpf_prog_arg", ArgKind.BPF_MAP: "bpf_map_arg",
                   ArgKind.PERF_EVENT: "perf_event_arg", ArgKind.MODULE: "module_arg",
                   ArgKind.LOAD_INFO: "module_arg", ArgKind.SOCKADDR_UN: "sockaddrun_arg",
                   ArgKind.FILENAME: "string_arg"}
# Tetragon's types that read a kernel struct through a pointer -> the kind.
STRUCT_TYPE_KINDS = {
    "file": ArgKind.FILE, "path": ArgKind.PATH, "dentry": ArgKind.DENTRY,
    "sock": ArgKind.SOCK, "cred": ArgKind.CRED, "linux_binprm": ArgKind.BINPRM,
    "net_device": ArgKind.NET_DEV, "socket": ArgKind.SOCKET, "skb": ArgKind.SKB,
    "sockaddr": ArgKind.SOCKADDR, "user_namespace": ArgKind.USER_NS,
    "bpf_attr": ArgKind.BPF_ATTR, "bpf_prog": ArgKind.BPF_PROG, "bpf_map": ArgKind.BPF_MAP,
    "perf_event": ArgKind.PERF_EVENT, "module": ArgKind.MODULE,
    "load_info": ArgKind.LOAD_INFO, "iov_iter": ArgKind.IOV_ITER, "kiocb": ArgKind.KIOCB,
    "sockaddr_un": ArgKind.SOCKADDR_UN, "filename": ArgKind.FILENAME,
}
# The C type each reads, where it is not `struct <type> *`.
STRUCT_C_TYPES = {"skb": "struct sk_buff *", "bpf_attr": "union bpf_attr *",
                  "sockaddr_un": "struct sockaddr *"}


def with_max_data(plan: ArgPlan, return_copy: bool = False) -> ArgPlan:
    """The argument with maxData; ValueError says why it cannot have it. On
    another type it changes nothing: Tetragon ignores it there too (and the
    validator warns)."""
    if plan.kind not in (ArgKind.CHAR_BUF, ArgKind.IOV_ITER):
        return plan
    if return_copy:
        raise ValueError("maxData and returnCopy together are not supported: the buffer is "
                         "sent at entry, returnCopy reads it again at return")
    return replace(plan, max_data=True)


# ... and what it reads too
_STRUCT_C_TYPES_TOO = {"sockaddr_un": ("struct sockaddr_un *",)}


def struct_c_type(type_: str) -> str:
    """The pointer a struct type reads ("struct file *")."""
    return STRUCT_C_TYPES.get(type_, f"struct {type_} *")


def reads_struct(type_: str, c_type: str) -> bool:
    """Whether a struct type reads a parameter of C type `c_type`."""
    c_type = c_type.removeprefix("const ")
    return c_type == struct_c_type(type_) or c_type in _STRUCT_C_TYPES_TOO.get(type_, ())


# Buffers sent as a char_buf is (bytes_arg, or truncated_bytes_arg when cut).
BUFFER_KINDS = frozenset({ArgKind.CHAR_BUF, ArgKind.CHAR_IOVEC, ArgKind.IOV_ITER})
# What only generic/struct_args.bpf.o reads (generic_tracepoint.object_for).
STRUCT_OBJECT_KINDS = frozenset({*STRUCT_ARG_KEYS, ArgKind.KERNEL_CAP, ArgKind.CHAR_IOVEC,
                                 ArgKind.IOV_ITER})
# The struct kinds a return value can be read as (returnArg's type): read
# from the pointer returned by vigil_read_struct_arg. Not fd (a number),
# nor the buffer kinds, whose length is another argument.
RETURN_STRUCT_KINDS = frozenset({
    ArgKind.FILE, ArgKind.PATH, ArgKind.DENTRY, ArgKind.SOCK, ArgKind.SOCKET, ArgKind.SKB,
    ArgKind.CRED, ArgKind.BINPRM, ArgKind.NET_DEV, ArgKind.USER_NS, ArgKind.BPF_PROG,
    ArgKind.BPF_MAP, ArgKind.PERF_EVENT, ArgKind.MODULE, ArgKind.FILENAME})
# returnArgAction -> what the return program does with the sock returned.
RETURN_SOCK_ACTIONS = {"tracksock": Action.TRACK_SOCK, "untracksock": Action.UNTRACK_SOCK}
# kernel_cap_t, cap_inheritable, cap_permitted, cap_effective: each its key.
CAP_TYPES = ("kernel_cap_t", "cap_inheritable", "cap_permitted", "cap_effective")

# The program types a tracepoint hook runs as -> the entry point of
# bpf/generic/tracepoint.bpf.c: a tracefs tracepoint, and the two rungs of a
# raw one (sensors/raw_tracepoint_compile.py chooses between them).
HOOK_PROGRAMS = {
    "tracepoint": "vigil_generic_tp",
    "raw_tracepoint": "vigil_generic_raw_tp",
    "tp_btf": "vigil_generic_tp_btf",
    # spec.kprobes on the hook ladder's function rungs (sensors/hook_ladder.py)
    "kprobe": "vigil_generic_kprobe",
    "kprobe_multi": "vigil_generic_kprobe_multi",
    "fentry": "vigil_generic_fentry",
    "fmod_ret": "vigil_generic_fmod_ret",  # fentry's rung for a hook with Override
    "uprobe": "vigil_generic_uprobe",  # spec.uprobes: a user function
}
# The program that reports a call's return, by the entry's program type.
RETURN_PROGRAMS = {
    "tracepoint": "vigil_generic_tp_ret",
    "kprobe": "vigil_generic_kretprobe",
    "kprobe_multi": "vigil_generic_kretprobe_multi",
    "fentry": "vigil_generic_fexit",
    "fmod_ret": "vigil_generic_fexit",
    "uprobe": "vigil_generic_uretprobe",
}
# Program types attached to a kernel function (the plan's `event` names it).
FUNCTION_PROGRAMS = frozenset({"kprobe", "kprobe_multi", "fentry", "fmod_ret"})


@dataclass(frozen=True, slots=True)
class ArgPlan:
    """One argument: how the kernel reads it and how the event shows it."""

    index: int  # the policy's index (tracefs field position, common_* included;
    #             for a raw tracepoint the TP_PROTO position)
    kind: ArgKind
    offset: int  # in the tracepoint's record (raw: its ctx, 8 bytes per argument)
    size: int  # bytes of the field
    tetragon_type: str  # "int", "uint64", "string", ...
    signed: bool = False
    label: str = ""
    # char_buf: the field holding the buffer's length (sizeArgIndex)
    meta_offset: int = 0
    meta_size: int = 0
    meta_signed: bool = False
    # const_buf: how many uint64 arguments its bytes show as (Tetragon shows
    # an array of longs element by element, any other array not at all)
    elements: int = 0
    # resolve: the steps from the register to the value read (each an offset
    # added, then whether the 8 bytes there are loaded: sensors/btf_resolve.py)
    resolve: tuple[tuple[int, bool], ...] = ()
    # maxData: the whole buffer (up to MAX_DATA bytes) is sent, past the
    # slot in OP_GENERIC_DATA chunks
    max_data: bool = False
    # Where the layout came from, for `vigil policy explain`: the field's
    # name, its C type and its own size (an `int` of a syscall tracepoint
    # has an 8-byte slot of which `size` bytes are read).
    field: str = ""
    c_type: str = ""
    field_size: int = 0
    # The key of its value in Tetragon's event JSON ("int_arg", ...): worked
    # out once here, not once per event.
    json_key: str = dataclass_field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.kind is ArgKind.KERNEL_CAP and self.tetragon_type not in CAP_TYPES:
            raise ValueError(f"argument {self.index}: a capability set of type "
                             f"{self.tetragon_type}")
        if (self.kind in (ArgKind.INT, ArgKind.SYSCALL64, ArgKind.FD)
                and self.size not in INT_SIZES):
            raise ValueError(f"argument {self.index}: an integer of {self.size} bytes")
        if self.kind in (ArgKind.CHAR_BUF, ArgKind.CHAR_IOVEC) and self.meta_size not in INT_SIZES:
            raise ValueError(f"argument {self.index}: a length of {self.meta_size} bytes")
        if self.kind is ArgKind.SOCKADDR_UN and self.meta_size not in (0, *INT_SIZES):
            raise ValueError(f"argument {self.index}: a length of {self.meta_size} bytes")
        if self.kind is ArgKind.CONST_BUF and not 0 < self.size <= CONST_BUF_MASK:
            raise ValueError(f"argument {self.index}: an array of {self.size} bytes; "
                             f"at most {CONST_BUF_MASK} are read")
        if not 0 <= self.offset < 1 << 16 or not 0 <= self.size < 1 << 16:
            raise ValueError(f"argument {self.index}: offset {self.offset} size {self.size}")
        if self.kind is ArgKind.KERNEL_CAP or self.tetragon_type == "capability":
            key = f"{self.tetragon_type}_arg"
        elif self.kind in BUFFER_KINDS:  # truncated_bytes_arg where it was cut
            key = "bytes_arg"
        elif self.kind is ArgKind.INT:
            key = TETRAGON_INT_KEYS.get(self.tetragon_type,
                                        "long_arg" if self.signed else "size_arg")
        else:
            key = STRUCT_ARG_KEYS.get(self.kind, "string_arg")
        object.__setattr__(self, "json_key", key)


@dataclass(frozen=True, slots=True)
class ProgramChoice:
    """The BPF program type a hook is loaded as, and why this one: the rung of
    DESIGN §5's hook ladder the plan took on this kernel. `vigil policy
    explain` prints it; each sensor's planner fills it."""

    kind: str  # "tracepoint", "raw_tracepoint", "kprobe", ...
    reason: str


# spec.tracepoints has one rung today: a tracefs event is attached as a
# tracepoint program, which every supported kernel offers.
TRACEFS_TRACEPOINT = ProgramChoice(
    "tracepoint",
    "spec.tracepoints names a tracefs event; a tracepoint program (BPF_PROG_TYPE_TRACEPOINT) "
    "receives its record and reads each argument at the offset tracefs gives, on every "
    "kernel vigil supports (5.10 and later)",
)


@dataclass(frozen=True, slots=True)
class ReturnPlan:
    """A hooked call's return (a kprobe's `return: true`): where it is hooked,
    where its value is, how it shows, and which argument is read again at
    return (returnCopy)."""

    subsys: str  # "syscalls" for the sys_exit tracepoint; "" on a function's rung
    event: str  # sys_exit_NAME, or the function
    value: ArgPlan  # the return value, as the policy's returnArg types it
    copy: int | None = None  # position in the hook's args of the returnCopy argument
    # returnArgAction: "TrackSock" or "UntrackSock" on the sock returned; "": none
    sock_action: str = ""

    def __post_init__(self) -> None:
        if self.value.kind is not ArgKind.INT and self.value.kind not in RETURN_STRUCT_KINDS:
            raise ValueError(f"a return value is read as an integer or a struct, not as "
                             f"{self.value.kind.name}")
        if self.sock_action and (self.sock_action.lower() not in RETURN_SOCK_ACTIONS
                                 or self.value.kind not in (ArgKind.SOCK, ArgKind.SOCKET)):
            raise ValueError(f"returnArgAction {self.sock_action} acts on a sock returned")
        if self.copy is not None and not 0 <= self.copy < GENERIC_ARGS_MAX:
            raise ValueError(f"returnCopy argument {self.copy}")


@dataclass(frozen=True, slots=True)
class UserTarget:
    """Where a uprobe attaches (spec.uprobes): the file, and in it a symbol
    (libbpf finds it in the ELF file's symbols) or a file offset. What
    Tetragon's process_uprobe shows of it: path, symbol, offset and
    ref_ctr_offset."""

    path: str  # absolute, as Tetragon makes it
    symbol: str  # as the policy wrote it ("main", "main+0x4"), or "" with an offset
    func_name: str  # the symbol libbpf looks up ("main"), "" for an offset
    offset: int  # into the symbol (func_name), else into the file
    ref_ctr_offset: int = 0  # a USDT-style semaphore's file offset, 0: none


@dataclass(frozen=True, slots=True)
class CallView:
    """A hook that a policy wrote as a kernel function (spec.kprobes), on
    whichever rung of the hook ladder it runs: its events are process_kprobe,
    named by the function."""

    function_name: str  # with the architecture's prefix: __x64_sys_openat
    returns: ReturnPlan | None = None
    # A syscall's function on a function rung: its arguments are read from
    # the caller's struct pt_regs it takes (the syscall_regs knob).
    syscall_regs: bool = False
    # kprobe_multi: every function the one program's link attaches to (a
    # kprobe's list of calls), function_name the first. Each has its own hook
    # id, the hook's own plus its position here, given it as the link's cookie.
    functions: tuple[str, ...] = ()
    # spec.uprobes: the user function's file and place (function_name its
    # symbol, or its offset in hex); its events are process_uprobe.
    user: UserTarget | None = None

    def each(self) -> list[CallView]:
        """One view per function the hook attaches to."""
        if not self.functions:
            return [self]
        return [replace(self, function_name=f, functions=()) for f in self.functions]


@dataclass(frozen=True, slots=True)
class TracepointHookPlan:
    policy_name: str
    subsys: str  # "" for a kernel function (kprobe, fentry)
    event: str  # the tracepoint, or the kernel function
    args: tuple[ArgPlan, ...] = ()
    message: str = ""
    tags: tuple[str, ...] = ()
    # Tetragon's selectors, ORed; none: every hit is posted.
    selectors: tuple[SelectorPlan, ...] = ()
    program: ProgramChoice = TRACEFS_TRACEPOINT
    layout_source: str = ""  # the file the argument layout was read from
    # Set when the policy hooked a kernel function (spec.kprobes): what its
    # events show, on whichever rung of the hook ladder it runs.
    call: CallView | None = None
    # policy-mode: monitor (spec.options): enforcing actions are reported,
    # not done.
    monitor: bool = False
    # Policy-wide, shared by its hooks' objects (sensors/policy_maps.py): the
    # policy tracks socks (its hooks name a tracked sock's owner), and it
    # has an enforcer (its NotifyEnforcer notes reach it).
    sock_owners: bool = False
    enforcer: bool = False
    # The cgroup subtrees the policy is scoped to (its cgroup-path options),
    # paths from the cgroup v2 root: the hook runs only for tasks under one.
    cgroup_paths: tuple[str, ...] = ()
    # The positions of the arguments whose whole buffer is sent (maxData):
    # worked out once here, the agent asks for every record.
    max_data_positions: tuple[int, ...] = dataclass_field(init=False, repr=False,
                                                          compare=False)

    def __post_init__(self) -> None:
        if self.program.kind not in HOOK_PROGRAMS:
            raise ValueError(f"program {self.program.kind!r}; a tracepoint hook runs as one of "
                             f"{', '.join(HOOK_PROGRAMS)}")
        if len(self.args) > GENERIC_ARGS_MAX:
            raise ValueError(f"{len(self.args)} arguments; a hook reads at most {GENERIC_ARGS_MAX}")
        returns = self.call.returns if self.call is not None else None
        if returns is not None and returns.copy is not None and (
                returns.copy >= len(self.args)
                or self.args[returns.copy].kind is not ArgKind.CHAR_BUF):
            raise ValueError("returnCopy reads a char_buf argument again at return")
        object.__setattr__(self, "max_data_positions",
                           tuple(i for i, a in enumerate(self.args) if a.max_data))
        self.compiled_selectors()  # what cannot be compiled fails here, not at start
        self.selector_values()
        self.selector_strings()

    def compiled_selectors(self, bits: Sequence[int] | None = None) -> bytes:
        """The value of the hook's vigil_selectors map, with the match bits
        the runtime gave the hook's match_wants() (None: placeholders)."""
        return compile_selectors(self.selectors, self.args, bits, ret=self._return_value)

    def match_wants(self) -> list[Wanted]:
        """What each match bit the hook needs stands for (matchBinaries,
        followForks), in the order compiled_selectors() takes them."""
        return [w for _, w, _ in match_wants(self.selectors)]

    @property
    def rate_limited(self) -> bool:
        return any(sel.rate_limited for sel in self.selectors)

    @property
    def hook_count(self) -> int:
        """Hook ids the hook takes: one per function of a kprobe.multi link."""
        return len(self.call.functions) if self.call is not None and self.call.functions else 1

    def per_hook(self) -> list[TracepointHookPlan]:
        """The plan of each of the hook's ids, in order: a kprobe.multi hook's
        per function (its events name that function), else itself."""
        if self.call is None or not self.call.functions:
            return [self]
        return [replace(self, event=c.function_name, call=c) for c in self.call.each()]

    @property
    def overrides(self) -> bool:
        """Whether a selector's Override may make the call return an error."""
        return any(sel.overrides for sel in self.selectors)

    @property
    def tracks_socks(self) -> bool:
        """Whether the hook tracks or untracks socks (TrackSock, UntrackSock,
        returnArgAction), which makes its policy's hooks name their owners."""
        returns = self.call.returns if self.call is not None else None
        return (returns is not None and bool(returns.sock_action)) or any(
            a.tracks_socks for sel in self.selectors for a in sel.actions)

    @property
    def notifies(self) -> bool:
        """Whether a selector notifies the policy's enforcer."""
        return any(a.action.lower() in ("notifyenforcer", "cleanupenforcernotification")
                   for sel in self.selectors for a in sel.actions)

    @property
    def needs_baselines(self) -> bool:
        """Whether a selector compares with what processes had at exec
        (matchNamespaceChanges, matchCapabilityChanges: sensors/baselines.py)."""
        return any(sel.namespace_changes or sel.capability_changes for sel in self.selectors)

    def selector_values(self) -> list[bytes]:
        """The keys of the hook's vigil_sel_values map (InMap/NotInMap values)."""
        return selector_values(self.selectors, self.args, self._return_value)

    @property
    def _return_value(self) -> ArgPlan | None:
        """The plan of the call's return value, which matchReturnArgs filter."""
        returns = self.call.returns if self.call is not None else None
        return returns.value if returns is not None else None

    def selector_strings(self) -> list[bytes]:
        """The keys of the hook's vigil_sel_strs trie (string filters with more
        values than a filter holds)."""
        return selector_strings(self.selectors, self.args)
