"""BPF programs: OpenProgram (before load: choose what loads) and Program (attach it)."""

from __future__ import annotations

import ctypes
import os
from collections.abc import Callable
from ctypes import c_bool, c_char_p, c_size_t, c_uint64

from . import kprobe_events
from ._lib import cstr, lib
from ._owner import Owner
from .errors import AttachError, BpfError
from .link import Link

__all__ = ["OpenProgram", "Program"]


class OpenProgram:
    """A program of an opened, not yet loaded object."""

    __slots__ = ("_owner", "_ptr", "name", "section")

    def __init__(self, owner: Owner, ptr: int) -> None:
        self._owner = owner
        self._ptr = ptr
        self.name = cstr(lib().bpf_program__name(ptr))
        self.section = cstr(lib().bpf_program__section_name(ptr))

    @property
    def autoload(self) -> bool:
        """Whether load() loads this program; turn off hooks this kernel lacks."""
        self._owner.require(f"read autoload of program '{self.name}'")
        return bool(lib().bpf_program__autoload(self._ptr))

    @autoload.setter
    def autoload(self, value: bool) -> None:
        self._owner.require(f"change autoload of program '{self.name}'")
        ret = int(lib().bpf_program__set_autoload(self._ptr, value))
        if ret < 0:
            raise BpfError(f"cannot set autoload of program '{self.name}': {os.strerror(-ret)}")

    def set_attach_target(self, name: str) -> None:
        """The kernel function or tracepoint a BTF-typed program (tp_btf, fentry,
        ...) whose section names none attaches to; libbpf resolves it in the
        kernel's BTF at load (a tp_btf target is the event: btf_trace_<name>)."""
        self._owner.require(f"set the attach target of program '{self.name}'")
        ret = int(lib().bpf_program__set_attach_target(self._ptr, 0, name.encode()))
        if ret < 0:
            raise BpfError(f"cannot set the attach target of program '{self.name}' to "
                           f"{name!r}: {os.strerror(-ret)}")

    def __repr__(self) -> str:
        return f"<OpenProgram {self.name} section={self.section!r}>"


class _UprobeOpts(ctypes.Structure):
    """struct bpf_uprobe_opts (libbpf 1.1): sz, ref_ctr_offset, bpf_cookie, retprobe, func_name."""

    _fields_ = (
        ("sz", c_size_t),
        ("ref_ctr_offset", c_size_t),
        ("bpf_cookie", c_uint64),
        ("retprobe", c_bool),
        ("func_name", c_char_p),
    )


class _KprobeMultiOpts(ctypes.Structure):
    """struct bpf_kprobe_multi_opts (libbpf 1.1): sz, syms, addrs, cookies, cnt, retprobe."""

    _fields_ = (
        ("sz", c_size_t),
        ("syms", ctypes.POINTER(c_char_p)),
        ("addrs", ctypes.c_void_p),
        ("cookies", ctypes.POINTER(c_uint64)),
        ("cnt", c_size_t),
        ("retprobe", c_bool),
    )


class Program:
    """A loaded program. Every attach_* returns a Link the Object also tracks."""

    __slots__ = ("_owner", "_ptr", "name", "section")

    def __init__(self, owner: Owner, ptr: int) -> None:
        self._owner = owner
        self._ptr = ptr
        self.name = cstr(lib().bpf_program__name(ptr))
        self.section = cstr(lib().bpf_program__section_name(ptr))

    @property
    def fd(self) -> int:
        self._owner.require(f"use program '{self.name}'")
        return int(lib().bpf_program__fd(self._ptr))

    def attach(self) -> Link:
        """Attach where the section name says (libbpf auto-attach, e.g. 'tp/sched/...')."""
        return self._attach(
            f"the hook named by its section '{self.section}'",
            "auto",
            lambda: lib().bpf_program__attach(self._ptr),
        )

    def attach_tracepoint(self, category: str, name: str) -> Link:
        return self._attach(
            f"tracepoint {category}/{name}",
            "tracepoint",
            lambda: lib().bpf_program__attach_tracepoint(
                self._ptr, category.encode(), name.encode()
            ),
        )

    def attach_raw_tracepoint(self, name: str) -> Link:
        return self._attach(
            f"raw tracepoint {name}",
            "raw_tracepoint",
            lambda: lib().bpf_program__attach_raw_tracepoint(self._ptr, name.encode()),
        )

    def attach_kprobe(self, function: str, *, retprobe: bool = False,
                      maxactive: int = 0) -> Link:
        """Attach to a kernel function's entry (kprobe) or return (kretprobe).
        `maxactive`: how many calls in flight a kretprobe holds (others'
        returns are missed); given, and where tracefs has kprobe_events, the
        kretprobe is made there (libbpf.kprobe_events), else the kernel's
        default applies."""
        kind = "kretprobe" if retprobe else "kprobe"
        if retprobe and maxactive and kprobe_events.tracefs_root() is not None:
            return self._attach_kretprobe_event(function, maxactive)
        return self._attach(
            f"{kind} {function}", kind,
            lambda: lib().bpf_program__attach_kprobe(self._ptr, retprobe, function.encode()),
        )

    def attach_kprobe_multi(self, functions: list[str], cookies: list[int], *,
                            retprobe: bool = False) -> Link:
        """One kprobe.multi (or kretprobe.multi) link on every function;
        bpf_get_attach_cookie() gives the program each function's cookie."""
        if len(functions) != len(cookies) or not functions:
            raise ValueError(f"{len(functions)} functions and {len(cookies)} cookies")
        syms = (c_char_p * len(functions))(*(f.encode() for f in functions))
        values = (c_uint64 * len(cookies))(*cookies)
        opts = _KprobeMultiOpts(sz=ctypes.sizeof(_KprobeMultiOpts), syms=syms,
                                cookies=values, cnt=len(functions), retprobe=retprobe)
        kind = "kretprobe.multi" if retprobe else "kprobe.multi"
        shown = ", ".join(functions[:3]) + (f" and {len(functions) - 3} more"
                                             if len(functions) > 3 else "")
        return self._attach(
            f"{kind} {shown}", "kprobe",
            lambda: lib().bpf_program__attach_kprobe_multi_opts(self._ptr, None,
                                                                ctypes.byref(opts)),
        )

    def _attach_kretprobe_event(self, function: str, maxactive: int) -> Link:
        target = f"kretprobe {function} (maxactive {maxactive})"
        self._owner.require(f"attach program '{self.name}' to {target}")
        try:
            event = kprobe_events.KprobeEvent(function, maxactive, f"{id(self):x}")
        except OSError as err:
            raise AttachError(self.name, target, err.errno or 0, "kprobe") from None
        try:
            pfd = event.open_perf_event()
        except OSError as err:
            event.remove()
            raise AttachError(self.name, target, err.errno or 0, "kprobe") from None
        ptr = lib().bpf_program__attach_perf_event(self._ptr, pfd)
        if not ptr:
            errno = ctypes.get_errno() or 0
            os.close(pfd)
            event.remove()
            raise AttachError(self.name, target, errno, "kprobe")
        links = self._owner.links

        def closed(link: Link) -> None:
            links.discard(link)
            event.remove()  # the link closed the perf event: nothing holds it now

        link = Link(ptr, f"{self.name} -> {target}", on_close=closed)
        links.add(link)
        return link

    def attach_uprobe(
        self,
        binary_path: str | os.PathLike[str],
        offset_or_symbol: int | str,
        *,
        pid: int = -1,
        retprobe: bool = False,
        symbol_offset: int = 0,
        ref_ctr_offset: int = 0,
    ) -> Link:
        """Attach to a user-space function by symbol name (and `symbol_offset`
        bytes into it) or by file offset. `ref_ctr_offset`: the file offset
        of a semaphore the kernel counts attached probes in (0: none).

        pid -1 traces every process running the binary, 0 this process.
        """
        path = os.fspath(binary_path)
        opts = _UprobeOpts(sz=ctypes.sizeof(_UprobeOpts), retprobe=retprobe,
                           ref_ctr_offset=ref_ctr_offset)
        if isinstance(offset_or_symbol, str):
            # libbpf resolves the symbol in the ELF file itself and adds the
            # offset given to where it starts.
            opts.func_name = offset_or_symbol.encode()
            offset = symbol_offset
            where = offset_or_symbol + (f"+{symbol_offset:#x}" if symbol_offset else "")
        else:
            offset, where = offset_or_symbol, hex(offset_or_symbol)
        kind = "uretprobe" if retprobe else "uprobe"
        return self._attach(
            f"{kind} {path}:{where}" + (f" (pid {pid})" if pid >= 0 else ""),
            "uprobe",
            lambda: lib().bpf_program__attach_uprobe_opts(
                self._ptr, pid, os.fsencode(path), offset, ctypes.byref(opts)
            ),
        )

    def attach_usdt(
        self,
        binary_path: str | os.PathLike[str],
        provider: str,
        name: str,
        *,
        pid: int = -1,
    ) -> Link:
        """Attach to a USDT probe (the program must use <bpf/usdt.bpf.h>)."""
        path = os.fspath(binary_path)
        return self._attach(
            f"USDT {path}:{provider}:{name}" + (f" (pid {pid})" if pid >= 0 else ""),
            "usdt",
            lambda: lib().bpf_program__attach_usdt(
                self._ptr, pid, os.fsencode(path), provider.encode(), name.encode(), None
            ),
        )

    def _attach(self, target: str, kind: str, call: Callable[[], int | None]) -> Link:
        self._owner.require(f"attach program '{self.name}' to {target}")
        ptr = call()
        if not ptr:
            # libbpf >= 1.0 returns NULL and leaves the reason in errno.
            raise AttachError(self.name, target, ctypes.get_errno() or 0, kind)
        links = self._owner.links
        link = Link(ptr, f"{self.name} -> {target}", on_close=links.discard)
        links.add(link)
        return link

    def __repr__(self) -> str:
        return f"<Program {self.name} section={self.section!r}>"
