"""Reading posted steps into answers, and answers back into words."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.datastructures import FormData

from onestop.web import forms, i18n
from onestop.web.context import safe_next

GROUP = {"id": "people", "type": "group", "fields": [{"id": "name", "type": "text"},
                                                    {"id": "age", "type": "number"}]}


def _read(spec: dict[str, Any], pairs: list[tuple[str, str]]) -> forms.Parsed:
    return forms.read_step([spec], FormData(pairs))


@pytest.mark.parametrize(("spec", "pairs", "answer"), [
    ({"id": "x", "type": "text"}, [("f.x", "  hi ")], "hi"),
    ({"id": "x", "type": "number"}, [("f.x", "3")], 3),
    ({"id": "x", "type": "number"}, [("f.x", "2.5")], 2.5),
    ({"id": "x", "type": "date"}, [("f.x.day", "7"), ("f.x.month", "3"), ("f.x.year", "2026")], "2026-03-07"),
    ({"id": "x", "type": "boolean", "required": True}, [("f.x", "true")], True),
    ({"id": "x", "type": "boolean", "required": True}, [], False),
    ({"id": "x", "type": "boolean"}, [("f.x", "false")], False),
    ({"id": "x", "type": "choice"}, [("f.x", "red")], "red"),
    ({"id": "x", "type": "multiChoice"}, [("f.x", "a"), ("f.x", "b")], ["a", "b"]),
    ({"id": "x", "type": "hkid"}, [("f.x", "A123456(3)")], "A123456(3)"),
    ({"id": "x", "type": "address"}, [("f.x.building", "Court"), ("f.x.district", "wan-chai"),
                                      ("f.x.region", "HK"), ("f.x.flat", "")],
     {"building": "Court", "district": "wan-chai", "region": "HK"}),
    (GROUP, [("f.people.count", "2"), ("f.people.0.name", "Ann"), ("f.people.0.age", "7"),
             ("f.people.1.name", "Bob")], [{"name": "Ann", "age": 7}, {"name": "Bob"}]),
])
def test_each_field_type_is_read_from_the_form(spec: dict[str, Any], pairs: list[tuple[str, str]],
                                               answer: Any) -> None:
    parsed = _read(spec, pairs)
    assert parsed.errors == {}
    assert parsed.answers == {spec["id"]: answer}


@pytest.mark.parametrize(("spec", "pairs", "code"), [
    ({"id": "x", "type": "date"}, [("f.x.day", "31"), ("f.x.month", "2"), ("f.x.year", "2026")], "invalid_date"),
    ({"id": "x", "type": "number"}, [("f.x", "three")], "invalid_number"),
])
def test_a_value_that_cannot_be_read_is_an_error_before_the_api(spec: dict[str, Any],
                                                                pairs: list[tuple[str, str]], code: str) -> None:
    parsed = _read(spec, pairs)
    assert parsed.errors == {"x": code}
    assert "x" not in parsed.answers


def test_empty_optional_fields_are_left_out() -> None:
    assert _read({"id": "x", "type": "text"}, [("f.x", "  ")]).answers == {}


def test_add_and_remove_change_the_entries_being_edited() -> None:
    answers = {"people": [{"name": "Ann"}, {"name": "Bob"}]}
    assert forms.regroup(answers, "add:people", [GROUP])["people"] == [{"name": "Ann"}, {"name": "Bob"}, {}]
    assert forms.regroup(answers, "remove:people:0", [GROUP])["people"] == [{"name": "Bob"}]
    assert forms.regroup(answers, "remove:other:0", [GROUP]) == answers


@pytest.mark.parametrize(("path", "key"), [(["input", "answers", "hkid"], "hkid"),
                                           (["input", "answers", "people", "0", "name"], "people.0.name"),
                                           (["input", "stepId"], None), (None, None)])
def test_user_error_paths_point_at_fields(path: list[str] | None, key: str | None) -> None:
    assert forms.error_key(path) == key


def test_answers_are_shown_in_words() -> None:
    spec = {"options": [{"value": "red", "label": "Red"}]}
    assert forms.display("red", spec, "Yes", "No") == "Red"
    assert forms.display(True, None, "Yes", "No") == "Yes"
    assert forms.display({"building": "Court", "region": "HK"}, None, "Yes", "No") == "Court, HK"
    assert forms.display([{"name": "Ann", "age": 7}], None, "Yes", "No") == "Ann, 7"


@pytest.mark.parametrize(("header", "language"), [("zh-HK,en;q=0.5", "zh-HK"), ("zh-Hant-TW", "zh-HK"),
                                                  ("zh-CN", "zh-CN"), ("zh", "zh-CN"), ("fr, en-GB", "en"),
                                                  ("", "en"), (None, "en")])
def test_the_language_is_picked_from_the_header(header: str | None, language: str) -> None:
    assert i18n.pick(header) == language


def test_every_message_has_three_languages() -> None:
    for key in i18n.message_keys():
        assert all(i18n.translate(code, key) for code in i18n.LANGUAGES)


@pytest.mark.parametrize(("target", "safe"), [("/my/data", "/my/data"), ("/search?q=x", "/search?q=x"),
                                              ("https://evil.example/", "/"), ("//evil.example", "/"),
                                              ("/\\evil.example", "/"), ("javascript:alert(1)", "/"),
                                              (None, "/")])
def test_next_is_only_ever_an_own_path(target: str | None, safe: str) -> None:
    assert safe_next(target) == safe
