"""Predicate prefill in definitions: checked against the record it reads, with a consent sentence."""

from __future__ import annotations

import datetime as dt

import pytest

from onestop.catalogue.predicates import evaluate, generated_statement, predicate_ref, split_ref
from onestop.catalogue.steps import PrefillStep

from .conftest import Tree

RECORDS = """\
  - id: td-identity
    name: {en: Identity, tc: 身份}
    source: {kind: sql}
    items:
      - {id: date-of-birth, type: date, description: {en: Date of birth, tc: 出生日期}, authoritative: true}
      - {id: nickname, type: text, description: {en: Nickname, tc: 暱稱}}
"""
PREDICATE = """\
    predicates:
      - {id: adult, over: td-identity.date-of-birth, check: age >= 18}
"""
FIELD = """\
      - {id: adult, type: boolean, label: {en: Adult, tc: 成人}, prefill: adult}
"""


@pytest.fixture
def with_predicate(tree: Tree) -> Tree:
    tree.edit("departments/td.yaml", "providers:\n", "providers:\n" + RECORDS)
    tree.edit_service("    items: [td-licensing.driving-licence]\n",
                      "    items: [td-licensing.driving-licence]\n" + PREDICATE)
    tree.edit_service("    fields:\n", "    fields:\n" + FIELD)
    return tree


def test_a_predicate_loads_with_a_generated_consent_sentence(with_predicate: Tree) -> None:
    service = with_predicate.load().service("renew-licence")
    assert service is not None
    step = service.step("prefill")
    assert isinstance(step, PrefillStep)
    (predicate,) = step.predicates
    assert predicate.ref == "td-identity.date-of-birth?age >= 18"
    assert predicate.statement is not None
    assert predicate.statement.en == "We will confirm you are 18 or over. Your date of birth is not shared."
    assert predicate.statement.tc == "我們只會確認你年滿18歲。出生日期不會被分享。"


@pytest.mark.parametrize(("old", "new", "code"), [
    # Not authoritative (and not a date, so no age either).
    ("over: td-identity.date-of-birth", "over: td-identity.nickname", "INVALID_VALUE CEL_TYPE_ERROR"),
    ("check: age >= 18", "check: citizen.age >= 18", "CEL_TYPE_ERROR"),
    ("check: age >= 18", "check: age + 1", "CEL_TYPE_ERROR"),  # not a boolean
    ("prefill: adult}", "prefill: adlut}", "UNKNOWN_REFERENCE"),
    ("type: boolean, label: {en: Adult", "type: text, label: {en: Adult", "INVALID_VALUE"),
])
def test_a_bad_predicate_is_reported_where_it_is_written(with_predicate: Tree, old: str, new: str,
                                                        code: str) -> None:
    with_predicate.edit_service(old, new)
    assert [p.code for p in with_predicate.problems()] == code.split()


def test_age_is_only_known_over_a_date(with_predicate: Tree) -> None:
    with_predicate.edit_service("over: td-identity.date-of-birth", "over: td-licensing.driving-licence")
    messages = [p.message for p in with_predicate.problems()]
    assert any("only known for a date" in message for message in messages)


@pytest.mark.parametrize(("born", "expected"), [("1961-11-28", True), ("1961-11-29", False)])
def test_age_counts_whole_years_to_the_day(born: str, expected: bool) -> None:
    assert evaluate("age >= 65", born, dt.date(2026, 11, 28)) is expected


def test_a_predicate_ref_splits_back_into_item_and_check() -> None:
    ref = predicate_ref("immd-records.date-of-birth", "age  >=\n65")
    assert split_ref(ref) == ("immd-records.date-of-birth", "age >= 65")
    assert split_ref("eme.nameEn") == ("eme.nameEn", None)


def test_an_under_age_check_reads_naturally() -> None:
    text = generated_statement("age < 18", {"en": "Date of birth", "tc": "出生日期"})
    assert text["en"] == "We will confirm you are 17 or under. Your date of birth is not shared."
    assert text["tc"] == "我們只會確認你未滿18歲。出生日期不會被分享。"
