"""`vigil probe`: which hooks, maps and helpers the running kernel really offers.

Every answer comes from trying: load a tiny program from bpf/probe/, attach
it, trigger it from this process and check that it fired. Kernel version
numbers are never consulted. Every "no" carries the errno name and what it
means here, plus facts measured on the way (a missing tracefs file, the
active LSM list), so a skipped test or a refused policy can say why.

A BPF object fails to load when any autoloaded program fails, so each
feature opens its object afresh with only its own programs autoloaded.

    >>> report = probe_all()
    >>> report.has("fentry"), report.reason("fentry")
"""

from __future__ import annotations

import logging
import os
import platform
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache, partial
from pathlib import Path

from vigil.kernel import mounts
from vigil.kernel.errnos import errno_name, explain
from vigil.kernel.rawbpf import iter_read, libc_getpid
from vigil.kernel.report import FEATURE_NAMES, Feature, KernelInfo, ProbeReport
from vigil.kernel.usdt_notes import usdt_notes
from vigil.libbpf import AttachError, BpfError, Link, LoadError, Object, open_object

__all__ = ["OBJECTS_DIR", "Feature", "ProbeReport", "probe_all", "probe_feature"]

_log = logging.getLogger(__name__)

OBJECTS_DIR = Path(__file__).resolve().parent.parent / "bpf_objects" / "probe"

BTF_PATH = Path("/sys/kernel/btf/vmlinux")
LSM_PATH = Path("/sys/kernel/security/lsm")
LOCKDOWN_PATH = Path("/sys/kernel/security/lockdown")
KPROBE_PMU = Path("/sys/bus/event_source/devices/kprobe")
UPROBE_PMU = Path("/sys/bus/event_source/devices/uprobe")

# bpf_override_return makes getpid(2) return this: far above any pid_max.
OVERRIDE_VALUE = 123456789
# Iterations for bpf_loop and bpf_for.
LOOP_N = 8

# Libraries that commonly carry USDT notes, tried after those already mapped.
_USDT_CANDIDATES = ("libstdc++.so.6", "libc.so.6", "libpython3.11.so.1.0")
# Attach to notes with no semaphore cost and no side effects if they fire.
_USDT_PREFERRED = (("libstdcxx", "throw"), ("libc", "setjmp"))


class _No(Exception):
    """A feature is unavailable: the reason, and optional supporting detail."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail


@dataclass
class _Env:
    """What the probe measured once and every feature check may consult."""

    tgid: int = field(default_factory=os.getpid)
    lsms: tuple[str, ...] | None = None
    lsm_error: str = ""
    tracefs: str = ""


# ---- helpers ------------------------------------------------------------------


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None


def _log_tail(log: str, lines: int = 3) -> str:
    kept = [ln.strip() for ln in log.strip().splitlines() if ln.strip()]
    return " | ".join(kept[-lines:])


def _tracefs_dir() -> Path:
    for p in (Path("/sys/kernel/tracing"), Path("/sys/kernel/debug/tracing")):
        if (p / "events").is_dir():
            return p
    return Path("/sys/kernel/tracing")


def _kprobe_facts() -> str:
    """Why kprobes could not attach, from what the kernel exposes."""
    events = _tracefs_dir() / "kprobe_events"
    if not KPROBE_PMU.exists() and not events.exists():
        return (
            f"{KPROBE_PMU} and {events} absent: kernel built without CONFIG_KPROBES "
            "(or CONFIG_KPROBE_EVENTS)"
        )
    if not KPROBE_PMU.exists():
        return f"{KPROBE_PMU} absent (legacy tracefs kprobe_events only)"
    return ""


def _uprobe_facts() -> str:
    events = _tracefs_dir() / "uprobe_events"
    if not UPROBE_PMU.exists() and not events.exists():
        return (
            f"{UPROBE_PMU} and {events} absent: kernel built without CONFIG_UPROBES "
            "(or CONFIG_UPROBE_EVENTS)"
        )
    return ""


def _btf_has(name: str) -> bool:
    """Whether kernel BTF mentions ``name`` (only used to word a reason)."""
    try:
        return b"\0" + name.encode() + b"\0" in BTF_PATH.read_bytes()
    except OSError:
        return False


def _objects_present() -> str:
    if (OBJECTS_DIR / "features.bpf.o").exists():
        return ""
    return f"probe objects missing in {OBJECTS_DIR}: build them with `make build`"


# ---- the load / attach / trigger cycle -----------------------------------------


@contextmanager
def _loaded(
    stem: str,
    programs: tuple[str, ...],
    kind: str,
    env: _Env,
    rodata: dict[str, int] | None = None,
) -> Iterator[Object]:
    """Open bpf_objects/probe/<stem>.bpf.o with only ``programs`` autoloaded and load it."""
    path = OBJECTS_DIR / f"{stem}.bpf.o"
    if not path.exists():
        raise _No(f"probe object {path} missing: build it with `make build`")
    knobs = {"target_tgid": env.tgid, **(rodata or {})}
    with open_object(str(path)) as spec:
        for name, prog in spec.programs.items():
            prog.autoload = name in programs
        for knob, value in knobs.items():
            spec.set_rodata(knob, value)
        try:
            obj_cm = spec.load()
        except LoadError as e:
            verifier = [
                ln
                for ln in e.verifier_log.splitlines()
                if ln.strip() and not ln.startswith("libbpf:")
            ]
            if verifier:
                detail = _log_tail("\n".join(verifier))
            else:
                detail = "empty verifier log: refused before verification"
            raise _No(f"load refused {explain(kind, 'load', e.errno)}", detail) from e
        except BpfError as e:
            raise _No(f"load failed: {e}") from e
        with obj_cm as obj:
            yield obj


def _attach(kind: str, do: Callable[[], Link], facts: Callable[[], str] | None = None) -> Link:
    """Run an attach call; on failure say why, preferring facts measured on this host."""
    try:
        return do()
    except AttachError as e:
        measured = facts() if facts else ""
        if measured:
            reason = f"attach failed: {errno_name(e.errno)}, {measured}"
        else:
            reason = f"attach failed: {explain(kind, 'attach', e.errno)}"
        raise _No(reason, str(e).split("\n")[0]) from e
    except BpfError as e:
        raise _No(f"attach failed: {e}") from e


def _cell(obj: Object, map_name: str, signed: bool = False) -> int:
    """The one u64/s64 in a probe object's one-entry array map."""
    raw = obj.maps[map_name].lookup(b"\0\0\0\0")
    return int.from_bytes(raw[:8], sys.byteorder, signed=signed)


def _hits(obj: Object) -> int:
    return _cell(obj, "hits")


def _value(obj: Object) -> int:
    return _cell(obj, "value", signed=True)


def _trigger_getpid() -> None:
    os.getpid()


def _trigger_open() -> None:
    os.close(os.open("/dev/null", os.O_RDONLY | os.O_CLOEXEC))


_TRIGGER_TEXT = {_trigger_getpid: "getpid(2)", _trigger_open: "open(2) of /dev/null"}


def _fired(obj: Object, trigger: Callable[[], None]) -> int:
    trigger()
    hits = _hits(obj)
    if not hits:
        raise _No(f"loaded and attached, but did not fire on {_TRIGGER_TEXT[trigger]}")
    return hits


def _ok(what: str, detail: str = "") -> tuple[str, str]:
    return what, detail


# ---- one function per feature ----------------------------------------------------
# Each returns (reason, detail) when available and raises _No otherwise.


def _hook(
    program: str, kind: str, trigger: Callable[[], None], facts: Callable[[], str] | None = None
) -> Callable[[_Env], tuple[str, str]]:
    """A hook kind whose program auto-attaches from its section name."""

    def check(env: _Env) -> tuple[str, str]:
        with _loaded("features", (program,), kind, env) as obj:
            link = _attach(kind, obj.programs[program].attach, facts)
            with link:
                _fired(obj, trigger)
        return _ok(f"loaded, attached, fired on {_TRIGGER_TEXT[trigger]}")

    return check


def _multi_facts() -> str:
    return ("kprobe.multi needs Linux 5.18+ built with CONFIG_FPROBE (it attaches through "
            "ftrace, not kprobes)")


def _probe_kprobe_multi(env: _Env) -> tuple[str, str]:
    with _loaded("features", ("kprobe_multi",), "kprobe_multi", env) as obj:
        prog = obj.programs["kprobe_multi"]
        for retprobe in (False, True):
            before = _hits(obj)
            link = _attach("kprobe_multi", partial(prog.attach_kprobe_multi,
                                                   ["security_file_open"], [7],
                                                   retprobe=retprobe), _multi_facts)
            with link:
                _trigger_open()
            if _hits(obj) == before:
                kind = "kretprobe.multi" if retprobe else "kprobe.multi"
                raise _No(f"{kind} attached, but did not fire on open(2) with its cookie")
    return _ok("kprobe.multi and kretprobe.multi attached and fired on open(2), "
               "each with its cookie")


def _probe_btf(env: _Env) -> tuple[str, str]:
    try:
        size = BTF_PATH.stat().st_size
    except OSError as e:
        raise _No(
            f"{BTF_PATH} absent ({errno_name(e.errno or 0)}): kernel built without "
            "CONFIG_DEBUG_INFO_BTF; CO-RE, tp_btf, fentry/fexit and lsm need it"
        ) from e
    return _ok(f"{BTF_PATH} present", f"{size / 2**20:.1f} MiB")


def _probe_mount(
    fs: mounts.PseudoFs, ensure: Callable[[], str]
) -> Callable[[_Env], tuple[str, str]]:
    def check(env: _Env) -> tuple[str, str]:
        if mounts.mounted(fs):
            return _ok(f"mounted at {fs.path}")
        try:
            ensure()
        except mounts.MountError as e:
            raise _No(str(e)) from e
        return _ok(f"was absent; vigil probe mounted it at {fs.path}")

    return check


def _probe_map_program(stem: str, kind: str) -> Callable[[_Env], tuple[str, str]]:
    """A map type, proven by a tracepoint program using it (value checked per kind)."""

    def check(env: _Env) -> tuple[str, str]:
        with _loaded(stem, (stem,), kind, env) as obj:
            link = _attach(kind, obj.programs[stem].attach)
            with link:
                _fired(obj, _trigger_getpid)
                value = _value(obj)
        if stem == "lpm" and value != 1:
            raise _No("LPM trie created, but a /32 lookup did not match the /8 entry")
        if stem == "perfbuf":
            ret = f"{errno_name(-value)} (no reader open, as expected)" if value < 0 else "0"
            return _ok("map created, bpf_perf_event_output ran", f"returned {ret}")
        if stem == "ringbuf":
            return _ok("map created, reserve/submit succeeded in a tracepoint")
        return _ok("map created, longest-prefix lookup matched")

    return check


def _probe_prog_array(env: _Env) -> tuple[str, str]:
    with _loaded("tailcall", ("tailcall", "tail_target"), "prog_array", env) as obj:
        link = _attach("tracepoint", obj.programs["tailcall"].attach)
        with link:
            _trigger_getpid()
            hits, value = _hits(obj), _value(obj)
    if value == -1:
        raise _No("prog array created, but bpf_tail_call fell through (the jump failed)")
    if not hits:
        raise _No("prog array created, but the tail-called program never ran")
    return _ok("map created, bpf_tail_call jumped to the target program")


def _probe_lsm(env: _Env) -> tuple[str, str]:
    active = ",".join(env.lsms) if env.lsms is not None else None
    try:
        with _loaded("features", ("lsm",), "lsm", env) as obj:
            link = _attach("lsm", obj.programs["lsm"].attach)
            with link:
                _trigger_open()
                hits = _hits(obj)
    except _No as e:
        if env.lsms is not None and "bpf" not in env.lsms:
            e.reason += (
                f"; also 'bpf' is not in {LSM_PATH} (active: {active}): "
                f"add lsm={active},bpf to the kernel command line"
            )
        raise
    if env.lsms is not None and "bpf" not in env.lsms:
        raise _No(
            f"BPF LSM programs load and attach but 'bpf' is not in {LSM_PATH} "
            f"(active: {active}): add lsm={active},bpf to the kernel command line",
        )
    if not hits:
        why = f"; {env.lsm_error}" if env.lsm_error else ""
        raise _No(f"loaded and attached, but did not fire on open(2) of /dev/null{why}")
    return _ok("loaded, attached, fired on open(2); 'bpf' is an active LSM", f"LSMs: {active}")


def _libc_path() -> str:
    maps = _read(Path("/proc/self/maps")) or ""
    for line in maps.splitlines():
        parts = line.split()
        if len(parts) >= 6 and Path(parts[5]).name.startswith(("libc.so", "libc-")):
            return parts[5]
    raise _No("libc is not mapped in this process (static Python?): nothing to uprobe")


def _probe_uprobe(retprobe: bool) -> Callable[[_Env], tuple[str, str]]:
    name = "uretprobe_getpid" if retprobe else "uprobe_getpid"
    kind = "uretprobe" if retprobe else "uprobe"

    def check(env: _Env) -> tuple[str, str]:
        libc = _libc_path()
        with _loaded("features", (name,), kind, env) as obj:
            prog = obj.programs[name]
            link = _attach(
                kind,
                lambda: prog.attach_uprobe(libc, "getpid", pid=env.tgid, retprobe=retprobe),
                _uprobe_facts,
            )
            with link:
                _fired(obj, _trigger_getpid)
        return _ok(f"attached to getpid in {libc}, fired")

    return check


def _usdt_target() -> tuple[str, str, str]:
    """(library path, provider, name) of a USDT note, mapping the library into this process."""
    import ctypes

    maps = _read(Path("/proc/self/maps")) or ""
    paths: list[str] = []
    for line in maps.splitlines():
        parts = line.split()
        if len(parts) >= 6 and parts[5].startswith("/") and parts[5] not in paths:
            paths.append(parts[5])
    for lib in _USDT_CANDIDATES:
        for d in ("/usr/lib/x86_64-linux-gnu", "/lib/x86_64-linux-gnu", "/usr/lib64", "/usr/lib"):
            p = str(Path(d) / lib)
            if Path(p).exists() and p not in paths:
                paths.append(p)
    for path in paths:
        notes = usdt_notes(path)
        if not notes:
            continue
        pick = next((n for n in notes if tuple(n) in _USDT_PREFERRED), notes[0])
        # libbpf needs the library mapped in the target process on kernels without
        # BPF cookies; loading it is harmless and keeps the pid filter working.
        ctypes.CDLL(path)
        return path, pick.provider, pick.name
    raise _No(
        "no library with USDT notes (.note.stapsdt) found on this host to attach to "
        f"(looked in {len(paths)} files); the kernel side needs only uprobes"
    )


def _probe_usdt(env: _Env) -> tuple[str, str]:
    path, provider, name = _usdt_target()
    with _loaded("usdt", ("usdt_note",), "usdt", env, rodata={}) as obj:
        prog = obj.programs["usdt_note"]
        has_maps = "__bpf_usdt_specs" in obj.maps
        try:
            link = _attach(
                "usdt",
                lambda: prog.attach_usdt(path, provider, name, pid=env.tgid),
                _uprobe_facts,
            )
        except _No as e:
            if not has_maps:
                e.reason = (
                    "attach failed: ESRCH, the probe object lacks libbpf's USDT maps: the BPF "
                    "build could not include bpf/usdt.bpf.h (add the multiarch include dir, "
                    "-I/usr/include/$(gcc -dumpmachine), to BPF_CFLAGS and rebuild)"
                )
            raise
        with link:
            pass
    return _ok(
        f"attached to {provider}:{name} in {path}",
        "not triggered: firing that note needs a C++ throw; attach proves the kernel side",
    )


def _probe_iter(env: _Env) -> tuple[str, str]:
    with _loaded("features", ("iter_task",), "iter_task", env) as obj:
        link = _attach("iter_task", obj.programs["iter_task"].attach)
        with link:
            try:
                iter_read(link.fd)
            except OSError as e:
                raise _No(f"attached, but reading the iterator failed: {e}") from e
            tasks = _hits(obj)
    if not tasks:
        raise _No("attached and read, but the iterator program never ran")
    return _ok("attached and read", f"visited {tasks - 1} tasks")


def _probe_send_signal(env: _Env) -> tuple[str, str]:
    with _loaded("features", ("send_signal",), "send_signal", env) as obj:
        link = _attach("tracepoint", obj.programs["send_signal"].attach)
        with link:
            _fired(obj, _trigger_getpid)
            ret = _value(obj)
    if ret:
        raise _No(f"helper loaded but returned {errno_name(-ret)} when run")
    return _ok("helper ran in a tracepoint and returned 0", "signal 0: permission check only")


def _probe_task_under_cgroup(env: _Env) -> tuple[str, str]:
    root = mounts.cgroup2_mount()
    if root is None:
        raise _No("no cgroup v2 hierarchy is mounted (mount -t cgroup2 none /sys/fs/cgroup)")
    with _loaded("cgroup", ("task_under_cgroup",), "task_under_cgroup", env) as obj:
        fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
        try:
            obj.maps["scope"].update(bytes(4), fd.to_bytes(4, "little"))
        except BpfError as e:
            raise _No(f"a cgroup array refused the cgroup v2 root {root}: {e}") from e
        finally:
            os.close(fd)
        link = _attach("tracepoint", obj.programs["task_under_cgroup"].attach)
        with link:
            _fired(obj, _trigger_getpid)
            ret = _value(obj)
    if ret != 1:
        raise _No(f"the helper returned {ret if ret >= 0 else errno_name(-ret)} for the "
                  f"cgroup v2 root {root}, which every task is under (expected 1)")
    return _ok("helper ran in a tracepoint: the task is under the cgroup v2 root",
               f"root {root}")


def _probe_override(env: _Env) -> tuple[str, str]:
    rodata = {"target_tid": threading.get_native_id(), "override_value": OVERRIDE_VALUE}
    with _loaded("features", ("override_return",), "override_return", env, rodata) as obj:
        try:
            link = _attach("kprobe", obj.programs["override_return"].attach, _kprobe_facts)
        except _No as e:
            e.reason = (
                f"the helper loads (CONFIG_BPF_KPROBE_OVERRIDE=y) but needs a kprobe: {e.reason}"
            )
            raise
        with link:
            got = libc_getpid()
    if got != OVERRIDE_VALUE:
        raise _No(f"kprobe attached but getpid(2) returned {got}, not the overridden value")
    return _ok("getpid(2) returned the value the kprobe set")


def _override_load_reason(e: _No) -> _No:
    if "EINVAL" in e.reason:
        e.reason = (
            "load refused EINVAL: bpf_override_return is unknown to this kernel: "
            "built without CONFIG_BPF_KPROBE_OVERRIDE (it also needs a working kprobe)"
        )
    return e


def _probe_override_return(env: _Env) -> tuple[str, str]:
    try:
        return _probe_override(env)
    except _No as e:
        if e.reason.startswith("load refused"):
            raise _override_load_reason(e) from None
        raise


def _probe_bpf_loop(env: _Env) -> tuple[str, str]:
    try:
        with _loaded("features", ("loop",), "bpf_loop", env, {"loop_n": LOOP_N}) as obj:
            link = _attach("tracepoint", obj.programs["loop"].attach)
            with link:
                _fired(obj, _trigger_getpid)
                n = _value(obj)
    except _No as e:
        if not _btf_has("BPF_FUNC_loop"):
            e.reason = (
                "bpf_loop is not a helper of this kernel (BPF_FUNC_loop is missing from "
                f"enum bpf_func_id in its BTF): {e.reason}"
            )
        raise
    if n != LOOP_N:
        raise _No(f"bpf_loop ran its callback {n} times, expected {LOOP_N}")
    return _ok(f"ran its callback {LOOP_N} times")


def _probe_bpf_for(env: _Env) -> tuple[str, str]:
    try:
        with _loaded("bpf_for", ("bpf_for",), "bpf_for", env, {"loop_n": LOOP_N}) as obj:
            link = _attach("tracepoint", obj.programs["bpf_for"].attach)
            with link:
                _fired(obj, _trigger_getpid)
                total = _value(obj)
    except _No as e:
        if not _btf_has("bpf_iter_num_new"):
            e.reason = (
                "no bpf_iter_num_new/next/destroy kfuncs in kernel BTF, so no open-coded "
                f"iterators (bpf_for): {e.reason}"
            )
        raise
    if total != sum(range(LOOP_N)):
        raise _No(f"bpf_iter_num summed {total}, expected {sum(range(LOOP_N))}")
    return _ok("bpf_iter_num_new/next/destroy kfuncs iterated")


_CHECKS: dict[str, Callable[[_Env], tuple[str, str]]] = {
    "btf": _probe_btf,
    "tracefs": _probe_mount(mounts.TRACEFS, mounts.ensure_tracefs),
    "bpffs": _probe_mount(mounts.BPFFS, mounts.ensure_bpffs),
    "securityfs": _probe_mount(mounts.SECURITYFS, mounts.ensure_securityfs),
    "ringbuf": _probe_map_program("ringbuf", "ringbuf"),
    "perf_event_array": _probe_map_program("perfbuf", "perf_event_array"),
    "lpm_trie": _probe_map_program("lpm", "lpm_trie"),
    "prog_array": _probe_prog_array,
    "tracepoint": _hook("tracepoint", "tracepoint", _trigger_getpid),
    "raw_tracepoint": _hook("raw_tracepoint", "raw_tracepoint", _trigger_getpid),
    "tp_btf": _hook("tp_btf", "tp_btf", _trigger_getpid),
    "kprobe": _hook("kprobe", "kprobe", _trigger_open, _kprobe_facts),
    "kretprobe": _hook("kretprobe", "kretprobe", _trigger_open, _kprobe_facts),
    "kprobe_multi": _probe_kprobe_multi,
    "fentry": _hook("fentry", "fentry", _trigger_open),
    "fexit": _hook("fexit", "fexit", _trigger_open),
    "fmod_ret": _hook("fmod_ret", "fmod_ret", _trigger_open),
    "lsm": _probe_lsm,
    "uprobe": _probe_uprobe(retprobe=False),
    "uretprobe": _probe_uprobe(retprobe=True),
    "usdt": _probe_usdt,
    "iter_task": _probe_iter,
    "send_signal": _probe_send_signal,
    "override_return": _probe_override_return,
    "bpf_loop": _probe_bpf_loop,
    "bpf_for": _probe_bpf_for,
    "task_under_cgroup": _probe_task_under_cgroup,
}
assert list(_CHECKS) == list(FEATURE_NAMES)

# Probed first and in order: later probes rely on these mounts.
_SETUP = ("btf", "tracefs", "bpffs", "securityfs")
# Threads probing at once; kernel waits dominate, so more than the CPU count helps.
_WORKERS = 4


# ---- kernel facts ----------------------------------------------------------------


def parse_lockdown(text: str | None) -> str:
    """'none [integrity] confidentiality' -> 'integrity'."""
    if not text:
        return "unknown"
    for word in text.split():
        if word.startswith("[") and word.endswith("]"):
            return word[1:-1]
    return "unknown"


def _kernel_info(env: _Env) -> KernelInfo:
    u = platform.uname()
    return KernelInfo(
        release=u.release,
        version=u.version,
        machine=u.machine,
        lockdown=parse_lockdown(_read(LOCKDOWN_PATH)),
        lsms=env.lsms or (),
    )


def _read_lsms(env: _Env) -> None:
    if not mounts.mounted(mounts.SECURITYFS):
        try:
            mounts.ensure_securityfs()
        except mounts.MountError as e:
            env.lsm_error = f"active LSM list unknown: {e}"
            return
    text = _read(LSM_PATH)
    if text is None:
        env.lsm_error = f"active LSM list unknown: {LSM_PATH} unreadable"
        return
    env.lsms = tuple(x for x in text.strip().split(",") if x)


# ---- entry points ------------------------------------------------------------------


class _QuietThreads(logging.Filter):
    """Drops the records logged by the probing threads: libbpf's expected failures."""

    def __init__(self) -> None:
        super().__init__()
        self.idents: set[int] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        return record.thread not in self.idents


@contextmanager
def _quiet_libbpf() -> Iterator[_QuietThreads]:
    """Keep libbpf's messages about refused probes off stderr while probing.

    Every refusal the probe provokes is reported, with its reason, in the
    Feature; libbpf's own warnings about it would only alarm. Each result is
    logged at DEBUG on "vigil.kernel.probe" instead.
    """
    logger = logging.getLogger("vigil.libbpf")
    quiet = _QuietThreads()
    logger.addFilter(quiet)
    try:
        yield quiet
    finally:
        logger.removeFilter(quiet)


def _run_check(name: str, env: _Env, quiet: _QuietThreads) -> Feature:
    quiet.idents.add(threading.get_ident())
    feature = _run_check_loud(name, env)
    _log.debug("%s: %s (%s) %s", name, feature.available, feature.reason, feature.detail)
    return feature


def _run_check_loud(name: str, env: _Env) -> Feature:
    try:
        reason, detail = _CHECKS[name](env)
        return Feature(name, True, reason, detail)
    except _No as e:
        return Feature(name, False, e.reason, e.detail)
    except OSError as e:
        return Feature(name, False, f"{errno_name(e.errno or 0)}: {e}")
    except Exception as e:  # the binding's errors, e.g. LibbpfMissingError
        return Feature(name, False, f"{type(e).__name__}: {e}")


def probe_feature(name: str) -> Feature:
    """Probe a single feature, uncached. Raises KeyError for unknown names."""
    if name not in _CHECKS:
        raise KeyError(f"unknown feature {name!r}; known: {', '.join(_CHECKS)}")
    env = _Env()
    with _quiet_libbpf() as quiet:
        _read_lsms(env)
        return _run_check(name, env, quiet)


def _probe_uncached() -> ProbeReport:
    start = time.monotonic()
    env = _Env()
    features: dict[str, Feature] = {}
    with _quiet_libbpf() as quiet:
        # Mounts first: tracepoint attach reads tracefs, the LSM list lives in securityfs.
        for name in _SETUP:
            features[name] = _run_check(name, env, quiet)
        _read_lsms(env)
        rest = [name for name in _CHECKS if name not in _SETUP]
        missing = _objects_present()
        if missing:
            features.update({name: Feature(name, False, missing) for name in rest})
        else:
            # Most of a probe's time is the kernel's (attach, detach, RCU grace
            # periods) with the GIL released in libbpf, so probes overlap well.
            # Each counts only its own trigger's effect, so they cannot disturb
            # each other: hits are per object, override_return is per thread.
            with ThreadPoolExecutor(_WORKERS, thread_name_prefix="vigil-probe") as pool:
                futures = {name: pool.submit(_run_check, name, env, quiet) for name in rest}
            features.update({name: futures[name].result() for name in rest})
    return ProbeReport(_kernel_info(env), features, time.monotonic() - start)


@lru_cache(maxsize=4)
def _probe_for_pid(pid: int) -> ProbeReport:
    return _probe_uncached()


def probe_all(*, refresh: bool = False) -> ProbeReport:
    """Probe every feature once per process (cached); ``refresh`` probes again."""
    if refresh:
        _probe_for_pid.cache_clear()
    return _probe_for_pid(os.getpid())


if __name__ == "__main__":  # pragma: no cover - debugging aid
    for f in probe_all().features.values():
        print(f"{f.name:18} {'yes' if f.available else 'no ':3} {f.reason}  {f.detail}")
