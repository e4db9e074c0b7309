"""libbpf.so.1 through ctypes: the prototype table, and libbpf's messages routed to logging.

Every libbpf function the binding calls is declared once, in ``_PROTOTYPES``:
a call with a missing or wrong declaration would pass garbage to C silently,
so nothing outside this module touches the library's symbols undeclared.

The library is loaded on first use, not at import, so ``import vigil.libbpf``
works on a machine without libbpf (unit tests, ``--help``) and the error
about installing it appears only where it matters.
"""

from __future__ import annotations

import ctypes
import functools
import logging
import platform
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from ctypes import (
    CFUNCTYPE,
    POINTER,
    c_bool,
    c_char_p,
    c_int,
    c_int64,
    c_size_t,
    c_uint32,
    c_uint64,
    c_void_p,
)
from typing import Any

from .errors import LibbpfMissingError

__all__ = [
    "PERF_LOST_FN",
    "PERF_SAMPLE_FN",
    "RING_BUFFER_SAMPLE_FN",
    "capture_output",
    "cstr",
    "lib",
    "possible_cpus",
]

SONAME = "libbpf.so.1"

# Callback types, as libbpf.h declares them. Pointers arrive as int (c_void_p)
# so the ring-buffer hot path can hand them straight to ctypes.string_at.
PRINT_FN = CFUNCTYPE(c_int, c_int, c_char_p, c_void_p)
RING_BUFFER_SAMPLE_FN = CFUNCTYPE(c_int, c_void_p, c_void_p, c_size_t)
PERF_SAMPLE_FN = CFUNCTYPE(None, c_void_p, c_int, c_void_p, c_uint32)
PERF_LOST_FN = CFUNCTYPE(None, c_void_p, c_int, c_uint64)

# Opaque libbpf pointers (struct bpf_object *, ...) are c_void_p: Python sees an
# int, or None for NULL, which is how libbpf >= 1.0 reports failure (errno set).
_P = c_void_p
_PROTOTYPES: dict[str, tuple[Any, tuple[Any, ...]]] = {
    # object lifecycle
    "bpf_object__open_file": (_P, (c_char_p, _P)),
    "bpf_object__load": (c_int, (_P,)),
    "bpf_object__close": (None, (_P,)),
    "bpf_object__next_program": (_P, (_P, _P)),
    "bpf_object__next_map": (_P, (_P, _P)),
    "bpf_object__btf": (_P, (_P,)),
    # programs
    "bpf_program__name": (c_char_p, (_P,)),
    "bpf_program__section_name": (c_char_p, (_P,)),
    "bpf_program__autoload": (c_bool, (_P,)),
    "bpf_program__set_autoload": (c_int, (_P, c_bool)),
    "bpf_program__set_attach_target": (c_int, (_P, c_int, c_char_p)),
    "bpf_program__fd": (c_int, (_P,)),
    "bpf_program__attach": (_P, (_P,)),
    "bpf_program__attach_tracepoint": (_P, (_P, c_char_p, c_char_p)),
    "bpf_program__attach_raw_tracepoint": (_P, (_P, c_char_p)),
    "bpf_program__attach_kprobe": (_P, (_P, c_bool, c_char_p)),
    "bpf_program__attach_perf_event": (_P, (_P, c_int)),
    "bpf_program__attach_kprobe_multi_opts": (_P, (_P, c_char_p, _P)),
    "bpf_program__attach_uprobe_opts": (_P, (_P, c_int, c_char_p, c_size_t, _P)),
    "bpf_program__attach_usdt": (_P, (_P, c_int, c_char_p, c_char_p, c_char_p, _P)),
    # links
    "bpf_link__fd": (c_int, (_P,)),
    "bpf_link__destroy": (c_int, (_P,)),
    # maps, as libbpf describes them
    "bpf_map__name": (c_char_p, (_P,)),
    "bpf_map__fd": (c_int, (_P,)),
    "bpf_map__type": (c_int, (_P,)),
    "bpf_map__key_size": (c_uint32, (_P,)),
    "bpf_map__value_size": (c_uint32, (_P,)),
    "bpf_map__max_entries": (c_uint32, (_P,)),
    "bpf_map__set_max_entries": (c_int, (_P, c_uint32)),
    "bpf_map__reuse_fd": (c_int, (_P, c_int)),
    "bpf_obj_get_info_by_fd": (c_int, (c_int, _P, POINTER(c_uint32))),
    "bpf_map__initial_value": (_P, (_P, POINTER(c_size_t))),
    # maps, through the bpf(2) syscall wrappers (return -errno)
    "bpf_map_lookup_elem": (c_int, (c_int, _P, _P)),
    "bpf_map_update_elem": (c_int, (c_int, _P, _P, c_uint64)),
    "bpf_map_delete_elem": (c_int, (c_int, _P)),
    "bpf_map_get_next_key": (c_int, (c_int, _P, _P)),
    # BTF
    "btf__find_by_name_kind": (c_int, (_P, c_char_p, c_uint32)),
    "btf__type_by_id": (_P, (_P, c_uint32)),
    "btf__name_by_offset": (c_char_p, (_P, c_uint32)),
    "btf__load_vmlinux_btf": (_P, ()),
    "btf__free": (None, (_P,)),
    "btf__type_cnt": (c_uint32, (_P,)),
    "btf__resolve_size": (c_int64, (_P, c_uint32)),
    # ring buffer
    "ring_buffer__new": (_P, (c_int, RING_BUFFER_SAMPLE_FN, _P, _P)),
    "ring_buffer__add": (c_int, (_P, c_int, RING_BUFFER_SAMPLE_FN, _P)),
    "ring_buffer__poll": (c_int, (_P, c_int)),
    "ring_buffer__consume": (c_int, (_P,)),
    "ring_buffer__epoll_fd": (c_int, (_P,)),
    "ring_buffer__free": (None, (_P,)),
    # perf buffer (the LIBBPF_0.6.0 signature, the default symbol version in 1.x)
    "perf_buffer__new": (_P, (c_int, c_size_t, PERF_SAMPLE_FN, PERF_LOST_FN, _P, _P)),
    "perf_buffer__poll": (c_int, (_P, c_int)),
    "perf_buffer__consume": (c_int, (_P,)),
    "perf_buffer__epoll_fd": (c_int, (_P,)),
    "perf_buffer__free": (None, (_P,)),
    # misc
    "libbpf_num_possible_cpus": (c_int, ()),
    "libbpf_set_print": (_P, (PRINT_FN,)),
}

_log = logging.getLogger("vigil.libbpf")

# enum libbpf_print_level
_LEVELS = {0: logging.WARNING, 1: logging.INFO, 2: logging.DEBUG}


@functools.cache
def lib() -> ctypes.CDLL:
    """libbpf.so.1 with every prototype declared and its messages routed to logging."""
    try:
        cdll = ctypes.CDLL(SONAME, use_errno=True)
    except OSError as exc:
        raise LibbpfMissingError(str(exc)) from None
    for name, (restype, argtypes) in _PROTOTYPES.items():
        try:
            fn = getattr(cdll, name)
        except AttributeError:
            raise LibbpfMissingError(
                f"{SONAME} lacks {name}; vigil needs libbpf 1.0 or newer"
            ) from None
        fn.restype = restype
        fn.argtypes = argtypes
    cdll.libbpf_set_print(_PRINT_CALLBACK)
    return cdll


@functools.cache
def possible_cpus() -> int:
    """Number of possible CPUs: the per-CPU map value count the kernel uses."""
    n = int(lib().libbpf_num_possible_cpus())
    if n <= 0:
        raise OSError(-n, "libbpf_num_possible_cpus failed (is /sys mounted?)")
    return n


def cstr(value: bytes | None) -> str:
    """A C string from libbpf as str ('' for NULL)."""
    return value.decode("utf-8", "replace") if value else ""


# --- libbpf's print callback -------------------------------------------------
#
# libbpf calls one process-global print function with a printf format and a
# va_list. Python cannot walk a va_list, so libc's vsnprintf formats it.
#
# A va_list can be consumed only once; when the first buffer is too small we
# format again from a copy taken beforehand. On x86_64 and arm64 the callback
# receives va_list as a pointer to a plain struct (x86_64: an array type that
# decays to a pointer; arm64: a >16-byte struct passed by reference), and
# va_copy is a byte copy of that struct: 24 bytes on x86_64, 32 on arm64.
_VA_LIST_SIZE = {"x86_64": 24, "aarch64": 32, "arm64": 32}.get(platform.machine(), 0)
# Without a known va_list layout there is no second try, so start big.
_FIRST_BUFFER = 1024 if _VA_LIST_SIZE else 1 << 20

# A private libc handle so our argtypes cannot clash with anyone else's.
_libc = ctypes.CDLL(None)
_vsnprintf = _libc.vsnprintf
_vsnprintf.restype = c_int
_vsnprintf.argtypes = (c_void_p, c_size_t, c_char_p, c_void_p)


def _vformat(fmt: bytes, args: int | None) -> str:
    buf = ctypes.create_string_buffer(_FIRST_BUFFER)
    saved = ctypes.create_string_buffer(_VA_LIST_SIZE) if _VA_LIST_SIZE and args else None
    if saved is not None and args:
        ctypes.memmove(saved, args, _VA_LIST_SIZE)
    n = _vsnprintf(buf, len(buf), fmt, args)
    if n < 0:
        return fmt.decode("utf-8", "replace")
    if n >= len(buf) and saved is not None:
        buf = ctypes.create_string_buffer(n + 1)
        _vsnprintf(buf, len(buf), fmt, ctypes.addressof(saved))
    return buf.value.decode("utf-8", "replace")


class _Captures(threading.local):
    """Per-thread stack of capture sinks: libbpf prints from the calling thread."""

    def __init__(self) -> None:
        self.sinks: list[list[str]] = []


_captures = _Captures()


def _on_print(level: int, fmt: bytes | None, args: int | None) -> int:
    # An exception cannot cross back into C: ctypes would print it to stderr
    # in the middle of a load. Losing one log line is the lesser harm.
    try:
        py_level = _LEVELS.get(level, logging.DEBUG)
        sinks = _captures.sinks
        # Formatting is the expensive part; skip it when nobody listens.
        if not fmt or (not sinks and not _log.isEnabledFor(py_level)):
            return 0
        text = _vformat(fmt, args)
        for sink in sinks:
            sink.append(text)
        _log.log(py_level, "%s", text.rstrip("\n"))
    except Exception:
        return 0
    return 0


# libbpf keeps only the raw function pointer: this reference is what keeps the
# ctypes thunk alive for the life of the process.
_PRINT_CALLBACK = PRINT_FN(_on_print)


@contextmanager
def capture_output() -> Iterator[list[str]]:
    """Collect every message libbpf prints (any level) in this thread during the block.

    Each item is one printed message, usually one line ending in a newline; the
    verifier log arrives as a single multi-line message.
    """
    sink: list[str] = []
    _captures.sinks.append(sink)
    try:
        yield sink
    finally:
        _captures.sinks.pop()
