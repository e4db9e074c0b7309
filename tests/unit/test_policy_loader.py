"""The YAML loader: marks for every key and value, several documents, and the YAML
mistakes PyYAML lets through (duplicate keys) or handles badly, each at file:line:column."""

from __future__ import annotations

from pathlib import Path

from vigil.policy import check_file, check_text
from vigil.policy.loader import MAX_VALUES, Mark, load_yaml


def test_marks_of_keys_values_and_items() -> None:
    src = load_yaml("a: 1\nb:\n  - x\n  - {c: 2}\n", "f.yaml")
    (doc,) = src.documents
    assert doc.data == {"a": 1, "b": ["x", {"c": 2}]}
    assert doc.marks[("a",)] == (Mark(1, 1), Mark(1, 4))
    assert doc.marks[("b", 1)] == (Mark(4, 5), Mark(4, 5))
    assert doc.marks[("b", 1, "c")] == (Mark(4, 6), Mark(4, 9))
    # a path that is not written falls back to its nearest written ancestor
    assert doc.mark(("b", 1, "missing")) == Mark(4, 5)
    assert doc.mark(("a",), value=True) == Mark(1, 4)


def test_several_documents_and_empty_ones() -> None:
    src = load_yaml("a: 1\n---\n---\nb: 2\n...\n", "f.yaml")
    assert [d.data for d in src.documents] == [{"a": 1}, {"b": 2}]
    assert [d.start for d in src.documents] == [Mark(1, 1), Mark(4, 1)]
    assert src.issues == ()


def test_duplicate_key_is_an_error_at_the_second_key() -> None:
    src = load_yaml("a: 1\nb:\n  c: 2\n  c: 3\n", "f.yaml")
    assert [str(i) for i in src.issues] == [
        "f.yaml:4:3: b.c: duplicate key 'c' (first at line 3); keep only one of them"]


def test_syntax_error_keeps_earlier_documents() -> None:
    src = load_yaml("a: 1\n---\nb: [1, 2\n", "f.yaml")
    assert [d.data for d in src.documents] == [{"a": 1}]
    assert [str(i) for i in src.issues] == [
        "f.yaml:4:1: YAML syntax: while parsing a flow sequence expected ',' or ']', but got "
        "'<stream end>'; fix the YAML at this position"]


def test_recursive_alias_and_alias_bomb_stop_cleanly() -> None:
    src = load_yaml("a: &x [*x]\n", "f.yaml")
    assert [str(i) for i in src.issues] == [
        "f.yaml:1:4: a[0]: recursive YAML alias; write the value out instead"]
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
    for n in range(1, 8):
        bomb += f"{chr(97 + n)}: &{chr(97 + n)} [{', '.join(['*' + chr(96 + n)] * 10)}]\n"
    src = load_yaml(bomb, "f.yaml")
    assert len(src.issues) == 1
    assert f"more than {MAX_VALUES} values" in src.issues[0].message


def test_deep_nesting_is_an_error_not_a_crash() -> None:
    src = load_yaml("[" * 5000, "f.yaml")
    assert len(src.issues) == 1
    assert src.issues[0].message.startswith("YAML: nesting too deep")


def test_keys_that_are_not_strings_and_merge_keys() -> None:
    src = load_yaml("1: a\n? [b]\n: c\n<<: {d: 1}\n", "f.yaml")
    assert [str(i) for i in src.issues] == [
        "f.yaml:1:1: mapping key 1 is not a string; field names are strings (quote it if it "
        "must be a number)",
        "f.yaml:2:3: mapping key a list or mapping is not a string; field names are strings "
        "(quote it if it must be a number)",
        "f.yaml:4:1: YAML merge keys (<<) are not supported; write the fields out",
    ]


def test_unknown_tag_and_control_character() -> None:
    assert [str(i) for i in load_yaml("a: !foo 1\n", "f.yaml").issues] == [
        "f.yaml:1:4: a: YAML: could not determine a constructor for the tag '!foo'"]
    assert [str(i) for i in load_yaml("a: b\nc: \x07\n", "f.yaml").issues] == [
        "f.yaml:2:4: YAML: character U+0007 is not allowed in YAML text; remove it"]


def test_an_empty_file_says_there_is_no_policy() -> None:
    assert [str(i) for i in check_text("# nothing\n", "f.yaml").issues] == [
        "f.yaml:1:1: no policy in this file; a policy starts with 'apiVersion: "
        "cilium.io/v1alpha1'"]


def test_a_file_that_is_not_utf8(tmp_path: Path) -> None:
    p = tmp_path / "p.yaml"
    p.write_bytes(b"a: 1\nb: \xff\n")
    assert [str(i) for i in check_file(p).issues] == [
        f"{p}:2:4: not UTF-8 text; a policy file is UTF-8"]
