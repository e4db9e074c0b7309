"""A validated policy's spec.uprobes -> hook plans: one per symbol, offset or
address of each uprobe, attached as a uprobe (and a uretprobe for its
return) on the generic object's uprobe entry points.

A user function's arguments are its registers, read as a kernel
function's are (argument i at 8 * i of what the pipeline reads,
bpf/generic/tracepoint.bpf.c): integers, strings and buffers in the
process's memory, an fd resolved to its file in the calling task.

Where it attaches is checked here, before anything loads: the path is an
ELF file, a symbol is one of its functions (a `+offset` into it as
Tetragon writes it), an address lies in one of its loadable segments (the
kernel attaches at file offsets, which is what an address becomes). Each
problem is an issue naming the field, as every planner's.
"""

from __future__ import annotations

import os
from dataclasses import replace

from vigil.policy import Issue, LoadedPolicy, PolicyError
from vigil.policy.model.hooks import UProbeSpec
from vigil.policy.suggest import closest
from vigil.sensors.kprobe_compile import Feature, _KprobePlanner, _probe_feature
from vigil.sensors.lists import ListError
from vigil.sensors.plan import (
    ArgPlan,
    CallView,
    ProgramChoice,
    ReturnPlan,
    TracepointHookPlan,
    UserTarget,
)
from vigil.sensors.tracepoint_compile import INT_TYPES, TETRAGON_INT_NAMES, selector_plans
from vigil.sensors.user_elf import ElfFunctions, NotElfError
from vigil.wire.records import GENERIC_ARGS_MAX, ArgKind

__all__ = ["UPROBE_ARG_TYPES", "compile_uprobes", "parse_symbol"]

Path = tuple[str | int, ...]

# What a uprobe reads: the register's value, or the user memory it points at.
UPROBE_ARG_TYPES = frozenset({*INT_TYPES, "string", "char_buf", "fd", "nop"})


def parse_symbol(symbol: str) -> tuple[str, int]:
    """Tetragon's "name" or "name+offset" (any base Go's ParseUint takes
    with base 0: 0x.., 0o.., 0b.., decimal) -> (name, offset); ValueError
    says what is wrong."""
    name, plus, rest = symbol.partition("+")
    if not name:
        raise ValueError(f"symbol {symbol!r} has no name before its offset")
    if not plus:
        return name, 0
    if "+" in rest:
        raise ValueError(f"symbol {symbol!r}: one +offset at most (name+0x10)")
    try:
        offset = int(rest, 0) if rest and rest.strip() == rest else -1
    except ValueError:
        offset = -1
    if offset < 0:
        raise ValueError(f"symbol {symbol!r}: the offset after + is not a number "
                         "(write it as name+16 or name+0x10)")
    return name, offset


class _UprobePlanner:
    def __init__(self, loaded: LoadedPolicy, feature: Feature) -> None:
        self.loaded = loaded
        self.feature = feature
        # The argument readers are a kprobe's: the same registers.
        self.registers = _KprobePlanner(loaded, feature, None)
        self.issues: list[Issue] = self.registers.issues
        self.files: dict[str, ElfFunctions | NotElfError] = {}

    def issue(self, at: Path, message: str, value: bool = True) -> None:
        self.registers.issue(at, message, value=value)

    def elf(self, path: str) -> ElfFunctions:
        if path not in self.files:
            try:
                self.files[path] = ElfFunctions.read(path)
            except NotElfError as err:
                self.files[path] = err
        got = self.files[path]
        if isinstance(got, NotElfError):
            raise got
        return got

    def plan(self, i: int, up: UProbeSpec) -> list[TracepointHookPlan]:
        at: Path = ("spec", "uprobes", i)
        targets = self._targets(at, up)
        args = self._args(at, up)
        if targets is None or args is None:
            return []
        for rung in ("uprobe", *(("uretprobe",) if up.return_ else ())):
            ok, why = self.feature(rung)
            if not ok:
                self.issue((*at, "path"), f"uprobe on {up.path}: this kernel cannot attach a "
                           f"{rung} ({why})", value=False)
                return []
        returns = self._returns(at, up, args)
        if up.return_ and returns is None:
            return []
        if not up.return_ and self.registers._no_return_copy(at, up):  # type: ignore[arg-type]
            return []
        if returns is not None and any(t.func_name and t.offset for t in targets):
            where = next(j for j, t in enumerate(targets) if t.func_name and t.offset)
            self.issue((*at, "symbols", where), "return: true takes the return address at "
                       "the function's first instruction; a symbol+offset is inside it "
                       "(probe the symbol itself for its return)")
            return []
        try:
            selectors = selector_plans(up, args, at, self.registers.lists,  # type: ignore[arg-type]
                                       positional=False)
        except ListError as err:
            self.issue(err.path, err.message)
            return []
        plans = []
        for t in targets:
            name = t.symbol or f"{t.offset:#x}"
            why = ("uprobe: a uprobe on the function in the file (and a uretprobe for its "
                   "return), for every process that maps it")
            try:
                plans.append(TracepointHookPlan(
                    policy_name=self.loaded.name, subsys="", event=name, args=tuple(args),
                    message=up.message, tags=tuple(up.tags), selectors=selectors,
                    program=ProgramChoice("uprobe", why),
                    layout_source=f"the registers of {name} in {t.path}",
                    call=CallView(name, returns, user=t)))
            except ValueError as err:
                self.issue((*at, "selectors"), str(err), value=False)
                return []
        return plans

    def _targets(self, at: Path, up: UProbeSpec) -> list[UserTarget] | None:
        given = [k for k, v in (("symbols", up.symbols), ("offsets", up.offsets),
                                ("addrs", up.addrs)) if v]
        if len(given) != 1:
            self.issue(at, "a uprobe names where it attaches with exactly one of symbols, "
                       f"offsets or addrs; this one has {' and '.join(given) or 'none'}",
                       value=False)
            return None
        kind = given[0]
        count = len(getattr(up, kind))
        if up.ref_ctr_offsets and len(up.ref_ctr_offsets) != count:
            self.issue((*at, "refCtrOffsets"), f"{len(up.ref_ctr_offsets)} refCtrOffsets for "
                       f"{count} {kind}: one each, in the same order")
            return None
        # Tetragon makes the path absolute (filepath.Abs) and names it so.
        path = os.path.abspath(up.path)
        try:
            elf = self.elf(path)
        except NotElfError as err:
            self.issue((*at, "path"), str(err))
            return None
        refs = list(up.ref_ctr_offsets) or [0] * count
        targets: list[UserTarget] = []
        ok = True
        for j, value in enumerate(getattr(up, kind)):
            where = (*at, kind, j)
            if kind == "symbols":
                try:
                    name, offset = parse_symbol(value)
                except ValueError as err:
                    self.issue(where, str(err))
                    ok = False
                    continue
                if name not in elf.functions:
                    near = closest(name, sorted(elf.functions))
                    self.issue(where, f"{path} has no function {name} in its symbol tables "
                               f"(.symtab, .dynsym)" + (f"; did you mean {near}?" if near
                                                        else ""))
                    ok = False
                    continue
                size = elf.functions[name][1]
                if offset and size and offset >= size:
                    # past the function, the probe would patch whatever
                    # follows it (libbpf and the kernel do not check)
                    self.issue(where, f"{value}: {name} is {size} bytes long in {path}; "
                               f"an offset into it is below {size:#x}")
                    ok = False
                    continue
                targets.append(UserTarget(path, value, name, offset, refs[j]))
            else:
                offset = value
                if kind == "addrs":
                    try:
                        offset = elf.file_offset(value)
                    except ValueError as err:
                        self.issue(where, str(err))
                        ok = False
                        continue
                targets.append(UserTarget(path, "", "", offset, refs[j]))
        return targets if ok else None

    def _args(self, at: Path, up: UProbeSpec) -> list[ArgPlan] | None:
        args: list[ArgPlan] = []
        ok = True
        types: dict[int, str] = {a.index: a.type for a in up.args}
        for j, arg in enumerate(up.args):
            where = (*at, "args", j)
            if arg.index >= GENERIC_ARGS_MAX:
                self.issue((*where, "index"), f"index {arg.index}: a uprobe reads arguments "
                           f"0 to {GENERIC_ARGS_MAX - 1} from registers")
                ok = False
                continue
            if arg.type not in UPROBE_ARG_TYPES:
                self.issue((*where, "type"), f"type {arg.type}: a uprobe reads "
                           f"{', '.join(sorted(UPROBE_ARG_TYPES))}")
                ok = False
                continue
            plan = self.registers._register_arg(where, "the function", arg.index, arg.type,
                                                arg.label, arg.size_arg_index, types, None)
            if plan is None:
                ok = False
                continue
            args.append(replace(plan, field=f"register {arg.index}", field_size=8))
        return args if ok else None

    def _returns(self, at: Path, up: UProbeSpec, args: list[ArgPlan]) -> ReturnPlan | None:
        if not up.return_:
            return None
        ra = up.return_arg
        if ra is None:
            self.issue((*at, "return"), "return: true needs a returnArg (its type, e.g. int), "
                       "as Tetragon requires", value=False)
            return None
        if ra.type not in INT_TYPES:
            self.issue((*at, "returnArg", "type"), f"returnArg type {ra.type}: a user "
                       "function's return reads as an integer (int, long, size_t, ...)")
            return None
        copies = [j for j, a in enumerate(up.args) if a.return_copy]
        if len(copies) > 1:
            self.issue((*at, "args", copies[1], "returnCopy"),
                       "one argument per uprobe can be read again at return")
            return None
        copy = copies[0] if copies else None
        if copy is not None and args[copy].kind is not ArgKind.CHAR_BUF:
            self.issue((*at, "args", copy, "returnCopy"), "returnCopy reads a char_buf at "
                       f"return; this argument is {args[copy].tetragon_type}")
            return None
        width, signed = INT_TYPES[ra.type]
        # the uretprobe's return register, copied to offset 0
        value = ArgPlan(0, ArgKind.INT, 0, width, TETRAGON_INT_NAMES.get(ra.type, ra.type),
                        signed, ra.label, field="return register", field_size=8)
        return ReturnPlan("", "", value, copy)


def compile_uprobes(loaded: LoadedPolicy, *, feature: Feature | None = None
                    ) -> list[TracepointHookPlan]:
    """Every uprobe hook of a policy; raises PolicyError with all problems
    at once. `feature` answers for kernel features (the probe's)."""
    planner = _UprobePlanner(loaded, feature or _probe_feature)
    plans: list[TracepointHookPlan] = []
    try:
        for i, up in enumerate(loaded.policy.spec.uprobes):
            plans += planner.plan(i, up)
    finally:
        planner.registers.btf.close()
    if planner.issues:
        raise PolicyError(planner.issues)
    return plans
