"""module and load_info arguments, through Tetragon's own module policies
(monitor-kernel-modules.yaml, monitor-signed-kernel-modules.yaml): a real
module (the guest kernel's dummy.ko, which has no dependencies and does
nothing until asked) loaded with insmod and removed with rmmod.

The module files come with the guest kernel: the VM matrix copies them where
the guest sees them (VIGIL_TEST_MODULES); elsewhere the running kernel's
/lib/modules is looked in."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path

import pytest

from tests.kernel.test_syscall_kprobes import planned_or_skip
from vigil.events.model import KprobeEvent
from vigil.runtime import Runtime
from vigil.wire.kernel_arg import ModuleFields

from .runtime_sink import Collect
from .vigil_runner import EVENT_TIMEOUT

pytestmark = pytest.mark.needs("tracepoint", "ringbuf")

EXAMPLES = Path(__file__).resolve().parents[3] / "shared" / "tetragon-examples"
HOST_CHANGES = EXAMPLES / "tracingpolicy" / "host-changes"


def dummy_module() -> Path:
    """The running kernel's dummy.ko (or .ko.xz), or a skip saying where it
    was looked for."""
    dirs = [Path(os.environ["VIGIL_TEST_MODULES"])] if "VIGIL_TEST_MODULES" in os.environ else []
    dirs.append(Path("/lib/modules") / platform.release() / "kernel" / "drivers" / "net")
    for d in dirs:
        found = sorted(d.glob("dummy.ko*"))
        if found:
            return found[0]
    pytest.skip(f"no dummy.ko of this kernel in {', '.join(map(str, dirs))}: the VM "
                "matrix copies its guests' (tests/vm/kmatrix.py copy_test_modules)")


def spec_of(example: Path) -> str:
    """The example's spec, as planned_or_skip takes it."""
    text = example.read_text()
    return text.split("spec:\n", 1)[1]


def module_events(rt: Runtime, sink: Collect, functions: set[str], want: int
                  ) -> list[KprobeEvent]:
    import time

    deadline = time.monotonic() + EVENT_TIMEOUT
    while True:
        found = [e for e in sink.events if isinstance(e, KprobeEvent)
                 and e.function_name in functions]
        if len(found) >= want or time.monotonic() > deadline:
            return found
        rt.step(50)


def insmod_rmmod(module: Path) -> tuple[int, int]:
    """Loads the module, then removes it: the pids of insmod and rmmod."""
    loaded = subprocess.run(["lsmod"], capture_output=True, text=True, check=True).stdout
    assert not any(line.split()[:1] == ["dummy"] for line in loaded.splitlines()), \
        "dummy is loaded already: the test needs to load it"
    ins = subprocess.Popen(["insmod", str(module)])
    assert ins.wait(timeout=EVENT_TIMEOUT) == 0
    rm = subprocess.Popen(["rmmod", "dummy"])
    assert rm.wait(timeout=EVENT_TIMEOUT) == 0
    return ins.pid, rm.pid


@pytest.mark.parametrize("rung", ["kprobe", "fentry"])
def test_a_module_loaded_and_removed(runtime: tuple[Runtime, Collect], rung: str) -> None:
    rt, sink = runtime
    module = dummy_module()
    for plan in planned_or_skip(spec_of(HOST_CHANGES / "monitor-kernel-modules.yaml"), rung):
        rt.add_tracepoint(plan)
    ins, rm = insmod_rmmod(module)
    init, free = module_events(rt, sink, {"do_init_module", "free_module"}, 2)
    assert (init.process.pid, init.function_name, init.args[0].key, init.args[0].value) == (
        ins, "do_init_module", "module_arg", ModuleFields("dummy", None, ()))
    assert (free.process.pid, free.function_name, free.args[0].value) == (
        rm, "free_module", ModuleFields("dummy", None, ()))


@pytest.mark.parametrize("rung", ["kprobe", "fentry"])
def test_a_module_being_loaded_with_its_signature(runtime: tuple[Runtime, Collect],
                                                   rung: str) -> None:
    """find_module_sections' load_info: Debian signs its modules, and its
    kernels check the signature, so the loader found it good."""
    rt, sink = runtime
    module = dummy_module()
    spec = spec_of(HOST_CHANGES / "monitor-signed-kernel-modules.yaml")
    for plan in planned_or_skip(spec, rung):
        rt.add_tracepoint(plan)
    ins, _ = insmod_rmmod(module)
    ev, = module_events(rt, sink, {"find_module_sections"}, 1)
    assert (ev.process.pid, ev.args[-1].key, ev.args[-1].value) == (
        ins, "module_arg", ModuleFields("dummy", True, ()))
