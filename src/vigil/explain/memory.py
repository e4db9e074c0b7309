"""What a loaded BPF object costs the kernel, as the kernel itself counts it:
the `memlock` line of /proc/self/fdinfo/<fd> for each map and program (the
bytes charged to the memory cgroup, per-CPU copies included).

The figures are the kernel's, not computed here: a map's cost depends on the
kernel version (hash buckets, per-CPU allocation, ring buffer pages), so only
loading the object tells it.
"""

from __future__ import annotations

from dataclasses import dataclass

from vigil.libbpf import Map, Object

__all__ = ["MAP_ROLES", "MAP_TYPES", "MapCost", "ProgramCost", "fdinfo", "map_costs",
           "program_costs"]

# enum bpf_map_type (include/uapi/linux/bpf.h): the numbers are ABI.
MAP_TYPES = {
    1: "hash", 2: "array", 3: "prog_array", 4: "perf_event_array", 5: "percpu_hash",
    6: "percpu_array", 7: "stack_trace", 8: "cgroup_array", 9: "lru_hash",
    10: "lru_percpu_hash", 11: "lpm_trie", 12: "array_of_maps", 13: "hash_of_maps",
    22: "queue", 23: "stack", 27: "ringbuf", 29: "task_storage", 30: "bloom_filter",
}

# What each of vigil's maps is for, by name (libbpf names a data section
# "<first 8 characters of the object's name>.rodata").
MAP_ROLES = {
    "vigil_execve_map": "identity of every live process (the exec map)",
    "vigil_events": "ring buffer all programs write their records to",
    "vigil_stats": "per-CPU loss and error counters",
    "vigil_match_seed": "match bits of processes running when a policy came (a trie)",
    "vigil_task_baseline": "namespaces and capabilities each process had at exec, while a "
                           "policy compares with them (a trie)",
    "vigil_rate_limits": "when each rate-limit key last posted (LRU; 1 entry if unused)",
    "vigil_rate_heap": "per-CPU scratch for the rate-limit key",
    "vigil_sel_values": "the hook's InMap/NotInMap values",
    "vigil_sel_strs": "string values of the hook's filters with more than 4 (a trie; 1 "
                      "entry if none)",
    "vigil_sel_str_heap": "per-CPU heap string trie keys are built in",
    "vigil_selectors": "the hook's compiled selectors (one value)",
    "vigil_baseline_now": "per-CPU scratch: a process's namespaces and capabilities now, "
                          "for the change filters",
    "vigil_generic_heap": "per-CPU heap the hook's record is built in",
    "vigil_override": "per-CPU scratch: the value an Override chose for the call",
    "vigil_call_args": "per-CPU scratch a kprobe or uprobe copies the function's arguments "
                       "into",
    "vigil_cgroup_scope": "the cgroups the policy is scoped to (its cgroup-path options; 1 "
                          "slot if none)",
    "vigil_enforcer_notes": "the calls a NotifyEnforcer noted for the policy's enforcer, by "
                            "thread (1 entry if the policy has none)",
    "vigil_sock_owners": "tracked sockets and the process that owns each (TrackSock)",
    "vigil_resolved": "per-CPU scratch for the values resolve: paths lead to",
    "vigil_ret_pending": "calls in flight awaiting their return (not preallocated: the "
                         "kernel charges it full, it holds only calls in flight; 1 entry "
                         "if unused)",
    "vigil_exec_stages": "tail calls of the exec chain",
    "vigil_exec_heap": "per-CPU heap the exec record is built in",
    "vigil_path_heap": "per-CPU heap paths are resolved in",
}
_SECTION_ROLES = {".rodata": "const volatile knobs (fixed at load)", ".bss": "zeroed globals",
                  ".data": "initialised globals"}


def fdinfo(fd: int) -> dict[str, str]:
    """The key: value lines of /proc/self/fdinfo/<fd>."""
    with open(f"/proc/self/fdinfo/{fd}") as fh:
        return {k.strip(): v.strip() for k, _, v in (line.partition(":") for line in fh)}


def _memlock(fd: int, what: str) -> int:
    info = fdinfo(fd)
    if "memlock" not in info:
        raise OSError(f"/proc/self/fdinfo/{fd} ({what}) has no memlock line")
    return int(info["memlock"])


def _role(name: str) -> str:
    if name in MAP_ROLES:
        return MAP_ROLES[name]
    return next((r for s, r in _SECTION_ROLES.items() if name.endswith(s)), "")


@dataclass(frozen=True, slots=True)
class MapCost:
    name: str
    type: str
    key_size: int
    value_size: int
    max_entries: int  # a ring buffer's: its size in bytes
    percpu: bool  # one value per possible CPU
    memlock: int  # bytes, as the kernel charges them
    role: str = ""

    @classmethod
    def of(cls, m: Map) -> MapCost:
        return cls(m.name, MAP_TYPES.get(m.type, f"type {m.type}"), m.key_size, m.value_size,
                   m.max_entries, m.is_percpu, _memlock(m.fd, f"map {m.name}"),
                   _role(m.name))


@dataclass(frozen=True, slots=True)
class ProgramCost:
    name: str
    section: str
    memlock: int


def map_costs(obj: Object, *, skip: frozenset[str] = frozenset()) -> list[MapCost]:
    """Every map of a loaded object but those named in `skip`, in object order."""
    return [MapCost.of(m) for name, m in obj.maps.items() if name not in skip]


def program_costs(obj: Object) -> list[ProgramCost]:
    """The programs the object loaded (a generic object loads only the entry
    point of its hook's program type: the others have no fd)."""
    return [ProgramCost(p.name, p.section, _memlock(p.fd, f"program {p.name}"))
            for p in obj.programs.values() if p.fd >= 0]
