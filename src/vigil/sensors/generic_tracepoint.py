"""The generic tracepoint sensor: bpf/generic/tracepoint.bpf.c, one object
per hook of a policy's spec.tracepoints, on the runtime's shared maps."""

from __future__ import annotations

from collections.abc import Mapping

from vigil.bpf_objects import object_path
from vigil.libbpf import Link, Object, open_object
from vigil.sensors.base import RecordDecoder, Sensor, SharedMaps
from vigil.sensors.plan import TracepointHookPlan
from vigil.wire.records import GENERIC_ARGS_MAX

__all__ = ["TracepointSensor"]

OBJECT = "generic/tracepoint.bpf.o"


class TracepointSensor(Sensor):
    """One hook. Its records share one op with every generic tracepoint hook;
    the agent tells them apart by hook_id (Agent.add_hook)."""

    def __init__(self, plan: TracepointHookPlan, hook_id: int) -> None:
        self.plan = plan
        self.hook_id = hook_id
        self.name = f"{plan.policy_name}/tracepoint/{plan.subsys}/{plan.event}#{hook_id}"
        self._obj: Object | None = None
        self._link: Link | None = None

    def record_kinds(self) -> Mapping[int, RecordDecoder]:
        return {}  # the generic op is the agent's: see Agent.add_hook

    def start(self, shared: SharedMaps | None) -> None:
        if shared is None:
            raise ValueError("a generic sensor runs on the runtime's shared maps")
        args = self.plan.args
        pad = GENERIC_ARGS_MAX - len(args)
        try:
            with open_object(object_path(OBJECT)) as spec:
                shared.reuse_in(spec)
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
                self._obj = spec.load()
            # Before attach: no hit escapes the selectors.
            self._obj.maps["vigil_selectors"].update(bytes(4), self.plan.compiled_selectors())
            self._link = self._obj.programs["vigil_generic_tp"].attach_tracepoint(
                self.plan.subsys, self.plan.event)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if self._link is not None:
            self._link.close()
            self._link = None
        if self._obj is not None:
            self._obj.close()
            self._obj = None
