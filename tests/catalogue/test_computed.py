"""Computed values and structured consent steps, as `onestop validate` checks them."""

from __future__ import annotations

import pytest

from onestop.catalogue import functions

from .conftest import Tree

MEANS = """\
  - id: means
    type: form
    title: {en: Means, tc: 資產}
    fields:
      - id: assets
        type: group
        label: {en: Assets, tc: 資產}
        fields:
          - {id: assetValue, type: number, label: {en: Value, tc: 價值}, required: true}
      - {id: dateOfBirth, type: date, label: {en: Born, tc: 出生}, required: true}
  - id: too-much
    type: exit
    when: totalAssets > assetLimit
    title: {en: Too much, tc: 太多}
    message: {en: "Your assets of {money} are above {assetLimit}", tc: "你的資產{money}超出{assetLimit}"}
  - id: submit
"""


def with_compute(tree: Tree, compute: str, steps: str = MEANS) -> None:
    tree.edit_service("steps:\n", f"compute:\n{compute}steps:\n")
    tree.edit_service("  - id: submit\n", steps)


GOOD = """\
  totalAssets: "sum(answers.assets.map(a, a.assetValue))"
  assetLimit: "422000.0"
  money: hkd(totalAssets)
"""


def test_computed_values_load_and_are_usable_in_conditions_and_messages(tree: Tree) -> None:
    with_compute(tree, GOOD)
    service = tree.load().service("renew-licence")
    assert service is not None
    assert service.compute is not None
    assert set(service.compute) == {"totalAssets", "assetLimit", "money"}


@pytest.mark.parametrize(("compute", "code", "line"), [
    ("  a: b + 1.0\n  b: a + 1.0\n", "COMPUTE_CYCLE", 13),
    ("  totalAssets: answers.nothing\n  assetLimit: '1.0'\n  money: '\"x\"'\n", "UNKNOWN_REFERENCE", 13),
    ("  totalAssets: frobnicate(1)\n  assetLimit: '1.0'\n  money: '\"x\"'\n", "UNKNOWN_REFERENCE", 13),
    ("  totalAssets: sum(answers.assets.map(a, a.assetValue)) + 1\n  assetLimit: '1.0'\n  money: '\"x\"'\n",
     "CEL_TYPE_ERROR", 13),
    ("  totalAssets: age_on(1, today)\n  assetLimit: '1.0'\n  money: '\"x\"'\n", "CEL_TYPE_ERROR", 13),
    ("  citizen: '1'\n" + GOOD, "DUPLICATE_ID", 13),
])
def test_bad_computed_values_are_refused_where_they_are_declared(tree: Tree, compute: str, code: str,
                                                                 line: int) -> None:
    with_compute(tree, compute)
    assert (code, line) in {(p.code, p.line) for p in tree.problems()}


def test_a_message_naming_an_unknown_value_is_refused(tree: Tree) -> None:
    with_compute(tree, GOOD, MEANS.replace("{money} are", "{mony} are"))
    problems = [p for p in tree.problems() if p.code == "UNKNOWN_REFERENCE"]
    assert [p.message for p in problems] == ["unknown computed value in the message 'mony'"]
    assert "did you mean 'money'" in (problems[0].hint or "")


def test_a_step_value_is_not_visible_before_its_step(tree: Tree) -> None:
    steps = MEANS.replace("  - id: too-much\n", "  - id: too-much\n    compute: {late: '1.0'}\n")
    with_compute(tree, GOOD, steps.replace("when: totalAssets > assetLimit", "when: late > 0.0")
                 .replace("  - id: submit\n", "  - id: early\n    type: exit\n    when: late > 2.0\n"
                          "    title: {en: E, tc: E}\n    message: {en: E, tc: E}\n  - id: submit\n"))
    assert tree.load().service("renew-licence") is not None
    with_compute_before = MEANS.replace("  - id: means\n", "  - id: early\n    type: exit\n    when: late > 2.0\n"
                                        "    title: {en: E, tc: E}\n    message: {en: E, tc: E}\n  - id: means\n")
    other = Tree(tree.root.parent / "other")
    with_compute(other, GOOD, with_compute_before.replace("  - id: too-much\n",
                                                         "  - id: too-much\n    compute: {late: '1.0'}\n"))
    assert "UNKNOWN_REFERENCE" in {p.code for p in other.problems()}


CONSENT = """\
  - id: share
    type: consent
    title: {en: Sharing, tc: 分享}
    statement: {en: I agree, tc: 我同意}
    departments: [TD]
    items: [td-licensing.driving-licence]
    purpose: {en: To check, tc: 核實}
  - id: submit
"""


def test_a_structured_consent_step_loads(tree: Tree) -> None:
    tree.edit_service("  - id: submit\n", CONSENT)
    assert tree.load().service("renew-licence") is not None


@pytest.mark.parametrize(("old", "new", "code"), [
    ("departments: [TD]", "departments: [TX]", "UNKNOWN_DEPARTMENT"),
    ("items: [td-licensing.driving-licence]", "items: [td-licensing.driving-license]", "UNKNOWN_DATA_ITEM"),
    ("items: [td-licensing.driving-licence]", "items: [td-nothing.driving-licence]", "UNKNOWN_PROVIDER"),
])
def test_a_consent_to_unknown_departments_or_items_is_refused(tree: Tree, old: str, new: str, code: str) -> None:
    tree.edit_service("  - id: submit\n", CONSENT.replace(old, new))
    assert code in {p.code for p in tree.problems()}


def test_items_without_departments_are_refused(tree: Tree) -> None:
    tree.edit_service("  - id: submit\n", CONSENT.replace("    departments: [TD]\n", ""))
    assert any("departments" in p.message for p in tree.problems())


@pytest.mark.parametrize(("call", "expected"), [
    (lambda: functions.cel_sum([1.5, 2.0]), 3.5),
    (lambda: functions.cel_sum([]), 0),
    (lambda: functions.cel_min([3, 1, 2]), 1),
    (lambda: functions.cel_max([3.0, 1.0]), 3.0),
    (lambda: functions.cel_count([True, False, True]), 2),
    (lambda: functions.age_on("1960-02-29", "2026-02-28"), 65),
    (lambda: functions.age_on("1960-02-29", "2026-03-01"), 66),
    (lambda: functions.days_between("2026-01-01", "2026-03-01"), 59),
    (lambda: functions.cel_round(2.345, 2), 2.35),
    (lambda: functions.cel_round(2.5), 3.0),
    (lambda: functions.hkd(422000.0), "HK$422,000"),
    (lambda: functions.hkd(1234.5), "HK$1,234.50"),
    (lambda: functions.interpolate({"en": "{a} of {b} {unknown}"}, {"a": 500000.0, "b": "x"}),
     {"en": "500,000 of x {unknown}"}),
])
def test_functions_give_what_means_tests_need(call: object, expected: object) -> None:
    assert callable(call)
    assert call() == expected


def test_sum_refuses_mixed_ints_and_doubles() -> None:
    with pytest.raises(TypeError):
        functions.cel_sum([1, 2.5])
