"""A policy's raw tracepoints (``raw: true`` in spec.tracepoints) -> hook plans,
against the running kernel's BTF.

A raw tracepoint has no tracefs record: its program gets the tracepoint's
TP_PROTO arguments, each widened to a u64 slot, so ``index`` counts from 0 at
the first TP_PROTO argument (vigil.kernel.raw_tracepoint reads them from the
``btf_trace_<event>`` typedef) and argument i is read at offset 8 * i by the
same code that reads a tracefs record (bpf/generic/tracepoint.bpf.c).

Types, as Tetragon reads them (pkg/sensors/tracing/generictracepoint.go
buildArgsRaw) where it has them: the integer types read that many bytes of
the slot, ``string`` reads the NUL-terminated string a ``char *`` points to.
Tetragon needs a type for every raw argument; vigil infers one from BTF when
it is left out (``auto``): an integer's width and signedness, a ``char *`` as
a string. Any other pointer is read only as ``type: uint64`` given (its value
is a kernel address, which every event would then carry: what Tetragon prints
for ``type: uint64`` on a pointer). A pointer to a struct that
Tetragon reads with its own type (``struct linux_binprm *`` as
``linux_binprm``, ``struct file *`` as ``file``, ...) needs those readers
(issue 9), so it is refused, not shown as an address that would look like the
answer.

A ``char *`` of a TP_PROTO points to kernel memory: the STR_PTR read tries
user memory first (a tracefs syscall record's pointers are user space), which
refuses a kernel address (access_ok), then reads it from the kernel.

Which program type runs the hook is chosen by probing (RAW_PROGRAM_RUNGS) and
recorded in the plan with the reason, for ``vigil policy explain``.
"""

from __future__ import annotations

from collections.abc import Callable

from vigil.kernel.probe import probe_feature
from vigil.kernel.raw_tracepoint import (
    RawTracepoint,
    RawTracepointArg,
    UnknownRawTracepointError,
    raw_tracepoint,
)
from vigil.kernel.report import Feature
from vigil.libbpf import BpfError
from vigil.policy import Issue, LoadedPolicy
from vigil.policy.model.hooks import TracepointSpec
from vigil.policy.support import PLANNED
from vigil.sensors.plan import (
    STRUCT_TYPE_KINDS,
    ArgPlan,
    ProgramChoice,
    TracepointHookPlan,
    reads_struct,
    struct_c_type,
)
from vigil.sensors.tracepoint_compile import INT_TYPES, TETRAGON_INT_NAMES, selector_plans
from vigil.wire.records import ArgKind

__all__ = [
    "RAW_PROGRAM_RUNGS",
    "STRUCT_TYPES",
    "ProgramChoice",
    "RawPlanner",
    "choose_raw_program",
    "raw_arg_plan",
]

# The program types a raw tracepoint can run as, preferred first, each with
# why. Both exist from 5.5 on and take the same ctx; raw_tracepoint is
# Tetragon's choice and needs nothing at load, tp_btf is the fallback for a
# kernel that refuses it.
RAW_PROGRAM_RUNGS: tuple[tuple[str, str], ...] = (
    ("raw_tracepoint", "BPF_PROG_TYPE_RAW_TRACEPOINT, as Tetragon: attached by the event's "
                       "name, no BTF target needed at load"),
    ("tp_btf", "BPF_PROG_TYPE_TRACING (tp_btf): loaded against btf_trace_<event> in the "
               "kernel's BTF"),
)

# A pointer to one of these structs is what Tetragon reads with a type of its
# own (pkg/generictypes GenericTypeFromBTF: the struct's name is the type's),
# struct name -> Tetragon's type (sensors/plan.py STRUCT_TYPE_KINDS: the reader).
STRUCT_TYPES: dict[str, str] = {
    name: name for name in (
        "file", "path", "sock", "cred", "linux_binprm", "bpf_attr", "perf_event", "bpf_map",
        "user_namespace", "kiocb", "iov_iter", "load_info", "module", "net_device",
        "sockaddr", "sockaddr_un", "socket", "dentry", "bpf_prog", "filename")
} | {"sk_buff": "skb"}

# Tetragon's type for an integer of each width and signedness.
_AUTO_INT = {(1, True): "int8", (1, False): "uint8", (2, True): "int16", (2, False): "uint16",
             (4, True): "int", (4, False): "uint32", (8, True): "int64", (8, False): "uint64"}
_CHARS = frozenset({"char", "signed char", "unsigned char"})
_TYPE_PATH = "spec.tracepoints[].args[].type"


def choose_raw_program(probe: Callable[[str], Feature] = probe_feature) -> ProgramChoice:
    """The first rung of RAW_PROGRAM_RUNGS this kernel runs; ValueError with
    every rung's reason when it runs none."""
    refused: list[str] = []
    for name, why in RAW_PROGRAM_RUNGS:
        feature = probe(name)
        if feature.available:
            skipped = "".join(f"; {r}" for r in refused)
            return ProgramChoice(name, f"{why} (probe: {feature.reason}){skipped}")
        refused.append(f"{name} unavailable: {feature.reason}")
    raise ValueError("this kernel runs no raw tracepoint program: " + "; ".join(refused))


def _is_char_pointer(a: RawTracepointArg) -> bool:
    pointee = (a.pointee or "").replace("const ", "").replace("volatile ", "").strip()
    return a.is_pointer and pointee in _CHARS


# Types the tracefs planner reads that raw hooks do not (yet).
_TRACEFS_ONLY = frozenset({"syscall64", "char_buf", "nop"})


def _later(type_: str) -> str:
    return PLANNED.get(f"{_TYPE_PATH}={type_}", "no issue yet")


def raw_arg_plan(rt: RawTracepoint, index: int, type_: str, label: str = "") -> ArgPlan:
    """How to read TP_PROTO argument `index` as `type_` ("auto": from BTF);
    ValueError naming the argument and what would work."""
    a = rt.arg(index)
    where = f"raw tracepoint {rt.event} argument {index} ({a.name or 'unnamed'}: {a.type_text})"
    offset = 8 * index
    if type_ == "auto":
        if _is_char_pointer(a):
            return ArgPlan(index, ArgKind.STR_PTR, offset, 8, "string", False, label)
        if a.is_pointer:
            reader = STRUCT_TYPES.get(a.struct_name or "")
            if reader is not None:
                return ArgPlan(index, STRUCT_TYPE_KINDS[reader], offset, 8, reader, False,
                               label)
            # Not inferred: a kernel address in every event defeats KASLR
            # for whoever reads them; asking for it is the user's choice.
            raise ValueError(f"{where}: a pointer is not read by default (its value is a "
                             "kernel address); give type uint64 to report the address, or "
                             "leave the argument out")
        if a.is_integer and (a.size, a.signed) in _AUTO_INT:
            return ArgPlan(index, ArgKind.INT, offset, a.size, _AUTO_INT[a.size, a.signed],
                           a.signed, label)
        raise ValueError(f"{where}: no type can be inferred for it; a raw tracepoint reads "
                         "integers, pointers and char * strings")
    if type_ in INT_TYPES:
        if not (a.is_integer or a.is_pointer):
            raise ValueError(f"{where} is not an integer or a pointer; {type_} cannot read it")
        width, signed = INT_TYPES[type_]
        # No more than the C type: the slot's other bytes are not the value's.
        return ArgPlan(index, ArgKind.INT, offset, min(width, a.size),
                       TETRAGON_INT_NAMES.get(type_, type_), signed, label)
    if type_ == "string":
        if not _is_char_pointer(a):
            raise ValueError(f"{where} holds no string; type string reads a char *")
        return ArgPlan(index, ArgKind.STR_PTR, offset, 8, "string", False, label)
    if type_ in STRUCT_TYPE_KINDS:
        want = struct_c_type(type_)
        if not reads_struct(type_, a.type_text):
            raise ValueError(f"{where}: type {type_} reads a {want}")
        return ArgPlan(index, STRUCT_TYPE_KINDS[type_], offset, 8, type_, False, label)
    if type_ == "data_loc":
        raise ValueError(f"{where}: data_loc is a tracefs record's string; a raw tracepoint "
                         "has none (type string reads a char *)")
    if type_ in _TRACEFS_ONLY:
        raise ValueError(f"{where}: type {type_} is read from a tracefs record only, not yet "
                         "from a raw tracepoint (use raw: false)")
    raise ValueError(f"{where}: type {type_} is not supported yet ({_later(type_)})")


class RawPlanner:
    """Plans a policy's raw tracepoints. The program type is probed once, and
    only when the policy has a raw hook."""

    def __init__(self, loaded: LoadedPolicy,
                 choose: Callable[[], ProgramChoice] = choose_raw_program) -> None:
        self.loaded = loaded
        self._choose = choose
        self._choice: ProgramChoice | str | None = None  # str: why there is none

    def _program(self) -> ProgramChoice | str:
        if self._choice is None:
            try:
                self._choice = self._choose()
            except ValueError as err:
                self._choice = str(err)
        return self._choice

    def plan(self, i: int, tp: TracepointSpec, issues: list[Issue]) -> TracepointHookPlan | None:
        """The plan of spec.tracepoints[i], or None with its problems in `issues`."""
        at = ("spec", "tracepoints", i)
        try:  # loads the kernel's BTF for the hook (about 20 ms here)
            rt = raw_tracepoint(tp.event, system=tp.subsystem)
        except UnknownRawTracepointError as err:
            issues.append(self.loaded.issue((*at, "event"), str(err), value=True))
            return None
        except BpfError as err:
            issues.append(self.loaded.issue(
                (*at, "raw"), f"a raw tracepoint's arguments come from the kernel's BTF: {err}",
                value=True))
            return None
        args: list[ArgPlan] = []
        for j, arg in enumerate(tp.args):
            try:
                rt.arg(arg.index)
            except ValueError as err:
                issues.append(self.loaded.issue((*at, "args", j, "index"), str(err), value=True))
                continue
            try:
                args.append(raw_arg_plan(rt, arg.index, arg.type, arg.label))
            except ValueError as err:
                # Given, the type is what is wrong; inferred, the argument chosen is.
                field = "index" if arg.type == "auto" else "type"
                issues.append(self.loaded.issue((*at, "args", j, field), str(err), value=True))
        choice = self._program()
        if isinstance(choice, str):
            issues.append(self.loaded.issue((*at, "raw"), choice, value=True))
            return None
        if len(args) != len(tp.args):
            return None
        try:
            return TracepointHookPlan(
                policy_name=self.loaded.name, subsys=tp.subsystem, event=tp.event,
                args=tuple(args), message=tp.message, tags=tuple(tp.tags),
                selectors=selector_plans(tp, args), program=choice)
        except ValueError as err:  # the selectors do not compile: the message names where
            issues.append(self.loaded.issue((*at, "selectors"), str(err)))
            return None
