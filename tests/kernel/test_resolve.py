"""resolve: BTF field paths on kernel-function arguments: planned from the
running kernel's BTF (the errors on the host too), and walked in the kernel
from a real exec's struct linux_binprm (security_bprm_check) to the exec'ing
task's name, its parent's name, its pid and the file, and through a NULL
pointer to an error_arg (kprobes or fentry: the VM matrix)."""

from __future__ import annotations

import subprocess

import pytest

from tests.kernel.test_syscall_kprobes import PY, kprobe_events, planned_or_skip
from vigil.events.model import FilePath
from vigil.policy import PolicyError, load_text
from vigil.runtime import Runtime
from vigil.sensors.kprobe_compile import compile_kprobes

from .runtime_sink import Collect
from .vigil_runner import EVENT_TIMEOUT

pytestmark = pytest.mark.needs("tracepoint", "ringbuf")

POLICY = """
apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata: {name: resolve}
spec:
  kprobes:
  - call: security_bprm_check
    syscall: false
    args:
    - {index: 0, type: string, resolve: "mm.owner.comm"}
    - {index: 0, type: string, resolve: "mm.owner.real_parent.comm"}
    - {index: 0, type: int, resolve: "mm.owner.pid"}
    - {index: 0, type: file, resolve: "file"}
    - {index: 0, type: uint64, resolve: "interpreter.f_inode.i_ino"}
"""

# A parent named vigil-gp forks a child that names itself vigil-p and execs.
CHILD = """
import ctypes, os
libc = ctypes.CDLL(None)
libc.prctl(15, b"vigil-gp", 0, 0, 0)
pid = os.fork()
if pid == 0:
    libc.prctl(15, b"vigil-p", 0, 0, 0)
    os.execv("/bin/true", ["true"])
os.waitpid(pid, 0)
print(pid, flush=True)
"""


@pytest.mark.parametrize("rung", ("kprobe", "fentry"))
def test_paths_walked_from_an_exec(runtime: tuple[Runtime, Collect], rung: str) -> None:
    rt, sink = runtime
    for plan in planned_or_skip(POLICY.split("spec:\n", 1)[1], rung):
        rt.add_tracepoint(plan)
    out = subprocess.run([PY, "-c", CHILD], capture_output=True, text=True,
                         timeout=EVENT_TIMEOUT, check=True)
    pid = int(out.stdout)
    ev, = kprobe_events(rt, sink, pid, 1)
    comm, parent, task_pid, file, ino = ev.args
    assert (comm.key, comm.value) == ("string_arg", "vigil-p")
    assert (parent.key, parent.value) == ("string_arg", "vigil-gp")
    assert (task_pid.key, task_pid.value) == ("int_arg", pid)
    assert file.key == "file_arg" and isinstance(file.value, FilePath)
    assert file.value.path == "/usr/bin/true"
    # no interpreter at the check: the walk's first load reads address 0 + off
    assert ino.key == "error_arg"


def plan_errors(spec: str) -> list[str]:
    text = POLICY.split("  kprobes:\n", 1)[0] + spec
    out: list[str] = []
    for loaded in load_text(text, "r.yaml"):
        try:
            compile_kprobes(loaded, forced="fentry", feature=lambda name: (True, "assumed"))
        except PolicyError as err:
            out += [str(i).split(": ", 2)[2] for i in err.issues]
    return out


def test_what_does_not_resolve_says_why() -> None:
    """Planning only (the function's BTF, with every kernel feature assumed):
    runs on the host too."""
    assert plan_errors("""
  kprobes:
  - call: security_bprm_check
    syscall: false
    args:
    - {index: 0, type: int, resolve: "mm.owner.comm"}
    - {index: 0, type: string, resolve: "mm.nosuchfield"}
    - {index: 0, type: file, resolve: "mm.owner.comm[16]"}
    - {index: 0, type: path, resolve: "file"}
    - {index: 0, type: uint64, resolve: "mm.owner.pid"}
""") == [
        "type int reads an integer; the path ends at char[16]",
        "struct mm_struct (mm) has no field 'nosuchfield' (from security_bprm_check's "
        "argument 0, struct linux_binprm *)",
        "mm.owner.comm has 16 elements; [16] is past them (from security_bprm_check's "
        "argument 0, struct linux_binprm *)",
        "type path reads a struct path (or a pointer to one); the path ends at struct file *",
        "type uint64 reads 8 bytes; the path ends at pid_t, 4 bytes wide",
    ]
