"""Pure parsers the probe relies on: /proc/self/mounts and ELF USDT notes."""

from __future__ import annotations

import struct
from pathlib import Path

from vigil.kernel.mounts import BPFFS, TRACEFS, fs_type_at, mounted
from vigil.kernel.usdt_notes import parse_stapsdt, usdt_notes

MOUNTS = """\
sysfs /sys sysfs rw,nosuid 0 0
tracefs /sys/kernel/tracing tracefs rw,relatime 0 0
none /sys/fs/bpf tmpfs rw 0 0
bpf /sys/fs/bpf bpf rw,relatime,mode=700 0 0
tmpfs /mnt/with\\040space tmpfs rw 0 0
"""


def test_fs_type_at_exact_path_last_mount_wins() -> None:
    assert fs_type_at("/sys/kernel/tracing", MOUNTS) == "tracefs"
    assert fs_type_at("/sys/fs/bpf", MOUNTS) == "bpf"
    assert fs_type_at("/mnt/with space", MOUNTS) == "tmpfs"
    assert fs_type_at("/sys/kernel", MOUNTS) is None


def test_mounted_checks_the_type() -> None:
    assert mounted(TRACEFS, MOUNTS)
    assert mounted(BPFFS, MOUNTS)
    assert not mounted(BPFFS, "none /sys/fs/bpf tmpfs rw 0 0\n")


def _note(provider: bytes, name: bytes, args: bytes = b"-4@%edi") -> bytes:
    desc = struct.pack("<QQQ", 0x1000, 0x2000, 0) + provider + b"\0" + name + b"\0" + args + b"\0"
    owner = b"stapsdt\0"
    return struct.pack("<III", len(owner), len(desc), 3) + _pad(owner) + _pad(desc)


def _pad(b: bytes) -> bytes:
    return b + b"\0" * (-len(b) % 4)


def test_parse_stapsdt() -> None:
    data = _note(b"libstdcxx", b"throw") + _note(b"python", b"function__entry")
    notes = parse_stapsdt(data)
    assert notes == [("libstdcxx", "throw"), ("python", "function__entry")]
    assert notes[0].provider == "libstdcxx"
    assert notes[0].name == "throw"


def test_parse_stapsdt_skips_other_notes() -> None:
    gnu = struct.pack("<III", 4, 4, 1) + b"GNU\0" + b"\0\0\0\0"
    assert parse_stapsdt(gnu + _note(b"p", b"n")) == [("p", "n")]


def test_usdt_notes_of_non_elf_is_empty(tmp_path: Path) -> None:
    junk = tmp_path / "junk"
    junk.write_bytes(b"not an elf file at all" * 4)
    assert usdt_notes(str(junk)) == []
    assert usdt_notes(str(tmp_path / "missing")) == []
