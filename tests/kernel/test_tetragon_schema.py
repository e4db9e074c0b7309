"""What `vigil run` really exports parses strictly with Tetragon's protobuf
definitions (src/vigil/api/proto): real children, as root (every capability)
and as nobody, with namespaces, credentials and ancestors turned on."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import orjson
import pytest
from google.protobuf import json_format

from vigil.api.gen.tetragon import events_pb2

from .vigil_runner import Event, VigilRun, exec_of, exit_of

pytestmark = pytest.mark.needs("tracepoint", "raw_tracepoint", "ringbuf")

NOBODY = 65534


def _ns_inode(path: str) -> int | None:
    """None where it cannot be read (a sandbox may hide pid 1's namespaces)."""
    try:
        return os.stat(path).st_ino
    except OSError:
        return None


@pytest.mark.kernel_independent("the JSON encoder")
def test_every_exported_line_parses_strictly(tmp_path: Path) -> None:
    run = VigilRun(tmp_path, ["--enable-process-ns", "--enable-process-cred",
                              "--enable-ancestors"])
    try:
        children: dict[str, subprocess.Popen[bytes]] = {
            "true": subprocess.Popen(["/bin/true"]),
            "exit 3": subprocess.Popen(["/bin/sh", "-c", "exit 3"]),
            # Control characters, escapes and non-ASCII in arguments.
            "echo": subprocess.Popen(["/bin/echo", "a b", 'q"uote', "x\n\x1b[31m🚀"],
                                     stdout=subprocess.DEVNULL),
            "nobody": subprocess.Popen(["/usr/bin/id"], user=NOBODY, group=NOBODY,
                                       extra_groups=[], stdout=subprocess.DEVNULL),
            "killed": subprocess.Popen(["/bin/sleep", "60"]),
        }
        run.wait_for(exec_of(children["killed"].pid), "exec of sleep")
        children["killed"].send_signal(signal.SIGKILL)
        execs: dict[str, Event] = {}
        exits: dict[str, Event] = {}
        for name, child in children.items():
            child.wait()
            execs[name] = run.wait_for(exec_of(child.pid), f"exec of {name}")
            exits[name] = run.wait_for(exit_of(child.pid), f"exit of {name}")
    finally:
        run.stop()

    lines = run.export.read_bytes().splitlines()
    assert len(lines) >= 2 * len(children)
    for n, line in enumerate(lines, 1):
        try:
            msg = json_format.Parse(line, events_pb2.GetEventsResponse(),
                                    ignore_unknown_fields=False)
        except json_format.ParseError as e:
            raise AssertionError(f"line {n} does not parse with Tetragon's schema: {e}\n"
                                 f"{line.decode(errors='replace')}") from None
        assert (json_format.MessageToDict(msg, preserving_proto_field_name=True)
                == orjson.loads(line)), f"line {n} changed through protobuf"

    # The lines above held what this test is about.
    root = execs["true"]["process_exec"]["process"]
    if os.geteuid() == 0:
        assert "DAC_OVERRIDE" in root["cap"]["effective"]
        assert "CAP_SYS_ADMIN" in root["cap"]["permitted"]
    assert set(root["ns"]) >= {"mnt", "pid", "net", "user"}
    if _ns_inode("/proc/1/ns/pid") == _ns_inode("/proc/self/ns/pid"):
        assert root["ns"]["pid"]["is_host"] is True
    assert execs["true"]["process_exec"]["ancestors"]
    nobody = execs["nobody"]["process_exec"]["process"]
    assert nobody["uid"] == NOBODY
    assert nobody["process_credentials"] == {"uid": NOBODY, "gid": NOBODY,
                                             "euid": NOBODY, "egid": NOBODY}
    assert "effective" not in nobody.get("cap", {})
    assert exits["exit 3"]["process_exit"]["status"] == 3
    assert exits["killed"]["process_exit"]["signal"] == "SIGKILL"
