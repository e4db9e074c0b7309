"""Compact output of real execs whose path and arguments try to forge lines."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from .vigil_runner import read_line

pytestmark = [pytest.mark.needs("tracepoint", "raw_tracepoint", "ringbuf"),
              pytest.mark.kernel_independent("the compact encoder's escaping")]


def test_newlines_and_escapes_in_path_and_arguments_cannot_forge_lines(tmp_path: Path) -> None:
    evil_dir = tmp_path / "x\n\x1b[2J\u202e"
    evil_dir.mkdir()
    binary = evil_dir / "t"
    shutil.copy("/bin/true", binary)
    marker = re.escape(str(tmp_path))
    proc = subprocess.Popen(
        [sys.executable, "-m", "vigil", "run", "-o", "compact", "--binary-regex", marker],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert proc.stderr is not None
        assert "vigil: watching" in read_line(proc.stderr, timeout=60)
        forged = "x\n🚀 process vm /usr/bin/sshd FORGED"
        subprocess.run([str(binary), forged, "\x1b]0;title\x07"], check=True)
    finally:
        # The child has been reaped, so its records are in the ring buffer;
        # vigil drains it before it stops.
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    node = os.uname().nodename
    shown = f"{tmp_path}/x\\x0a\\x1b[2J\\u202e/t"
    args = '"x\\x0a🚀 process vm /usr/bin/sshd FORGED" \\x1b]0;title\\x07'
    assert out.decode().splitlines() == [f"🚀 process {node} {shown} {args}",
                                         f"💥 exit    {node} {shown} {args} 0"]
