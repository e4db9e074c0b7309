"""Every program vigil ships stays within the verifier's 512 bytes of stack
along its deepest chain of BPF-to-BPF calls, measured from the objects'
code as the verifier counts it (check_max_stack_depth: each frame's depth
rounded up to 32 bytes, at least 32). This host's 6.18 kernel loads a
kprobe program over the limit that 5.10 and 6.1 refuse, so the limit is
checked here, before the VM matrix: a generic program grew past it once."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from vigil.bpf_objects import object_path

LIMIT = 512
OBJDUMP = shutil.which("llvm-objdump-19") or shutil.which("llvm-objdump")
OBJECTS = ("generic/tracepoint.bpf.o", "generic/struct_args.bpf.o", "generic/enforcer.bpf.o",
           "process/process.bpf.o")

_FUNC = re.compile(r"^[0-9a-f]+ <(\S+)>:")
_STACK = re.compile(r"r10 - 0x([0-9a-f]+)")
_CALL_RELOC = re.compile(r"R_BPF_64_32\s+(\S+)")


def frames(obj: Path) -> tuple[dict[str, int], dict[str, set[str]], dict[str, str]]:
    """Each function's stack depth (its deepest r10 offset), the functions it
    calls, and the section of each program."""
    assert OBJDUMP, "llvm-objdump is missing: run scripts/setup (it installs llvm-19)"
    out = subprocess.run([OBJDUMP, "-d", "-r", "--no-show-raw-insn", str(obj)],
                         capture_output=True, text=True, check=True).stdout
    depth: dict[str, int] = {}
    calls: dict[str, set[str]] = {}
    section: dict[str, str] = {}
    cur, sec, after_call = "", "", False
    for line in out.splitlines():
        if line.startswith("Disassembly of section "):
            sec = line.removeprefix("Disassembly of section ").rstrip(":")
            continue
        m = _FUNC.match(line)
        if m:
            cur = m.group(1)
            depth.setdefault(cur, 0)
            calls.setdefault(cur, set())
            section[cur] = sec
            continue
        if not cur:
            continue
        if after_call:
            reloc = _CALL_RELOC.search(line)
            if reloc:
                calls[cur].add(reloc.group(1))
        after_call = line.rstrip().endswith("call -0x1")
        for n in _STACK.findall(line):
            depth[cur] = max(depth[cur], int(n, 16))
    return depth, calls, section


def deepest(fn: str, depth: dict[str, int], calls: dict[str, set[str]],
            seen: tuple[str, ...] = ()) -> tuple[int, list[str]]:
    """The verifier's combined stack size of fn's deepest chain, and it."""
    own = max(32, -(-max(depth[fn], 1) // 32) * 32)
    below = [deepest(c, depth, calls, (*seen, fn)) for c in calls.get(fn, ())
             if c in depth and c not in seen]
    size, chain = max(below, default=(0, []))
    return own + size, [f"{fn} ({depth[fn]} B)", *chain]


@pytest.mark.parametrize("name", OBJECTS)
def test_every_program_fits_the_verifiers_stack(name: str) -> None:
    depth, calls, section = frames(object_path(name))
    programs = [f for f, sec in section.items() if sec != ".text" and f in depth]
    assert programs, f"no programs found in {name}"
    over = {}
    for prog in programs:
        size, chain = deepest(prog, depth, calls)
        if size > LIMIT:
            over[prog] = (size, " -> ".join(chain))
    assert over == {}


def test_the_measure_sees_calls_and_frames() -> None:
    """The measure itself: the struct-args kprobe program reaches the
    selectors' subprograms, with frames of their own."""
    depth, calls, _ = frames(object_path("generic/struct_args.bpf.o"))
    size, chain = deepest("vigil_generic_kprobe", depth, calls)
    assert len(chain) >= 3 and size > 256, chain
