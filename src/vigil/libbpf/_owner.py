"""Who owns a bpf_object pointer, and whether it may still be used.

Programs, maps and links are views into one bpf_object. Once the object is
closed their pointers and file descriptors are gone (and fd numbers may be
reused by unrelated files), so every view asks its Owner before touching C.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .errors import BpfError

if TYPE_CHECKING:
    from .link import Link

__all__ = ["Owner"]


class Owner:
    __slots__ = ("gone", "links", "path", "ptr")

    def __init__(self, ptr: int, path: str) -> None:
        self.ptr: int | None = ptr
        self.path = path
        # Links attached through this object's programs, destroyed before it.
        self.links: set[Link] = set()
        # Why ptr is None: set when the pointer is closed or handed on.
        self.gone = ""

    def release(self, why: str) -> int | None:
        """Give up the pointer (closed, or handed to an Object); return it."""
        ptr, self.ptr = self.ptr, None
        if ptr is not None:
            self.gone = why
        return ptr

    def require(self, action: str) -> int:
        """The live pointer, or a BpfError saying why `action` cannot happen."""
        if self.ptr is None:
            raise BpfError(f"cannot {action}: {self.path} {self.gone or 'is closed'}")
        return self.ptr
