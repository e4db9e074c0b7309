"""The generic tracepoint sensor: bpf/generic/tracepoint.bpf.c, one object
per hook of a policy's spec.tracepoints, on the runtime's shared maps."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

from vigil.bpf_objects import object_path
from vigil.kernel.mounts import cgroup2_mount
from vigil.libbpf import Link, Map, Object, OpenObject, Program, open_object
from vigil.libbpf.errors import BpfError, LoadError
from vigil.sensors.base import RecordDecoder, Sensor, SharedMaps
from vigil.sensors.plan import (
    HOOK_PROGRAMS,
    RETURN_PROGRAMS,
    RETURN_SOCK_ACTIONS,
    STRUCT_OBJECT_KINDS,
    ArgPlan,
    TracepointHookPlan,
)
from vigil.sensors.policy_maps import PolicyMaps
from vigil.wire.records import GENERIC_ARGS_MAX, RESOLVE_MAX, ArgKind, ArgMeta

__all__ = ["OBJECT", "STRUCT_ARGS_OBJECT", "CgroupScopeError", "OverrideRefused",
           "TracepointSensor", "object_for"]

OBJECT = "generic/tracepoint.bpf.o"
# The same with struct arguments built in (fd, file, path, dentry, sock), for
# the hooks that read one: a program's code is kernel memory, and the others
# do not carry it.
STRUCT_ARGS_OBJECT = "generic/struct_args.bpf.o"


def _set_resolve(spec: OpenObject, args: Sequence[ArgPlan]) -> None:
    """The knobs of each argument's resolve: path (tracepoint.bpf.c)."""
    steps, offs, loads = bytearray(GENERIC_ARGS_MAX), bytearray(), bytearray()
    for i in range(GENERIC_ARGS_MAX):
        path = args[i].resolve if i < len(args) else ()
        steps[i] = len(path)
        offs += b"".join(off.to_bytes(4, "little") for off, _ in path)
        offs += bytes(4 * (RESOLVE_MAX - len(path)))
        loads += sum(1 << d for d, (_, load) in enumerate(path) if load).to_bytes(2, "little")
    spec.set_rodata("arg_resolve_steps", bytes(steps))
    spec.set_rodata("arg_resolve_off", bytes(offs))
    spec.set_rodata("arg_resolve_load", bytes(loads))


def object_for(plan: TracepointHookPlan) -> str:
    """The generic object a hook loads: the smaller one unless it reads a
    struct argument (or returns one)."""
    returns = plan.call.returns if plan.call is not None else None
    structs = any(a.kind in STRUCT_OBJECT_KINDS or a.resolve or a.max_data for a in plan.args)
    if returns is not None and returns.value.kind in STRUCT_OBJECT_KINDS:
        structs = True
    return STRUCT_ARGS_OBJECT if structs else OBJECT


def policy_maps_of(plan: TracepointHookPlan) -> list[str]:
    """The policy maps (sensors/policy_maps.py) a hook's object shares with
    its policy's other objects."""
    names = []
    if plan.enforcer and plan.notifies:
        names.append("vigil_enforcer_notes")
    if plan.sock_owners and object_for(plan) == STRUCT_ARGS_OBJECT:
        names.append("vigil_sock_owners")
    return names
# Keys (selector, scope, argument bytes) a rate-limited hook remembers; an
# LRU map, so a key forgotten under pressure lets an event through early.
# 512 keys of 216 bytes: about 150 KiB of kernel memory, only when used.
RATE_LIMIT_ENTRIES = 512
# Calls in flight whose return is awaited (a kprobe's return: true), by
# thread: how many threads can be inside the hooked call at once (more are
# counted as return_pending_full). The map is not preallocated: it holds
# only calls in flight, though the kernel charges memlock for all 4096.
RET_PENDING_ENTRIES = 4096
# Calls in flight a kretprobe holds (the kernel keeps an instance for each,
# about 64 bytes): past them returns are missed. The kernel's own default
# is the CPU count on 5.10 (libbpf.kprobe_events says why).
KRETPROBE_MAXACTIVE = 1024


class OverrideRefused(BpfError):
    """The kernel would not let an fmod_ret program change the function's
    return: the message says why and what would."""

    def __init__(self, function: str, err: LoadError) -> None:
        self.function = function
        self.errno = err.errno
        why = next((line.strip() for line in err.verifier_log.splitlines()
                    if "is not modifiable" in line), "")
        super().__init__(
            f"Override on {function}: this kernel does not let BPF change what it returns "
            f"(the verifier: {why}). fmod_ret works on security_* hooks and on the functions "
            "the kernel lists for error injection (/sys/kernel/debug/error_injection/list; "
            "syscalls are listed only when it is built with CONFIG_FUNCTION_ERROR_INJECTION), "
            "bpf_override_return needs CONFIG_BPF_KPROBE_OVERRIDE: hook a security_* function "
            "instead (security_file_open, security_file_permission, ...) or run a kernel "
            "built with those")


def _fill_cgroup_scope(scope: Map, plan: TracepointHookPlan) -> None:
    """The policy's cgroups into the hook's cgroup array (the map keeps a
    reference to each cgroup; the directory's fd is closed after)."""
    if not plan.cgroup_paths:
        return
    mount = cgroup2_mount()
    for i, path in enumerate(plan.cgroup_paths):
        where = f"{mount}{path}" if mount else path
        try:
            fd = os.open(where, os.O_RDONLY | os.O_DIRECTORY)
        except OSError as err:
            raise CgroupScopeError(
                f"policy {plan.policy_name}: cannot open cgroup {path} ({where}: "
                f"{err.strerror}); it was removed since the policy was checked: "
                "make it again, or scope the policy to another") from None
        try:
            scope.update(i.to_bytes(4, "little"), fd.to_bytes(4, "little"))
        finally:
            os.close(fd)


class CgroupScopeError(RuntimeError):
    """A policy's cgroup could not be given to its hook."""


class TracepointSensor(Sensor):
    """One hook. Its records share one op with every generic tracepoint hook;
    the agent tells them apart by hook_id (Agent.add_hook)."""

    def __init__(self, plan: TracepointHookPlan, hook_id: int,
                 match_bits: Sequence[int] = (), policy_maps: PolicyMaps | None = None) -> None:
        self.plan = plan
        self.hook_id = hook_id
        # The maps it shares with its policy's other hooks (its own if None).
        self.policy_maps = policy_maps or PolicyMaps(plan.policy_name)
        self._own_maps = policy_maps is None
        # The runtime's match bits for the plan's match_wants(), in order.
        self.match_bits = tuple(match_bits)
        where = f"{plan.subsys}/{plan.event}" if plan.subsys else plan.event
        self.name = f"{plan.policy_name}/{plan.program.kind}/{where}#{hook_id}"
        self._obj: Object | None = None
        self._links: list[Link] = []

    def record_kinds(self) -> Mapping[int, RecordDecoder]:
        return {}  # the generic op is the agent's: see Agent.add_hook

    @property
    def programs(self) -> Mapping[str, Program]:
        """The object's entry points while it runs (only the plan's is loaded)."""
        return {} if self._obj is None else self._obj.programs

    @property
    def obj(self) -> Object:
        if self._obj is None:
            raise RuntimeError(f"sensor {self.name} used before load()")
        return self._obj

    def start(self, shared: SharedMaps | None) -> None:
        self.load(shared)
        kind = self.plan.program.kind
        prog = self.obj.programs[HOOK_PROGRAMS[kind]]
        returns = self.plan.call.returns if self.plan.call is not None else None
        # kprobe.multi: each function's hook id is its link cookie (the
        # names straight from the plan: per_hook() would build, and compile
        # the selectors of, a plan per function again)
        call = self.plan.call
        functions = list(call.functions) if call is not None and call.functions else [
            self.plan.event]
        cookies = [self.hook_id + k for k in range(len(functions))]
        try:
            # The return first: an entry seen before it attached would wait
            # for a return that never comes.
            if returns is not None:
                ret = self.obj.programs[RETURN_PROGRAMS[kind]]
                if kind == "kprobe_multi":
                    self._links.append(ret.attach_kprobe_multi(functions, cookies,
                                                               retprobe=True))
                elif kind == "tracepoint":
                    self._links.append(ret.attach_tracepoint(returns.subsys, returns.event))
                elif kind == "kprobe":
                    self._links.append(ret.attach_kprobe(returns.event, retprobe=True,
                                                         maxactive=KRETPROBE_MAXACTIVE))
                elif kind == "uprobe":
                    self._links.append(self._attach_user(ret, retprobe=True))
                else:  # fexit: its target was fixed at load
                    self._links.append(ret.attach())
            if kind == "tracepoint":
                self._links.append(prog.attach_tracepoint(self.plan.subsys, self.plan.event))
            elif kind == "raw_tracepoint":
                self._links.append(prog.attach_raw_tracepoint(self.plan.event))
            elif kind == "kprobe":
                self._links.append(prog.attach_kprobe(self.plan.event))
            elif kind == "kprobe_multi":
                self._links.append(prog.attach_kprobe_multi(functions, cookies))
            elif kind == "uprobe":
                self._links.append(self._attach_user(prog, retprobe=False))
            else:  # tp_btf, fentry, fmod_ret: their targets were fixed at load
                self._links.append(prog.attach())
        except BaseException:
            self.close()
            raise

    def _attach_user(self, prog: Program, *, retprobe: bool) -> Link:
        """A uprobe (or uretprobe) where the plan's user target says."""
        assert self.plan.call is not None and self.plan.call.user is not None
        t = self.plan.call.user
        if t.func_name:
            return prog.attach_uprobe(t.path, t.func_name, retprobe=retprobe,
                                      symbol_offset=t.offset, ref_ctr_offset=t.ref_ctr_offset)
        return prog.attach_uprobe(t.path, t.offset, retprobe=retprobe,
                                  ref_ctr_offset=t.ref_ctr_offset)

    def load(self, shared: SharedMaps | None) -> None:
        """Load the object on the shared maps and fill its selectors map,
        attaching nothing (`vigil policy explain` stops here)."""
        if shared is None:
            raise ValueError("a generic sensor runs on the runtime's shared maps")
        args = self.plan.args
        pad = GENERIC_ARGS_MAX - len(args)
        kind = self.plan.program.kind
        program = HOOK_PROGRAMS[kind]
        values = self.plan.selector_values()
        strings = self.plan.selector_strings()
        call = self.plan.call
        returns = call.returns if call is not None else None
        ret_program = RETURN_PROGRAMS.get(kind) if returns is not None else None
        try:
            with open_object(object_path(object_for(self.plan))) as spec:
                shared.reuse_in(spec)
                # One entry point per program type: only the plan's loads.
                for name, entry in spec.programs.items():
                    entry.autoload = name in (program, ret_program)
                if kind in ("tp_btf", "fentry", "fmod_ret"):
                    spec.programs[program].set_attach_target(self.plan.event)
                if kind in ("fentry", "fmod_ret") and ret_program is not None and returns:
                    spec.programs[ret_program].set_attach_target(returns.event)
                if kind in ("kprobe", "kprobe_multi") and self.plan.overrides:
                    spec.set_rodata("can_override", 1)
                if self.plan.monitor:
                    spec.set_rodata("monitor_mode", 1)
                if call is not None and call.syscall_regs:
                    spec.set_rodata("syscall_regs", 1)
                # Batched wake-ups, as the base sensor's: a busy hook would
                # otherwise wake the reader for each record once it caught up.
                spec.set_rodata("wakeup_bytes", shared.wakeup_bytes)
                spec.set_rodata("hook_id", self.hook_id)
                spec.set_rodata("nargs", len(args))
                spec.set_rodata("arg_kind", bytes([int(a.kind) for a in args] + [0] * pad))
                spec.set_rodata("arg_offset", b"".join(
                    a.offset.to_bytes(2, "little") for a in args) + bytes(2 * pad))
                spec.set_rodata("arg_size", b"".join(
                    a.size.to_bytes(2, "little") for a in args) + bytes(2 * pad))
                spec.set_rodata("arg_meta_off", b"".join(
                    a.meta_offset.to_bytes(2, "little") for a in args) + bytes(2 * pad))
                spec.set_rodata("arg_meta_size", bytes(
                    [a.meta_size | (ArgMeta.SIGNED if a.meta_signed else 0) for a in args]
                    + [0] * pad))
                if any(a.resolve for a in args):
                    _set_resolve(spec, args)
                if self.plan.max_data_positions:
                    spec.set_rodata("arg_max_data",
                                    sum(1 << i for i in self.plan.max_data_positions))
                shares = policy_maps_of(self.plan)
                self.policy_maps.bind(spec, shares)
                if "vigil_sock_owners" in shares:
                    spec.set_rodata("sock_owners", 1)
                if returns is not None:
                    spec.set_rodata("has_return", 1)
                    spec.set_rodata("ret_offset", returns.value.offset)
                    if returns.value.kind is not ArgKind.INT:
                        spec.set_rodata("ret_kind", int(returns.value.kind))
                    if returns.sock_action:
                        spec.set_rodata("ret_sock_action",
                                        int(RETURN_SOCK_ACTIONS[returns.sock_action.lower()]))
                    if returns.copy is not None:
                        spec.set_rodata("ret_copy", returns.copy)
                    spec.maps["vigil_ret_pending"].max_entries = RET_PENDING_ENTRIES
                # Sized to the policy: one entry (the least a map takes) when it
                # has no InMap value.
                spec.maps["vigil_sel_values"].max_entries = max(1, len(values))
                spec.maps["vigil_sel_strs"].max_entries = max(1, len(strings))
                if self.plan.rate_limited:
                    spec.maps["vigil_rate_limits"].max_entries = RATE_LIMIT_ENTRIES
                scopes = self.plan.cgroup_paths
                spec.maps["vigil_cgroup_scope"].max_entries = max(1, len(scopes))
                if scopes:
                    spec.set_rodata("cgroup_scopes", len(scopes))
                try:
                    self._obj = spec.load()
                except LoadError as err:
                    if "is not modifiable" in err.verifier_log:
                        raise OverrideRefused(self.plan.event, err) from err
                    raise
                self.policy_maps.keep(self._obj, shares)
            # Before attach: no hit escapes the selectors.
            in_map = self._obj.maps["vigil_sel_values"]
            for key in values:
                in_map.update(key, b"\x01")
            trie = self._obj.maps["vigil_sel_strs"]
            for key in strings:
                trie.update(key, b"\x01")
            self._obj.maps["vigil_selectors"].update(bytes(4), self.plan.compiled_selectors(
                self.match_bits))
            _fill_cgroup_scope(self._obj.maps["vigil_cgroup_scope"], self.plan)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        for link in self._links:
            link.close()
        self._links.clear()
        if self._obj is not None:
            self._obj.close()
            self._obj = None
        if self._own_maps:
            self.policy_maps.close()
