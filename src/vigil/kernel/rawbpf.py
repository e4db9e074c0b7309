"""The few raw libbpf calls the probe needs that the vigil.libbpf binding does not wrap."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from functools import cache

__all__ = ["iter_read", "libc_getpid"]


@cache
def _libbpf() -> ctypes.CDLL:
    lib = ctypes.CDLL("libbpf.so.1", use_errno=True)
    lib.bpf_iter_create.argtypes = [ctypes.c_int]
    lib.bpf_iter_create.restype = ctypes.c_int
    return lib


@cache
def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def iter_read(link_fd: int, limit: int = 1 << 20) -> int:
    """Run a BPF iterator once: create an iterator fd from its link and read it to the end.

    Returns the number of bytes the iterator produced. Raises OSError on failure.
    """
    fd = _libbpf().bpf_iter_create(link_fd)
    if fd < 0:
        err = -fd if fd < -1 else ctypes.get_errno()
        raise OSError(err, f"bpf_iter_create: {os.strerror(err)}")
    total = 0
    try:
        while total < limit:
            chunk = os.read(fd, 4096)
            if not chunk:
                break
            total += len(chunk)
    finally:
        os.close(fd)
    return total


def libc_getpid() -> int:
    """getpid(3) through libc (no caching there since glibc 2.25): what the syscall returned."""
    return int(_libc().getpid())
