"""The host column of the kernel matrix, taken from a `make test` run.

`make test` runs tests/kernel on the host already; CI runs the matrix right
after it (.ci/run), and running the same tests on the same kernel again would
cost minutes of its budget and prove nothing new. scripts/test therefore keeps
its JUnit report and records what it ran on (`record`); the matrix, given
HOST_JUNIT, reads that report as its host column (`host_tests`), and refuses a
report made on another state of the tree or with another selection of tests.

    python tests/vm/host_report.py record results/host/run.json RC [PYTEST ARGS...]
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent.parent
# What the kernel tests' node ids start with in a whole-suite report.
KERNEL_TESTS = "tests/kernel/"


class StaleReport(Exception):
    """The report cannot stand for the host column; the message says why."""


def tree_state(repo: Path = REPO) -> str:
    """The commit checked out plus the changes on top of it (tracked files and
    untracked ones that are not ignored): equal states ran the same code."""

    def git(*args: str) -> bytes:
        return subprocess.run(["git", "-C", str(repo), *args], capture_output=True,
                              check=True).stdout

    try:
        h = hashlib.sha256(git("rev-parse", "HEAD"))
        h.update(git("diff", "HEAD", "--binary"))
        for name in sorted(git("ls-files", "--others", "--exclude-standard", "-z").split(b"\0")):
            if name:
                h.update(name + b"\0" + (repo / os.fsdecode(name)).read_bytes())
    except (OSError, subprocess.CalledProcessError) as e:
        raise StaleReport(f"cannot tell the state of {repo} ({e}): not a git checkout?") from e
    return h.hexdigest()


def record(path: Path, exit_code: int, args: list[str], repo: Path = REPO) -> None:
    """What scripts/test ran: its pytest exit, its arguments, the tree."""
    try:
        state = tree_state(repo)
    except StaleReport as e:
        state = f"unknown: {e}"
    info = {"pytest_exit": exit_code, "args": args, "tree": state, "release": os.uname().release}
    path.write_text(json.dumps(info, indent=2) + "\n")


def host_tests(junit: Path, tests: list[str], repo: Path = REPO) -> tuple[dict[str, Any], str]:
    """(run.json's contents, the report's XML) for a matrix of `tests`, or
    StaleReport saying why this report is not the host column."""
    run_json = junit.parent / "run.json"
    if not junit.exists() or not run_json.exists():
        raise StaleReport(f"{junit} or {run_json} is missing: run `make test` first, "
                          "or leave HOST_JUNIT unset to run the host column here")
    info: dict[str, Any] = json.loads(run_json.read_text())
    if info.get("args"):
        raise StaleReport(f"{junit} is of `make test` with arguments {info['args']}, not "
                          "of the whole suite: leave HOST_JUNIT unset")
    if tests != ["tests/kernel"]:
        raise StaleReport(f"the matrix runs {tests}, and {junit} holds the whole suite: "
                          "leave HOST_JUNIT unset when TESTS is set")
    if info.get("release") != os.uname().release:
        raise StaleReport(f"{junit} was made on kernel {info.get('release')}, this host runs "
                          f"{os.uname().release}: run `make test` again")
    if info.get("tree") != tree_state(repo):
        raise StaleReport(f"{junit} was made on another state of the tree: run `make test` "
                          "again, or leave HOST_JUNIT unset")
    return info, junit.read_text()


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[0] != "record":
        print(__doc__, file=sys.stderr)
        return 2
    record(Path(argv[1]), int(argv[2]), argv[3:])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
