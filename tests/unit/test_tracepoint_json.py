"""Policy events take the encoder's joined-bytes path (JsonEncoder's static
pieces and cached processes); its lines must be byte for byte what the dict
path (event_json, then orjson) gives, for any event."""

from __future__ import annotations

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from vigil.encode.tetragon import JsonEncoder, RenderOptions, event_json
from vigil.events.model import PROCESS_TRACEPOINT, Arg, TracepointEvent
from vigil.process.model import Process

# Text a policy or a process could carry: quotes, backslashes, controls,
# non-ASCII, nothing at all.
text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
u64 = st.integers(0, 2**64 - 1)
args = st.one_of(
    st.builds(Arg, st.just("int_arg"), st.integers(-(2**31), 2**31 - 1), text),
    st.builds(Arg, st.just("uint_arg"), st.integers(0, 2**32 - 1), text),
    st.builds(Arg, st.just("size_arg"), u64, text),
    st.builds(Arg, st.just("long_arg"), st.integers(-(2**63), 2**63 - 1), text),
    st.builds(Arg, st.just("string_arg"), text, text),
    st.builds(Arg, st.just("error_arg"), text, text),
)


@st.composite
def processes(draw: st.DrawFn, pid: int) -> Process:
    return Process(
        key=(pid, draw(u64)), exec_id=draw(text), pid=pid, tid=draw(st.integers(0, 2**31)),
        binary=draw(text), arguments=draw(text), cwd=draw(text),
        flags=draw(st.integers(0, 0x7FF)), start_time=draw(text),
        uid=draw(st.integers(0, 2**32 - 1)), auid=draw(st.integers(0, 2**32 - 1)),
        cap_permitted=draw(st.integers(0, 2**41 - 1)),
        cap_effective=draw(st.integers(0, 2**41 - 1)),
        parent_exec_id=draw(text), exe_ino=draw(st.integers(0, 3)),
        exe_nlink=draw(st.integers(0, 1)), exe=draw(text))


@st.composite
def events(draw: st.DrawFn) -> TracepointEvent:
    return TracepointEvent(
        kind=draw(st.sampled_from([PROCESS_TRACEPOINT, "process_kprobe"])),
        time_ns=draw(st.integers(0, 2**63 - 1)),
        process=draw(processes(1)),
        parent=draw(st.none() | processes(2)),
        ancestors=draw(st.lists(processes(3), max_size=2)),
        subsys=draw(text), event=draw(text),
        args=draw(st.lists(args, max_size=5)),
        policy_name=draw(text),
        action=draw(st.sampled_from(["KPROBE_ACTION_POST", "KPROBE_ACTION_SIGKILL"])),
        message=draw(text),
        tags=tuple(draw(st.lists(text, max_size=3))),
    )


OPTIONS = [RenderOptions("vm"), RenderOptions('n"\\ö\x01'), RenderOptions(
    "vm", with_ns=True, with_cred=True, host_ns={"pid": 5})]


@settings(max_examples=300)
@given(st.lists(events(), min_size=1, max_size=4), st.sampled_from(OPTIONS))
def test_fast_path_bytes_are_the_dict_paths(evs: list[TracepointEvent],
                                            opts: RenderOptions) -> None:
    # The encoder caches a process's JSON by its key, which names one
    # process image: give each its own.
    for i, ev in enumerate(evs):
        for j, proc in enumerate([ev.process, ev.parent, *ev.ancestors]):
            if proc is not None:
                proc.key = (i, j)
    enc = JsonEncoder(opts)
    for ev in evs + evs:  # the second time from the caches
        assert enc.encode(ev) == orjson.dumps(event_json(ev, opts),
                                              option=orjson.OPT_APPEND_NEWLINE)


def test_static_pieces_are_per_hook_and_action() -> None:
    p = Process(key=(1, 2), exec_id="e", pid=1, tid=1, binary="/b", arguments="",
                cwd="/", flags=0, start_time="t")
    enc = JsonEncoder(RenderOptions("vm"))

    def ev(policy: str, action: str, tags: tuple[str, ...] = ()) -> bytes:
        return enc.encode(TracepointEvent(kind=PROCESS_TRACEPOINT, time_ns=0, process=p,
                                          subsys="s", event="e", policy_name=policy,
                                          action=action, tags=tags))

    a, b = ev("a", "KPROBE_ACTION_POST"), ev("b", "KPROBE_ACTION_POST")
    c, d = ev("a", "KPROBE_ACTION_SIGKILL"), ev("a", "KPROBE_ACTION_POST", ("t",))
    bodies = [orjson.loads(x)["process_tracepoint"] for x in (a, b, c, d)]
    assert [(x["policy_name"], x["action"], x.get("tags")) for x in bodies] == [
        ("a", "KPROBE_ACTION_POST", None), ("b", "KPROBE_ACTION_POST", None),
        ("a", "KPROBE_ACTION_SIGKILL", None), ("a", "KPROBE_ACTION_POST", ["t"])]


def test_static_cache_is_bounded() -> None:
    p = Process(key=(1, 2), exec_id="e", pid=1, tid=1, binary="/b", arguments="",
                cwd="/", flags=0, start_time="t")
    enc = JsonEncoder(RenderOptions("vm"))
    for i in range(JsonEncoder.STATIC_CACHE + 1):
        ev = TracepointEvent(kind=PROCESS_TRACEPOINT, time_ns=i, process=p,
                             subsys="s", event="e", policy_name=f"p{i}")
        assert orjson.loads(enc.encode(ev))["process_tracepoint"]["policy_name"] == f"p{i}"
        assert len(enc._static) == i % JsonEncoder.STATIC_CACHE + 1
