from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from onestop.catalogue.yamlsource import Mark, parse_file, parse_text


def test_every_key_and_value_has_its_line_and_column() -> None:
    source, problems = parse_text("x.yaml", "id: a\nsteps:\n  - id: one\n    title: {en: One}\n")
    assert problems == []
    assert source is not None
    assert source.key_mark(("steps", 0, "title")) == Mark(4, 5)
    assert source.value_mark(("steps", 0, "title", "en")) == Mark(4, 17)
    assert source.value_mark(("steps", 0)) == Mark(3, 5)
    # Unknown paths fall back to the nearest known ancestor.
    assert source.value_mark(("steps", 0, "missing")) == Mark(3, 5)


def test_scalar_style_is_kept_for_column_arithmetic() -> None:
    source, _ = parse_text("x.yaml", "a: 'quoted'\nb: plain\nc: |\n  block\n")
    assert source is not None
    assert [source.value_mark((key,)).style for key in "abc"] == ["'", None, "|"]


def test_dates_stay_text() -> None:
    source, _ = parse_text("x.yaml", "after: 2000-01-31\nversion: 3\nflag: true\n")
    assert source is not None
    assert source.data == {"after": "2000-01-31", "version": 3, "flag": True}


def test_duplicate_keys_are_problems_naming_the_first() -> None:
    source, problems = parse_text("x.yaml", "a: 1\nb:\n  c: 2\n  c: 3\n")
    assert source is not None
    assert [(p.line, p.col, p.code) for p in problems] == [(4, 3, "DUPLICATE_KEY")]
    assert "first at line 3" in problems[0].message
    assert source.data == {"a": 1, "b": {"c": 2}}


def test_tab_indentation_is_reported_at_the_tab() -> None:
    source, problems = parse_text("x.yaml", "a:\n  b: 1\n  \tc: 2\n\td: 3\n")
    assert source is None
    assert [(p.line, p.col, p.code) for p in problems] == [(3, 3, "TAB_INDENT"), (4, 1, "TAB_INDENT")]


def test_tab_inside_a_value_is_not_indentation() -> None:
    _, problems = parse_text("x.yaml", "a: 'x\ty'\n")
    assert problems == []


def test_empty_and_comment_only_files_are_empty() -> None:
    for text in ("", "\n\n", "# nothing yet\n"):
        source, problems = parse_text("x.yaml", text)
        assert source is None
        assert [(p.line, p.col, p.code) for p in problems] == [(1, 1, "EMPTY_FILE")]


def test_syntax_error_points_at_the_mark() -> None:
    _, problems = parse_text("x.yaml", "a: 1\nb: [1, 2\nc: 3\n")
    assert [p.code for p in problems] == ["YAML_SYNTAX"]
    assert (problems[0].line, problems[0].col) == (3, 2)


def test_bad_indentation_is_a_syntax_error() -> None:
    _, problems = parse_text("x.yaml", "a:\n  b: 1\n c: 2\n")
    assert [(p.line, p.code) for p in problems] == [(3, "YAML_SYNTAX")]


def test_non_utf8_bytes_are_located(tmp_path: Path) -> None:
    file = tmp_path / "big5.yaml"
    file.write_bytes(b"id: x\ntitle: " + "駕駛".encode("big5") + b"\n")
    source, problems = parse_file(file)
    assert source is None
    assert [(p.line, p.col, p.code) for p in problems] == [(2, 8, "NOT_UTF8")]
    assert "offset 13" in problems[0].message


def test_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    file = tmp_path / "bom.yaml"
    file.write_bytes(b"\xef\xbb\xbfid: x\n")
    source, problems = parse_file(file, "shown.yaml")
    assert problems == []
    assert source is not None
    assert source.data == {"id": "x"}
    assert source.path == "shown.yaml"


def test_resolve_drops_union_tags_from_validator_locations() -> None:
    source, _ = parse_text("x.yaml", "steps:\n  - type: form\n    fields: [{id: a}]\n")
    assert source is not None
    assert source.resolve(("steps", 0, "form", "fields", 0, "text", "id")) == ("steps", 0, "fields", 0, "id")


@pytest.mark.parametrize("scalar", [
    "yes", "No", "OFF", "true", "~", "null", "Null", "0", "17", "-3", "+4", "0x1F", "0o17", "017", "1_000",
    "1:30", "1.5", "-.5", "1e3", ".inf", "-.Inf", ".nan", "text", "yesterday", "nothing", "~home", "'1'", '"true"',
    "0.5.1", "<<x", ".", "tc",
])
def test_scalars_get_the_types_pyyaml_gives_them(scalar: str) -> None:
    text = f"a: {scalar}\nb: [{scalar}, x]\nc: {{k: {scalar}}}\n"
    source, problems = parse_text("x.yaml", text)
    assert problems == []
    assert source is not None
    assert source.data == yaml.safe_load(text)


def test_positions_are_found_after_a_clean_parse_and_after_a_duplicate_key() -> None:
    clean, _ = parse_text("x.yaml", "a:\n  b: [1, {c: 2}]\n")
    duplicated, _ = parse_text("x.yaml", "a:\n  b: [1, {c: 2}]\na: 3\n")
    assert clean is not None
    assert duplicated is not None
    for source in (clean, duplicated):
        assert source.value_mark(("a", "b", 1, "c")) == Mark(2, 14)
        assert source.key_mark(("a", "b")) == Mark(2, 3)


def _composed(text: str) -> object:
    """The data as the node composer's path builds it (the reference the event reader must match)."""
    from onestop.catalogue.yamlsource import _Builder, _Loader

    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        return None if node is None else _Builder(loader, "x.yaml").build(node, ())
    finally:
        loader.dispose()


@pytest.mark.parametrize("text", [
    "a: 1\nb: [x, {c: true, d: null}]\ne: |\n  block\n  text\n",
    "base: &b {x: 1}\nother: *b\n",  # anchors and aliases
    "a: !!str 12\nb: !!int '7'\n",  # explicit tags
    "? [complex, key]\n: value\n",  # a key that is not a scalar
    "1: one\ntrue: yes\n~: null\n2.5: f\n",  # keys of other types become texts or stay whole numbers
    "---\na: 1\n...\n",  # explicit document markers
    "- 1\n- [2, 3]\n- {}\n- []\n",  # a list at the top
    "---\n",  # an empty document
    # properties and aliases after each place one can start: a list item, a flow opener or comma, a line's indent,
    # an explicit key, a value indicator without a blank (flow)
    "- &a x\n- *a\n", "[&a x,*a]\n", "{&k a: 1, b: &v 2, c: *v}\n", "a:\n  !!str 5\n", "? !!str 1\n: v\n",
    '{"a":!!str 1}\n', "a: [1,!!str 2]\n",
    # CEL's operators and text that only look like properties: the unchecked reader
    "when: citizen.age >= 6 && answers.x != 'y'\nfee: double(answers.copies) * 2\nnote: Hello! & welcome\n",
])
def test_the_event_reader_builds_what_the_composer_builds(text: str) -> None:
    for _ in range(2):  # the second time, its keys and short scalars come from the reader's caches
        source, problems = parse_text("x.yaml", text)
        assert problems == []
        assert source is not None
        assert repr(source.data) == repr(_composed(text))  # repr: 1 and "1" as keys must not pass for each other


@pytest.mark.parametrize("text", ["a: 1\n---\nb: 2\n", "a: *missing\n", "a: !custom x\n", "- !custom x\n",
                                  "[1,!custom x]\n", "{a: 1, !custom b: 2}\n", "k:\n  !custom x\n",
                                  "? !custom x\n: y\n", "!custom x\n", "a: &x 1\nb: &x 2\nc: *x\n"])
def test_what_the_event_reader_leaves_to_the_composer_fails_as_before(text: str) -> None:
    source, problems = parse_text("x.yaml", text)
    composer_error = None
    try:
        _composed(text)
    except yaml.YAMLError as exc:
        composer_error = exc
    if composer_error is None:  # PyYAML accepts a redefined anchor: so must the reader, with the same data
        assert source is not None
        assert repr(source.data) == repr(_composed(text))
        return
    assert source is None
    assert [p.code for p in problems] == ["YAML_SYNTAX"]


@pytest.mark.parametrize(("text", "expected"), [
    ("a: b\n", False), ("when: x >= 6 && y != 'z'\nfee: a * 2\nnote: Hi! & bye\n", False),
    ("a: &x 1\n", True), ("- *x\n", True), ("[1,!t 2]\n", True), ("  !t x\n", True), ("!t x\n", True),
    ("{a:\t&x 1}\n", True), ("? !t k\n", True), ("a: 1\r&x b\n", True), ("a:\n\ufeff!t x\n", True),
])
def test_only_texts_with_a_place_for_a_property_have_their_events_checked(text: str, expected: bool) -> None:
    from onestop.catalogue.yamlsource import _may_hold_properties

    assert _may_hold_properties(text) is expected
