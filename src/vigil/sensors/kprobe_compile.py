"""A validated policy's spec.kprobes -> hook plans, on the rung of the hook
ladder (sensors/hook_ladder.py) that this kernel offers.

On the function rungs (kprobe, fentry) the hook is the kernel function
itself, and argument i is the function's i-th argument, 8 bytes at offset
8 * i of what the program hands the pipeline (bpf/generic/tracepoint.bpf.c);
a syscall's function (`syscall: true`, Tetragon's default) is
__x64_sys_NAME, whose arguments are the caller's, read out of the struct
pt_regs it takes. The function must be in the kernel's BTF, which also
gives how many arguments it has.

The syscall fallback hooks syscalls/sys_enter_NAME, whose fields after
__syscall_nr are the syscall's arguments in order, so kprobe argument i is
field i of the call, read as the policy types it. `return: true` adds
syscalls/sys_exit_NAME, whose `ret` is the returnArg.

Either way the events are the kprobe's: process_kprobe named by the
function with the architecture's prefix (__x64_sys_openat), as Tetragon's
pkg/arch adds it.
"""

from __future__ import annotations

import platform
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from vigil.kernel.tracefs_format import (
    TracepointFormat,
    UnknownTracepointError,
    read_format,
    tracepoint_dir,
)
from vigil.kernel.tracepoint_args import field_read, resolve_arg
from vigil.policy import Issue, LoadedPolicy, PolicyError
from vigil.policy.model.args import KProbeArg
from vigil.policy.model.hooks import KProbeSpec
from vigil.sensors.btf_resolve import Resolved, parse_resolve, resolve_path
from vigil.sensors.hook_ladder import (
    KPROBE_LADDER,
    HookUnavailable,
    Rung,
    RungChoice,
    choose_rung,
)
from vigil.sensors.lists import ListError
from vigil.sensors.plan import (
    CAP_TYPES,
    RETURN_STRUCT_KINDS,
    STRUCT_TYPE_KINDS,
    ArgPlan,
    CallView,
    ProgramChoice,
    ReturnPlan,
    TracepointHookPlan,
    reads_struct,
    struct_c_type,
    with_max_data,
)
from vigil.sensors.tracepoint_compile import (
    INT_TYPES,
    TETRAGON_INT_NAMES,
    Lists,
    arg_plan,
    buffer_plan,
    selector_plans,
)
from vigil.wire.records import GENERIC_ARGS_MAX, ArgKind

if TYPE_CHECKING:
    from vigil.libbpf.btf_types import Btf

__all__ = ["SYSCALL_PREFIXES", "compile_kprobes", "syscall_function"]

# Tetragon's pkg/arch: the prefix of a syscall's function, by machine.
SYSCALL_PREFIXES = {"x86_64": "__x64_", "aarch64": "__arm64_"}
_ALL_PREFIXES = ("__x64_", "__arm64_", "__ia32_")
# The kprobe argument types the syscall fallback reads (Tetragon's names).
_FALLBACK_TYPES = frozenset({*INT_TYPES, "string", "char_buf", "char_iovec", "fd", "nop"})
# Kernel structs a pointer argument is read as.
_STRUCT_TYPES = STRUCT_TYPE_KINDS
# What the function rungs read.
_REGISTER_TYPES = frozenset({*_FALLBACK_TYPES, *_STRUCT_TYPES, *CAP_TYPES, "capability",
                             "char_iovec"})
# Syscalls that never return: a `return: true` on them would wait forever.
_NO_RETURN = frozenset({"exit", "exit_group"})

Path = tuple[str | int, ...]
Feature = Callable[[str], tuple[bool, str]]


def syscall_function(call: str, machine: str | None = None) -> tuple[str, str]:
    """A syscall kprobe's `call` -> (function with the machine's prefix,
    syscall name): sys_openat and __x64_sys_openat both give
    ("__x64_sys_openat", "openat") on x86-64. ValueError says what is wrong."""
    machine = machine or platform.machine()
    prefix = SYSCALL_PREFIXES.get(machine)
    if prefix is None:
        raise ValueError(f"syscall kprobes are not supported on {machine}; vigil knows "
                         f"{', '.join(SYSCALL_PREFIXES)}")
    rest = call
    for p in _ALL_PREFIXES:
        if call.startswith(p):
            if p != prefix:
                raise ValueError(f"'{call}' has the prefix {p}, but this machine's syscalls "
                                 f"are {prefix}sys_*; write sys_{call.split('sys_', 1)[-1]}")
            rest = call[len(p):]
            break
    if not rest.startswith("sys_") or len(rest) == len("sys_"):
        raise ValueError(f"'{call}' is not a syscall's function; a kprobe with syscall: true "
                         "names one as sys_NAME (sys_openat) or with the machine's prefix "
                         f"({prefix}sys_openat)")
    return prefix + rest, rest[len("sys_"):]


def _probe_feature(name: str) -> tuple[bool, str]:
    from vigil.kernel.probe import probe_feature

    f = probe_feature(name)
    return f.available, f.reason


@dataclass
class _Features:
    """The kernel features the ladder asks about, each probed once."""

    probe: Feature
    seen: dict[str, tuple[bool, str]]

    def __call__(self, name: str) -> tuple[bool, str]:
        if name not in self.seen:
            self.seen[name] = self.probe(name)
        return self.seen[name]


def _calls(loaded: LoadedPolicy, kp: KProbeSpec, at: Path) -> list[str]:
    """The functions a kprobe's `call` names: itself, or a list's values."""
    if not kp.call.startswith("list:"):
        return [kp.call]
    name = kp.call[len("list:"):]
    lst = next((x for x in loaded.policy.spec.lists if x.name == name), None)
    if lst is None:
        raise ListError((*at, "call"), f"list '{name}' is not defined in spec.lists")
    kind = (lst.type or "").lower()
    if kind == "syscalls":
        return [v if v.startswith(("sys_", *_ALL_PREFIXES)) else f"sys_{v}" for v in lst.values]
    if kind == "generated_syscalls":
        from vigil.sensors.lists import kernel_functions, syscall_function_names

        # Only those with a syscall tracepoint: the others are stubs of
        # syscalls this kernel was built without (COND_SYSCALL: ENOSYS) or
        # second names of one that has its own (__x64_sys_stat beside
        # sys_enter_newstat), which the fallback has no tracepoint for.
        return sorted(f for f in kernel_functions(syscall_function_names(None))
                      if (tracepoint_dir("syscalls", "sys_enter_" + f.split("sys_", 1)[1])
                          / "format").exists())
    if kind == "":  # kernel functions, by name
        return list(lst.values)
    if kind == "generated_ftrace":
        import re

        from vigil.sensors.lists import ftrace_functions

        index = loaded.policy.spec.lists.index(lst)
        if not lst.pattern:
            raise ListError(("spec", "lists", index, "type"), f"generated_ftrace list '{name}' "
                            "needs a pattern: a regular expression of the functions to take")
        try:
            found = ftrace_functions(lst.pattern)
        except re.error as err:
            raise ListError(("spec", "lists", index, "pattern"),
                            f"pattern {lst.pattern!r} is not a regular expression: {err}") from None
        except OSError as err:
            why = ("this kernel has no function tracer (CONFIG_FUNCTION_TRACER)"
                   if isinstance(err, FileNotFoundError) else "it cannot be read here")
            raise ListError(("spec", "lists", index, "type"),
                            "generated_ftrace reads the functions ftrace can attach to "
                            f"(tracefs available_filter_functions): {err.strerror or err}; "
                            f"{why}") from None
        if not found:
            raise ListError(("spec", "lists", index, "pattern"),
                            f"pattern {lst.pattern!r} matches none of the functions ftrace "
                            "can attach to here")
        return found
    raise ListError((*at, "call"), f"list '{name}' has type {lst.type}; a kprobe call takes "
                    "lists of kernel functions (no type, or generated_ftrace) or of syscalls "
                    "(syscalls, generated_syscalls)")


class _Symbols:
    """The kernel's function symbols (/proc/kallsyms, where kprobes look a
    function up), read once when first asked."""

    def __init__(self) -> None:
        self._names: frozenset[str] | None = None

    def __contains__(self, name: str) -> bool:
        if self._names is None:
            names = set()
            try:
                with open("/proc/kallsyms") as f:
                    for line in f:
                        parts = line.split()
                        if len(parts) >= 3 and parts[1] in "tTwW":
                            names.add(parts[2])
            except OSError:
                pass
            self._names = frozenset(names)
        return name in self._names


class _FtraceFunctions:
    """The functions ftrace can attach to (tracefs available_filter_functions,
    which kprobe.multi attaches through), read once when first asked; None
    where tracefs has no such file (then nothing is checked here)."""

    def __init__(self) -> None:
        self._names: frozenset[str] | None = None
        self._read = False

    def knows(self) -> frozenset[str] | None:
        if not self._read:
            from vigil.sensors.lists import ftrace_functions

            self._read = True
            try:
                self._names = frozenset(ftrace_functions(""))
            except OSError:
                self._names = None
        return self._names


@dataclass
class _Where:
    """Where each rung would find one call: why it cannot, or None."""

    function: str
    syscall: str | None  # the syscall's name, for a syscall's function
    symbols: _Symbols
    btf: _BtfFunctions
    ftrace: _FtraceFunctions
    missing: dict[str, str] = field(default_factory=dict)

    def fits(self, rung: Rung) -> str | None:
        why = self._why(rung.name)
        if why is not None:
            self.missing[rung.name] = why
        return why

    def _why(self, rung: str) -> str | None:
        if rung in ("kprobe", "kprobe_multi"):
            if self.function not in self.symbols:
                return f"{self.function} is not a kernel function here (not in /proc/kallsyms)"
            traceable = self.ftrace.knows() if rung == "kprobe_multi" else None
            if traceable is not None and self.function not in traceable:
                return (f"ftrace cannot attach to {self.function} (it is not in tracefs "
                        "available_filter_functions: notrace, or not traceable), and "
                        "kprobe.multi attaches through ftrace")
        elif rung == "fentry":
            if self.btf.params(self.function) is None:
                return (f"{self.function} is not in the kernel's BTF (/sys/kernel/btf/vmlinux), "
                        "which an fentry program is attached through")
        elif rung == "syscall_tracepoint" and self.syscall is not None:
            try:
                read_format("syscalls", f"sys_enter_{self.syscall}")
            except (UnknownTracepointError, PermissionError, ValueError) as err:
                return str(err)
        return None

    def nowhere(self) -> bool:
        """Whether every rung that could run looked the call up and missed."""
        return bool(self.missing)


class _KprobePlanner:
    def __init__(self, loaded: LoadedPolicy, feature: Feature, forced: str | None) -> None:
        self.loaded = loaded
        self.feature = feature
        self.forced = forced
        self.symbols = _Symbols()
        self.btf = _BtfFunctions()
        self.ftrace = _FtraceFunctions()
        # the rung a hook with an Override takes (override-method), if no
        # rung is forced
        self.override_rung: str | None = None
        self.lists = Lists(loaded)
        self.issues: list[Issue] = []

    def issue(self, at: Path, message: str, value: bool = True) -> None:
        self.issues.append(self.loaded.issue(at, message, value=value))

    def plan(self, i: int, kp: KProbeSpec, field: str = "kprobes") -> list[TracepointHookPlan]:
        """The hooks of spec.<field>[i]: spec.kprobes' on the ladder's best
        rung, spec.fentries' on fentry (Tetragon attaches them so). The calls
        that take kprobe_multi are one hook: one program, one link."""
        at: Path = ("spec", field, i)
        try:
            calls = list(dict.fromkeys(_calls(self.loaded, kp, at)))  # each once
        except ListError as err:
            self.issue(err.path, err.message)
            return []
        plans: list[TracepointHookPlan] = []
        multi: list[TracepointHookPlan] = []
        for call in calls:
            if kp.syscall:
                try:
                    function, name = syscall_function(call)
                except ValueError as err:
                    self.issue((*at, "call"), str(err))
                    continue
            else:
                function, name = call, call
            where = _Where(function, name if kp.syscall else None, self.symbols, self.btf,
                           self.ftrace)
            overrides = any(a.action.lower() == "override"
                            for sel in kp.selectors for a in sel.match_actions)
            try:
                forced = ("fentry" if field == "fentries"
                          else self.forced or (self.override_rung if overrides else None))
                choice = choose_rung(KPROBE_LADDER, syscall=kp.syscall, returns=kp.return_,
                                     feature=self.feature, forced=forced,
                                     fits=where.fits, overrides=overrides)
            except HookUnavailable as err:
                if kp.ignore is not None and kp.ignore.call_not_found and where.nowhere():
                    continue  # as Tetragon's ignore.callNotFound: skipped, not an error
                if field == "fentries":
                    self.issue((*at, "call"), f"fentry on {call}: spec.fentries attach as "
                               f"fentry only, and {str(err).split(': ', 1)[-1]}")
                else:
                    self.issue((*at, "call"), f"kprobe on {call}: {err}")
                continue
            if choice.rung.name == "syscall_tracepoint":
                plan = self._syscall_plan(at, kp, call, function, name, choice)
            else:
                plan = self._function_plan(at, kp, function, name, choice)
            if plan is not None:
                (multi if plan.program.kind == "kprobe_multi" else plans).append(plan)
        if multi:
            first = multi[0]
            assert first.call is not None
            view = replace(first.call, functions=tuple(
                p.call.function_name for p in multi if p.call is not None))
            plans.insert(0, replace(first, call=view))
        return plans

    def _finish(self, at: Path, kp: KProbeSpec, args: list[ArgPlan], choice: RungChoice,
                subsys: str, event: str, layout: str, call: CallView
                ) -> TracepointHookPlan | None:
        try:
            selectors = selector_plans(kp, args, at, self.lists, positional=False)
        except ListError as err:
            self.issue(err.path, err.message)
            return None
        kind = "tracepoint" if choice.rung.name == "syscall_tracepoint" else choice.rung.name
        if kind == "fentry" and any(sel.overrides for sel in selectors):
            kind = "fmod_ret"  # fentry's way to override the call's return
        try:
            return TracepointHookPlan(
                policy_name=self.loaded.name, subsys=subsys, event=event, args=tuple(args),
                message=kp.message, tags=tuple(kp.tags), selectors=selectors,
                program=ProgramChoice(kind, choice.reason), layout_source=layout, call=call)
        except ValueError as err:
            self.issue((*at, "selectors"), str(err), value=False)
            return None

    def _syscall_plan(self, at: Path, kp: KProbeSpec, call: str, function: str, name: str,
                      choice: RungChoice) -> TracepointHookPlan | None:
        try:
            fmt = read_format("syscalls", f"sys_enter_{name}")
        except (UnknownTracepointError, PermissionError, ValueError) as err:
            self.issue((*at, "call"), f"syscall {name} ({call}) cannot be hooked on this "
                       f"kernel: {err}")
            return None
        args = self._args(at, kp, fmt, name)
        if args is None:
            return None
        returns = self._returns(at, kp, name, args)
        if kp.return_ and returns is None:
            return None
        return self._finish(
            at, kp, args, choice, "syscalls", f"sys_enter_{name}",
            str(tracepoint_dir("syscalls", f"sys_enter_{name}") / "format"),
            CallView(function, returns))

    def _function_plan(self, at: Path, kp: KProbeSpec, function: str, name: str,
                       choice: RungChoice) -> TracepointHookPlan | None:
        """On a function rung: the function's arguments from its registers
        (kprobe) or its BPF context (fentry), at 8 * index. `name` is the
        syscall's for a syscall's function, else the function."""
        params: list[tuple[str, str]] | None = None
        if kp.syscall:
            # The caller's arguments: the syscall tracepoint's fields name
            # them where tracefs has it (it only names; nothing is read there).
            try:
                fmt = read_format("syscalls", f"sys_enter_{name}")
                names = [f.name for f in fmt.fields]
                base = names.index("__syscall_nr") + 1
                params = [(f.name, f.type_text) for f in fmt.fields[base:]]
            except (UnknownTracepointError, PermissionError, ValueError):
                params = None
        # BTF gives the function's own parameters (fentry needs it; a kprobe
        # does without, and then nothing checks the indexes of a function's
        # arguments against its prototype).
        proto = self.btf.params(function)
        if not kp.syscall:
            params = proto
        args = self._register_args(at, kp, name, params)
        if args is None:
            return None
        returns = None
        if kp.return_ and kp.syscall and name in _NO_RETURN:
            self.issue((*at, "return"), f"{name} never returns; remove return: true")
            return None
        if kp.return_:
            # kretprobe's value is copied to offset 0; fexit's is the slot
            # after the function's own arguments in its ctx.
            # kretprobe(.multi)'s value is copied to offset 0; fexit's follows
            # the function's own arguments in its ctx
            offset = (0 if choice.rung.name in ("kprobe", "kprobe_multi")
                      else 8 * len(proto or ()))
            returns = self._return_value(at, kp, args, "", function, offset)
            if returns is None:
                return None
        elif self._no_return_copy(at, kp):
            return None
        return self._finish(at, kp, args, choice, "", function, "the kernel's BTF of "
                            f"{function}", CallView(function, returns, syscall_regs=kp.syscall))

    def _index_ok(self, where: Path, index: int, name: str, params: list[str] | None) -> bool:
        """Whether a kprobe can read argument `index` of `name`, whose
        parameters are `params` (None: not known); reports why not."""
        if index >= GENERIC_ARGS_MAX:
            self.issue((*where, "index"), f"index {index}: a kprobe reads arguments "
                       f"0 to {GENERIC_ARGS_MAX - 1} (as Tetragon's)")
            return False
        if params is not None and index >= len(params):
            n = len(params)
            self.issue((*where, "index"), f"index {index}: {name} takes {n} "
                       f"argument{'s' if n != 1 else ''} ({', '.join(params) or 'none'})")
            return False
        return True

    def _register_args(self, at: Path, kp: KProbeSpec, name: str,
                       params: list[tuple[str, str]] | None) -> list[ArgPlan] | None:
        args: list[ArgPlan] = []
        ok = True
        types: dict[int, str] = {a.index: a.type for a in kp.args}
        for j, arg in enumerate(kp.args):
            where = (*at, "args", j)
            if not self._index_ok(where, arg.index, name,
                                  None if params is None else [p for p, _ in params]):
                ok = False
                continue
            field, c_type = params[arg.index] if params is not None else ("", "")
            if arg.resolve:
                resolved = self._resolved(where, name, arg.index, arg.resolve, arg.type, params)
                if resolved is None:
                    ok = False
                    continue
                plan = self._resolved_arg(where, arg.index, arg.type, arg.label, resolved)
                field, c_type = f"{field}->{arg.resolve}", resolved.c_type
            else:
                plan = self._register_arg(where, name, arg.index, arg.type, arg.label,
                                          arg.size_arg_index, types, params)
            if plan is not None:
                plan = self._max_data(where, plan, arg)
            if plan is None:
                ok = False
                continue
            args.append(replace(plan, field=field, c_type=c_type, field_size=8))
        return args if ok else None

    def _resolved(self, where: Path, name: str, index: int, path: str, type_: str,
                  params: list[tuple[str, str]] | None) -> Resolved | None:
        if params is None or self.btf.params(name) is None:
            self.issue((*where, "resolve"), f"resolve follows the BTF of a kernel function's "
                       f"parameters, and the kernel's BTF has no function {name} (a "
                       "syscall's arguments are not in BTF: hook a kernel function that "
                       "takes the struct)")
            return None
        try:
            return self.btf.resolve(name, index, path)
        except ValueError as err:
            self.issue((*where, "resolve"), f"{err} (from {name}'s argument {index}, "
                       f"{params[index][1]})")
            return None

    def _resolved_arg(self, where: Path, index: int, type_: str, label: str,
                      r: Resolved) -> ArgPlan | None:
        """The argument's type read from where its resolve path ends (the
        value the kernel leaves: see sensors/btf_resolve.py)."""
        offset = 8 * index
        got = f"the path ends at {r.c_type}"
        ends_struct = (r.pointee.removeprefix("const ").removeprefix("volatile ")
                       if r.ends in ("pointer", "struct") else "")
        if type_ in INT_TYPES or type_ in ("fd", "capability"):
            width, signed = INT_TYPES.get(type_, (4, type_ == "capability"))
            if r.ends != "integer":
                self.issue((*where, "type"), f"type {type_} reads an integer; {got}")
                return None
            if width > r.size:
                self.issue((*where, "type"), f"type {type_} reads {width} bytes; {got}, "
                           f"{r.size} bytes wide")
                return None
            kind = ArgKind.FD if type_ == "fd" else ArgKind.INT
            return ArgPlan(index, kind, offset, width, TETRAGON_INT_NAMES.get(type_, type_),
                           signed, label, resolve=r.steps)
        if type_ == "string":
            chars = ("char", "signed char", "unsigned char")
            if r.pointee.removeprefix("const ") not in chars or r.ends not in ("pointer",
                                                                               "array"):
                self.issue((*where, "type"), f"type string reads a char array or char *; "
                           f"{got}")
                return None
            return ArgPlan(index, ArgKind.STR_PTR, offset, 8, "string", False, label,
                           resolve=r.steps)
        if type_ in _STRUCT_TYPES or type_ in CAP_TYPES:
            want = (struct_c_type(type_).removesuffix(" *")
                    if type_ in _STRUCT_TYPES else "kernel_cap_t")
            if ends_struct != want:
                self.issue((*where, "type"), f"type {type_} reads a {want} (or a pointer to "
                           f"one); {got}")
                return None
            kind = _STRUCT_TYPES.get(type_, ArgKind.KERNEL_CAP)
            return ArgPlan(index, kind, offset, 8, type_, False, label, resolve=r.steps)
        self.issue((*where, "resolve"), f"resolve is not supported with type {type_}; it "
                   "works with the integers, string, fd, capability, the capability sets "
                   "and the struct types")
        return None

    def _register_arg(self, where: Path, name: str, index: int, type_: str, label: str,
                      size_index: int, types: dict[int, str],
                      params: list[tuple[str, str]] | None) -> ArgPlan | None:
        offset = 8 * index
        if type_ in INT_TYPES:
            width, signed = INT_TYPES[type_]
            return ArgPlan(index, ArgKind.INT, offset, width,
                           TETRAGON_INT_NAMES.get(type_, type_), signed, label)
        if type_ == "string":
            return ArgPlan(index, ArgKind.STR_PTR, offset, 8, "string", False, label)
        if type_ in _STRUCT_TYPES:
            c_type = params[index][1] if params is not None else ""
            want = struct_c_type(type_)
            if c_type and not reads_struct(type_, c_type):
                # Tetragon reads whatever the register holds; the walk would
                # then name garbage (tty_54.yaml's tty_write took a struct
                # file * until 5.11, a struct kiocb * since).
                self.issue((*where, "type"), f"type {type_} reads a {want}; "
                           f"{name}'s argument {index} is {c_type} on this kernel")
                return None
            if type_ == "sockaddr_un" and size_index:
                # the address's length (a connect's addrlen): an abstract name
                # is that long, and the bytes past it are not the address's
                width, signed = INT_TYPES.get(types.get(size_index - 1, ""), (4, True))
                return ArgPlan(index, ArgKind.SOCKADDR_UN, offset, 8, type_, False, label,
                               8 * (size_index - 1), width, signed)
            return ArgPlan(index, _STRUCT_TYPES[type_], offset, 8, type_, False, label)
        if type_ == "fd":  # an int: the low half of its register
            return ArgPlan(index, ArgKind.FD, offset, 4, "fd", False, label)
        if type_ == "nop":  # read nothing, show nothing (a placeholder for its index)
            return ArgPlan(index, ArgKind.NONE, offset, 0, "nop", False, label)
        if type_ == "capability":  # an int: a CAP_* number, shown with its name
            return ArgPlan(index, ArgKind.INT, offset, 4, "capability", True, label)
        if type_ in CAP_TYPES:  # a kernel_cap_t *: the 8 bytes it points at
            return ArgPlan(index, ArgKind.KERNEL_CAP, offset, 8, type_, False, label)
        if type_ in ("char_buf", "char_iovec"):
            nparams = len(params) if params is not None else GENERIC_ARGS_MAX
            if not size_index:
                holds = "its length" if type_ == "char_buf" else "how many iovecs it has"
                self.issue((*where, "type"), f"{type_} needs sizeArgIndex: the 1-based number "
                           f"of the argument holding {holds}")
                return None
            if size_index > min(nparams, GENERIC_ARGS_MAX):
                self.issue((*where, "sizeArgIndex"),
                           f"sizeArgIndex {size_index} is past {name}'s "
                           f"{min(nparams, GENERIC_ARGS_MAX)} arguments (it counts them from 1)")
                return None
            # The length's width and sign as the policy types that argument,
            # else a full register, unsigned.
            width, signed = INT_TYPES.get(types.get(size_index - 1, ""), (8, False))
            kind = ArgKind.CHAR_BUF if type_ == "char_buf" else ArgKind.CHAR_IOVEC
            return ArgPlan(index, kind, offset, 8, type_, False, label,
                           8 * (size_index - 1), width, signed)
        self.issue((*where, "type"), f"type {type_} is not read by vigil's kprobes yet; they "
                   f"read {', '.join(sorted(_REGISTER_TYPES))}")
        return None

    def _args(self, at: Path, kp: KProbeSpec, fmt: TracepointFormat,
              name: str) -> list[ArgPlan] | None:
        names = [f.name for f in fmt.fields]
        base = names.index("__syscall_nr") + 1 if "__syscall_nr" in names else len(names)
        nparams = len(names) - base
        args: list[ArgPlan] = []
        ok = True
        for j, arg in enumerate(kp.args):
            where = (*at, "args", j)
            if not self._index_ok(where, arg.index, name, names[base:]):
                ok = False
                continue
            if arg.resolve:
                self.issue((*where, "resolve"), "resolve follows a kernel function's BTF; the "
                           "syscall fallback reads the tracepoint's fields, which have none "
                           "(hook the kernel function where kprobes or fentry work)")
                ok = False
                continue
            if arg.type in _STRUCT_TYPES:
                self.issue((*where, "type"), f"type {arg.type}: a syscall's arguments hold no "
                           f"struct {arg.type} (the syscall fallback reads the call's own "
                           "arguments); type an open file's descriptor fd, or hook the "
                           "kernel function that takes the struct, where kprobes or fentry "
                           "work")
                ok = False
                continue
            if arg.type not in _FALLBACK_TYPES:
                self.issue((*where, "type"), f"type {arg.type} is not read by the syscall "
                           f"fallback; it reads {', '.join(sorted(_FALLBACK_TYPES))}")
                ok = False
                continue
            size_index = 0
            if arg.size_arg_index:
                if arg.size_arg_index > nparams:
                    self.issue((*where, "sizeArgIndex"),
                               f"sizeArgIndex {arg.size_arg_index} is past {name}'s "
                               f"{nparams} arguments (it counts them from 1)")
                    ok = False
                    continue
                # a 1-based argument number -> the 1-based field number
                size_index = base + arg.size_arg_index
            is_fd, is_iovec = arg.type == "fd", arg.type == "char_iovec"
            # An iovec array is located as a buffer is: a pointer and the
            # field sizeArgIndex names (here, how many iovecs).
            as_type = "int" if is_fd else "char_buf" if is_iovec else arg.type
            try:
                resolved = resolve_arg(fmt, base + arg.index, as_type,
                                       size_arg_index=size_index)
                plan = (buffer_plan(resolved, fmt, arg.label, ArgKind.CHAR_IOVEC) if is_iovec
                        else arg_plan(resolved, arg.label, fmt))
            except ValueError as err:
                self.issue((*where, "type"), str(err))
                ok = False
                continue
            if is_fd:  # read as an int, then resolved in the kernel
                plan = replace(plan, kind=ArgKind.FD, tetragon_type="fd")
            with_data = self._max_data(where, plan, arg)
            if with_data is None:
                ok = False
                continue
            args.append(replace(with_data, index=arg.index))
        return args if ok else None

    def _max_data(self, where: Path, plan: ArgPlan, arg: KProbeArg) -> ArgPlan | None:
        """The argument with its maxData, if it asks; None, reported, if it
        cannot have it."""
        if not arg.max_data:
            return plan
        try:
            return with_max_data(plan, arg.return_copy)
        except ValueError as err:
            self.issue((*where, "maxData"), str(err))
            return None

    def _no_return_copy(self, at: Path, kp: KProbeSpec) -> bool:
        """Reports a returnCopy on a kprobe without return: true; whether it did."""
        copies = [j for j, a in enumerate(kp.args) if a.return_copy]
        if copies:
            self.issue((*at, "args", copies[0], "returnCopy"),
                       "returnCopy reads the buffer when the call returns; set return: "
                       "true (and a returnArg) on this kprobe")
        return bool(copies)

    def _return_value(self, at: Path, kp: KProbeSpec, args: list[ArgPlan], subsys: str,
                      event: str, offset: int, field: str = "", c_type: str = "",
                      size: int = 8) -> ReturnPlan | None:
        """The return as the policy wants it, its value `size` bytes at `offset`."""
        if kp.return_arg is None:
            self.issue((*at, "return"), "return: true needs a returnArg (its type, e.g. int), "
                       "as Tetragon requires", value=False)
            return None
        ra = kp.return_arg
        struct_kind = _STRUCT_TYPES.get(ra.type)
        if ra.type not in INT_TYPES and struct_kind not in RETURN_STRUCT_KINDS:
            self.issue((*at, "returnArg", "type"), f"returnArg type {ra.type}: a return value "
                       "reads as an integer (int, long, size_t, ...) or as a struct the "
                       "function returns a pointer to (" + ", ".join(sorted(
                           t for t, k in _STRUCT_TYPES.items() if k in RETURN_STRUCT_KINDS))
                       + ")")
            return None
        if struct_kind is not None and subsys:
            self.issue((*at, "returnArg", "type"), f"returnArg type {ra.type}: a syscall "
                       "returns an integer (its sys_exit tracepoint's ret, a long)")
            return None
        action = kp.return_arg_action
        if action and struct_kind not in (ArgKind.SOCK, ArgKind.SOCKET):
            self.issue((*at, "returnArgAction"), f"{action} tracks the sock the function "
                       f"returns; this returnArg is {ra.type} (use type: sock)")
            return None
        copies = [j for j, a in enumerate(kp.args) if a.return_copy]
        if len(copies) > 1:
            self.issue((*at, "args", copies[1], "returnCopy"),
                       "one argument per kprobe can be read again at return")
            return None
        copy = None
        if copies:
            copy = copies[0]
            if args[copy].kind is not ArgKind.CHAR_BUF:
                self.issue((*at, "args", copy, "returnCopy"),
                           f"returnCopy reads a char_buf at return; this argument is "
                           f"{args[copy].tetragon_type}")
                return None
        if struct_kind is not None:
            value = ArgPlan(0, struct_kind, offset, 8, ra.type, False, ra.label,
                            field=field, c_type=c_type, field_size=size)
            return ReturnPlan(subsys, event, value, copy, action)
        width, signed = INT_TYPES[ra.type]
        value = ArgPlan(0, ArgKind.INT, offset, min(width, size),
                        TETRAGON_INT_NAMES.get(ra.type, ra.type), signed, ra.label,
                        field=field, c_type=c_type, field_size=size)
        return ReturnPlan(subsys, event, value, copy)

    def _returns(self, at: Path, kp: KProbeSpec, name: str,
                 args: list[ArgPlan]) -> ReturnPlan | None:
        """The syscall fallback's return: sys_exit_NAME's ret field."""
        if not kp.return_:
            self._no_return_copy(at, kp)
            return None
        if name in _NO_RETURN:
            self.issue((*at, "return"), f"{name} never returns; remove return: true")
            return None
        try:
            fmt = read_format("syscalls", f"sys_exit_{name}")
            ret = next(f for f in fmt.fields if f.name == "ret")
        except (UnknownTracepointError, PermissionError, ValueError, StopIteration) as err:
            self.issue((*at, "return"), f"the return of {name} cannot be read: "
                       f"{err or 'its sys_exit tracepoint has no ret field'}")
            return None
        read = field_read(ret)
        return self._return_value(at, kp, args, "syscalls", f"sys_exit_{name}", read.offset,
                                  "ret", ret.type_text, read.size)


class _BtfFunctions:
    """Kernel functions' parameters (name, C type) from the kernel's BTF,
    opened once, when first asked."""

    def __init__(self) -> None:
        self._btf: Btf | None = None
        self._seen: dict[str, list[tuple[str, str]] | None] = {}

    def params(self, function: str) -> list[tuple[str, str]] | None:
        """None when BTF has no such function."""
        if function not in self._seen:
            from vigil.libbpf.btf_types import Btf, BtfKind

            if self._btf is None:
                self._btf = Btf.vmlinux()
            btf = self._btf
            fid = btf.find(function, BtfKind.FUNC)
            if fid is None:
                self._seen[function] = None
            else:
                proto = btf.type(btf.type(fid).ref)
                self._seen[function] = [(p.name, btf.type_text(p.type_id)) for p in proto.params]
        return self._seen[function]

    def resolve(self, function: str, index: int, path: str) -> Resolved:
        """Where `path` leads from parameter `index` of `function` (which
        params() found); ValueError says why it leads nowhere."""
        self.params(function)
        btf = self._btf
        assert btf is not None
        from vigil.libbpf.btf_types import BtfKind

        fid = btf.find(function, BtfKind.FUNC)
        assert fid is not None
        proto = btf.type(btf.type(fid).ref)
        return resolve_path(btf, proto.params[index].type_id, parse_resolve(path))

    def close(self) -> None:
        if self._btf is not None:
            self._btf.close()
            self._btf = None


def compile_kprobes(loaded: LoadedPolicy, *, forced: str | None = None,
                    feature: Feature | None = None,
                    override_rung: str | None = None,
                    no_multi: bool = False) -> list[TracepointHookPlan]:
    """Every kprobe hook of a policy, planned on this kernel's rung; raises
    PolicyError with all problems at once. `forced` names the rung to take
    (--hook-rung); `feature` answers for kernel features (the probe's);
    `no_multi`: the policy's disable-kprobe-multi option."""
    probe = feature or _probe_feature
    if no_multi:
        def probe(name: str, _inner: Feature = probe) -> tuple[bool, str]:
            if name == "kprobe_multi":
                return False, "the policy's disable-kprobe-multi option turns it off"
            return _inner(name)
    planner = _KprobePlanner(loaded, _Features(probe, {}), forced)
    planner.override_rung = override_rung
    plans: list[TracepointHookPlan] = []
    try:
        for i, kp in enumerate(loaded.policy.spec.kprobes):
            plans += planner.plan(i, kp)
        for i, kp in enumerate(loaded.policy.spec.fentries):
            plans += planner.plan(i, kp, "fentries")
    finally:
        planner.btf.close()
    if planner.issues:
        raise PolicyError(planner.issues)
    return plans
