"""How spec.uprobes is planned (sensors/uprobe_compile.py) and what it
refuses, where, with the kernel's features given; the ELF reader it relies
on (sensors/user_elf.py), fuzzed. The probes themselves run in
tests/kernel/test_uprobes.py."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vigil.policy import PolicyError, load_text
from vigil.sensors.plan import UserTarget
from vigil.sensors.uprobe_compile import compile_uprobes, parse_symbol
from vigil.sensors.user_elf import ElfFunctions, NotElfError

ROOT = Path(__file__).resolve().parents[2]
TARGET = ROOT / "build" / "progs" / "uprobe_target"
# The spec's first line in the policy() text is line 6.
HEAD = "apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\nmetadata:\n  name: u\nspec:\n"


def column(line: str, needle: str) -> int:
    """The 1-based column where `needle` starts in `line`."""
    return line.index(needle) + 1


def every_feature(name: str) -> tuple[bool, str]:
    return True, ""


def compile_text(spec: str, feature=every_feature):  # type: ignore[no-untyped-def]
    loaded, = load_text(HEAD + spec, "p.yaml")
    return compile_uprobes(loaded, feature=feature)


def errors(spec: str, feature=every_feature) -> list[str]:  # type: ignore[no-untyped-def]
    with pytest.raises(PolicyError) as err:
        compile_text(spec, feature)
    return [str(i) for i in err.value.issues]


@pytest.fixture(scope="module")
def target() -> ElfFunctions:
    assert TARGET.is_file(), f"{TARGET} is missing: run `make` (it builds tests/progs/)"
    return ElfFunctions.read(str(TARGET))


def test_symbols_offsets_and_addresses_become_targets(target: ElfFunctions) -> None:
    add, size = target.functions["vigil_add"]
    assert size > 1
    plans = compile_text(f"""\
  uprobes:
  - path: {TARGET}
    symbols: [vigil_add, "vigil_add+1", "vigil_add+{size - 1:#x}"]
    refCtrOffsets: [16, 0, 32]
  - path: {TARGET}
    offsets: [{add}]
  - path: {TARGET}
    addrs: [{add}]
""")
    offset = target.file_offset(add)
    assert [p.call.user for p in plans] == [
        UserTarget(str(TARGET), "vigil_add", "vigil_add", 0, 16),
        UserTarget(str(TARGET), "vigil_add+1", "vigil_add", 1, 0),
        UserTarget(str(TARGET), f"vigil_add+{size - 1:#x}", "vigil_add", size - 1, 32),
        UserTarget(str(TARGET), "", "", add, 0),
        UserTarget(str(TARGET), "", "", offset, 0),
    ]
    assert [p.event for p in plans] == ["vigil_add", "vigil_add+1", f"vigil_add+{size - 1:#x}",
                                        f"{add:#x}", f"{offset:#x}"]
    assert {p.program.kind for p in plans} == {"uprobe"}


def test_a_relative_path_is_made_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          target: ElfFunctions) -> None:
    shutil.copy(TARGET, tmp_path / "t")
    monkeypatch.chdir(tmp_path)
    [plan] = compile_text("  uprobes: [{path: t, symbols: [vigil_fib]}]\n")
    assert plan.call is not None and plan.call.user is not None
    assert plan.call.user.path == str(tmp_path / "t")


def test_errors_name_the_field_and_the_fix(tmp_path: Path, target: ElfFunctions) -> None:
    size = target.functions["vigil_add"][1]
    text = tmp_path / "text"
    text.write_text("#!/bin/sh\n")
    symbols = f'    symbols: [vigil_ad, "vigil_add+{size:#x}", "vigil_add+x", "+4"]'
    bad_number, no_name = '"vigil_add+x', '"+4'
    assert errors(f"""\
  uprobes:
  - path: {TARGET}
{symbols}
""") == [
        f"p.yaml:8:15: spec.uprobes[0].symbols[0]: {TARGET} has no function vigil_ad in its "
        "symbol tables (.symtab, .dynsym); did you mean vigil_add?",
        f"p.yaml:8:25: spec.uprobes[0].symbols[1]: vigil_add+{size:#x}: vigil_add is {size} "
        f"bytes long in {TARGET}; an offset into it is below {size:#x}",
        f"p.yaml:8:{column(symbols, bad_number)}: spec.uprobes[0].symbols[2]: symbol "
        "'vigil_add+x': the offset after + is not a number (write it as name+16 or name+0x10)",
        f"p.yaml:8:{column(symbols, no_name)}: spec.uprobes[0].symbols[3]: symbol '+4' "
        "has no name before its offset",
    ]
    assert errors(f"""\
  uprobes:
  - path: {text}
    symbols: [main]
  - path: {tmp_path}
    symbols: [main]
  - path: /lib64/no-such-lib.so.6
    symbols: [main]
""") == [
        f"p.yaml:7:11: spec.uprobes[0].path: {text} is not an ELF executable or library vigil "
        "can read (Magic number does not match)",
        f"p.yaml:9:11: spec.uprobes[1].path: {tmp_path} is a directory; a uprobe's path is an "
        "executable or a shared library",
        "p.yaml:11:11: spec.uprobes[2].path: /lib64/no-such-lib.so.6 does not exist",
    ]
    assert errors("""\
  uprobes:
  - path: /procRoot/1/root/usr/bin/bash
    symbols: [main]
""") == [
        "p.yaml:7:11: spec.uprobes[0].path: /procRoot/1/root/usr/bin/bash does not exist; "
        "/procRoot is the host's /proc as Tetragon's container mounts it: on the host write "
        "/proc/1/root/usr/bin/bash"]


@pytest.mark.skipif(Path("/lib64/libc.so.6").exists(), reason="this host has /lib64/libc.so.6")
def test_a_library_path_of_another_distribution_names_this_hosts() -> None:
    """uprobe-binaries.yaml names /lib64/libc.so.6 (Fedora's); on Debian the
    error says where libc.so.6 is here, as the dynamic linker finds it."""
    [message] = errors("  uprobes: [{path: /lib64/libc.so.6, symbols: [malloc]}]\n")
    assert re.fullmatch(r"p\.yaml:6:20: spec\.uprobes\[0\]\.path: /lib64/libc\.so\.6 does not "
                        r"exist; this host's libc\.so\.6 is /\S+/libc\.so\.6", message), message


def test_where_and_what_it_reads_is_checked(target: ElfFunctions) -> None:
    """The policy's checks refuse these before any plan (the planner checks
    them again for its own callers)."""
    assert errors(f"""\
  uprobes:
  - path: {TARGET}
    symbols: [vigil_add]
    offsets: [16]
  - path: {TARGET}
    symbols: [vigil_add, vigil_fib]
    refCtrOffsets: [4]
  - path: {TARGET}
    symbols: [vigil_add]
    args: [{{index: 5, type: int}}, {{index: 0, type: file}}]
  - path: {TARGET}
    symbols: [vigil_add]
    return: true
  - path: {TARGET}
    symbols: [vigil_add]
    return: true
    returnArg: {{index: 0, type: string}}
""") == [
        "p.yaml:9:5: spec.uprobes[0].offsets: give one of symbols, offsets or addrs, not "
        "symbols and offsets",
        "p.yaml:12:5: spec.uprobes[1].refCtrOffsets: 1 refCtrOffsets for 2 symbols; give one "
        "per entry of symbols",
        "p.yaml:15:20: spec.uprobes[2].args[0].index: 5 is out of range; a uprobe reads "
        "arguments 0 to 4",
        "p.yaml:15:52: spec.uprobes[2].args[1].type: file is not supported yet (no issue yet)",
        "p.yaml:16:5: spec.uprobes[3].returnArg: return: true needs returnArg, the return "
        "value's type: e.g. 'returnArg: {index: 0, type: int}'",
        "p.yaml:22:33: spec.uprobes[4].returnArg.type: string is not supported yet "
        "(no issue yet)",
    ]
    assert errors(f"""\
  uprobes:
  - path: {TARGET}
    symbols: ["vigil_add+1"]
    return: true
    returnArg: {{index: 0, type: int}}
""") == [
        "p.yaml:8:15: spec.uprobes[0].symbols[0]: return: true takes the return address at "
        "the function's first instruction; a symbol+offset is inside it (probe the symbol "
        "itself for its return)"]


def test_a_kernel_without_uprobes_is_named() -> None:
    assert errors(f"""\
  uprobes:
  - path: {TARGET}
    symbols: [vigil_add]
    return: true
    returnArg: {{index: 0, type: int}}
""", lambda n: (n != "uretprobe", f"no {n} here")) == [
        f"p.yaml:7:5: spec.uprobes[0].path: uprobe on {TARGET}: this kernel cannot attach a "
        "uretprobe (no uretprobe here)"]


def test_an_address_outside_the_file_is_refused(target: ElfFunctions) -> None:
    end = max(v + n for v, n, _ in target.segments)
    [message] = errors(f"  uprobes: [{{path: {TARGET}, addrs: [{end}]}}]\n")

    line = f"  uprobes: [{{path: {TARGET}, addrs: [{end}]}}]"
    assert message.startswith(f"p.yaml:6:{column(line, str(end))}: spec.uprobes[0].addrs[0]: "
                              f"address {end:#x} is in none of uprobe_target's loadable "
                              "segments (0x0-")


def test_elf_functions_of_the_target(target: ElfFunctions) -> None:
    """Defined functions only (the target's own, not libc's it imports), with
    the sizes its symbol table gives; addresses map into the file."""
    assert {"vigil_add", "vigil_fib", "vigil_greet", "vigil_slow", "main"} <= set(
        target.functions)
    assert "printf" not in target.functions and "vigil_semaphore" not in target.functions
    add, size = target.functions["vigil_add"]
    assert size > 0 and target.file_offset(add) >= 0
    with pytest.raises(ValueError, match="loadable segments"):
        target.file_offset(1 << 60)


@pytest.mark.parametrize(("written", "parsed"), [
    ("main", ("main", 0)), ("main+0", ("main", 0)), ("main+16", ("main", 16)),
    ("main+0x10", ("main", 16)), ("main+0o20", ("main", 16)), ("main+0b10000", ("main", 16)),
    ("a.b@GLIBC", ("a.b@GLIBC", 0)),
])
def test_parse_symbol(written: str, parsed: tuple[str, int]) -> None:
    assert parse_symbol(written) == parsed


@pytest.mark.parametrize("bad", ["+1", "main+", "main+-1", "main+ 1", "main+1+2", "main+0x",
                                 "main+1.5", "main+ff"])
def test_parse_symbol_refuses(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_symbol(bad)


@given(st.text(min_size=1).filter(lambda s: "+" not in s), st.integers(0, 1 << 64))
def test_parse_symbol_round_trips(name: str, offset: int) -> None:
    assert parse_symbol(f"{name}+{offset:#x}") == (name, offset)
    assert parse_symbol(f"{name}+{offset}") == (name, offset)
    assert parse_symbol(name) == (name, 0)


@given(st.text())
def test_parse_symbol_never_raises_anything_else(text: str) -> None:
    try:
        name, offset = parse_symbol(text)
    except ValueError:
        return
    assert name and offset >= 0


def _elf_prefix() -> bytes:
    return TARGET.read_bytes()[:4096] if TARGET.is_file() else b"\x7fELF"


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_a_cut_or_corrupted_elf_file_is_a_clear_error(tmp_path_factory: pytest.TempPathFactory,
                                                      data: st.DataObject) -> None:
    """The real file cut anywhere, or with bytes changed anywhere in its
    headers: the reader gives functions or NotElfError, nothing else."""
    whole = TARGET.read_bytes()
    cut = data.draw(st.integers(0, len(whole)))
    body = bytearray(whole[:cut])
    for _ in range(data.draw(st.integers(0, 8))):
        if body:
            at = data.draw(st.integers(0, min(len(body), 4096) - 1))
            body[at] = data.draw(st.integers(0, 255))
    path = tmp_path_factory.mktemp("elf") / "f"
    path.write_bytes(bytes(body))
    try:
        got = ElfFunctions.read(str(path))
    except NotElfError as err:
        assert str(err).startswith(str(path))
        return
    assert all(isinstance(n, str) for n in got.functions)
