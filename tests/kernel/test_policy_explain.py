"""`vigil policy explain` run as a user runs it, on policies with every kind of
argument and selector: the figures it prints are this kernel's (offsets and
sizes from tracefs, memlock from the kernel for the maps the same objects
create here), the selectors are what compiled, and the totals add up."""

from __future__ import annotations

import ctypes
import json
import os
import pty
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from vigil.bpf_objects import object_path
from vigil.kernel.tracefs_format import read_format, tracepoint_dir
from vigil.libbpf import open_object, possible_cpus
from vigil.process.procfs import host_namespaces
from vigil.sensors.base import SHARED_MAPS
from vigil.sensors.plan import HOOK_PROGRAMS
from vigil.wire.records import GenericRecord, Selectors

pytestmark = pytest.mark.needs("tracepoint")

HOOK_MAPS = ("vigil_selectors", "vigil_baseline_now", "vigil_generic_heap", "vigil_sel_str_heap",
             "vigil_sel_strs", "vigil_rate_heap", "vigil_rate_limits", "vigil_override",
             "vigil_call_args", "vigil_cgroup_scope", "vigil_ret_pending",
             "vigil_enforcer_notes", "vigil_sel_values", "tracepoi.rodata")
SHARED = SHARED_MAPS
BUDGET = 256 << 10


def explain(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "vigil", "policy", "explain", *args],
                          capture_output=True, text=True, timeout=300)


def explain_json(*args: str) -> dict[str, Any]:
    done = explain("--json", *args)
    assert done.returncode == 0, done.stdout + done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def memlock(fd: int) -> int:
    """The kernel's own figure, read here independently of vigil's reader."""
    for line in Path(f"/proc/self/fdinfo/{fd}").read_text().splitlines():
        if line.startswith("memlock:"):
            return int(line.split()[1])
    raise AssertionError(f"no memlock in fdinfo of fd {fd}")


def memlocks(obj_name: str, names: tuple[str, ...], sizes: dict[str, int] | None = None
             ) -> dict[str, int]:
    """memlock of each named map of a freshly loaded object (never attached)."""
    with open_object(object_path(obj_name)) as spec:
        for name, entries in (sizes or {}).items():
            spec.maps[name].max_entries = entries
        # As the sensor loads a generic object for a tracefs hook: only its
        # entry point (the others are other program types, some of which
        # cannot load without a target).
        if obj_name.startswith("generic/"):
            for pname, prog in spec.programs.items():
                prog.autoload = pname == HOOK_PROGRAMS["tracepoint"]
        with spec.load() as obj:
            return {n: memlock(obj.maps[n].fd) for n in names}


# Fields by name, so the indexes are this kernel's (common_* fields counted).
OPENAT = read_format("syscalls", "sys_enter_openat")
EXEC = read_format("sched", "sched_process_exec")
SWITCH = read_format("sched", "sched_switch")


def policy_text(name: str, hooks: int = 1) -> str:
    o, e, s = OPENAT.index_of, EXEC.index_of, SWITCH.index_of
    openat = f"""
  - subsystem: syscalls
    event: sys_enter_openat
    args:
    - index: {o("dfd")}
      type: int
    - index: {o("filename")}
      type: string
    - index: {o("flags")}
      type: uint32
    selectors:
    - matchPIDs:
      - operator: NotIn
        values: [1, 2]
      matchArgs:
      - index: {o("filename")}
        operator: Prefix
        values: ["/etc/", "/root/.ssh"]
      - index: {o("dfd")}
        operator: Equal
        values: ["-100"]
      matchActions:
      - action: Signal
        argSig: 10
    - matchArgs:
      - index: {o("flags")}
        operator: Mask
        values: ["0x40"]
      matchActions:
      - action: NoPost"""
    others = f"""
  - subsystem: sched
    event: sched_process_exec
    args:
    - index: {e("filename")}
      type: string
    - index: {e("pid")}
      type: int32
    selectors:
    - matchArgs:
      - index: {e("filename")}
        operator: Postfix
        values: [".sh"]
  - subsystem: sched
    event: sched_switch
    args:
    - index: {s("prev_comm")}
      type: string
    - index: {s("prev_state")}
      type: int64"""
    body = openat + others if hooks == 1 else openat * hooks
    return f"""apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: {name}
spec:
  tracepoints:{body}
"""


# One run of each form serves every test that only reads it: under TCG (the
# kernel matrix) a run of the command takes minutes.
@pytest.fixture(scope="module")
def kinds(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("explain") / "kinds.yaml"
    path.write_text(policy_text("explain-kinds"))
    return path


@pytest.fixture(scope="module")
def kinds_json(kinds: Path) -> dict[str, Any]:
    return explain_json(str(kinds))


@pytest.fixture(scope="module")
def kinds_text(kinds: Path) -> str:
    done = explain(str(kinds))
    assert done.returncode == 0, done.stderr
    return done.stdout


def arg(fmt_field: Any, index: int, size: int, kind: str, type_: str, key: str,
        signed: bool) -> dict[str, Any]:
    return {"index": index, "field": fmt_field.name, "c_type": fmt_field.type_text,
            "offset": fmt_field.offset, "size": size, "field_size": fmt_field.size,
            "kind": kind, "signed": signed, "type": type_, "json_key": key}


def without_read(args: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in a.items() if k not in ("read", "label")} for a in args]


def test_arguments_are_this_kernels_tracefs_layout(kinds_json: dict[str, Any]) -> None:
    got = kinds_json
    (pol,) = got["policies"]
    openat, exec_, switch = pol["hooks"]
    o, e, s = OPENAT.field, EXEC.field, SWITCH.field
    ptr = o("filename").size
    assert without_read(openat["args"]) == [
        arg(o("dfd"), OPENAT.index_of("dfd"), 4, "INT", "int", "int_arg", True),
        arg(o("filename"), OPENAT.index_of("filename"), ptr, "STR_PTR", "string",
            "string_arg", False),
        arg(o("flags"), OPENAT.index_of("flags"), 4, "INT", "uint32", "uint_arg", False),
    ]
    assert without_read(exec_["args"]) == [
        arg(e("filename"), EXEC.index_of("filename"), 4, "STR_DATALOC", "string",
            "string_arg", False),
        arg(e("pid"), EXEC.index_of("pid"), 4, "INT", "int32", "int_arg", True),
    ]
    assert without_read(switch["args"]) == [
        arg(s("prev_comm"), SWITCH.index_of("prev_comm"), 16, "STR_ARRAY", "string",
            "string_arg", False),
        arg(s("prev_state"), SWITCH.index_of("prev_state"), 8, "INT", "int64", "long_arg",
            True),
    ]
    assert [a["read"] for a in openat["args"]] == [
        f"4 of {o('dfd').size} B, signed",
        "pointer to a string (user, else kernel), <=1023 B",
        f"4 of {o('flags').size} B, unsigned"]
    assert [a["read"] for a in switch["args"]] == ["char array in the record, <=16 B",
                                                   "8 B, signed"]
    for hook, tp in zip(pol["hooks"], ("syscalls/sys_enter_openat", "sched/sched_process_exec",
                                        "sched/sched_switch"), strict=True):
        assert hook["target"] == tp
        assert hook["layout_source"] == str(tracepoint_dir(*tp.split("/")) / "format")
        assert hook["program"]["kind"] == "tracepoint"
        assert "BPF_PROG_TYPE_TRACEPOINT" in hook["program"]["reason"]
    assert "every syscall of every process on the host" in openat["hot_path"]
    assert exec_["hot_path"] is None and switch["hot_path"] is None


def test_selectors_are_decoded_from_the_loaded_hook(kinds_json: dict[str, Any]) -> None:
    openat, exec_, switch = kinds_json["policies"][0]["hooks"]
    fd, name, flags = (OPENAT.index_of(n) for n in ("dfd", "filename", "flags"))
    assert openat["selectors"]["text"] == [
        "selectors[0]:",
        "  matchPIDs[0]: pid PID_NOT_IN {1, 2}",
        f'  matchArgs[0]: arg {name} (filename) string PREFIX {{"/etc/", "/root/.ssh"}}',
        f"  matchArgs[1]: arg {fd} (dfd) int signed 4-byte EQ {{-100}}",
        "  matchActions[0]: Signal 10",
        "selectors[1]:",
        f"  matchArgs[0]: arg {flags} (flags) uint32 unsigned 4-byte MASK {{0x40}}",
        "  matchActions[0]: NoPost",
        "string pool: 24 of 8192 bytes used",
    ]
    first, second = openat["selectors"]["selectors"]
    assert first["matchPIDs"] == [{"op": "PID_NOT_IN", "operator": "NotIn", "values": [1, 2]}]
    assert [(a["position"], a["op"], a["values"]) for a in first["matchArgs"]] == [
        (1, "PREFIX", ["/etc/", "/root/.ssh"]), (0, "EQ", [-100])]
    assert first["matchActions"] == [{"action": "Signal", "arg": 10}]
    assert second["matchArgs"][0]["values"] == [0x40]
    assert second["matchActions"] == [{"action": "NoPost", "arg": 0}]
    assert exec_["selectors"]["text"] == [
        "selectors[0]:",
        f'  matchArgs[0]: arg {EXEC.index_of("filename")} (filename) string POSTFIX {{".sh"}}',
        "  no matchActions: Post",
        "string pool: 8 of 8192 bytes used",
    ]
    assert switch["selectors"] == {"selectors": [], "pool_bytes": 0, "pool_capacity": 8192,
                                   "text": ["no selectors: every hit is posted"]}


def test_process_and_task_filters_are_decoded(tmp_path: Path) -> None:
    """matchBinaries (which needs match bits: explain gives placeholders),
    namespace pids, namespaces, capabilities and their changes, as compiled."""
    f = tmp_path / "task.yaml"
    f.write_text("""\
apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata: {name: explain-task}
spec:
  tracepoints:
  - subsystem: syscalls
    event: sys_enter_lseek
    selectors:
    - matchBinaries: [{operator: NotIn, values: [/usr/bin/true]}]
      matchPIDs: [{operator: In, values: [1], isNamespacePID: true}]
      matchNamespaces: [{namespace: Net, operator: In, values: ["4026531840", "7"]}]
      matchCapabilities: [{type: Permitted, operator: NotIn, values: [CAP_CHOWN, CAP_BPF]}]
      matchNamespaceChanges: [{operator: NotIn, values: [Mnt, Uts, Ipc, Pid, Net, Cgroup, Time,
                               TimeForChildren]}]
      matchCapabilityChanges:
      - {type: Effective, operator: In, values: [CAP_SYS_ADMIN], isNamespaceCapability: true}
""")
    (hook,) = explain_json(str(f))["policies"][0]["hooks"]
    user = host_namespaces()["user"]
    assert hook["selectors"]["text"] == [
        "selectors[0]:",
        "  matchPIDs[0]: pid PID_IN {1}",
        "  matchBinaries: match bits {} set, {0} clear (kept per process at exec)",
        "  matchPIDs[0]: in the process's own pid namespace",
        "  matchNamespaces[0]: net In {4026531840, 7}",
        "  matchCapabilities[0]: permitted NotIn {CAP_CHOWN, CAP_BPF}",
        "  matchNamespaceChanges: a change since exec of {pid_for_children, user}",
        "  matchCapabilityChanges[0]: since exec, effective In {CAP_SYS_ADMIN}, never in the "
        f"host's user namespace ({user})",
        "  no matchActions: Post",
        "string pool: 0 of 8192 bytes used",
    ]


def test_memlock_is_what_the_kernel_charges_and_totals_add_up(kinds_json: dict[str, Any]
                                                              ) -> None:
    got = kinds_json
    cpus = possible_cpus()
    assert got["cpus"] == cpus
    # as the sensor sizes them: one cgroup slot for a policy scoped to none
    want_hook = memlocks("generic/tracepoint.bpf.o", HOOK_MAPS, {"vigil_cgroup_scope": 1})
    (pol,) = got["policies"]
    for hook in pol["hooks"]:
        maps = {m["name"]: m for m in hook["maps"]}
        assert tuple(maps) == HOOK_MAPS  # the shared maps are not the hook's
        assert {n: m["memlock"] for n, m in maps.items()} == want_hook
        sel, heap = maps["vigil_selectors"], maps["vigil_generic_heap"]
        assert (sel["type"], sel["key_size"], sel["value_size"], sel["max_entries"],
                sel["percpu"]) == ("array", 4, ctypes.sizeof(Selectors), 1, False)
        assert (heap["type"], heap["value_size"], heap["percpu"]) == (
            "percpu_array", ctypes.sizeof(GenericRecord), True)
        # A per-CPU value is charged once per possible CPU.
        assert heap["memlock"] >= cpus * ctypes.sizeof(GenericRecord)
        (prog,) = hook["programs"]
        assert prog["name"] == "vigil_generic_tp" and prog["memlock"] > 0
        assert prog["memlock"] % os.sysconf("SC_PAGE_SIZE") == 0
        assert hook["memlock"] == sum(want_hook.values()) + prog["memlock"]
    assert pol["memlock"] == sum(h["memlock"] for h in pol["hooks"])
    assert pol["hot_path_hooks"] == [1]  # openat; the sched hooks are not
    want_shared = memlocks("process/process.bpf.o", SHARED)
    assert {m["name"]: m["memlock"] for m in got["shared"]["maps"]} == want_shared
    assert got["shared"]["memlock"] == sum(want_shared.values())
    assert got["memlock"] == got["shared"]["memlock"] + pol["memlock"]
    assert got["issues"] == [] and got["failed"] is False


def test_shared_maps_are_measured_at_the_sizes_given(kinds: Path) -> None:
    got = explain_json("--ringbuf-size-mb", "1", "--exec-map-size", "1024", str(kinds))
    maps = {m["name"]: m for m in got["shared"]["maps"]}
    assert maps["vigil_events"]["max_entries"] == 1 << 20
    assert maps["vigil_execve_map"]["max_entries"] == 1024
    # The seed and baseline tries are sized as the exec map (ProcessSensor.start).
    assert maps["vigil_match_seed"]["max_entries"] == 1024
    assert maps["vigil_task_baseline"]["max_entries"] == 1024
    want = memlocks("process/process.bpf.o", SHARED,
                    {"vigil_events": 1 << 20, "vigil_execve_map": 1024,
                     "vigil_match_seed": 1024, "vigil_task_baseline": 1024})
    assert {n: m["memlock"] for n, m in maps.items()} == want


@pytest.mark.kernel_independent("explain's output and exit codes")
def test_plain_text_when_piped(kinds: Path, kinds_text: str,
                               kinds_json: dict[str, Any]) -> None:
    got = kinds_json
    lines = kinds_text.splitlines()
    (pol,) = got["policies"]
    fd = OPENAT.index_of("dfd")
    assert "\x1b[" not in kinds_text  # no colours into a pipe
    assert lines[0] == f"policy explain-kinds ({kinds})"
    assert "  hook 1: tracepoint syscalls/sys_enter_openat" in lines
    assert f"        matchArgs[1]: arg {fd} (dfd) int signed 4-byte EQ {{-100}}" in lines
    assert sum(line.startswith("    HOT PATH: syscalls/sys_enter_openat") for line in lines) == 1
    for hook in pol["hooks"]:
        assert f"    hook total: {hook['memlock']} B ({hook['memlock'] / 1024:.1f} KiB)" in lines
    assert f"  policy explain-kinds: {pol['memlock']} B ({pol['memlock'] / 1024:.1f} KiB) of " \
        "kernel memory for 3 hooks (under the 256 KiB aim), besides the shared maps; 1 of " \
        "them on a hot path (every syscall pays)" in lines
    assert f"  shared total: {got['shared']['memlock']} B" in " ".join(lines)
    assert lines[-1].startswith(f"total: {got['memlock']} B")


@pytest.mark.kernel_independent("explain's output and exit codes")
def test_rich_output_on_a_terminal(kinds: Path, kinds_json: dict[str, Any]) -> None:
    main, child = pty.openpty()
    chunks = []
    try:
        proc = subprocess.Popen([sys.executable, "-m", "vigil", "policy", "explain", str(kinds)],
                                stdout=child, stderr=subprocess.PIPE, text=True,
                                env={**os.environ, "COLUMNS": "160"})
        os.close(child)
        child = -1
        # Read while it writes: a terminal holds only a few KiB.
        while True:
            try:
                chunk = os.read(main, 65536)
            except OSError:  # EIO: the child side is closed and drained
                break
            if not chunk:
                break
            chunks.append(chunk)
        stderr = proc.stderr.read() if proc.stderr else ""
        returncode = proc.wait(timeout=300)
    finally:
        os.close(main)
        if child >= 0:
            os.close(child)
    out = b"".join(chunks).decode()
    plain = re.sub(r"\x1b\[[0-9;]*m", "", out)
    assert returncode == 0, stderr
    assert "\x1b[" in out  # styled
    assert "hook 1: tracepoint syscalls/sys_enter_openat" in plain
    assert "hot path: syscalls/sys_enter_openat is a syscall tracepoint" in plain
    fd = OPENAT.index_of("dfd")
    assert f"matchArgs[1]: arg {fd} (dfd) int signed 4-byte EQ {{-100}}" in plain
    total = kinds_json["memlock"]
    assert f"total: {total} B" in plain


@pytest.mark.kernel_independent("explain's output and exit codes")
def test_a_reader_that_left_is_no_error(kinds: Path) -> None:
    """`explain FILE | head`: here the reader is gone before the first write."""
    read, write = os.pipe()
    os.close(read)
    try:
        done = subprocess.run([sys.executable, "-m", "vigil", "policy", "explain",
                               str(kinds)], stdout=write, stderr=subprocess.PIPE, text=True,
                              timeout=300)
    finally:
        os.close(write)
    assert (done.returncode, done.stderr) == (0, "")


@pytest.mark.parametrize("hooks", [4, 5])
def test_the_budget_verdict_on_both_sides(tmp_path: Path, hooks: int) -> None:
    """Four openat hooks fit in 256 KiB here, five do not (about 53 KiB each
    on two CPUs); what matters is that the verdict follows the figure."""
    path = tmp_path / "many.yaml"
    path.write_text(policy_text("many", hooks))
    done = explain(str(path))
    assert done.returncode == 0, done.stderr
    (line,) = [x for x in done.stdout.splitlines() if x.startswith("  policy many: ")]
    memlock = int(line.split()[2])
    verdict = "under" if memlock < BUDGET else "OVER"
    assert f"for {hooks} hooks ({verdict} the 256 KiB aim)" in line
    assert len(re.findall(r"^  hook [0-9]+: ", done.stdout, re.M)) == hooks


@pytest.mark.kernel_independent("explain's output and exit codes")
def test_errors_are_validates_and_the_other_files_are_explained(tmp_path: Path,
                                                                kinds: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(policy_text("bad").replace("sys_enter_openat", "sys_enter_opneat", 1))
    done = explain(str(bad), str(kinds))
    assert done.returncode == 1
    first = done.stdout.splitlines()[0]
    assert first.startswith(f"{bad}:8:12: spec.tracepoints[0].event: no tracepoint "
                            "syscalls/sys_enter_opneat")
    assert "did you mean syscalls/sys_enter_openat" in first
    assert f"policy explain-kinds ({kinds})" in done.stdout
    as_json = explain("--json", str(bad), str(kinds))
    assert as_json.returncode == 1
    got = json.loads(as_json.stdout)
    assert got["failed"] is True and got["issues"] == [first]
    assert [p["name"] for p in got["policies"]] == ["explain-kinds"]


@pytest.mark.kernel_independent("explain's output and exit codes")
def test_invalid_and_unreadable_files_exit_1(tmp_path: Path) -> None:
    invalid = tmp_path / "invalid.yaml"
    invalid.write_text("apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\n"
                       "metadata: {name: x}\nspec:\n  tracepoints:\n  - subsystem: sched\n")
    done = explain(str(invalid), str(tmp_path / "absent.yaml"))
    assert done.returncode == 1
    assert done.stdout.splitlines() == [
        f"{invalid}:6:5: spec.tracepoints[0].event: required field is missing; add 'event:' "
        "to spec.tracepoints[0]",
        f"{tmp_path / 'absent.yaml'}: cannot read: No such file or directory",
    ]


@pytest.mark.kernel_independent("explain's output and exit codes")
@pytest.mark.parametrize(("args", "message"), [
    ([], "the following arguments are required: FILE"),
    (["--ringbuf-size-mb", "3", "x.yaml"], "--ringbuf-size-mb must give a power of two"),
    (["--exec-map-size", "0", "x.yaml"], "--exec-map-size must be positive, got 0"),
])
def test_usage_errors_exit_2(args: list[str], message: str) -> None:
    done = explain(*args)
    assert done.returncode == 2
    assert message in done.stderr


# The interpreter lives under /root here, which user nobody cannot read: the
# child imports what explain needs as root, then drops to nobody and runs it.
AS_NOBODY = """
import os, sys
import vigil.cli, vigil.explain.cli, vigil.explain.model, vigil.explain.render, vigil.preflight
import vigil.run, vigil.kernel.cli, vigil.kernel.mounts, vigil.lab.cli, vigil.policy.cli
os.setgid(65534)
os.setuid(65534)
sys.exit(vigil.cli.main(["policy", "explain", *sys.argv[1:]]))
"""


@pytest.mark.kernel_independent("explain's output and exit codes")
def test_not_root_gets_the_preflight_error(kinds: Path) -> None:
    kinds.parent.chmod(0o755)
    kinds.chmod(0o644)
    done = subprocess.run([sys.executable, "-c", AS_NOBODY, str(kinds)], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 1, done.stderr
    assert done.stderr.startswith("vigil: error: vigil needs root to load BPF programs")
    assert done.stdout == ""
