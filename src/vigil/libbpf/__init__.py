"""vigil's thin ctypes binding over libbpf.so.1.

    from vigil.libbpf import open_object, RingBuffer

    with open_object(path) as spec:
        spec.set_rodata("target_tgid", os.getpid())
        obj = spec.load()
    with obj, RingBuffer(obj.maps["records"]) as rb:
        obj.programs["on_getpgid"].attach()
        for record in rb.poll(100):
            ...

Exceptions are in vigil.libbpf.errors; libbpf's own messages go to the
"vigil.libbpf" logger.
"""

from ._lib import capture_output, possible_cpus
from .buffers import PerfBuffer, RingBuffer
from .errors import (
    AttachError,
    BpfError,
    LibbpfMissingError,
    LoadError,
    MapError,
    ObjectOpenError,
)
from .link import Link
from .maps import BPF_ANY, BPF_EXIST, BPF_NOEXIST, Map, OpenMap
from .object import Object, OpenObject, open_object
from .program import OpenProgram, Program
from .typed import TypedMap

__all__ = [
    "BPF_ANY",
    "BPF_EXIST",
    "BPF_NOEXIST",
    "AttachError",
    "BpfError",
    "LibbpfMissingError",
    "Link",
    "LoadError",
    "Map",
    "MapError",
    "Object",
    "ObjectOpenError",
    "OpenMap",
    "OpenObject",
    "OpenProgram",
    "PerfBuffer",
    "Program",
    "RingBuffer",
    "TypedMap",
    "capture_output",
    "open_object",
    "possible_cpus",
]
