"""What a policy's hook compiles into: the data a generic sensor loads and
the data user space decodes its records with.

A plan is built from a validated TracingPolicy and the running kernel
(tracefs formats, BTF); the sensor turns it into const volatile knobs, the
agent turns the hook's records back into events with it.
"""

from __future__ import annotations

from dataclasses import dataclass

from vigil.sensors.selectors import SelectorPlan, compile_selectors
from vigil.wire.records import GENERIC_ARGS_MAX, ArgKind

__all__ = [
    "INT_SIZES",
    "TETRAGON_INT_KEYS",
    "TRACEFS_TRACEPOINT",
    "ArgPlan",
    "ProgramChoice",
    "TracepointHookPlan",
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
}


@dataclass(frozen=True, slots=True)
class ArgPlan:
    """One argument: how the kernel reads it and how the event shows it."""

    index: int  # the policy's index (tracefs field position, common_* included)
    kind: ArgKind
    offset: int  # in the tracepoint's record
    size: int  # bytes of the field
    tetragon_type: str  # "int", "uint64", "string", ...
    signed: bool = False
    label: str = ""
    # Where the layout came from, for `vigil policy explain`: the field's
    # name, its C type and its own size (an `int` of a syscall tracepoint
    # has an 8-byte slot of which `size` bytes are read).
    field: str = ""
    c_type: str = ""
    field_size: int = 0

    def __post_init__(self) -> None:
        if self.kind is ArgKind.INT and self.size not in INT_SIZES:
            raise ValueError(f"argument {self.index}: an integer of {self.size} bytes")
        if not 0 <= self.offset < 1 << 16 or not 0 <= self.size < 1 << 16:
            raise ValueError(f"argument {self.index}: offset {self.offset} size {self.size}")

    @property
    def json_key(self) -> str:
        """The key of its value in Tetragon's event JSON ("int_arg", ...)."""
        if self.kind is not ArgKind.INT:
            return "string_arg"
        return TETRAGON_INT_KEYS.get(self.tetragon_type,
                                     "long_arg" if self.signed else "size_arg")


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
class TracepointHookPlan:
    policy_name: str
    subsys: str
    event: str
    args: tuple[ArgPlan, ...] = ()
    message: str = ""
    tags: tuple[str, ...] = ()
    # Tetragon's selectors, ORed; none: every hit is posted.
    selectors: tuple[SelectorPlan, ...] = ()
    program: ProgramChoice = TRACEFS_TRACEPOINT
    layout_source: str = ""  # the file the argument layout was read from

    def __post_init__(self) -> None:
        if len(self.args) > GENERIC_ARGS_MAX:
            raise ValueError(f"{len(self.args)} arguments; a hook reads at most {GENERIC_ARGS_MAX}")
        self.compiled_selectors()  # what cannot be compiled fails here, not at start

    def compiled_selectors(self) -> bytes:
        """The value of the hook's vigil_selectors map."""
        return compile_selectors(self.selectors, self.args)
