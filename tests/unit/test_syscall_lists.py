"""Syscall ids (the generated table and Tetragon's spellings of a list value),
spec.lists resolved, and InMap/NotInMap compiled into the hook's value map.
The kernel side is tests/kernel/test_tracepoint_lists.py."""

from __future__ import annotations

import ctypes
import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vigil.kernel.syscall_table import HEADERS_VERSION, SYSCALLS
from vigil.kernel.syscalls import (
    IS_32BIT,
    SyscallId,
    default_abi,
    generated_syscalls,
    syscall_id,
    syscall_name,
)
from vigil.policy.model import ListSpec
from vigil.sensors.lists import ListError, resolve_lists
from vigil.sensors.plan import ArgPlan
from vigil.sensors.selectors import (
    SEL_MAP_VALUES_MAX,
    ArgFilter,
    SelectorPlan,
    compile_selectors,
    selector_values,
)
from vigil.wire.records import ArgKind, Selectors, SelFlag, SelOp, SelValueKey

ROOT = Path(__file__).resolve().parents[2]
GENERATOR = ROOT / "scripts" / "gen_syscall_table.py"


def test_the_table_has_the_numbers_the_kernels_use() -> None:
    # arch/x86/entry/syscalls/syscall_64.tbl, syscall_32.tbl, include/uapi/asm-generic/unistd.h
    assert [SYSCALLS["x64"][n] for n in ("read", "dup", "dup2", "dup3", "getppid")] == \
        [0, 32, 33, 292, 110]
    assert [SYSCALLS["i386"][n] for n in ("exit", "dup", "dup2", "dup3", "socketcall")] == \
        [1, 41, 63, 330, 102]
    assert [SYSCALLS["arm64"][n] for n in ("io_setup", "dup", "dup3", "openat", "clone3")] == \
        [0, 23, 24, 56, 435]
    # arm64 has no dup2 or open: asm-generic leaves them to the C library
    assert "dup2" not in SYSCALLS["arm64"] and "open" not in SYSCALLS["arm64"]
    # arm64's optional calls are in: renameat, the old rlimits, fstat, memfd_secret
    assert [SYSCALLS["arm64"][n] for n in ("renameat", "getrlimit", "fstat", "memfd_secret")] \
        == [38, 163, 80, 447]
    assert "syscalls" not in SYSCALLS["arm64"] and "arch_specific_syscall" not in SYSCALLS["arm64"]
    assert HEADERS_VERSION.startswith("7.")


def _generator() -> object:
    spec = importlib.util.spec_from_file_location("gen_syscall_table", GENERATOR)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_the_generator_reads_headers_and_resolves_aliases(tmp_path: Path) -> None:
    gen = _generator()
    asm = tmp_path / "x86_64-linux-gnu" / "asm"
    asm.mkdir(parents=True)
    (asm / "unistd_64.h").write_text("#define __NR_read 0\n#define __NR_dup 32\n")
    (asm / "unistd_32.h").write_text("#define __NR_exit 1\n")
    assert gen.x86(tmp_path, "unistd_64.h") == {"read": 0, "dup": 32}  # type: ignore[attr-defined]
    macros = {"fcntl": "3264_fcntl", "3264_fcntl": "25", "syscalls": "463"}
    assert gen._resolve(macros) == {"fcntl": 25}  # type: ignore[attr-defined]
    out = gen.render({"x64": {"dup": 32, "read": 0}}, "9.9")  # type: ignore[attr-defined]
    ns: dict[str, object] = {}
    exec(out, ns)
    assert ns["SYSCALLS"] == {"x64": {"read": 0, "dup": 32}} and ns["HEADERS_VERSION"] == "9.9"


@pytest.mark.skipif(not Path("/usr/include/asm-generic/unistd.h").exists()
                    or shutil.which("clang-19") is None,
                    reason="needs the installed linux-libc-dev and clang-19")
def test_the_generator_on_the_installed_headers_agrees_with_the_table() -> None:
    """The machine's own (older) headers: every call they have has the
    committed table's number."""
    out = subprocess.run([sys.executable, str(GENERATOR), "/usr/include", "local"],
                         check=True, capture_output=True, text=True).stdout
    ns: dict[str, dict[str, dict[str, int]]] = {}
    exec(out, ns)
    for abi, table in ns["SYSCALLS"].items():
        assert table and all(SYSCALLS[abi][n] == nr for n, nr in table.items()), abi


@pytest.mark.parametrize(("value", "want"), [
    ("sys_dup", 32), ("dup", 32), ("__x64_sys_dup", 32), ("x64/sys_dup", 32),
    ("x64/__x64_sys_dup2", 33),
    # another architecture's prefix names its ABI, whatever the machine (arch.CutSyscallPrefix)
    ("__arm64_sys_dup", 23), ("arm64/sys_dup3", 24),
    # 32-bit ABIs carry Tetragon's Is32Bit
    ("__ia32_sys_dup", 41 | IS_32BIT), ("i386/sys_dup", 41 | IS_32BIT),
    ("i386/__x64_sys_dup", 41 | IS_32BIT),  # validateABI lets an amd64 prefix be i386
])
def test_list_values_as_tetragon_reads_them(value: str, want: int) -> None:
    assert syscall_id(value, "x86_64") == want


@pytest.mark.parametrize(("value", "message"), [
    ("sys_nosuch", "x64 has no syscall 'nosuch'"),
    ("__arm64_sys_dup2", "arm64 has no syscall 'dup2'"),
    ("x64/__ia32_sys_dup", "ABI x64 does not go with the prefix of __ia32_sys_dup"),
    ("i386/__arm64_sys_dup", "ABI i386 does not go with the prefix"),
    ("mips/sys_dup", "'mips' is not an ABI"),
    ("arm32/sys_dup", "no syscall table for the arm32 ABI"),
    ("a/b/c", "is not a syscall"),
])
def test_bad_list_values_say_why(value: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        syscall_id(value, "x86_64")


def test_the_machine_chooses_the_default_abi() -> None:
    assert syscall_id("sys_dup", "aarch64") == 23
    assert default_abi("x86_64") == "x64" and default_abi("aarch64") == "arm64"
    with pytest.raises(ValueError, match="x86_64 or aarch64 machine, not riscv64"):
        default_abi("riscv64")


def test_a_syscall64_value_names_its_abi() -> None:
    assert syscall_name(32, "x86_64") == SyscallId(32, "x64")
    assert syscall_name(41 | IS_32BIT, "x86_64") == SyscallId(41, "i386")
    assert syscall_name(23, "aarch64") == SyscallId(23, "arm64")
    assert syscall_name(3 | IS_32BIT, "aarch64") == SyscallId(3, "arm32")
    assert syscall_name((1 << 40) | 5, "x86_64") == SyscallId(5, "x64")  # the id is a uint32


@given(st.sampled_from(sorted(SYSCALLS["x64"])), st.sampled_from(["", "sys_", "__x64_sys_"]))
def test_every_x64_name_round_trips(name: str, prefix: str) -> None:
    if prefix == "" and name.startswith("sys_"):
        return
    nr = syscall_id(prefix + name, "x86_64")
    assert syscall_name(nr, "x86_64") == SyscallId(SYSCALLS["x64"][name], "x64")


@given(st.text(max_size=40))
def test_any_value_is_an_id_or_a_value_error(text: str) -> None:
    try:
        nr = syscall_id(text, "x86_64")
    except ValueError as err:
        assert str(err)
    else:
        assert 0 <= nr < 1 << 32


def test_generated_syscalls_are_the_kernel_functions_there_are() -> None:
    have = {"__x64_sys_dup", "__x64_sys_read", "__x64_sys_notacall", "sys_dup2"}
    assert generated_syscalls(have, "x86_64") == ["__x64_sys_read", "__x64_sys_dup"]


def test_lists_resolve_to_ids_with_the_first_definition_winning() -> None:
    lists = [ListSpec(name="dups", type="syscalls", values=["sys_dup", "__x64_sys_dup2", "dup"]),
             ListSpec(name="calls", values=["vfs_read"]),
             ListSpec(name="dups", type="syscalls", values=["sys_read"]),
             ListSpec(name="all", type="generated_syscalls")]
    got = resolve_lists(lists, machine="x86_64",
                        functions=lambda names: {"__x64_sys_close", "__x64_sys_dup"})
    assert got.values("dups") == (32, 33)  # duplicates once
    assert got.values("all") == (3, 32)
    with pytest.raises(ValueError, match="list 'calls' is not a syscall list"):
        got.values("calls")
    with pytest.raises(KeyError):
        got.values("nosuch")


def test_a_bad_list_value_names_its_path() -> None:
    lists = [ListSpec(name="ok", type="syscalls", values=["sys_dup"]),
             ListSpec(name="bad", type="syscalls", values=["sys_dup", "sys_nosuch"])]
    with pytest.raises(ListError) as err:
        resolve_lists(lists, machine="x86_64", functions=lambda names: set())
    assert err.value.path == ("spec", "lists", 1, "values", 1)
    assert str(err.value) == "list 'bad': 'sys_nosuch': x64 has no syscall 'nosuch'"


# --- InMap / NotInMap compiled ------------------------------------------------------

ID = ArgPlan(index=4, kind=ArgKind.SYSCALL64, offset=8, size=8, tetragon_type="syscall64")
FLAGS = ArgPlan(index=7, kind=ArgKind.INT, offset=32, size=4, tetragon_type="int", signed=True)
BUF = ArgPlan(index=6, kind=ArgKind.CHAR_BUF, offset=24, size=8, tetragon_type="char_buf",
              meta_offset=32, meta_size=8)


def keys(raw: list[bytes]) -> list[tuple[int, int]]:
    return [(k.set, k.value) for k in (SelValueKey.from_buffer_copy(b) for b in raw)]


def test_in_map_filters_name_their_set_and_hold_every_value() -> None:
    sels = (SelectorPlan(args=(ArgFilter(7, "Equal", ("1",)),
                               ArgFilter(4, "InMap", ("5", "3:1", "2", "7", "8", "9")))),
            SelectorPlan(args=(ArgFilter(7, "NotInMap", ("-1", "-2:-3")),)))
    rec = Selectors.from_buffer_copy(compile_selectors(sels, (ID, FLAGS)))
    a = rec.sel[0].args[1]
    assert (a.index, a.op, a.nvalues, a.size, a.flags, a.lo[0]) == (0, SelOp.IN_MAP, 0, 8, 0, 1)
    b = rec.sel[1].args[0]
    assert (b.index, b.op, b.size, b.flags, b.lo[0]) == (1, SelOp.NOT_IN_MAP, 4, SelFlag.SIGNED,
                                                         5)
    # ranges expanded (ends in either order), negatives as the kernel widens them
    m = (1 << 64) - 1
    assert keys(selector_values(sels, (ID, FLAGS))) == [
        (1, 1), (1, 2), (1, 3), (1, 5), (1, 7), (1, 8), (1, 9),
        (5, -3 & m), (5, -2 & m), (5, -1 & m)]


def test_the_hook_holds_at_most_sel_map_values_max() -> None:
    top = SEL_MAP_VALUES_MAX - 1
    ok = (SelectorPlan(args=(ArgFilter(4, "InMap", (f"0:{top}",)),)),)
    assert len(selector_values(ok, (ID,))) == SEL_MAP_VALUES_MAX
    over = (SelectorPlan(args=(ArgFilter(4, "InMap", (f"0:{top}",)),)),
            SelectorPlan(args=(ArgFilter(4, "NotInMap", ("1",)),)))
    with pytest.raises(ValueError, match=f"more than {SEL_MAP_VALUES_MAX} values"):
        selector_values(over, (ID,))
    wide = (SelectorPlan(args=(ArgFilter(4, "InMap", ("0:18446744073709551615",)),)),)
    with pytest.raises(ValueError, match="use InRange for a wide range"):
        selector_values(wide, (ID,))


@pytest.mark.parametrize(("f", "message"), [
    (ArgFilter(7, "InMap", ("2147483648",)), r"out of range for the int argument"),
    (ArgFilter(7, "InMap", ("0x1",)), "not a decimal integer"),
    (ArgFilter(6, "InMap", ("1",)), "InMap filters integer arguments"),
    (ArgFilter(6, "Equal", ("x",)), "filters on char_buf arguments are not supported yet"),
])
def test_bad_in_map_filters(f: ArgFilter, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        compile_selectors((SelectorPlan(args=(f,)),), (ID, BUF, FLAGS))


VALUE = st.integers(-(2**31), 2**31 - 1)


@given(st.lists(st.one_of(VALUE.map(lambda v: (v, v)),
                          st.tuples(VALUE, st.integers(0, 50)).map(
                              lambda t: (t[0], max(-(2**31), min(2**31 - 1, t[0] + t[1]))))),
                min_size=1, max_size=8),
       st.booleans())
def test_in_map_values_are_the_values_and_ranges_written(spans: list[tuple[int, int]],
                                                          swap: bool) -> None:
    texts = tuple(str(a) if a == b else (f"{b}:{a}" if swap else f"{a}:{b}") for a, b in spans)
    want = sorted({v & ((1 << 64) - 1) for a, b in spans for v in range(a, b + 1)})
    sels = (SelectorPlan(args=(ArgFilter(7, "InMap", texts),)),)
    assert keys(selector_values(sels, (FLAGS,))) == [(0, v) for v in want]


def test_the_value_key_is_the_kernels() -> None:
    assert ctypes.sizeof(SelValueKey) == 16
