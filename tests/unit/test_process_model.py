"""exec_id, argument quoting and flag names."""

from __future__ import annotations

import base64
import shlex

from hypothesis import given
from hypothesis import strategies as st

from vigil.process.model import exec_id, flag_string, quote_args
from vigil.wire.records import ProcFlag


def test_exec_id_is_tetragons_base64_of_node_ktime_pid() -> None:
    eid = exec_id("node-1", 123456789, 42)
    assert base64.b64decode(eid) == b"node-1:123456789:42"
    assert eid == "bm9kZS0xOjEyMzQ1Njc4OTo0Mg=="


def test_plain_arguments_are_joined_by_spaces() -> None:
    assert quote_args(["-l", "/tmp"]) == "-l /tmp"


def test_argument_with_spaces_or_quotes_is_quoted() -> None:
    assert quote_args(["a b", 'say "hi"', "it's", ""]) == '"a b" "say \\"hi\\"" "it\'s" ""'


@given(st.lists(st.text(alphabet=st.characters(blacklist_characters="\0"), max_size=20)))
def test_quoted_arguments_split_back_to_the_originals(args: list[str]) -> None:
    assert shlex.split(quote_args(args)) == args


def test_flag_string_uses_tetragon_names_in_order() -> None:
    flags = ProcFlag.EXECVE | ProcFlag.ROOTCWD | ProcFlag.TRUNC_ARGS
    assert flag_string(flags) == "execve truncArgs rootcwd"
    assert flag_string(ProcFlag.PROCFS | ProcFlag.CLONE) == "procFS clone"
