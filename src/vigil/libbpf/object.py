"""BPF objects in two phases, as libbpf has them: open (editable) and loaded (live).

    spec = open_object("echo.bpf.o")        # OpenObject: set knobs, resize, pick programs
    spec.set_rodata("target_tgid", pid)
    with spec.load() as obj:                 # Object: programs are in the kernel
        link = obj.programs["on_getpgid"].attach()

load() hands the bpf_object pointer from the OpenObject to the Object, so
exactly one of them ever frees it.
"""

from __future__ import annotations

import ctypes
import os

from vigil.closing import Closable

from ._btf import datasec_variables, encode_value
from ._lib import capture_output, lib
from ._named import NamedMapping
from ._owner import Owner
from .errors import BpfError, LoadError, ObjectOpenError
from .maps import Map, OpenMap
from .program import OpenProgram, Program

__all__ = ["Object", "OpenObject", "open_object"]

# The DATASEC that holds `const volatile` globals.
RODATA = ".rodata"


def open_object(path: str | os.PathLike[str]) -> OpenObject:
    """Open a compiled .bpf.o; nothing reaches the kernel until load()."""
    path_str = os.fspath(path)
    ptr = lib().bpf_object__open_file(os.fsencode(path_str), None)
    if not ptr:
        raise ObjectOpenError(path_str, ctypes.get_errno())
    return OpenObject(int(ptr), path_str)


def _programs(ptr: int) -> list[int]:
    found, prog = [], None
    while prog := lib().bpf_object__next_program(ptr, prog):
        found.append(int(prog))
    return found


def _maps(ptr: int) -> list[int]:
    found, map_ = [], None
    while map_ := lib().bpf_object__next_map(ptr, map_):
        found.append(int(map_))
    return found


class OpenObject(Closable):
    """An opened object before load: set rodata knobs, map sizes and autoload here."""

    def __init__(self, ptr: int, path: str) -> None:
        self.path = path
        self._owner = Owner(ptr, path)
        self.programs: NamedMapping[OpenProgram] = NamedMapping(
            "program",
            path,
            {p.name: p for p in (OpenProgram(self._owner, q) for q in _programs(ptr))},
        )
        self.maps: NamedMapping[OpenMap] = NamedMapping(
            "map", path, {m.name: m for m in (OpenMap(self._owner, q) for q in _maps(ptr))}
        )

    def _rodata_map(self) -> OpenMap:
        # libbpf names internal maps "<object name prefix>.rodata".
        for open_map in self.maps.values():
            if open_map.name.endswith(RODATA):
                return open_map
        raise KeyError(f"{self.path} has no {RODATA} section: it declares no const volatile knob")

    def set_rodata(self, name: str, value: int | bytes) -> None:
        """Set a `const volatile` global before load, so the verifier sees it as constant."""
        ptr = self._owner.require(f"set {name}")
        variables = datasec_variables(int(lib().bpf_object__btf(ptr) or 0), RODATA)
        if name not in variables:
            known = ", ".join(sorted(variables)) or "none"
            raise KeyError(
                f"no const volatile variable {name!r} in {self.path}; rodata variables: {known}"
            )
        var = variables[name]
        data = encode_value(name, value, var.size)
        addr, size = self._rodata_map().initial_value()
        if var.offset + var.size > size:
            raise BpfError(
                f"{name} lies at {var.offset}+{var.size} but {RODATA} is {size} bytes: "
                "the object's BTF is inconsistent; rebuild it"
            )
        ctypes.memmove(addr + var.offset, data, var.size)

    def load(self) -> Object:
        """Create the maps and load every autoload program; raises LoadError with the log."""
        ptr = self._owner.require("load")
        with capture_output() as output:
            ret = int(lib().bpf_object__load(ptr))
        if ret < 0:
            # libbpf: after a failed load the object may only be closed.
            self.close()
            raise LoadError.from_libbpf_output(-ret, output, path=self.path)
        self._owner.release("is already loaded: use the Object that load() returned")
        return Object(ptr, self.path)

    def close(self) -> None:
        """Free the object unless load() handed it on; safe to call twice."""
        ptr = self._owner.release("is closed")
        if ptr is not None:
            lib().bpf_object__close(ptr)

    def __repr__(self) -> str:
        return f"<OpenObject {self.path}>"


class Object(Closable):
    """A loaded object: its programs and maps live in the kernel until close()."""

    def __init__(self, ptr: int, path: str) -> None:
        self.path = path
        self._owner = Owner(ptr, path)
        self.programs: NamedMapping[Program] = NamedMapping(
            "program", path, {p.name: p for p in (Program(self._owner, q) for q in _programs(ptr))}
        )
        self.maps: NamedMapping[Map] = NamedMapping(
            "map", path, {m.name: m for m in (Map(self._owner, q) for q in _maps(ptr))}
        )

    @property
    def closed(self) -> bool:
        return self._owner.ptr is None

    def close(self) -> None:
        """Destroy every link made through this object's programs, then the object."""
        for link in list(self._owner.links):
            link.close()
        ptr = self._owner.release("is closed")
        if ptr is not None:
            lib().bpf_object__close(ptr)

    def __repr__(self) -> str:
        state = "closed" if self.closed else "loaded"
        return f"<Object {self.path} {state}>"
