"""Lesson 10 on the real kernel: the monitor reports the triggered children
that pass its in-kernel uid filter, enriched, and nothing else."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from vigil.lab.lessons.l10_monitor import _nobody

from .lab_runner import run_lesson


def own_cgroup_id() -> int | None:
    """The cgroup v2 id of this process: its cgroup directory's inode number."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        if line.startswith("0::"):
            path = Path("/sys/fs/cgroup") / line[3:].lstrip("/")
            if Path("/sys/fs/cgroup/cgroup.controllers").exists() and path.exists():
                return path.stat().st_ino
    return None


@pytest.mark.needs("tracepoint", "ringbuf")
def test_monitor_reports_filtered_in_children_only() -> None:
    result, lines = run_lesson("10")
    long_pid, short_pid, root_pid = result.triggered
    nobody = _nobody()

    # the filter ran in the kernel: every record is the chosen uid's
    assert result.observations
    assert {e["uid"] for e in result.observations} == {nobody}
    by_pid = {e["pid"]: e for e in result.observations}
    assert root_pid not in by_pid, "the child running as root was filtered out"

    long, short = by_pid[long_pid], by_pid[short_pid]
    assert long["filename"] == "/bin/echo"
    assert long["argv"] == ["/bin/echo", "vigil-lab-10", "a-long-argument-" + "x" * 64]
    # the record was zeroed: the short argv does not end in the long one's bytes
    assert short["argv"] == ["/bin/true", "vigil-lab-10"]
    assert short["comm"] == "true"

    own_comm = Path("/proc/self/comm").read_text().strip()
    for e in (long, short):
        assert (e["uid"], e["euid"], e["gid"], e["egid"]) == (nobody,) * 4
        assert e["ppid"] == os.getpid()
        assert e["parent_comm"] == own_comm
        assert not e["args_truncated"]
    cgroup = own_cgroup_id()
    if cgroup is not None:  # cgroup v2: the id is the directory's inode number
        assert (long["cgroup_id"], short["cgroup_id"]) == (cgroup, cgroup)
    assert result.summary == f"{len(result.observations)} execs by uid {nobody}, 0 lost"
    assert (f"  exec /bin/true vigil-lab-10: pid {short_pid} (true), uid {nobody} "
            f"euid {nobody}, parent {os.getpid()} ({own_comm}), "
            f"cgroup {short['cgroup_id']}") in lines
