"""The libbpf binding against the running kernel, driven by bpf/selftest/echo.bpf.c.

Each getpgid(2) this process makes is echoed by the BPF side through every
path the binding wraps: a ring buffer record, a perf buffer record, a hash
map counter, a per-CPU counter and (through a uprobe on libc) an array slot.
Nothing else in the test process calls getpgid, so every count is exact.
"""

from __future__ import annotations

import ctypes
import os
import struct
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import vigil
from vigil.libbpf import (
    BPF_NOEXIST,
    AttachError,
    BpfError,
    LoadError,
    MapError,
    Object,
    PerfBuffer,
    RingBuffer,
    open_object,
)

from .vigil_runner import EVENT_TIMEOUT

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0,
    reason="needs root: loads BPF programs into the running kernel (run the kernel tests as root)",
)

OBJECTS = Path(vigil.__file__).parent / "bpf_objects" / "selftest"
ECHO = OBJECTS / "echo.bpf.o"
BAD_STACK = OBJECTS / "bad_stack.bpf.o"
# struct echo_record { __u32 tgid; __u32 seq; __u64 arg; } (bpf/selftest/echo.bpf.c)
RECORD = struct.Struct("<IIQ")
N = 64


def _object(path: Path) -> Path:
    if not path.exists():
        pytest.fail(f"{path} is missing: build the BPF objects with `make build`")
    return path


@pytest.fixture(scope="module", autouse=True)
def _tracefs() -> None:
    """libbpf resolves tracepoints through tracefs; mount it if nobody has."""
    if Path("/sys/kernel/tracing/events").is_dir() or Path("/sys/kernel/debug/tracing").is_dir():
        return
    subprocess.run(["mount", "-t", "tracefs", "tracefs", "/sys/kernel/tracing"], check=True)


@pytest.fixture
def echo() -> Iterator[Object]:
    """echo.bpf.o loaded with target_tgid = this process, nothing attached yet."""
    with open_object(_object(ECHO)) as spec:
        spec.set_rodata("target_tgid", os.getpid())
        obj = spec.load()
    with obj:
        yield obj


def _drain(read: Callable[[int], list[bytes]], want: int,
           timeout_s: float = EVENT_TIMEOUT) -> list[bytes]:
    """Poll until `want` records arrived or time ran out, then once more for extras."""
    records: list[bytes] = []
    deadline = time.monotonic() + timeout_s
    while len(records) < want and time.monotonic() < deadline:
        records += read(100)
    return records + read(0)


def _libc_path() -> str:
    with open("/proc/self/maps") as maps:
        for line in maps:
            if "/libc.so" in line or "/libc-" in line:
                return line.split()[-1]
    pytest.skip("libc is not mapped from a file in this process")


def test_every_path_delivers_every_call(echo: Object) -> None:
    pid = os.getpid()
    with RingBuffer(echo.maps["records"]) as rb, PerfBuffer(echo.maps["perf_records"]) as pb:
        echo.programs["on_getpgid"].attach()
        echo.programs["on_sys_enter"].attach()
        for _ in range(N):
            os.getpgid(pid)

        ring = [RECORD.unpack(r) for r in _drain(rb.poll, N)]
        # Perf records carry up to 7 bytes of trailing padding: read the prefix.
        perf = [RECORD.unpack_from(r) for r in _drain(pb.poll, N)]

    assert len(ring) == N
    assert all(tgid == pid and arg == pid for tgid, _, arg in ring)
    assert [seq for _, seq, _ in ring] == list(range(N))

    assert len(perf) == N and pb.lost == 0
    assert all(tgid == pid for tgid, _, _ in perf)
    assert sorted(seq for _, seq, _ in perf) == list(range(N))

    calls = echo.maps["calls"].typed(ctypes.c_uint32, ctypes.c_uint64)
    assert calls[pid].value == N
    assert [key.value for key in calls] == [pid] and len(calls) == 1

    percpu = echo.maps["percpu_calls"].typed(ctypes.c_uint32, ctypes.c_uint64)
    assert percpu.sum_percpu(0) == N
    assert len(percpu.get_percpu(0)) == len(echo.maps["percpu_calls"].lookup_percpu(bytes(4)))


def test_consume_returns_without_waiting(echo: Object) -> None:
    with RingBuffer([echo.maps["records"]]) as rb:
        echo.programs["on_getpgid"].attach()
        assert rb.consume() == []
        os.getpgid(0)
        assert [RECORD.unpack(r)[0] for r in rb.consume()] == [os.getpid()]
        assert rb.epoll_fd >= 0


def test_uprobe_on_a_libc_symbol(echo: Object) -> None:
    link = echo.programs["on_libc_getpgid"].attach_uprobe(_libc_path(), "getpgid", pid=os.getpid())
    assert link.fd >= 0
    for _ in range(N):
        os.getpgid(0)
    counts = echo.maps["uprobe_calls"].typed(ctypes.c_uint32, ctypes.c_uint64)
    assert counts[0].value == N


def test_raw_map_operations(echo: Object) -> None:
    calls = echo.maps["calls"]
    assert (calls.key_size, calls.value_size, calls.max_entries) == (4, 8, 64)
    key, value = struct.pack("<I", 1), struct.pack("<Q", 42)
    with pytest.raises(KeyError):
        calls.lookup(key)
    calls.update(key, value)
    assert calls.lookup(key) == value
    with pytest.raises(MapError, match="EEXIST"):
        calls.update(key, value, BPF_NOEXIST)
    assert list(calls.keys()) == [key]
    calls.delete(key)
    with pytest.raises(KeyError):
        calls.delete(key)
    with pytest.raises(MapError, match="4-byte keys"):
        calls.lookup(b"\0" * 8)


def test_typed_map_writes_and_checks_struct_sizes(echo: Object) -> None:
    calls = echo.maps["calls"].typed(ctypes.c_uint32, ctypes.c_uint64)
    calls[7] = 3
    calls[ctypes.c_uint32(8)] = ctypes.c_uint64(4)
    assert {k.value: v.value for k, v in calls.items()} == {7: 3, 8: 4}
    del calls[7]
    with pytest.raises(KeyError):
        calls[7]
    with pytest.raises(MapError, match="4-byte keys but c_ulong is 8 bytes"):
        echo.maps["calls"].typed(ctypes.c_uint64, ctypes.c_uint64)

    percpu = echo.maps["percpu_calls"].typed(ctypes.c_uint32, ctypes.c_uint64)
    percpu[0] = 5
    assert percpu.sum_percpu(0) == 5 * len(percpu.get_percpu(0))


def test_names_that_do_not_exist(echo: Object) -> None:
    with pytest.raises(KeyError, match="on_getpgid"):
        echo.programs["on_getpid"]
    with pytest.raises(KeyError, match="records"):
        echo.maps["recrods"]
    with open_object(_object(ECHO)) as spec, pytest.raises(KeyError) as info:
        spec.set_rodata("target_pid", 1)
    assert "target_pid" in str(info.value) and "target_tgid" in str(info.value)


def test_open_phase_edits() -> None:
    with open_object(_object(ECHO)) as spec:
        assert spec.programs["on_getpgid"].section == "tp/syscalls/sys_enter_getpgid"
        spec.maps["calls"].max_entries = 128
        spec.programs["on_libc_getpgid"].autoload = False
        obj = spec.load()
        with pytest.raises(BpfError, match="already loaded"):
            spec.set_rodata("target_tgid", 1)
    with obj:
        assert obj.maps["calls"].max_entries == 128
        assert obj.programs["on_getpgid"].fd >= 0
        assert obj.programs["on_libc_getpgid"].fd < 0


def test_verifier_rejection_carries_the_log() -> None:
    with open_object(_object(BAD_STACK)) as spec, pytest.raises(LoadError) as info:
        spec.load()
    err = info.value
    assert err.program == "unchecked_index"
    assert "unbounded min value" in err.verifier_log
    assert "unbounded min value" in str(err) and "hint:" in str(err)


def test_attach_to_missing_tracepoint_names_it(echo: Object) -> None:
    with pytest.raises(AttachError) as info:
        echo.programs["on_getpgid"].attach_tracepoint("syscalls", "sys_enter_no_such_call")
    assert "syscalls/sys_enter_no_such_call" in str(info.value)
    assert "does not exist on this kernel" in str(info.value)
    with pytest.raises(AttachError, match="no_such_symbol"):
        echo.programs["on_libc_getpgid"].attach_uprobe(_libc_path(), "no_such_symbol")


def test_close_detaches_links_and_guards_use_after_close() -> None:
    with open_object(_object(ECHO)) as spec:
        spec.set_rodata("target_tgid", os.getpid())
        obj = spec.load()
    kept = obj.programs["on_getpgid"].attach()
    closed_first = obj.programs["on_sys_enter"].attach()
    closed_first.close()
    closed_first.close()
    obj.close()
    obj.close()
    assert kept.closed
    with pytest.raises(BpfError, match="closed"):
        obj.maps["calls"].lookup(bytes(4))
    with pytest.raises(BpfError, match="closed"):
        obj.programs["on_getpgid"].attach()


def _fd_count() -> int:
    return len(os.listdir("/proc/self/fd"))


def _cycle() -> None:
    with open_object(ECHO) as spec:
        spec.set_rodata("target_tgid", os.getpid())
        obj = spec.load()
    with obj, RingBuffer(obj.maps["records"]) as rb, PerfBuffer(obj.maps["perf_records"], 8):
        obj.programs["on_getpgid"].attach()
        obj.programs["on_sys_enter"].attach()
        os.getpgid(0)
        assert len(_drain(rb.poll, 1)) == 1


@pytest.mark.kernel_independent("the binding's own file descriptors")
def test_no_file_descriptor_leaks() -> None:
    _object(ECHO)
    _cycle()  # first use loads libbpf and warms its caches
    before = _fd_count()
    for _ in range(100):
        _cycle()
        with open_object(BAD_STACK) as spec, pytest.raises(LoadError):
            spec.load()
    assert _fd_count() == before


def test_two_objects_share_a_map_through_reuse_fd(echo: Object) -> None:
    """The second object's program counts into the first object's map: one
    map, as the agent's sensors share the exec map and the ring buffer."""
    with open_object(_object(ECHO)) as spec:
        spec.set_rodata("target_tgid", os.getpid())
        spec.maps["calls"].reuse_fd(echo.maps["calls"].fd)
        other = spec.load()
    with other:
        assert other.maps["calls"].fd != echo.maps["calls"].fd  # libbpf keeps its own dup
        other.programs["on_getpgid"].attach()
        for _ in range(3):
            os.getpgid(0)
        calls = echo.maps["calls"].typed(ctypes.c_uint32, ctypes.c_uint64)
        assert calls[os.getpid()].value == 3  # written through the other object
    # Reusing a map of another shape is refused before load, naming both.
    with open_object(_object(ECHO)) as spec, pytest.raises(MapError) as err:
        spec.maps["calls"].reuse_fd(echo.maps["records"].fd)
    assert str(err.value) == (
        "map 'calls' (type 1, key 4 B, value 8 B) cannot reuse map 'records' "
        "(type 27, key 0 B, value 0 B): they differ")
