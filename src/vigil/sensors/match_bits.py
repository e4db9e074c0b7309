"""Match bits: matchBinaries and matchPIDs followForks, kept per process.

Each matchBinaries filter and each followForks pid filter of the running
policies owns one of 64 bits (events.h, struct vigil_exec_identity). The
process sensor sets a process's `bin` bits at exec from the binary maps this
module writes (bpf/process/process.bpf.c, vigil_exec_bin), copies them at
fork, and keeps `follow` bits across exec; a hook's selector then tests two
masks instead of comparing paths.

Processes already running when a filter is added get their bits from user
space: from the process cache (the file each one executes, its ancestors),
written into vigil_match_seed keyed by the process's identity. User space
never rewrites the exec map itself, so an exec racing with a policy load
cannot be overwritten with the identity it replaced.

The semantics match the kernel's lookups exactly (matches()): an exact path
of at most 255 bytes, a prefix of the first 256 bytes, a suffix of the last
256. Every map is an LPM trie, exact ones included (events.h says why).
"""

from __future__ import annotations

import contextlib
import ctypes
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace

from vigil.libbpf import Map, MapError
from vigil.process.cache import ProcessCache
from vigil.process.model import Process
from vigil.wire.records import (
    BIN_PATH_MAX,
    MATCH_BITS,
    ExecIdentity,
    MatchConfig,
    PidKey,
    ProcFlag,
    SeedKey,
)
from vigil.wire.records import MatchBits as Seed

__all__ = ["BIN_MAPS", "BinaryMatch", "MatchBits", "PidFollow", "matches"]

# The process sensor's maps this module writes (bpf/process/process.bpf.c).
BIN_MAPS = ("vigil_bin_exact", "vigil_bin_prefix", "vigil_bin_postfix",
            "vigil_follow_pids", "vigil_match_config")

# operator -> (binary map, negated)
_KINDS = {"In": ("exact", False), "NotIn": ("exact", True),
          "Prefix": ("prefix", False), "NotPrefix": ("prefix", True),
          "Postfix": ("postfix", False), "NotPostfix": ("postfix", True)}


@dataclass(frozen=True, slots=True)
class BinaryMatch:
    """One matchBinaries filter: a bit is set for a process whose executed
    file matches any value (for the Not operators too: the selector then
    wants the bit clear)."""

    kind: str  # "exact", "prefix" or "postfix"
    values: tuple[bytes, ...]
    follow_children: bool = False


@dataclass(frozen=True, slots=True)
class PidFollow:
    """A matchPIDs followForks filter: the bit marks descendants of the pids."""

    pids: tuple[int, ...]


Wanted = BinaryMatch | PidFollow


def binary_match(where: str, operator: str, values: Iterable[str],
                 follow_children: bool) -> tuple[BinaryMatch, bool]:
    """A matchBinaries filter as the kernel keeps it, and whether the
    selector wants its bit clear (NotIn, NotPrefix, NotPostfix). Raises
    ValueError naming what is wrong."""
    if operator not in _KINDS:
        raise ValueError(f"{where}.operator: {operator!r}; matchBinaries takes "
                         f"{', '.join(_KINDS)}")
    kind, negated = _KINDS[operator]
    if follow_children and kind != "exact":
        raise ValueError(f"{where}.followChildren: only with In or NotIn (as Tetragon)")
    # Tetragon's limits: an exact path below BINARY_PATH_MAX_LEN, a prefix of
    # StringPrefixMaxLength; vigil's postfix trie takes as much as its prefix.
    longest = BIN_PATH_MAX - 1 if kind == "exact" else BIN_PATH_MAX
    raw: list[bytes] = []
    for i, value in enumerate(values):
        b = value.encode()
        if not b:
            raise ValueError(f"{where}.values[{i}]: an empty path")
        if len(b) > longest:
            raise ValueError(f"{where}.values[{i}]: {len(b)} bytes; a binary path for "
                             f"{operator} is at most {longest}")
        raw.append(b)
    if not raw:
        raise ValueError(f"{where}.values: matchBinaries needs at least one path")
    return BinaryMatch(kind, tuple(raw), follow_children), negated


def matches(m: BinaryMatch, path: bytes) -> bool:
    """What the kernel's lookup in the binary maps finds for `path`."""
    if m.kind == "exact":
        return len(path) < BIN_PATH_MAX and path in m.values
    if m.kind == "prefix":
        head = path[:BIN_PATH_MAX]
        return any(head.startswith(v) for v in m.values)
    tail = path[-BIN_PATH_MAX:]
    return any(tail.endswith(v) for v in m.values)


def _key(path: bytes, length: int) -> bytes:
    """A struct vigil_bin_key: `length` (bytes, or bits for a trie), the
    path zero-padded."""
    return bytes(ctypes.c_uint32(length)) + path.ljust(BIN_PATH_MAX, b"\0")


class MatchBits:
    """Owns the 64 match bits and the maps that give them meaning.

    `maps` are the process sensor's maps (BIN_MAPS, vigil_execve_map,
    vigil_match_seed); `cache` tells what each running process executes.
    """

    def __init__(self, maps: Mapping[str, Map], cache: ProcessCache) -> None:
        self._maps = maps
        self._cache = cache
        self._owned: dict[int, Wanted] = {}

    @property
    def free(self) -> int:
        return MATCH_BITS - len(self._owned)

    def add(self, wanted: list[Wanted], settle: Callable[[], None] = lambda: None) -> list[int]:
        """Give each filter a bit, make the kernel set it from now on, and
        seed it for the processes running now. `settle` runs between the two:
        it must bring every record the kernel wrote so far into the cache,
        so every exec is either in the cache (seeded here) or came after the
        maps (the kernel set its bits). Raises ValueError when the bits run
        out (nothing is changed then)."""
        if len(wanted) > self.free:
            raise ValueError(f"the running policies' matchBinaries and followForks filters need "
                             f"{len(self._owned) + len(wanted)} match bits; vigil has "
                             f"{MATCH_BITS}")
        bits = [b for b in range(MATCH_BITS) if b not in self._owned][:len(wanted)]
        for bit, w in zip(bits, wanted, strict=True):
            self._owned[bit] = w
        try:
            self._write_maps()
            settle()
            self._seed(dict(zip(bits, wanted, strict=True)))
        except BaseException:
            self.remove(bits)
            raise
        return bits

    def remove(self, bits: Iterable[int]) -> None:
        """Free the bits. The kernel stops setting and passing them on first;
        then every process that still has one (its identity, or a seed) gets
        it cleared through its seed, so a later owner of a bit starts from
        nothing."""
        gone = [b for b in bits if self._owned.pop(b, None) is not None]
        if not gone:
            return
        self._write_maps()
        mask = sum(1 << b for b in gone)
        execs = self._maps["vigil_execve_map"]
        seeds = self._maps["vigil_match_seed"]
        for tgid in list(execs.keys()):
            try:
                ident = ExecIdentity.from_buffer_copy(execs.lookup(tgid))
            except KeyError:
                continue
            key = _seed_key(ident)
            seed = _lookup_seed(seeds, key)
            stale = (ident.bin | ident.follow) & mask
            if not stale and not (seed.bin | seed.follow) & mask:
                continue
            seed.bin &= ~mask
            seed.follow &= ~mask
            seed.clear |= stale
            with contextlib.suppress(MapError):  # full: see _seed
                seeds.update(key, bytes(seed))

    # --- the kernel's maps ----------------------------------------------------

    def _write_maps(self) -> None:
        """Rewrite every binary map from the owned filters. An entry is
        written before a stale one is deleted, so a path the filters name
        never goes unmatched while this runs."""
        exact: dict[bytes, int] = {}
        prefix: dict[bytes, int] = {}
        postfix: dict[bytes, int] = {}
        pids: dict[int, int] = {}
        children = 0
        for bit, w in self._owned.items():
            if isinstance(w, PidFollow):
                for pid in w.pids:
                    pids[pid] = pids.get(pid, 0) | 1 << bit
                continue
            if w.follow_children:
                children |= 1 << bit
            table = {"exact": exact, "prefix": prefix, "postfix": postfix}[w.kind]
            for v in w.values:
                table[v] = table.get(v, 0) | 1 << bit
        # A trie returns the longest match only: each entry carries the bits
        # of every shorter value it extends.
        prefix = {v: _or(b for u, b in prefix.items() if v.startswith(u)) for v in prefix}
        postfix = {v: _or(b for u, b in postfix.items() if v.endswith(u)) for v in postfix}
        # The exact trie keys a path and its NUL (events.h): only that path matches.
        self._sync("vigil_bin_exact", {_key(v + b"\0", 8 * (len(v) + 1)): b
                                       for v, b in exact.items()})
        self._sync("vigil_bin_prefix", {_key(v, 8 * len(v)): b for v, b in prefix.items()})
        self._sync("vigil_bin_postfix",
                   {_key(v[::-1], 8 * len(v)): b for v, b in postfix.items()})
        self._sync("vigil_follow_pids", {bytes(PidKey(prefixlen=32, pid=p)): b
                                         for p, b in pids.items()})
        # The config's `baselines` is sensors/baselines.py's: kept as it is.
        cfg_map = self._maps["vigil_match_config"]
        config = MatchConfig.from_buffer_copy(cfg_map.lookup(bytes(4)))
        config.follow_children = children
        config.valid = _or(1 << b for b in self._owned)
        cfg_map.update(bytes(4), bytes(config))

    def _sync(self, name: str, want: dict[bytes, int]) -> None:
        m = self._maps[name]
        have = set(m.keys())
        for key, bits in want.items():
            m.update(key, bytes(ctypes.c_uint64(bits)))
        for key in have - set(want):
            with contextlib.suppress(KeyError):
                m.delete(key)

    # --- processes already running --------------------------------------------

    def _seed(self, new: dict[int, Wanted]) -> None:
        execs = self._maps["vigil_execve_map"]
        seeds = self._maps["vigil_match_seed"]
        for tgid in list(execs.keys()):
            try:
                ident = ExecIdentity.from_buffer_copy(execs.lookup(tgid))
            except KeyError:
                continue  # exited meanwhile
            proc = self._cache.get((ident.key.pid, ident.key.ktime))
            if proc is None:
                # Not known yet, so it came after the maps were written: an
                # exec then got its bits from the kernel, but a fork copied
                # them from a parent that may not have been seeded yet.
                parent = self._cache.get((ident.parent.pid, ident.parent.ktime))
                if ident.flags & ProcFlag.EXECVE or parent is None:
                    continue
                proc = replace(parent, pid=ident.key.pid, key=(ident.key.pid, ident.key.ktime))
                lineage = [proc, parent, *self._cache.ancestors(parent)]
            else:
                lineage = [proc, *self._cache.ancestors(proc)]
            add_bin = add_follow = 0
            for bit, w in new.items():
                if isinstance(w, PidFollow):
                    if any(p.pid in w.pids for p in lineage):
                        add_follow |= 1 << bit
                    continue
                if proc.exe and matches(w, _path(proc)):
                    add_bin |= 1 << bit
                if w.follow_children and any(p.exe and matches(w, _path(p)) for p in lineage):
                    add_follow |= 1 << bit
            if not add_bin and not add_follow:
                continue
            key = _seed_key(ident)
            seed = _lookup_seed(seeds, key)
            seed.bin |= add_bin
            seed.follow |= add_follow
            with contextlib.suppress(MapError):  # full: that process goes unmatched
                seeds.update(key, bytes(seed))


def _seed_key(ident: ExecIdentity) -> bytes:
    """A struct vigil_seed_key: the identity, as an exact key of the trie."""
    return bytes(SeedKey(prefixlen=96, pid=ident.key.pid, ktime=ident.key.ktime))


def _lookup_seed(seeds: Map, key: bytes) -> Seed:
    try:
        return Seed.from_buffer_copy(seeds.lookup(key))
    except KeyError:
        return Seed()


def _or(bits: Iterable[int]) -> int:
    out = 0
    for b in bits:
        out |= b
    return out


def _path(p: Process) -> bytes:
    # The cache holds paths decoded with backslashreplace: a path that is not
    # UTF-8 does not come back byte for byte, and is seeded as not matching.
    return p.exe.encode()
