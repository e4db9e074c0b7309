"""File arguments of kprobes (fd, file, path, dentry): the path the task
sees, walked in the kernel (mounts crossed, the task's root respected, a
dentry named up to its filesystem's root), with the inode's mode, under
Tetragon's keys (file_arg, path_arg), filtered in the kernel by the string
operators. fd runs on every rung, the syscall fallback included; the struct
types need a kernel function (kprobe or fentry: the VM matrix)."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import orjson
import pytest
from google.protobuf import json_format

from tests.kernel.test_syscall_kprobes import (
    PY,
    fn,
    kprobe_events,
    planned_or_skip,
    rung,
    start,
)
from vigil.api.gen.tetragon import events_pb2
from vigil.encode.compact_kprobe import kprobe_line
from vigil.events.model import Arg, FilePath, KprobeEvent
from vigil.runtime import Runtime
from vigil.wire.path_arg import mode_string
from vigil.wire.records import PATH_ARG_MAX

from .runtime_sink import Collect
from .vigil_runner import EVENT_TIMEOUT

pytestmark = pytest.mark.needs("tracepoint", "ringbuf")

__all__ = ["rung"]  # the fixture, shared with test_syscall_kprobes

UNRESOLVED = "unresolvedPathComponents"


def spawn(code: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([PY, "-c", code], stderr=subprocess.PIPE)


def finish(child: subprocess.Popen[bytes]) -> None:
    _, err = child.communicate(timeout=EVENT_TIMEOUT)
    assert child.returncode == 0, err


WRITE_FD = """
    kprobes:
    - call: sys_write
      args:
      - {{index: 0, type: fd}}
      - {{index: 1, type: char_buf, sizeArgIndex: 3}}
      - {{index: 2, type: size_t}}
      selectors:
      - matchArgs: [{{index: 0, operator: {op}, values: [{values}]}}]
"""


def test_fd_names_the_file_written(runtime: tuple[Runtime, Collect], tmp_path: Path,
                                   rung: str) -> None:
    """write(fd, ...) on a file under the test's directory, filtered by its
    path's prefix: the file's path and mode; the write to /dev/null beside
    it is filtered out in the kernel."""
    rt, sink = runtime
    out = tmp_path / "out"
    start(rt, WRITE_FD.format(op="Prefix", values=f'"{tmp_path}/"'), rung)
    child = spawn(f"""
import os
fd = os.open({str(out)!r}, os.O_WRONLY | os.O_CREAT, 0o600)
os.fchmod(fd, 0o640)
os.write(fd, b"abc")
null = os.open(os.devnull, os.O_WRONLY)
os.write(null, b"abc")
""")
    finish(child)
    ev, = kprobe_events(rt, sink, child.pid, 1)
    assert (ev.function_name, ev.args) == (fn("write"), [
        Arg("file_arg", FilePath(str(out), "", "-rw-r-----")), Arg("bytes_arg", b"abc"),
        Arg("size_arg", 3)])
    line = orjson.loads(sink.lines[sink.events.index(ev)])
    assert line["process_kprobe"]["args"] == [
        {"file_arg": {"path": str(out), "permission": "-rw-r-----"}}, {"bytes_arg": "YWJj"},
        {"size_arg": "3"}]
    json_format.ParseDict(line, events_pb2.GetEventsResponse())
    assert kprobe_line(ev, "P", str) == f"📝 write   P {out} 3 bytes"
    assert not rt.agent.decode_errors


def test_an_fd_that_names_no_file_sends_no_event(runtime: tuple[Runtime, Collect],
                                                 tmp_path: Path, rung: str) -> None:
    """close(999), which names no open file, is not reported (Tetragon's fd
    type drops the call); the close of a real file after it is, with no
    selector between them and the kernel."""
    rt, sink = runtime
    mark = tmp_path / "mark"
    start(rt, "kprobes: [{call: sys_close, args: [{index: 0, type: fd}]}]", rung)
    child = spawn(f"""
import os
try:
    os.close(999)
except OSError:
    pass
os.close(os.open({str(mark)!r}, os.O_WRONLY | os.O_CREAT, 0o644))
""")
    finish(child)
    evs = until(rt, sink, child.pid, lambda e: file_path(e) == str(mark))
    assert evs and file_path(evs[-1]) == str(mark)
    # Everything before it named a file: no error_arg for 999.
    assert all(isinstance(e.args[0].value, FilePath) for e in evs), [e.args for e in evs]


def file_path(ev: KprobeEvent) -> str | None:
    value = ev.args[0].value if ev.args else None
    return value.path if isinstance(value, FilePath) else None


def until(rt: Runtime, sink: Collect, pid: int,
          last: Callable[[KprobeEvent], bool]) -> list[KprobeEvent]:
    """The kprobe events of `pid` up to the first for which `last` holds
    (or all of them, at the bound)."""
    deadline = time.monotonic() + EVENT_TIMEOUT
    while True:
        found = [e for e in sink.events if isinstance(e, KprobeEvent) and e.process.pid == pid]
        for i, e in enumerate(found):
            if last(e):
                return found[:i + 1]
        if time.monotonic() > deadline:
            return found
        rt.step(50)


def path_of_length(base: Path, length: int, name: str = "f") -> Path:
    """A file path under `base` of exactly `length` bytes, its parents made."""
    rest = length - len(str(base)) - 1 - len(name)
    assert rest >= 0
    parts: list[str] = []
    while rest > 0:
        # a component and its "/" take part + 1 bytes, each at most 200
        take = min(200, rest)
        if rest - take == 1:  # a lone "/" cannot be padded: leave room for one more
            take -= 1
        parts.append("d" * (take - 1))
        rest -= take
    path = base.joinpath(*parts, name) if parts else base / name
    assert len(str(path)) == length, (len(str(path)), length)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


@pytest.mark.parametrize("extra", (0, 1))
def test_a_path_longer_than_the_slot_keeps_its_end(runtime: tuple[Runtime, Collect],
                                                   tmp_path: Path, rung: str,
                                                   extra: int) -> None:
    """A path of PATH_ARG_MAX bytes comes whole; one byte longer, its last
    PATH_ARG_MAX bytes come (the end names the file) with Tetragon's flag
    for a path not resolved to its root, and Postfix still matches it."""
    rt, sink = runtime
    target = path_of_length(tmp_path, PATH_ARG_MAX + extra, "long-end")
    start(rt, WRITE_FD.format(op="Postfix", values='"/long-end"'), rung)
    child = spawn(f"""
import os
fd = os.open({str(target)!r}, os.O_WRONLY | os.O_CREAT, 0o644)
os.fchmod(fd, 0o644)
os.write(fd, b"x")
""")
    finish(child)
    ev, = kprobe_events(rt, sink, child.pid, 1)
    want = FilePath(str(target)[-PATH_ARG_MAX:], UNRESOLVED if extra else "", "-rw-r--r--")
    assert ev.args == [Arg("file_arg", want), Arg("bytes_arg", b"x"), Arg("size_arg", 1)]


def test_equal_takes_the_whole_path_only(runtime: tuple[Runtime, Collect], tmp_path: Path,
                                         rung: str) -> None:
    """Equal on a file's path: the same name in another directory, or with a
    byte more, does not match."""
    rt, sink = runtime
    inside, other, last = tmp_path / "in" / "a", tmp_path / "a", tmp_path / "last"
    inside.parent.mkdir()
    start(rt, WRITE_FD.format(op="Equal", values=f'"{inside}", "{last}"'), rung)
    child = spawn(f"""
import os
for p in ({str(inside)!r}, {str(other)!r}, {str(inside)!r} + "b", {str(last)!r}):
    fd = os.open(p, os.O_WRONLY | os.O_CREAT, 0o644)
    os.write(fd, b"12")
""")
    finish(child)
    evs = until(rt, sink, child.pid, lambda e: file_path(e) == str(last))
    assert [file_path(e) for e in evs] == [str(inside), str(last)]


def test_not_prefix_keeps_what_is_outside(runtime: tuple[Runtime, Collect], tmp_path: Path,
                                          rung: str) -> None:
    rt, sink = runtime
    skip, kept = tmp_path / "skip", tmp_path / "kept"
    skip.mkdir()
    start(rt, f"""
        kprobes:
        - call: sys_write
          args:
          - {{index: 0, type: fd}}
          - {{index: 2, type: size_t}}
          selectors:
          - matchArgs:
            - {{index: 0, operator: NotPrefix, values: ["{skip}/"]}}
            - {{index: 0, operator: Prefix, values: ["{tmp_path}/"]}}
    """, rung)
    child = spawn(f"""
import os
for p in ({str(skip / "x")!r}, {str(kept)!r}):
    fd = os.open(p, os.O_WRONLY | os.O_CREAT, 0o644)
    os.write(fd, b"12")
""")
    finish(child)
    evs = until(rt, sink, child.pid, lambda e: file_path(e) == str(kept))
    assert [file_path(e) for e in evs] == [str(kept)]


def run_fs_child(code: str) -> subprocess.Popen[bytes]:
    child = spawn(code)
    finish(child)
    return child


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A tmpfs of the test's own under its directory: one filesystem, where
    the guests' /tmp is an overlay (whose calls each reach the kernel twice,
    for the overlay and for its upper layer)."""
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "vigil-test", str(mnt)], check=True)
    try:
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], check=True)


FUNCTION_RUNGS = ("kprobe", "fentry")


@pytest.mark.parametrize("fn_rung", FUNCTION_RUNGS)
def test_file_path_and_dentry_of_kernel_functions(runtime: tuple[Runtime, Collect],
                                                 tmpfs: Path, fn_rung: str) -> None:
    """security_file_open(struct file *), security_path_truncate(const
    struct path *) and security_inode_unlink(struct inode *, struct dentry
    *): the file's full path (open, truncate: across the tmpfs's mount to
    the task's root), and the dentry's path from its filesystem's root
    (unlink), each with its mode."""
    rt, sink = runtime
    target = tmpfs / "sub" / "target"
    target.parent.mkdir()
    target.write_bytes(b"x")
    target.chmod(0o604)
    spec = f"""
        kprobes:
        - call: security_file_open
          syscall: false
          args: [{{index: 0, type: file}}]
          selectors: [{{matchArgs: [{{index: 0, operator: Equal, values: ["{target}"]}}]}}]
        - call: security_path_truncate
          syscall: false
          args: [{{index: 0, type: path}}]
          selectors: [{{matchArgs: [{{index: 0, operator: Prefix, values: ["{tmpfs}/"]}}]}}]
        - call: security_inode_unlink
          syscall: false
          args: [{{index: 1, type: dentry}}]
          selectors: [{{matchArgs: [{{index: 1, operator: Postfix, values: ["/target"]}}]}}]
    """
    for plan in planned_or_skip(spec, fn_rung):
        rt.add_tracepoint(plan)
    child = run_fs_child(f"""
import os
os.close(os.open({str(target)!r}, os.O_RDONLY))
os.truncate({str(target)!r}, 0)
os.unlink({str(target)!r})
""")
    evs = kprobe_events(rt, sink, child.pid, 3)
    mode = "-rw----r--"
    assert [(e.function_name, e.args[0].key, e.args[0].value) for e in evs] == [
        ("security_file_open", "file_arg", FilePath(str(target), "", mode)),
        ("security_path_truncate", "path_arg", FilePath(str(target), "", mode)),
        ("security_inode_unlink", "path_arg", FilePath("/sub/target", "", mode)),
    ]


def test_tetragons_file_monitoring_example(tmp_path: Path) -> None:
    """quickstart/file_monitoring.yaml under `vigil run`, as its docs run it:
    a read of /etc/shadow is reported by security_file_permission with the
    file, MAY_READ and the call's return; its filters hold 9 to 19 paths
    each (the hook's trie)."""
    from tests.tetragon_examples import runnable_example

    from .vigil_runner import VigilRun

    f = runnable_example("quickstart/file_monitoring.yaml")
    run = VigilRun(tmp_path, ["--tracing-policy", str(f)])
    try:
        child = subprocess.Popen(["/bin/cat", "/etc/shadow"], stdout=subprocess.DEVNULL)
        assert child.wait() == 0
        ev = run.wait_for(lambda e: e.get("process_kprobe", {}).get("process", {}).get("pid")
                          == child.pid, "cat's read of /etc/shadow")
    finally:
        run.stop()
    body = ev["process_kprobe"]
    mode = mode_string(os.stat("/etc/shadow").st_mode)
    assert {k: body[k] for k in ("function_name", "args", "return", "action",
                                 "policy_name")} == {
        "function_name": "security_file_permission",
        "args": [{"file_arg": {"path": "/etc/shadow", "permission": mode}}, {"int_arg": 4}],
        "return": {"int_arg": 0}, "action": "KPROBE_ACTION_POST",
        "policy_name": "file-monitoring-filtered"}
    json_format.ParseDict(ev, events_pb2.GetEventsResponse())


def test_tetragons_fd_install_caps_example(tmp_path: Path) -> None:
    """tracingpolicy/fd_install_caps.yaml under `vigil run`: a file opened by
    a process with CAP_CHOWN in a user namespace of its own (`unshare -Ur`)
    is reported by fd_install with its descriptor and path; the same open
    from the host's user namespace is not (isNamespaceCapability)."""
    from tests.tetragon_examples import runnable_example

    from .vigil_runner import VigilRun

    f = runnable_example("tracingpolicy/fd_install_caps.yaml")
    host_side, in_ns = tmp_path / "host-side", tmp_path / "in-ns"
    host_side.write_text("h")
    in_ns.write_text("n")
    run = VigilRun(tmp_path, ["--tracing-policy", str(f)])
    try:
        plain = subprocess.Popen(["/bin/cat", str(host_side)], stdout=subprocess.DEVNULL)
        assert plain.wait() == 0
        child = subprocess.Popen(["unshare", "-Ur", "/bin/cat", str(in_ns)],
                                 stdout=subprocess.DEVNULL)
        assert child.wait() == 0
        ev = run.wait_for(lambda e: any(
            a.get("file_arg", {}).get("path") == str(in_ns)
            for a in e.get("process_kprobe", {}).get("args", [])), "cat's open in the userns")
        seen = run.events()
    finally:
        run.stop()
    body = ev["process_kprobe"]
    assert body["function_name"] == "fd_install" and body["policy_name"] == "fd-install"
    assert body["args"][1] == {"file_arg": {"path": str(in_ns),
                                            "permission": mode_string(in_ns.stat().st_mode)}}
    assert isinstance(body["args"][0]["int_arg"], int)
    assert not [e for e in seen if any(a.get("file_arg", {}).get("path") == str(host_side)
                                       for a in e.get("process_kprobe", {}).get("args", []))]


@pytest.mark.parametrize("fn_rung", FUNCTION_RUNGS)
def test_a_struct_the_function_does_not_take_is_refused(fn_rung: str) -> None:
    """tty_54.yaml's `file` on tty_write's argument 0, a struct kiocb * since
    5.11: refused with the function's own type (BTF), not walked as garbage."""
    from tests.kernel.test_syscall_kprobes import plans
    from vigil.policy import PolicyError

    with pytest.raises(PolicyError) as err:
        plans("kprobes: [{call: tty_write, syscall: false, args: [{index: 0, type: file}]}]",
              fn_rung)
    message = str(err.value.issues[0])
    if "the forced rung cannot attach: " in message:
        pytest.skip(message.split("the forced rung cannot attach: ", 1)[1])
    assert message == ("p.yaml:6:71: spec.kprobes[0].args[0].type: type file reads a struct "
                       "file *; tty_write's argument 0 is struct kiocb * on this kernel")


def test_explain_shows_a_file_filter_held_in_the_trie(tmp_path: Path) -> None:
    """`vigil policy explain` on an fd filter of six prefixes (more than a
    filter holds: the hook's trie): the values as the kernel holds them,
    and the larger object a struct argument loads."""
    import sys

    f = tmp_path / "fd.yaml"
    f.write_text("""apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata: {name: fd}
spec:
  kprobes:
  - call: sys_write
    args: [{index: 0, type: fd}, {index: 2, type: size_t}]
    selectors:
    - matchArgs: [{index: 0, operator: Prefix, values: ["/etc/", "/root/", "/boot/", "/usr/",
                                                        "/var/log/", "/home/"]}]
""")
    done = subprocess.run([sys.executable, "-m", "vigil", "policy", "explain", str(f)],
                          capture_output=True, text=True, timeout=300)
    if done.returncode and "no way to attach it" in done.stdout + done.stderr:
        pytest.skip("no rung for sys_write here")
    assert done.returncode == 0, done.stdout + done.stderr
    lines = [line.strip() for line in done.stdout.splitlines()]
    assert ('matchArgs[0]: arg 0 (fd) fd PREFIX {"/boot/", "/etc/", "/home/", "/root/", '
            '"/usr/", "/var/log/"}') in lines
    assert any(line.startswith("vigil_sel_strs ") and " 6 " in f" {line} " for line in lines)


@pytest.mark.parametrize("fn_rung", FUNCTION_RUNGS)
def test_file_type_tells_a_directory_from_a_file(runtime: tuple[Runtime, Collect],
                                                 tmpfs: Path, fn_rung: str) -> None:
    """FileType dir on security_file_open: the open of a directory is
    reported, the open of a regular file beside it is not; NotFileType the
    reverse (one hook each, told apart by their policy's message)."""
    rt, sink = runtime
    d, f = tmpfs / "d", tmpfs / "f"
    d.mkdir()
    f.write_text("")
    for op in ("FileType", "NotFileType"):
        for plan in planned_or_skip(f"""
            kprobes:
            - call: security_file_open
              syscall: false
              message: {op}
              args: [{{index: 0, type: file}}]
              selectors:
              - matchArgs:
                - {{index: 0, operator: Prefix, values: ["{tmpfs}/"]}}
                - {{index: 0, operator: {op}, values: [dir]}}
        """, fn_rung):
            rt.add_tracepoint(plan)
    child = run_fs_child(f"""
import os
os.close(os.open({str(d)!r}, os.O_RDONLY | os.O_DIRECTORY))
os.close(os.open({str(f)!r}, os.O_RDONLY))
""")
    evs = kprobe_events(rt, sink, child.pid, 2)
    assert sorted((e.message, file_path(e)) for e in evs) == [
        ("FileType", str(d)), ("NotFileType", str(f))]
