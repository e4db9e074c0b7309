"""What a uprobe's plan needs to know of the ELF file it probes: that it is
one, the functions its symbol tables name, and where a virtual address
lies in the file (spec.uprobes' addrs are addresses; the kernel attaches
at file offsets). Read with pyelftools, once per file and plan."""

from __future__ import annotations

import os
import struct
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field

from elftools.common.exceptions import ELFError
from elftools.construct import ConstructError
from elftools.elf.elffile import ELFFile

__all__ = ["ElfFunctions", "NotElfError"]

# Symbol types a uprobe can be put on by name (libbpf's elf_find_func_offset
# takes functions and GNU indirect functions).
_FUNCTION_TYPES = frozenset({"STT_FUNC", "STT_GNU_IFUNC"})


_BAD_ELF = (ELFError, ConstructError, struct.error, ValueError, KeyError, IndexError,
            EOFError, UnicodeDecodeError, AssertionError)


def _elsewhere(path: str) -> str:
    """Where this host keeps a library of that file's name, if the dynamic
    linker's cache knows it (policies written for another distribution name
    /lib64/libc.so.6; Debian's is under /usr/lib/<triplet>/)."""
    name = os.path.basename(path)
    if path.startswith("/procRoot/"):
        return (f"; /procRoot is the host's /proc as Tetragon's container mounts it: on the "
                f"host write {path.replace('/procRoot/', '/proc/', 1)}")
    try:
        out = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True, timeout=10,
                             check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return ""
    found = [line.rsplit("=> ", 1)[1].strip() for line in out.splitlines()
             if line.strip().startswith(name + " ") and "=> " in line]
    return f"; this host's {name} is {found[0]}" if found else ""


class NotElfError(ValueError):
    """The path is not an ELF file vigil can read: the message says why."""


@dataclass
class ElfFunctions:
    """One ELF file's defined functions and loadable segments."""

    path: str
    # name -> (address, size): a size of 0 is a symbol that gave none
    functions: Mapping[str, tuple[int, int]] = field(default_factory=dict)
    # (virtual address, size in the file, file offset) of each PT_LOAD segment
    segments: tuple[tuple[int, int, int], ...] = ()

    @classmethod
    def read(cls, path: str) -> ElfFunctions:
        """The file's functions; NotElfError says why it has none to give."""
        try:
            with open(path, "rb") as f:
                elf = ELFFile(f)
                names: dict[str, tuple[int, int]] = {}
                for table in (".symtab", ".dynsym"):
                    section = elf.get_section_by_name(table)
                    if section is None or not hasattr(section, "iter_symbols"):
                        continue
                    for sym in section.iter_symbols():
                        # defined here (an undefined one is another file's)
                        if (sym["st_info"]["type"] in _FUNCTION_TYPES and sym["st_value"]
                                and sym["st_shndx"] != "SHN_UNDEF"):
                            names.setdefault(sym.name, (sym["st_value"], sym["st_size"]))
                segments = tuple(
                    (seg["p_vaddr"], seg["p_filesz"], seg["p_offset"])
                    for seg in elf.iter_segments() if seg["p_type"] == "PT_LOAD")
        except IsADirectoryError:
            raise NotElfError(f"{path} is a directory; a uprobe's path is an executable "
                              "or a shared library") from None
        except FileNotFoundError:
            raise NotElfError(f"{path} does not exist" + _elsewhere(path)) from None
        except OSError as err:
            raise NotElfError(f"{path} cannot be read: {err.strerror or err}") from None
        except _BAD_ELF as err:
            # pyelftools reads what the headers point at: a cut or forged
            # file fails anywhere in it, with any of these.
            raise NotElfError(f"{path} is not an ELF executable or library vigil can read "
                              f"({err or type(err).__name__})") from None
        return cls(path, names, segments)

    def file_offset(self, address: int) -> int:
        """The file offset of virtual `address`; ValueError if no loadable
        segment of the file holds it."""
        for vaddr, size, offset in self.segments:
            if vaddr <= address < vaddr + size:
                return address - vaddr + offset
        raise ValueError(f"address {address:#x} is in none of {os.path.basename(self.path)}'s "
                         "loadable segments (" + ", ".join(
                             f"{v:#x}-{v + n:#x}" for v, n, _ in self.segments) + ")")
