"""The kretprobes a killed agent left in kprobe_events are found by the pid
in their names, and only theirs: another agent's, and others' events, stay."""

from __future__ import annotations

from vigil.libbpf.kprobe_events import stale_events

LISTING = """\
r1024:vigil/r111_7f00aa __x64_sys_read
r1024:vigil/r222_7f00bb ksys_write
p:kprobes/mine do_sys_open
r1024:vigil/notours __x64_sys_read
r:other/r111_x __x64_sys_read
r16:vigil/r_1 f
r1024:vigil/r333_ ksys_read
"""


def test_only_the_dead_agents_events_are_stale() -> None:
    alive = {222}
    assert stale_events(LISTING, lambda pid: pid in alive) == ["r111_7f00aa", "r333_"]
    assert stale_events(LISTING, lambda pid: True) == []
    assert stale_events("", lambda pid: False) == []
