"""The exec record's variable parts at every size boundary, no byte of one
record in another, filters on the file actually executed, and exits after
lost records and pid reuse: real execs, the events `vigil run` exports."""

from __future__ import annotations

import ctypes
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from vigil.process.model import quote_args

from .vigil_runner import EVENT_TIMEOUT, VigilRun, exec_of, exit_of, read_line

pytestmark = pytest.mark.needs("tracepoint", "raw_tracepoint", "ringbuf")

PART_MAX = 4096  # VIGIL_PART_MAX: each of filename, argv, cwd and exe path
LENGTHS = (1, 1023, 1024, 1025, 2047, 2048, 4095)  # filename lengths execve accepts
ARGV_LENGTHS = (0, 1, 2, 1023, 1024, 1025, 2047, 2048, 4095, 4096, 4097, 9000)
SECRET = b"PASSWORD=hunter2_"

_libc = ctypes.CDLL(None, use_errno=True)


def spawn(path: bytes, argv: Sequence[bytes], cwd: str | Path, cpu: int | None = 0) -> int:
    """fork + chdir + execve(path, argv) exactly as given (no PATH search, argv
    may be empty or start with ""), pinned to `cpu` so records share a heap.
    Returns the child's pid; the child exits 127 if execve failed."""
    c_argv = (ctypes.c_char_p * (len(argv) + 1))(*argv, None)
    c_env = (ctypes.c_char_p * 2)(b"PATH=/usr/bin:/bin", None)
    pid = os.fork()
    if pid == 0:
        try:
            os.chdir(cwd)
            if cpu is not None:
                os.sched_setaffinity(0, {cpu})
            _libc.execve(path, c_argv, c_env)
        finally:
            os._exit(127)
    return pid


def reap(pid: int) -> int:
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def spelled(directory: Path, name: str, length: int) -> bytes:
    """A spelling of directory/name exactly `length` bytes long: "./" and "/"
    padding (absolute), or relative to `directory` when too short for that."""
    base = f"{directory}/"
    if length < len(base) + len(name):
        pad = length - len(name)
        return (("./" * (pad // 2)) + ("/" if pad % 2 else "") + name).encode()[-length:]
    pad = length - len(base) - len(name)
    return (base + "./" * (pad // 2) + "/" * (pad % 2) + name).encode()


def argv_of(length: int) -> list[bytes]:
    """argv whose bytes on the new stack (each NUL-terminated) total `length`."""
    if length == 0:
        return []
    if length == 1:
        return [b""]
    if length == 2:
        return [b"t"]
    assert length >= 4
    body = length - 4  # "t\0" + body + "\0", body a pattern that shows shifts
    return [b"t", (b"0123456789abcdef" * (body // 16 + 1))[:body] + b"z"][:2]


def expected_arguments(argv: list[bytes]) -> tuple[str, bool]:
    """What vigil must report for argv: the first PART_MAX bytes of the
    NUL-terminated strings, cut where they stop fitting; and whether cut."""
    raw = b"".join(a + b"\0" for a in argv)
    truncated = len(raw) > PART_MAX
    raw = raw[:PART_MAX]
    if raw.endswith(b"\0"):
        raw = raw[:-1]
        parts = raw.split(b"\0")
    else:
        parts = raw.split(b"\0") if raw else []
    return quote_args([p.decode("utf-8", "backslashreplace") for p in parts[1:]]), truncated


@pytest.fixture(scope="module")
def vigil(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VigilRun]:
    run = VigilRun(tmp_path_factory.mktemp("vigil"))
    yield run
    run.stop()


@pytest.fixture(scope="module")
def secret_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A deep directory whose name is itself secret bytes."""
    d = tmp_path_factory.mktemp("secret")
    for i in range(12):
        d = d / (SECRET.decode() * 5 + str(i))
    d.mkdir(parents=True)
    return d


def leave_secret(secret_dir: Path, binary: Path) -> None:
    """An exec on CPU 0 whose argv, filename and cwd fill the heap with SECRET."""
    pid = spawn(str(binary).encode(), [b"t", SECRET * 600], secret_dir)
    assert reap(pid) == 0


@pytest.mark.parametrize("name_len", LENGTHS)
@pytest.mark.parametrize("argv_len", ARGV_LENGTHS)
def test_exec_parts_at_every_boundary(vigil: VigilRun, tmp_path: Path, secret_dir: Path,
                                      name_len: int, argv_len: int) -> None:
    cwd = tmp_path / ("d" * 200) / ("e" * 200)
    cwd.mkdir(parents=True)
    binary = cwd / "t"
    shutil.copy("/bin/true", binary)
    leave_secret(secret_dir, binary)
    path = spelled(cwd, "t", name_len)
    assert len(path) == name_len
    argv = argv_of(argv_len)
    assert sum(len(a) + 1 for a in argv) == argv_len or argv_len == 0
    pid = spawn(path, argv, cwd)
    assert reap(pid) == 0
    ev = vigil.wait_for(exec_of(pid),
                        f"exec with a {name_len}-byte filename, {argv_len}-byte argv")
    p = ev["process_exec"]["process"]
    want_binary = path.decode() if path.startswith(b"/") else str(binary)
    assert p["binary"] == want_binary
    # (An empty argv gets one empty argument from Linux 5.18 on: no
    # arguments after argv[0] either way.)
    arguments, cut = expected_arguments(argv)
    assert p.get("arguments", "") == arguments
    assert p["cwd"] == str(cwd)
    assert p["flags"] == ("execve truncArgs" if cut else "execve")
    assert SECRET.decode()[:8] not in json.dumps(ev)


def test_filename_longer_than_path_max_is_refused_by_the_kernel(tmp_path: Path) -> None:
    for length in (4096, 4097):
        pid = spawn(spelled(tmp_path, "t", length), [b"t"], tmp_path)
        assert reap(pid) == 127  # ENAMETOOLONG: execve failed, nothing to report


def dir_of_length(base: Path, total: int) -> Path:
    """A directory under `base` whose path is exactly `total` bytes long."""
    path = str(base)
    need = total - len(path)
    assert need >= 2
    while need > 256:
        take = 200 if need - 201 != 1 else 199  # never leave a lone byte
        path += "/" + "c" * take
        need -= take + 1
    path += "/" + "c" * (need - 1)
    assert len(path) == total
    return Path(path)


@pytest.mark.parametrize("total", [1023, 1024, 1025, 2047, 2048, 4094, 4095])
def test_cwd_at_every_boundary(vigil: VigilRun, tmp_path: Path, secret_dir: Path,
                               total: int) -> None:
    binary = tmp_path / "t"
    shutil.copy("/bin/true", binary)
    d = dir_of_length(tmp_path, total)
    d.mkdir(parents=True)
    leave_secret(secret_dir, binary)
    pid = spawn(str(binary).encode(), [b"t", b"x" * 1990], d)
    assert reap(pid) == 0
    ev = vigil.wait_for(exec_of(pid), f"exec in a {total}-byte cwd")
    p = ev["process_exec"]["process"]
    assert p["cwd"] == str(d)
    assert p["binary"] == str(binary)
    assert p["arguments"] == "x" * 1990
    assert p["flags"] == "execve"
    assert SECRET.decode()[:8] not in json.dumps(ev)


def test_the_reported_repro_no_longer_leaks(vigil: VigilRun, tmp_path: Path) -> None:
    """The issue's reproduction: a secret-filled argv, then, on the same CPU,
    a copy of true with one 1990-byte argument from /tmp/x/some/dir."""
    d = tmp_path / "x" / "some" / "dir"
    d.mkdir(parents=True)
    binary = tmp_path / "true-copy"
    shutil.copy("/bin/true", binary)
    first = spawn(b"/bin/true", [b"true", SECRET * 300], "/")
    assert reap(first) == 0
    pid = spawn(str(binary).encode(), [b"true-copy", b"a" * 1990], d)
    assert reap(pid) == 0
    ev = vigil.wait_for(exec_of(pid), "exec of the copy")
    p = ev["process_exec"]["process"]
    assert p["cwd"] == str(d)
    assert p["arguments"] == "a" * 1990
    assert "hunt" not in json.dumps(ev)


# --- filters on the file actually executed --------------------------------

def test_binary_filter_matches_the_file_executed_whatever_its_spelling(tmp_path: Path) -> None:
    a = tmp_path / "a"
    a.mkdir()
    target = a / "bin"
    shutil.copy("/bin/true", target)
    copy = tmp_path / "b-bin"
    shutil.copy("/bin/true", copy)  # byte-identical, another file: must not match
    (tmp_path / "link").symlink_to(target)
    run = VigilRun(tmp_path, ["--binary-regex", f"^{re.escape(str(target))}$",
                              "--binary-regex", "^/memfd:vigil-test "])
    try:
        spellings = [f"{a}/../a/bin", f"/{target}", f"{a}/./bin", f"{tmp_path}/link",
                     f"{tmp_path}//a//bin"]
        expect: dict[int, str] = {}
        for s in spellings:
            expect[spawn(s.encode(), [b"bin"], "/", cpu=None)] = s
        fd = os.open(target, os.O_RDONLY)
        proc = subprocess.Popen([f"/proc/self/fd/{fd}"], pass_fds=[fd])
        expect[proc.pid] = f"/proc/self/fd/{fd}"
        proc.wait()
        fexec = subprocess.Popen([sys.executable, "-c", textwrap_fexecve(str(target))])
        fexec.wait()
        assert fexec.returncode == 0
        os.close(fd)
        mfd = os.memfd_create("vigil-test")
        os.write(mfd, Path("/bin/true").read_bytes())
        mem = subprocess.Popen([f"/proc/self/fd/{mfd}"], pass_fds=[mfd])
        mem.wait()
        mem_ino = os.fstat(mfd).st_ino
        os.close(mfd)
        other = spawn(str(copy).encode(), [b"b-bin"], "/", cpu=None)
        for pid in [*expect, other]:
            if pid not in (proc.pid, mem.pid):
                assert reap(pid) == 0
        last = spawn(str(target).encode(), [b"bin", b"last"], "/", cpu=None)
        assert reap(last) == 0
        run.wait_for(exit_of(last), "exit of the last marker")
    finally:
        run.stop()
    execs = {e["process_exec"]["process"]["pid"]: e["process_exec"]["process"]
             for e in run.events() if "process_exec" in e}
    # Every spelling of the target, the fd exec and fexecve's child, the memfd
    # exec through its own filter, the last marker; never the copy.
    assert other not in execs
    for pid, spelling in expect.items():
        assert pid in execs, f"{spelling} was not exported"
        assert execs[pid]["binary"] == spelling  # Tetragon's binary: as spelled
    assert mem.pid in execs
    # The memfd's name is what it was given; the kernel says "(deleted)" as
    # /proc/<pid>/exe does, and the binary is the spelling the caller used.
    assert execs[mem.pid]["binary"] == f"/proc/self/fd/{mfd}"
    assert execs[mem.pid]["binary_properties"] == {"file": {
        "inode": {"number": str(mem_ino), "links": 0}, "path": "/memfd:vigil-test (deleted)"}}
    assert "binary_properties" not in execs[last]
    fexecve_children = [p for p in execs.values() if p["binary"].startswith("/dev/fd/")]
    assert len(fexecve_children) == 1
    assert last in execs
    assert set(execs) == {*expect, mem.pid, last, fexecve_children[0]["pid"]}


def textwrap_fexecve(path: str) -> str:
    """A Python child that execs `path` through fexecve (execveat with
    AT_EMPTY_PATH): the kernel names the binary /dev/fd/N."""
    return (
        "import os\n"
        f"fd = os.open({path!r}, os.O_RDONLY)\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    os.execve(fd, ['bin'], {})\n"
        "_, st = os.waitpid(pid, 0)\n"
        "raise SystemExit(os.waitstatus_to_exitcode(st))\n"
    )


# --- exits after lost records and pid reuse -------------------------------

# A child that says so once it runs its own code, i.e. after its exec's
# tracepoint fired: Popen returns as soon as exec closed the child's
# close-on-exec descriptors, a little before that tracepoint.
SLEEPER = [sys.executable, "-c", "import time; print('up', flush=True); time.sleep(300)"]


def fork_with_pid(pid: int, argv: list[str], attempts: int = 200) -> subprocess.Popen[bytes]:
    """A child with exactly this (free) pid, through ns_last_pid; other
    processes may take it first, so try again. Returns once the child runs."""
    for _ in range(attempts):
        Path("/proc/sys/kernel/ns_last_pid").write_text(str(pid - 1))
        child = subprocess.Popen(argv, stdout=subprocess.PIPE)
        if child.pid == pid:
            assert read_line(child.stdout) == "up"
            return child
        child.kill()
        child.wait()
    raise AssertionError(f"could not get pid {pid} in {attempts} attempts")


# Enough to overflow the 64 KiB ring buffer several times over (each process
# writes about 350 bytes); fewer in the VM matrix, where each exec is slow.
FILL = 300 if os.environ.get("VIGIL_VM") else 600


def fill_ring_buffer(processes: int = FILL) -> None:
    for _ in range(processes):
        subprocess.run(["/bin/true"], check=True)


def test_exit_after_lost_records_and_pid_reuse_is_not_the_dead_process(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIGIL_SWEEP_INTERVAL_S", "0.5")
    run = VigilRun(tmp_path, ["--ringbuf-size-mb", "0.0625"])  # 64 KiB
    try:
        first = subprocess.Popen(["/bin/sleep", "300"])
        old = run.wait_for(exec_of(first.pid), "exec of the first sleep")
        old_id = old["process_exec"]["process"]["exec_id"]
        run.proc.send_signal(signal.SIGSTOP)  # the reader stops; the ring fills
        try:
            fill_ring_buffer()
            first.kill()
            first.wait()  # its exit record is lost
            second = fork_with_pid(first.pid, SLEEPER)  # its exec record is lost too
        finally:
            run.proc.send_signal(signal.SIGCONT)
        marker = subprocess.Popen(["/bin/true", "after"])
        marker.wait()
        run.wait_for(exit_of(marker.pid), "exit of a marker after the reader resumed",
                     timeout=EVENT_TIMEOUT * 3)
        second.kill()
        second.wait()
        ev = run.wait_for(exit_of(second.pid), "exit of the process that reused the pid")
    finally:
        summary = run.stop()
    p = ev["process_exit"]["process"]
    assert p["pid"] == first.pid
    assert p["exec_id"] != old_id
    assert p["flags"] == "miss", (ev, summary)
    assert ev["process_exit"]["signal"] == "SIGKILL"
    assert not [e for e in run.events()
                if "process_exit" in e and e["process_exit"]["process"]["exec_id"] == old_id]
    last = summary.strip().splitlines()[-1]
    assert re.search(r"ringbuf_full_exit \d+", last), last
    assert re.search(r"ringbuf_full_exec \d+", last), last
    stale = re.search(r"stale_process_entries (\d+)", last)
    assert stale and int(stale.group(1)) >= 1, last
    assert re.search(r"exit_of_unknown_process (\d+)", last), last


def test_exec_map_full_is_not_a_loss_and_exits_keep_their_identity(tmp_path: Path) -> None:
    binary = tmp_path / "small-map-true"
    shutil.copy("/bin/true", binary)
    run = VigilRun(tmp_path, ["--exec-map-size", "16"])
    try:
        # Many more than the map's 16 entries (fewer in the slow VM matrix).
        count = 80 if os.environ.get("VIGIL_VM") else 200
        pids = [spawn(str(binary).encode(), [b"t", str(i).encode()], "/", cpu=None)
                for i in range(count)]
        for pid in pids:
            assert reap(pid) == 0
        run.wait_for(exit_of(pids[-1]), "exit of the last process")
    finally:
        summary = run.stop()
    execs = {e["process_exec"]["process"]["pid"]: e["process_exec"]["process"]
             for e in run.events() if "process_exec" in e}
    exits = {e["process_exit"]["process"]["pid"]: e["process_exit"]["process"]
             for e in run.events() if "process_exit" in e}
    for pid in pids:
        # The exit names the same process as the exec, found by pid and fork
        # time although the kernel's map could not hold it.
        assert exits[pid]["exec_id"] == execs[pid]["exec_id"]
        assert exits[pid]["binary"] == str(binary)
        assert "miss" not in exits[pid]["flags"].split()
    last = summary.strip().splitlines()[-1]
    assert re.search(r"lost: 0\b", last), last
    full = re.search(r"exec_map_full (\d+)", last)
    assert full and int(full.group(1)) > 0, last
    seeded = re.search(r"procfs_seed_failed (\d+)", last)
    assert seeded and int(seeded.group(1)) > 0, last  # more processes than 16 at start


def test_exec_of_a_deleted_file_is_matched_by_its_old_path(tmp_path: Path) -> None:
    binary = tmp_path / "deleted-true"
    shutil.copy("/bin/true", binary)
    fd = os.open(binary, os.O_RDONLY)
    ino = os.fstat(fd).st_ino
    binary.unlink()
    run = VigilRun(tmp_path, ["--binary-regex", f"^{re.escape(str(binary))} \\(deleted\\)$"])
    try:
        proc = subprocess.Popen([f"/proc/self/fd/{fd}"], pass_fds=[fd])
        proc.wait()
        ev = run.wait_for(exec_of(proc.pid), "exec of the deleted file")
    finally:
        os.close(fd)
        run.stop()
    p = ev["process_exec"]["process"]
    assert p["binary"] == f"/proc/self/fd/{fd}"
    assert p["binary_properties"] == {"file": {
        "inode": {"number": str(ino), "links": 0}, "path": f"{binary} (deleted)"}}
