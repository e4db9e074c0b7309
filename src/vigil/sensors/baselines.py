"""Baselines: what each process had at exec, for matchNamespaceChanges and
matchCapabilityChanges.

A change is a difference between what the task has at a hook and what its
process had at exec (at fork, until it execs), as Tetragon defines it. The
process sensor keeps that in vigil_task_baseline (bpf/lib/shared_maps.bpf.h),
keyed by the process's identity, but only while some hook needs it: keeping
it costs every fork and exec a map update, and the map an entry per process.

While the first such hook starts, the kernel is told to keep baselines,
then every record it wrote so far is brought into the process cache
(`settle`), then the processes running now are seeded from the cache, which
holds what each one had at its exec (or at vigil's start, read from /proc).
A process without a baseline (the map was full) never matches a change.
When the last such hook stops, the kernel stops keeping them and the map is
emptied.
"""

from __future__ import annotations

import contextlib
import errno
from collections.abc import Callable

from vigil.libbpf import BPF_NOEXIST, Map, MapError
from vigil.process.cache import ProcessCache
from vigil.process.model import Process
from vigil.wire.records import (
    NAMESPACE_NAMES,
    Baseline,
    ExecIdentity,
    MatchConfig,
    SeedKey,
    SelCapSet,
)

__all__ = ["Baselines", "baseline_of"]


def baseline_of(p: Process) -> Baseline:
    """The struct vigil_baseline the kernel would have written for `p` at exec."""
    b = Baseline()
    for name in NAMESPACE_NAMES:
        setattr(b.ns, name, p.ns.get(name, 0))
    b.caps[SelCapSet.PERMITTED] = p.cap_permitted
    b.caps[SelCapSet.EFFECTIVE] = p.cap_effective
    b.caps[SelCapSet.INHERITABLE] = p.cap_inheritable
    return b


class Baselines:
    """Counts the hooks that need baselines; the first turns them on, the
    last off. `config` is the process sensor's vigil_match_config (whose
    other members sensors/match_bits.py owns), `baselines` the shared
    vigil_task_baseline, `execs` the exec map."""

    def __init__(self, config: Map, baselines: Map, execs: Map, cache: ProcessCache) -> None:
        self._config = config
        self._baselines = baselines
        self._execs = execs
        self._cache = cache
        self.users = 0
        self.seed_failed = 0  # processes left without one (the map was full)

    def acquire(self, settle: Callable[[], None] = lambda: None) -> None:
        """A hook that compares with baselines starts."""
        self.users += 1
        if self.users > 1:
            return
        try:
            self._set_keeping(True)
            settle()
            self._seed()
        except BaseException:
            self.release()
            raise

    def release(self) -> None:
        """A hook that compared with baselines stopped."""
        if self.users == 0:
            return
        self.users -= 1
        if self.users:
            return
        self._set_keeping(False)
        # The kernel writes no more: what is left is stale. An exec or exit
        # between the two may have touched an entry; it goes all the same.
        for key in list(self._baselines.keys()):
            with contextlib.suppress(KeyError):
                self._baselines.delete(key)

    def _set_keeping(self, on: bool) -> None:
        config = MatchConfig.from_buffer_copy(self._config.lookup(bytes(4)))
        config.baselines = 1 if on else 0
        self._config.update(bytes(4), bytes(config))

    def _seed(self) -> None:
        for tgid in list(self._execs.keys()):
            try:
                ident = ExecIdentity.from_buffer_copy(self._execs.lookup(tgid))
            except KeyError:
                continue  # exited meanwhile
            proc = self._cache.get((ident.key.pid, ident.key.ktime))
            if proc is None:
                continue  # came after the kernel began keeping them
            key = SeedKey(prefixlen=96, pid=ident.key.pid, ktime=ident.key.ktime)
            try:
                # Create only: what the kernel wrote since is newer.
                self._baselines.update(bytes(key), bytes(baseline_of(proc)), BPF_NOEXIST)
            except MapError as e:
                if e.errno != errno.EEXIST:  # the kernel's is kept
                    self.seed_failed += 1
