"""A file argument's bytes (fd, file, path, dentry) -> what Tetragon shows.

In the record (bpf/lib/arg_path.bpf.h): struct vigil_path_arg (flags, the
inode's mode), then the path without its NUL; no bytes after the header is
"/" (the walk reached the root at once), as Tetragon reads an empty path.
"""

from __future__ import annotations

import ctypes
import stat
import struct

from vigil.wire.decode import DecodeError
from vigil.wire.records import PathArg, PathFlag

__all__ = ["decode_path_arg", "mode_string"]

_HEADER = struct.Struct("=IH2x")
assert _HEADER.size == ctypes.sizeof(PathArg)

# The file type's letter, as Tetragon's FilePathModeToStr writes it: none for
# a mode without a type (no inode).
_TYPE_LETTERS = {stat.S_IFBLK: "b", stat.S_IFCHR: "c", stat.S_IFDIR: "d", stat.S_IFIFO: "p",
                 stat.S_IFLNK: "l", stat.S_IFREG: "-", stat.S_IFSOCK: "s"}


def mode_string(mode: int) -> str:
    """An i_mode as Tetragon's permission field ("-rw-r--r--", "drwxrwxrwt")."""
    # stat.filemode writes the nine permission letters with setuid, setgid and
    # sticky exactly as Tetragon does (s/S, s/S, t/T); only its type differs.
    return _TYPE_LETTERS.get(stat.S_IFMT(mode), "") + stat.filemode(mode)[1:]


def decode_path_arg(raw: bytes) -> tuple[str, str, str]:
    """(path, flags, permission) of one file argument."""
    if len(raw) < _HEADER.size:
        raise DecodeError("generic_lengths",
                          f"a file argument of {len(raw)} bytes, its header is {_HEADER.size}")
    flags, mode = _HEADER.unpack_from(raw)
    path = raw[_HEADER.size:].decode("utf-8", "backslashreplace") or "/"
    return (path, "unresolvedPathComponents" if flags & PathFlag.UNRESOLVED else "",
            mode_string(mode))
