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

from tests.kernel.test_syscall_kprobes import planned_or_skip, plans
from vigil.events.model import KprobeEvent
from vigil.policy.errors import PolicyError
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


def kernel_has_function(name: str) -> bool:
    """Whether kprobes could find `name` here (an exact /proc/kallsyms name)."""
    with open("/proc/kallsyms") as syms:
        return any(line.split()[2:3] == [name] for line in syms)


# Tetragon's example reads load_info at find_module_sections, which Debian's
# 5.10, 6.1 and 6.12 inline into load_module (the example's own comment warns
# of it). mod_sysfs_setup(mod, info, ...) takes the same load_info in the same
# position, later in load_module: after module_sig_check has set sig_ok.
SIGNATURE_HOOK = "mod_sysfs_setup"


@pytest.mark.parametrize("rung", ["kprobe", "fentry"])
def test_a_module_being_loaded_with_its_signature(runtime: tuple[Runtime, Collect],
                                                   rung: str) -> None:
    """load_info with its signature's verdict: Debian signs its modules, and
    its kernels check the signature, so the loader found it good."""
    rt, sink = runtime
    module = dummy_module()
    spec = spec_of(HOST_CHANGES / "monitor-signed-kernel-modules.yaml")
    spec = spec.replace('call: "find_module_sections"', f'call: "{SIGNATURE_HOOK}"')
    for plan in planned_or_skip(spec, rung):
        rt.add_tracepoint(plan)
    ins, _ = insmod_rmmod(module)
    ev, = module_events(rt, sink, {SIGNATURE_HOOK}, 1)
    assert (ev.process.pid, ev.args[-1].key, ev.args[-1].value) == (
        ins, "module_arg", ModuleFields("dummy", True, ()))


@pytest.mark.parametrize("rung", ["kprobe", "fentry"])
def test_the_signed_modules_example_where_find_module_sections_is_inlined(rung: str) -> None:
    """Tetragon's example as it is: it plans where the kernel has
    find_module_sections; where it is inlined, the error names that hook
    (its file position and call) and no other."""
    planned_or_skip(
        "kprobes: [{call: do_init_module, syscall: false, args: [{index: 0, type: module}]}]",
        rung)
    spec = spec_of(HOST_CHANGES / "monitor-signed-kernel-modules.yaml")
    if kernel_has_function("find_module_sections"):
        assert [p.event for p in plans(spec, rung)] == [
            "security_kernel_module_request", "security_kernel_read_file",
            "find_module_sections"]
        return
    with pytest.raises(PolicyError) as err:
        plans(spec, rung)
    issue, = err.value.issues
    assert str(issue).startswith("p.yaml:")
    assert ": spec.kprobes[2].call: kprobe on find_module_sections: " in str(issue)
