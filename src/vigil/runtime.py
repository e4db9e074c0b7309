"""The one runtime every face drives (`vigil run` now, the gRPC server and the
Python API later): it owns the base process sensor and the maps it shares, the
ring-buffer reader, the process cache, the agent and its writer. Other
sensors (policies) are added and removed while it runs, without stopping the
base sensor or losing its events; a periodic tick reads the kernel's counters
and checks the process cache against the kernel.

    rt = Runtime(config, writer, encode)
    rt.start()
    while running:
        rt.step(50)        # one batch: poll, decode, events out; tick when due
    rt.drain()
    rt.close()
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from vigil.agent import Agent, EventFilter
from vigil.closing import Closable
from vigil.events.model import Event
from vigil.export.writers import Writer
from vigil.kernel.mounts import cgroup2_mount
from vigil.libbpf import RingBuffer
from vigil.process.cache import ProcessCache
from vigil.process.cgroups import CgroupMap
from vigil.process.clock import Clock
from vigil.process.procfs import still_running, walk_proc
from vigil.sensors.base import Sensor, SharedMaps
from vigil.sensors.baselines import Baselines
from vigil.sensors.enforcer import EnforcerPlan, EnforcerSensor
from vigil.sensors.generic_tracepoint import TracepointSensor
from vigil.sensors.match_bits import BIN_MAPS, MatchBits
from vigil.sensors.plan import TracepointHookPlan
from vigil.sensors.policy_maps import PolicyMaps
from vigil.sensors.process import ProcessSensor

__all__ = ["Runtime", "RuntimeConfig"]

Handler = Callable[[Any], None]


@dataclass(frozen=True, slots=True)
class RuntimeConfig:
    node_name: str
    ringbuf_bytes: int = 8 << 20
    exec_map_entries: int = 32768
    with_ancestors: bool = False
    # How often the kernel's counters are read (metrics hang on this tick).
    tick_interval_s: float = 1.0
    # How often the process cache is checked against the kernel for entries
    # whose exit record was lost (ProcessCache.sweep): a syscall or two per
    # live process, so not every tick.
    sweep_interval_s: float = 30.0


class Runtime(Closable):
    def __init__(self, config: RuntimeConfig, writer: Writer, encode: Callable[[Event], bytes],
                 accept: Callable[[Event], bool] | None = None,
                 clock: Clock | None = None) -> None:
        self.config = config
        self.writer = writer
        self.clock = clock or Clock.now()
        self.base = ProcessSensor(ringbuf_bytes=config.ringbuf_bytes,
                                  exec_map_entries=config.exec_map_entries)
        self.cache = ProcessCache(config.node_name, self.clock,
                                  cgroups=CgroupMap(cgroup2_mount()))
        self.agent = Agent(self.cache, writer, encode, accept or EventFilter(),
                           with_ancestors=config.with_ancestors)
        self.sensors: dict[str, Sensor] = {}
        self.kernel_counts: dict[str, int] = {}
        self.procfs_problems: Counter[str] = Counter()
        self.procfs_entries = 0
        self.seed_failed = 0
        self.tick_hooks: list[Callable[[Runtime], None]] = []
        self._ring: RingBuffer | None = None
        self._shared: SharedMaps | None = None
        self._match: MatchBits | None = None
        self._baselines: Baselines | None = None
        self._next_tick = self._next_sweep = 0.0
        self._next_hook = 1
        # Each policy's shared maps, and how many of its sensors run on them.
        self._policy_maps: dict[str, tuple[PolicyMaps, int]] = {}

    # --- life cycle ---------------------------------------------------------

    def start(self) -> None:
        """Attach the base sensor, then read the cgroup hierarchy and /proc
        (so no process and no cgroup is missed: see sensors/process.py), then
        start reading the ring buffer."""
        try:
            self.base.start()
            self.cache.cgroups.seed()
            entries = list(walk_proc(self.config.node_name, self.clock,
                                     problems=self.procfs_problems,
                                     cgroups=self.cache.cgroups))
            for entry in entries:
                self.cache.insert(entry.process)
            _, self.seed_failed = self.base.seed(entries)
            self.procfs_entries = len(entries)
            self._shared = self.base.shared_maps()
            maps = self.base.obj.maps
            self._match = MatchBits({name: maps[name] for name in (
                *BIN_MAPS, "vigil_execve_map", "vigil_match_seed")}, self.cache)
            self._baselines = Baselines(maps["vigil_match_config"], maps["vigil_task_baseline"],
                                        maps["vigil_execve_map"], self.cache)
            self._ring = RingBuffer(self.base.obj.maps["vigil_events"])
        except BaseException:
            self.close()
            raise
        now = time.monotonic()
        self._next_tick = now + self.config.tick_interval_s
        self._next_sweep = now + self.config.sweep_interval_s

    def add_sensor(self, sensor: Sensor, handlers: Mapping[int, Handler]) -> None:
        """Start `sensor` on the shared maps; its records of each op in
        `handlers` go to that handler. Raises if its name or an op is taken."""
        if self._shared is None:
            raise RuntimeError("add_sensor() before start()")
        if sensor.name in self.sensors or sensor.name == self.base.name:
            raise ValueError(f"a sensor named {sensor.name!r} is running already")
        decoders = sensor.record_kinds()
        missing = set(decoders) - set(handlers)
        if missing:
            ops = sorted(int(op) for op in missing)
            raise ValueError(f"sensor {sensor.name!r}: no handler for record ops {ops}")
        taken = set(decoders) & set(self.agent.dispatch)
        if taken:
            ops = sorted(int(op) for op in taken)
            raise ValueError(f"sensor {sensor.name!r}: record ops {ops} are taken")
        sensor.start(self._shared)
        for op, decode in decoders.items():
            self.agent.register(op, decode, handlers[op])
        self.sensors[sensor.name] = sensor

    def remove_sensor(self, name: str) -> None:
        """Detach and unload a sensor. What its programs already wrote is
        handled first, so none of its events are lost."""
        sensor = self.sensors.pop(name)
        try:
            sensor.close()
            self.step(0)
        finally:
            for op in sensor.record_kinds():
                self.agent.unregister(op)

    def add_tracepoint(self, plan: TracepointHookPlan) -> TracepointSensor:
        """Start one policy tracepoint hook; its events flow from now on."""
        if self._match is None or self._baselines is None:
            raise RuntimeError("add_tracepoint() before start()")
        hook_id = self._next_hook
        self._next_hook += plan.hook_count
        wants = plan.match_wants()
        # Between telling the kernel (the binary maps, keeping baselines) and
        # seeding the processes running now, the cache takes in every record
        # the kernel wrote so far.
        bits = self._match.add(wants, settle=lambda: self.step(0)) if wants else []
        try:
            if plan.needs_baselines:
                self._baselines.acquire(settle=lambda: self.step(0))
        except BaseException:
            self._match.remove(bits)
            raise
        sensor = TracepointSensor(plan, hook_id, bits, self._policy_maps_for(plan.policy_name))
        for k, one in enumerate(plan.per_hook()):
            self.agent.add_hook(hook_id + k, one)
        try:
            self.add_sensor(sensor, {})
        except BaseException:
            for k in range(plan.hook_count):
                self.agent.remove_hook(hook_id + k)
            self._match.remove(bits)
            if plan.needs_baselines:
                self._baselines.release()
            self._policy_maps_done(plan.policy_name)
            raise
        return sensor

    def add_enforcer(self, plan: EnforcerPlan) -> EnforcerSensor:
        """Start a policy's enforcer: its hooks' NotifyEnforcer notes are
        acted on from now on."""
        sensor = EnforcerSensor(plan, self._policy_maps_for(plan.policy_name))
        try:
            self.add_sensor(sensor, {})
        except BaseException:
            self._policy_maps_done(plan.policy_name)
            raise
        return sensor

    def remove_enforcer(self, sensor: EnforcerSensor) -> None:
        try:
            self.remove_sensor(sensor.name)
        finally:
            self._policy_maps_done(sensor.plan.policy_name)

    def _policy_maps_for(self, policy: str) -> PolicyMaps:
        maps, users = self._policy_maps.get(policy, (PolicyMaps(policy), 0))
        self._policy_maps[policy] = (maps, users + 1)
        return maps

    def _policy_maps_done(self, policy: str) -> None:
        maps, users = self._policy_maps[policy]
        if users > 1:
            self._policy_maps[policy] = (maps, users - 1)
        else:
            del self._policy_maps[policy]
            maps.close()

    def remove_tracepoint(self, sensor: TracepointSensor) -> None:
        """Stop a hook; what it already wrote is still delivered."""
        try:
            self.remove_sensor(sensor.name)
        finally:
            for k in range(sensor.plan.hook_count):
                self.agent.remove_hook(sensor.hook_id + k)
            if self._match is not None:
                self._match.remove(sensor.match_bits)
            if self._baselines is not None and sensor.plan.needs_baselines:
                self._baselines.release()
            self._policy_maps_done(sensor.plan.policy_name)

    def step(self, timeout_ms: int) -> None:
        """Wait up to timeout_ms for records, handle every one there is, and
        tick when due. Raises what the writer raises (OutputClosed)."""
        if self._ring is None:
            raise RuntimeError("step() before start()")
        records = self._ring.poll(timeout_ms)
        records += self._ring.consume()
        self.agent.handle_batch(records)
        now = time.monotonic()
        if now >= self._next_tick:
            self.tick(now)

    def tick(self, now: float | None = None) -> None:
        """Read the kernel's counters; check the cache against the kernel
        when that is due; run the tick hooks (metrics)."""
        now = time.monotonic() if now is None else now
        self._next_tick = now + self.config.tick_interval_s
        self.kernel_counts = self.base.loss_counts()
        if now >= self._next_sweep:
            # Records handled up to now are in the cache: what still disagrees
            # with the kernel lost its exit record.
            self.cache.sweep(self.base.exec_map_key, still_running)
            self._next_sweep = now + self.config.sweep_interval_s
        for hook in self.tick_hooks:
            hook(self)

    def drain(self) -> None:
        """Handle what the kernel already wrote, then read the counters once
        more: the last word before stopping."""
        if self._ring is not None:
            self.agent.handle_batch(self._ring.consume())
        if self.base.started:
            self.kernel_counts = self.base.loss_counts()

    def close(self) -> None:
        for name in list(self.sensors):
            self.sensors.pop(name).close()
        for maps, _ in self._policy_maps.values():
            maps.close()
        self._policy_maps.clear()
        if self._ring is not None:
            self._ring.close()
            self._ring = None
        self._shared = None
        self._match = None
        self._baselines = None
        self.base.close()
