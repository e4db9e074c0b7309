"""matchBinaries (with followChildren), matchPIDs followForks and rateLimit,
evaluated in the kernel through match bits (sensors/match_bits.py).

The hook is sys_enter_exit_group, which every process calls once as it ends:
a child's event says its process matched when it ended. Children are copies
of small system binaries under the test's directory, so their paths are the
test's own; a child is waited for before its events are read, so its record
is in the ring buffer by then (no time window).
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest

from vigil.events.model import TracepointEvent
from vigil.runtime import Runtime
from vigil.sensors.generic_tracepoint import TracepointSensor
from vigil.sensors.plan import TracepointHookPlan
from vigil.sensors.selectors import ActionPlan, BinaryFilter, PidFilter, SelectorPlan

from .runtime_sink import Collect
from .test_tracepoint_selectors import LSEEK, Child, drain

pytestmark = pytest.mark.needs("tracepoint", "ringbuf")

POLICY = "bin-test"


def copy(src: str, dst: Path) -> str:
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(src, dst)
    return str(dst)


def on_exit(rt: Runtime, selectors: Sequence[SelectorPlan]) -> TracepointSensor:
    return rt.add_tracepoint(TracepointHookPlan(
        policy_name=POLICY, subsys="syscalls", event="sys_enter_exit_group",
        selectors=tuple(selectors)))


def run(*argv: str) -> None:
    subprocess.run(list(argv), capture_output=True, timeout=60, check=True)


def spawn(*argv: str) -> subprocess.Popen[str]:
    return subprocess.Popen(list(argv), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def ended(rt: Runtime, sink: Collect) -> list[tuple[str, int]]:
    """(binary, pid) of every process the hook saw end, in order."""
    drain(rt)
    return [(e.process.binary, e.process.pid) for e in sink.events
            if isinstance(e, TracepointEvent) and e.policy_name == POLICY]


def binaries(rt: Runtime, sink: Collect, mine: set[str]) -> list[str]:
    return [b for b, _ in ended(rt, sink) if b in mine]


def test_in_matches_the_executed_file_exactly(runtime: tuple[Runtime, Collect],
                                              tmp_path: Path) -> None:
    rt, sink = runtime
    a, b = copy("/bin/true", tmp_path / "true-a"), copy("/bin/true", tmp_path / "true-b")
    link = tmp_path / "link-to-a"
    link.symlink_to(a)
    on_exit(rt, [SelectorPlan(binaries=(BinaryFilter("In", (a, a + "-not")),))])
    for argv in ([a], [b], [a], [str(link)], [b]):
        run(*argv)
    # The symlink ran the file it names, and matched as that file; the
    # event names the binary as it was run (Tetragon's process.binary).
    assert [b_ for b_, _ in ended(rt, sink)] == [a, a, str(link)]


def test_a_path_spelling_is_not_the_file(runtime: tuple[Runtime, Collect],
                                         tmp_path: Path) -> None:
    rt, sink = runtime
    a = copy("/bin/true", tmp_path / "true-a")
    link = tmp_path / "link-to-a"
    link.symlink_to(a)
    seen = copy("/bin/true", tmp_path / "true-seen")  # proves the hook sees exits
    on_exit(rt, [SelectorPlan(binaries=(BinaryFilter("In", (str(link),)),)),
                 SelectorPlan(binaries=(BinaryFilter("In", (seen,)),))])
    run(str(link))
    run(a)
    run(seen)
    assert [b_ for b_, _ in ended(rt, sink)] == [seen]


def test_not_in_matches_every_other_file(runtime: tuple[Runtime, Collect],
                                         tmp_path: Path) -> None:
    rt, sink = runtime
    a, b = copy("/bin/true", tmp_path / "true-a"), copy("/bin/true", tmp_path / "true-b")
    on_exit(rt, [SelectorPlan(binaries=(BinaryFilter("NotIn", (a,)),))])
    for argv in ([a], [b], [a], [b]):
        run(*argv)
    assert binaries(rt, sink, {a, b}) == [b, b]


@pytest.mark.parametrize(("op", "value", "want"), [
    ("Prefix", "pre/", ["pre/true", "pre/deeper/true"]),
    ("NotPrefix", "pre/", ["post/true-z"]),
    ("Postfix", "-z", ["post/true-z"]),
    ("NotPostfix", "-z", ["pre/true", "pre/deeper/true"]),
])
def test_prefix_and_postfix(runtime: tuple[Runtime, Collect], tmp_path: Path, op: str,
                            value: str, want: list[str]) -> None:
    rt, sink = runtime
    files = [copy("/bin/true", tmp_path / rel) for rel in ("pre/true", "pre/deeper/true",
                                                            "post/true-z")]
    full = f"{tmp_path}/{value}" if value.endswith("/") else value
    on_exit(rt, [SelectorPlan(binaries=(BinaryFilter(op, (full,)),))])
    for f in files:
        run(f)
    assert binaries(rt, sink, set(files)) == [f"{tmp_path}/{w}" for w in want]


def test_a_path_longer_than_the_key(runtime: tuple[Runtime, Collect], tmp_path: Path) -> None:
    """The kernel keys 256 bytes: a long path still matches on its first bytes
    (Prefix) and its last (Postfix), never exactly on a 255-byte cut."""
    rt, sink = runtime
    deep = tmp_path
    while len(str(deep)) < 300:
        deep = deep / ("d" * 40)
    f = copy("/bin/true", deep / "true-long")
    on_exit(rt, [SelectorPlan(binaries=(BinaryFilter("In", (f[:255],)),)),
                 SelectorPlan(binaries=(BinaryFilter("Prefix", (str(tmp_path) + "/ddd",)),),
                              actions=(ActionPlan("Post"),)),
                 SelectorPlan(binaries=(BinaryFilter("Postfix", ("/true-long",)),))])
    run(f)
    assert binaries(rt, sink, {f}) == [f]


def path_of_length(root: Path, length: int, name: str) -> Path:
    """A path of exactly `length` bytes under root, ending in `name`."""
    p = root
    while len(str(p / name)) < length:
        room = length - len(str(p / name)) - 1
        p = p / ("d" * max(1, min(200, room)))
    assert len(str(p / name)) == length, (p, length)
    return p / name


@pytest.mark.parametrize(("length", "matched"), [(255, True), (256, False)])
def test_an_exact_path_at_the_key_limit(runtime: tuple[Runtime, Collect], tmp_path: Path,
                                        length: int, matched: bool) -> None:
    """In keys the path and its NUL in 256 bytes: 255 bytes match exactly; 256
    never do (Tetragon's limit too), though Prefix still sees them."""
    rt, sink = runtime
    f = copy("/bin/true", path_of_length(tmp_path, length, "true-edge"))
    exact = str(f) if length <= 255 else str(f)[:255]
    on_exit(rt, [SelectorPlan(binaries=(BinaryFilter("In", (exact,)),)),
                 SelectorPlan(binaries=(BinaryFilter("Prefix", (str(f)[:-1],)),),
                              actions=(ActionPlan("Post", rate_limit="1h",
                                                  rate_limit_scope="global"),))])
    run(f)
    run(f)
    # Each exit: matched by In (every run), or else by the rate-limited Prefix once.
    assert binaries(rt, sink, {str(f)}) == ([str(f)] * 2 if matched else [str(f)])


def test_follow_children(runtime: tuple[Runtime, Collect], tmp_path: Path) -> None:
    rt, sink = runtime
    sh = copy("/bin/dash", tmp_path / "sh-parent")
    kid = copy("/bin/true", tmp_path / "true-kid")
    script = f"{kid}; {kid}; exit 0"
    on_exit(rt, [SelectorPlan(binaries=(BinaryFilter("In", (sh,), follow_children=True),))])
    run(sh, "-c", script)
    run(kid)  # not a child of sh-parent
    assert binaries(rt, sink, {sh, kid}) == [kid, kid, sh]


def test_without_follow_children_only_the_binary(runtime: tuple[Runtime, Collect],
                                                 tmp_path: Path) -> None:
    rt, sink = runtime
    sh = copy("/bin/dash", tmp_path / "sh-parent")
    kid = copy("/bin/true", tmp_path / "true-kid")
    on_exit(rt, [SelectorPlan(binaries=(BinaryFilter("In", (sh,)),))])
    run(sh, "-c", f"{kid}; {kid}; exit 0")
    assert binaries(rt, sink, {sh, kid}) == [sh]


def test_processes_running_before_the_policy_are_matched(runtime: tuple[Runtime, Collect],
                                                         tmp_path: Path) -> None:
    """A process started before the hook, and its later children (followChildren),
    get their bits from user space: seeded from the process cache."""
    rt, sink = runtime
    cat = copy("/bin/cat", tmp_path / "cat-early")
    sh = copy("/bin/dash", tmp_path / "sh-early")
    kid = copy("/bin/true", tmp_path / "true-late")
    early_cat = spawn(cat)
    early_sh = spawn(sh, "-c", f"read x; {kid}; {kid}; exit 0")
    rt.step(0)
    on_exit(rt, [SelectorPlan(binaries=(BinaryFilter("In", (cat,)),)),
                 SelectorPlan(binaries=(BinaryFilter("In", (sh,), follow_children=True),))])
    early_cat.communicate("", timeout=30)
    early_sh.communicate("go\n", timeout=30)
    assert early_cat.returncode == 0 and early_sh.returncode == 0
    got = binaries(rt, sink, {cat, sh, kid})
    assert sorted(got) == sorted([cat, kid, kid, sh])


def test_a_freed_bit_forgets_its_processes(runtime: tuple[Runtime, Collect],
                                           tmp_path: Path) -> None:
    rt, sink = runtime
    cat = copy("/bin/cat", tmp_path / "cat-seeded")
    other = copy("/bin/true", tmp_path / "true-other")
    early = spawn(cat)
    rt.step(0)
    first = on_exit(rt, [SelectorPlan(binaries=(BinaryFilter("In", (cat,)),))])
    rt.remove_tracepoint(first)
    # The same bit, now meaning another file: the seeded cat must not match.
    second = on_exit(rt, [SelectorPlan(binaries=(BinaryFilter("In", (other,)),))])
    assert second.match_bits == first.match_bits
    early.communicate("", timeout=30)
    run(other)
    assert binaries(rt, sink, {cat, other}) == [other]


def test_follow_forks(runtime: tuple[Runtime, Collect], tmp_path: Path) -> None:
    rt, sink = runtime
    sh = copy("/bin/dash", tmp_path / "sh-root")
    kid = copy("/bin/true", tmp_path / "true-kid")
    followed = spawn(sh, "-c", f"read x; {kid}; {kid}; exit 0")
    alone = spawn(sh, "-c", f"read x; {kid}; exit 0")
    rt.step(0)
    on_exit(rt, [
        SelectorPlan(pids=(PidFilter("In", (followed.pid,), follow_forks=True),)),
        SelectorPlan(pids=(PidFilter("In", (alone.pid,)),)),
    ])
    for p in (followed, alone):
        p.communicate("go\n", timeout=30)
    got = [(b, pid) for b, pid in ended(rt, sink) if b in (sh, kid)]
    # followed: itself and its two children; alone: itself only.
    assert sorted(b for b, pid in got if pid != alone.pid) == sorted([kid, kid, sh])
    assert [b for b, pid in got if pid == alone.pid] == [sh]
    assert len(got) == 4


def test_not_in_follow_forks_excludes_descendants(runtime: tuple[Runtime, Collect],
                                                  tmp_path: Path) -> None:
    rt, sink = runtime
    sh = copy("/bin/dash", tmp_path / "sh-root")
    kid = copy("/bin/true", tmp_path / "true-kid")
    followed = spawn(sh, "-c", f"read x; {kid}; exit 0")
    rt.step(0)
    on_exit(rt, [SelectorPlan(pids=(PidFilter("NotIn", (followed.pid,), follow_forks=True),),
                              binaries=(BinaryFilter("Prefix", (str(tmp_path) + "/",)),))])
    followed.communicate("go\n", timeout=30)
    run(kid)
    assert binaries(rt, sink, {sh, kid}) == [kid]
    assert [pid for b, pid in ended(rt, sink) if b == kid] != [followed.pid]


def test_bits_run_out_clearly_and_come_back(runtime: tuple[Runtime, Collect]) -> None:
    rt, _ = runtime
    wide = [SelectorPlan(pids=tuple(PidFilter("In", (1,), follow_forks=True) for _ in range(4)),
                         binaries=(BinaryFilter("In", ("/nonexistent",)),))] * 5  # 25 bits
    a, b = on_exit(rt, wide), on_exit(rt, wide)
    with pytest.raises(ValueError, match="need 75 match bits; vigil has 64"):
        on_exit(rt, wide)
    rt.remove_tracepoint(a)
    c = on_exit(rt, wide)
    assert set(c.match_bits) == set(a.match_bits) and not set(c.match_bits) & set(b.match_bits)


def lseeks(rt: Runtime, sink: Collect, calls: list[tuple[int, int]], scope: str,
           children: int = 1) -> list[int]:
    kids = [Child(calls) for _ in range(children)]
    sensor = rt.add_tracepoint(TracepointHookPlan(
        policy_name=POLICY, subsys="syscalls", event="sys_enter_lseek", args=LSEEK,
        selectors=(SelectorPlan(
            pids=(PidFilter("In", tuple(k.pid for k in kids)),),
            actions=(ActionPlan("Post", rate_limit="1h", rate_limit_scope=scope),)),)))
    for k in kids:
        assert k.go()[0] == 0
    drain(rt)
    rt.remove_tracepoint(sensor)
    pids = {k.pid for k in kids}
    return [int(e.args[2].value) for e in sink.events
            if isinstance(e, TracepointEvent) and e.process.pid in pids
            and int(e.args[2].value) >= 100]


def test_rate_limit_keys_on_the_arguments(runtime: tuple[Runtime, Collect]) -> None:
    rt, sink = runtime
    # whence >= 100 fails with EINVAL after the tracepoint: only the child's.
    got = lseeks(rt, sink, [(0, 100)] * 5 + [(0, 101)] * 3 + [(0, 100)], "thread")
    assert got == [100, 101]


@pytest.mark.parametrize(("scope", "want"), [("process", [100, 100]), ("global", [100])])
def test_rate_limit_scopes(runtime: tuple[Runtime, Collect], scope: str,
                           want: list[int]) -> None:
    rt, sink = runtime
    assert lseeks(rt, sink, [(0, 100)] * 4, scope, children=2) == want


def test_the_default_hook_has_a_one_entry_rate_map(runtime: tuple[Runtime, Collect]) -> None:
    rt, _ = runtime
    plain = on_exit(rt, [SelectorPlan(binaries=(BinaryFilter("In", ("/x",)),))])
    limited = on_exit(rt, [SelectorPlan(actions=(ActionPlan("Post", rate_limit="1"),))])
    assert plain._obj is not None and limited._obj is not None
    assert plain._obj.maps["vigil_rate_limits"].max_entries == 1
    assert limited._obj.maps["vigil_rate_limits"].max_entries == 512
