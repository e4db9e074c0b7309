"""`vigil run --tracing-policy` as a user runs it: a Tetragon TracingPolicy
file in, process_tracepoint events out; a bad or unsupported policy stops it
before anything is loaded, naming file, line, column and field."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from .vigil_runner import READY_TIMEOUT, VigilRun

pytestmark = pytest.mark.needs("tracepoint", "raw_tracepoint", "ringbuf")

OPENAT_POLICY = """\
apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: "openat-watch"
spec:
  tracepoints:
  - subsystem: "syscalls"
    event: "sys_enter_openat"
    message: "file opened"
    tags: ["files"]
    args:
    - index: 5
      type: "int"
    - index: 6
      type: "string"
      label: "path"
"""


def test_a_tracepoint_policy_reports_real_opens(tmp_path: Path) -> None:
    policy = tmp_path / "openat.yaml"
    policy.write_text(OPENAT_POLICY)
    target = tmp_path / "opened-by-the-child"
    target.write_text("x")
    run = VigilRun(tmp_path, ["--tracing-policy", str(policy)])
    try:
        assert "and 1 policy hook;" in run.stderr_text
        child = subprocess.Popen(["/usr/bin/python3", "-c", f"open({str(target)!r}).close()"])
        child.wait()
        ev = run.wait_for(
            lambda e: "process_tracepoint" in e
            and e["process_tracepoint"]["process"]["pid"] == child.pid
            and {"string_arg": str(target), "label": "path"} in e["process_tracepoint"]["args"],
            "the child's open of the target")
    finally:
        run.stop()
    body = ev["process_tracepoint"]
    assert body["args"] == [{"int_arg": -100}, {"string_arg": str(target), "label": "path"}]
    assert (body["subsys"], body["event"], body["policy_name"], body["action"]) == (
        "syscalls", "sys_enter_openat", "openat-watch", "KPROBE_ACTION_POST")
    assert (body["message"], body["tags"]) == ("file opened", ["files"])
    assert body["process"]["binary"] == "/usr/bin/python3"
    assert body["parent"]["pid"] == os.getpid()


def vigil_run_fails(args: list[str]) -> str:
    proc = subprocess.run([sys.executable, "-m", "vigil", "run", *args], capture_output=True,
                          text=True, timeout=READY_TIMEOUT)
    assert proc.returncode == 1, proc
    assert "Traceback" not in proc.stderr
    return proc.stderr


def test_a_policy_with_an_unknown_tracepoint_names_it(tmp_path: Path) -> None:
    policy = tmp_path / "typo.yaml"
    policy.write_text(OPENAT_POLICY.replace("sys_enter_openat", "sys_enter_opnat"))
    err = vigil_run_fails(["--tracing-policy", str(policy)])
    first = err.splitlines()[0]
    assert first.startswith(f"{policy}:8:12: spec.tracepoints[0].event: no tracepoint "
                            "syscalls/sys_enter_opnat"), err
    assert "syscalls/sys_enter_openat" in first  # the nearest names


@pytest.mark.kernel_independent("validation before anything loads")
def test_an_unsupported_policy_is_refused_not_half_loaded(tmp_path: Path) -> None:
    policy = tmp_path / "selectors.yaml"
    policy.write_text(OPENAT_POLICY + textwrap.indent(textwrap.dedent("""\
        selectors:
        - matchParentBinaries:
          - {operator: In, values: [/usr/bin/cat]}
        """), "    "))
    err = vigil_run_fails(["--tracing-policy", str(policy)])
    assert (f"{policy}:18:7: spec.tracepoints[0].selectors[0].matchParentBinaries: not "
            "supported yet (no issue yet)") in err


KILL_ON_OPEN = OPENAT_POLICY + textwrap.indent(textwrap.dedent("""\
    selectors:
    - matchArgs:
      - {{index: 6, operator: Postfix, values: ["{name}"]}}
      matchActions:
      - action: Sigkill
    """), "    ")


def test_sigkill_on_a_matching_open_kills_the_opener(tmp_path: Path) -> None:
    """Enforcement from the victim's side: the process that opens the named
    file dies of SIGKILL; one that opens another file lives."""
    policy = tmp_path / "kill.yaml"
    policy.write_text(KILL_ON_OPEN.format(name="forbidden-file"))
    forbidden, allowed = tmp_path / "forbidden-file", tmp_path / "allowed-file"
    forbidden.write_text("x")
    allowed.write_text("x")
    run = VigilRun(tmp_path, ["--tracing-policy", str(policy)])
    try:
        victim = subprocess.run(["/usr/bin/python3", "-c",
                                 f"open({str(forbidden)!r}).close(); print('survived')"],
                                capture_output=True, text=True, timeout=60)
        bystander = subprocess.run(["/usr/bin/python3", "-c",
                                    f"open({str(allowed)!r}).close(); print('survived')"],
                                   capture_output=True, text=True, timeout=60)
        ev = run.wait_for(lambda e: "process_tracepoint" in e, "the kill's event")
    finally:
        run.stop()
    assert victim.returncode == -signal.SIGKILL and victim.stdout == ""
    assert bystander.returncode == 0 and bystander.stdout == "survived\n"
    body = ev["process_tracepoint"]
    assert body["action"] == "KPROBE_ACTION_SIGKILL"
    assert body["args"][1] == {"string_arg": str(forbidden), "label": "path"}
    kills = [e for e in run.events() if "process_tracepoint" in e]
    assert len(kills) == 1  # the bystander's opens did not match: nothing sent


BINARY_POLICY = OPENAT_POLICY + textwrap.indent(textwrap.dedent("""\
    selectors:
    - matchBinaries:
      - {{operator: In, values: ["{binary}"], followChildren: true}}
      matchArgs:
      - {{index: 6, operator: Prefix, values: ["{prefix}"]}}
      matchActions:
      - {{action: Post, rateLimit: "1h", rateLimitScope: process}}
    """), "    ")


def test_match_binaries_follow_children_and_a_rate_limit(tmp_path: Path) -> None:
    """A copy of the shell is watched with its children: each cat it runs
    reports its open of a target once (rate limit per process and file, and
    the first cat opens its target three times); the system's cat run
    directly, and the unwatched shell's cat, report nothing."""
    mysh = tmp_path / "mysh"
    mysh.write_bytes(Path("/bin/dash").read_bytes())
    mysh.chmod(0o755)
    a, b, c = (tmp_path / f"target-{n}" for n in "abc")
    for t in (a, b, c):
        t.write_text("x")
    policy = tmp_path / "binaries.yaml"
    policy.write_text(BINARY_POLICY.format(binary=mysh, prefix=tmp_path / "target-"))
    run = VigilRun(tmp_path, ["--tracing-policy", str(policy)])
    try:
        for argv in (["/bin/cat", str(c)], ["/bin/sh", "-c", f"/bin/cat {c}; exit 0"],
                     [str(mysh), "-c", f"/bin/cat {a} {a} {a}; /bin/cat {b}; exit 0"]):
            subprocess.run(argv, capture_output=True, timeout=60, check=True)
        run.wait_for(lambda e: "process_tracepoint" in e
                     and e["process_tracepoint"]["args"][1]["string_arg"] == str(b),
                     "the second cat's open")
    finally:
        run.stop()
    got = [(e["process_tracepoint"]["process"]["binary"],
            e["process_tracepoint"]["args"][1]["string_arg"])
           for e in run.events() if "process_tracepoint" in e]
    assert got == [("/bin/cat", str(a)), ("/bin/cat", str(b))]


CHANGES_POLICY = OPENAT_POLICY + textwrap.indent(textwrap.dedent("""\
    selectors:
    - matchNamespaceChanges:
      - {{operator: In, values: [Uts]}}
      matchArgs:
      - {{index: 6, operator: Equal, values: ["{target}"]}}
    - matchArgs:
      - {{index: 6, operator: Equal, values: ["{sentinel}"]}}
    """), "    ")

UNSHARING_CHILD = """
import ctypes, sys
target, sentinel = sys.argv[1:3]
open(target).close()
if ctypes.CDLL(None, use_errno=True).unshare(0x10000000 | 0x04000000):  # NEWUSER | NEWUTS
    raise OSError(ctypes.get_errno(), "unshare")
open(target).close()
open(target).close()
open(sentinel).close()
"""


def test_a_namespace_change_is_reported_once(tmp_path: Path) -> None:
    """Of a child's three opens of the target, only the first after it
    unshared its UTS namespace is reported; the open of the sentinel (posted
    by a second selector) says every earlier event is in."""
    target, sentinel = tmp_path / "target", tmp_path / "sentinel"
    for t in (target, sentinel):
        t.write_text("x")
    policy = tmp_path / "changes.yaml"
    policy.write_text(CHANGES_POLICY.format(target=target, sentinel=sentinel))
    run = VigilRun(tmp_path, ["--tracing-policy", str(policy)])
    try:
        child = subprocess.run([sys.executable, "-c", UNSHARING_CHILD, str(target),
                                str(sentinel)], capture_output=True, text=True, timeout=60)
        assert child.returncode == 0, child.stderr
        run.wait_for(lambda e: "process_tracepoint" in e
                     and e["process_tracepoint"]["args"][1]["string_arg"] == str(sentinel),
                     "the sentinel's open")
    finally:
        run.stop()
    got = [e["process_tracepoint"]["args"][1]["string_arg"]
           for e in run.events() if "process_tracepoint" in e]
    assert got == [str(target), str(sentinel)]
