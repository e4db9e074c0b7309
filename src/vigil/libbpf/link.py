"""Link: one attachment of a program to a hook; closing it detaches the program."""

from __future__ import annotations

from collections.abc import Callable

from vigil.closing import Closable

from ._lib import lib
from .errors import BpfError

__all__ = ["Link"]


class Link(Closable):
    """A struct bpf_link. Close it (or its Object) to detach."""

    __slots__ = ("__weakref__", "_on_close", "_ptr", "description")

    def __init__(
        self, ptr: int, description: str, on_close: Callable[[Link], None] | None = None
    ) -> None:
        self._ptr: int | None = ptr
        self.description = description
        self._on_close = on_close

    @property
    def fd(self) -> int:
        if self._ptr is None:
            raise BpfError(f"link {self.description} is closed")
        return int(lib().bpf_link__fd(self._ptr))

    @property
    def closed(self) -> bool:
        return self._ptr is None

    def close(self) -> None:
        """Detach and free the link; safe to call twice."""
        ptr, self._ptr = self._ptr, None
        if ptr is None:
            return
        # bpf_link__destroy frees the link even when detaching reports an error,
        # so there is nothing left to retry: the pointer is gone either way.
        lib().bpf_link__destroy(ptr)
        if self._on_close is not None:
            self._on_close(self)


    def __repr__(self) -> str:
        state = "closed" if self._ptr is None else "attached"
        return f"<Link {self.description} {state}>"
