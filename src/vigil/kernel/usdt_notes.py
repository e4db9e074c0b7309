"""List the USDT probes (SystemTap ``.note.stapsdt`` notes) an ELF file carries.

The probe needs one real USDT note to attach to; rather than hard-coding a
library and a probe name, it reads the notes of candidate libraries. Only
the section headers and the one note section are read.
"""

from __future__ import annotations

import struct
from pathlib import Path

__all__ = ["UsdtNote", "parse_stapsdt", "usdt_notes"]

_ELF_MAGIC = b"\x7fELF"
_NT_STAPSDT = 3


class UsdtNote(tuple[str, str]):
    """(provider, name), e.g. ('libstdcxx', 'throw')."""

    __slots__ = ()

    @property
    def provider(self) -> str:
        return self[0]

    @property
    def name(self) -> str:
        return self[1]


def parse_stapsdt(data: bytes, *, is64: bool = True, endian: str = "<") -> list[UsdtNote]:
    """Parse the contents of a .note.stapsdt section."""
    notes: list[UsdtNote] = []
    addr = 8 if is64 else 4
    off = 0
    while off + 12 <= len(data):
        namesz, descsz, ntype = struct.unpack_from(endian + "III", data, off)
        off += 12
        name = data[off : off + namesz].rstrip(b"\0")
        off += (namesz + 3) & ~3
        desc = data[off : off + descsz]
        off += (descsz + 3) & ~3
        if ntype != _NT_STAPSDT or name != b"stapsdt" or len(desc) < 3 * addr:
            continue
        strings = desc[3 * addr :].split(b"\0")
        if len(strings) >= 2 and strings[0] and strings[1]:
            notes.append(UsdtNote((strings[0].decode(), strings[1].decode())))
    return notes


def usdt_notes(path: str) -> list[UsdtNote]:
    """The USDT notes in the ELF file at ``path``; [] when none or not ELF."""
    try:
        with Path(path).open("rb") as f:
            ident = f.read(64)
            if len(ident) < 52 or ident[:4] != _ELF_MAGIC:
                return []
            is64 = ident[4] == 2
            endian = "<" if ident[5] == 1 else ">"
            if is64:
                (shoff,) = struct.unpack_from(endian + "Q", ident, 0x28)
                shentsize, shnum, shstrndx = struct.unpack_from(endian + "HHH", ident, 0x3A)
            else:
                (shoff,) = struct.unpack_from(endian + "I", ident, 0x20)
                shentsize, shnum, shstrndx = struct.unpack_from(endian + "HHH", ident, 0x2E)
            if not shoff or not shnum or shstrndx >= shnum:
                return []
            f.seek(shoff)
            table = f.read(shentsize * shnum)
            sections = []
            for i in range(shnum):
                ent = table[i * shentsize : (i + 1) * shentsize]
                if is64:
                    sh_name, sh_type, _, _, sh_offset, sh_size = struct.unpack_from(
                        endian + "IIQQQQ", ent
                    )
                else:
                    sh_name, sh_type, _, _, sh_offset, sh_size = struct.unpack_from(
                        endian + "IIIIII", ent
                    )
                sections.append((sh_name, sh_type, sh_offset, sh_size))
            _, _, str_off, str_size = sections[shstrndx]
            f.seek(str_off)
            names = f.read(str_size)
            for sh_name, _, sh_offset, sh_size in sections:
                end = names.find(b"\0", sh_name)
                if names[sh_name:end] == b".note.stapsdt":
                    f.seek(sh_offset)
                    return parse_stapsdt(f.read(sh_size), is64=is64, endian=endian)
    except (OSError, struct.error, IndexError):
        return []
    return []
