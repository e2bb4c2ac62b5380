from __future__ import annotations

import pytest

from onestop.catalogue.expressions import MAX_LENGTH, Expression, ExpressionError
from onestop.catalogue.problems import CatalogueError

from .conftest import Tree, codes_at

SERVICE_FILE = "renew-licence.yaml"


@pytest.mark.parametrize(
    ("when", "col"),
    [("citizen.age >= 18 &&& x", 29), ('"citizen.age >= 18 &&& x"', 30), ("(citizen.age >= 18", 27)],
)
def test_syntax_error_column_is_mapped_into_the_file(tree: Tree, when: str, col: int) -> None:
    tree.edit_service("  when: citizen.age >= 18", f"  when: {when}")
    problems = tree.problems()
    assert codes_at(problems) == {(SERVICE_FILE, 10, col, "CEL_SYNTAX")}
    assert problems[0].hint


def test_expression_longer_than_the_cap_is_refused(tree: Tree) -> None:
    long = " || ".join(["citizen.age > 1"] * 40)
    assert len(long) > MAX_LENGTH
    tree.edit_service("  when: citizen.age >= 18", f"  when: {long}")
    assert codes_at(tree.problems()) == {(SERVICE_FILE, 10, 9, "CEL_TOO_LONG")}


@pytest.mark.parametrize(
    ("old", "new", "line", "col", "code"),
    [
        ("  when: citizen.age >= 18", "  when: citizen.age + 1", 10, 9, "CEL_NOT_BOOLEAN"),
        ("  when: citizen.age >= 18", "  when: answers.years > 1", 10, 9, "UNKNOWN_REFERENCE"),
        ("  when: citizen.age >= 18", "  when: citizen.age >= 18 && salary > 1", 10, 9, "UNKNOWN_REFERENCE"),
        ("  when: citizen.age >= 18", "  when: now() > timestamp('2020-01-01T00:00:00Z')", 10, 9,
         "UNKNOWN_REFERENCE"),
        ('when: answers.district == "eastern"', "when: answers.years > 1", 35, 15, "UNKNOWN_REFERENCE"),
        ('when: answers.district == "eastern"', "when: value > 1", 35, 15, "UNKNOWN_REFERENCE"),
        ('when: answers.district == "eastern"', "when: answers.district > 3", 35, 15, "CEL_TYPE_ERROR"),
        ("check: value >= 1 && value <= 10", "check: value + 1", 37, 20, "CEL_NOT_BOOLEAN"),
        ("check: value >= 1 && value <= 10", 'check: value > "x"', 37, 20, "CEL_TYPE_ERROR"),
    ],
)
def test_expressions_are_checked_against_what_they_can_see(
    tree: Tree, old: str, new: str, line: int, col: int, code: str
) -> None:
    tree.edit_service(old, new)
    assert (SERVICE_FILE, line, col, code) in codes_at(tree.problems())


def test_reference_to_a_later_field_suggests_a_close_earlier_one(tree: Tree) -> None:
    tree.edit_service('when: answers.district == "eastern"', 'when: answers.distric == "eastern"')
    problems = tree.problems()
    assert [p.hint for p in problems] == ["did you mean answers.district?"]


@pytest.mark.parametrize(
    "when",
    [
        'has(answers.district) && answers.district in ["eastern", "wan-chai"]',
        "answers.licenceNumber.matches('^[A-Z]') || size(answers.licenceNumber) > 3",
        "[1, 2].all(n, n > 0) && today > '2000-01-01'",
        "citizen.loggedIn && citizen.ageGroup == 'adult' && citizen.assurance != 'face'",
        "false",
    ],
)
def test_valid_expressions_load(tree: Tree, when: str) -> None:
    quoted = f"'{when}'" if "'" not in when else f'"{when}"'
    tree.edit_service('when: answers.district == "eastern"', f"when: {quoted}")
    assert tree.load().service("renew-licence") is not None


def test_evaluate_returns_the_boolean() -> None:
    expression = Expression("citizen.age >= 18 && answers.kids.exists(k, k.age < 6)")
    context = {"citizen": {"age": 40}, "answers": {"kids": [{"age": 3}]}}
    assert expression.evaluate(context) is True
    assert expression.evaluate({**context, "citizen": {"age": 12}}) is False


def test_evaluate_refuses_a_non_boolean_result() -> None:
    with pytest.raises(ExpressionError) as info:
        Expression("citizen.age + 1").evaluate({"citizen": {"age": 1}})
    assert info.value.code == "CEL_NOT_BOOLEAN"


@pytest.mark.parametrize("context", [{}, {"answers": {}}])
def test_evaluate_reports_missing_values(context: dict[str, object]) -> None:
    with pytest.raises(ExpressionError) as info:
        Expression("answers.income > 1000").evaluate(context)
    assert info.value.code == "CEL_EVALUATION"


def test_syntax_error_carries_its_position() -> None:
    with pytest.raises(ExpressionError) as info:
        Expression("a &&\n  (b")
    assert (info.value.code, info.value.line, info.value.column) == ("CEL_SYNTAX", 2, 5)


def test_comprehension_variables_are_not_free_names() -> None:
    expression = Expression("answers.items.all(item, item.count > 0) && [1].exists(n, n == 1)")
    assert expression.variables() == {"answers"}
    assert expression.answer_references() == ["items"]


def test_expressions_compare_by_source_and_serialise_as_text(tree: Tree) -> None:
    service = tree.load().services["renew-licence"]
    assert service.eligibility is not None
    assert service.eligibility.when == Expression("citizen.age >= 18")
    assert service.model_dump(mode="json")["eligibility"]["when"] == "citizen.age >= 18"


HOUSEHOLD = """\
  - id: household
    type: form
    title: {en: Household, tc: 家庭}
    fields:
      - {id: cash, type: number, label: {en: Cash, tc: 現金}}
      - id: members
        type: group
        label: {en: Members, tc: 成員}
        fields:
          - {id: memberAge, type: number, integer: true, label: {en: Age, tc: 年齡}}
          - id: memberIncome
            type: number
            label: {en: Income, tc: 入息}
            when: WHEN
            rules:
              - check: CHECK
                message: {en: Too much, tc: 太多}
  - id: submit
"""


def _household(tree: Tree, when: str = "entry.memberAge >= 18", check: str = "value <= 50000.0") -> list[str]:
    tree.edit_service("  - id: submit\n", HOUSEHOLD.replace("WHEN", when).replace("CHECK", check))
    try:
        tree.load()
    except CatalogueError as error:
        return [p.code for p in error.problems]
    return []


def test_a_group_member_reads_its_earlier_siblings_through_entry(tree: Tree) -> None:
    assert _household(tree, check="value <= 50000.0 || entry.memberAge >= 65") == []


@pytest.mark.parametrize(("when", "check"), [
    ("answers.memberAge >= 18", "value <= 50000.0"),  # a member is not an answer of the service
    ("entry.memberIncome > 0.0", "value <= 50000.0"),  # not yet defined in the entry
    ("entry.memberAgee >= 18", "value <= 50000.0"),
    ("entry.memberAge >= 18", "entry.nobody > 1"),
])
def test_references_outside_an_entry_s_scope_are_refused(tree: Tree, when: str, check: str) -> None:
    assert "UNKNOWN_REFERENCE" in _household(tree, when, check)


def test_a_member_read_as_an_answer_is_pointed_at_entry(tree: Tree) -> None:
    _household(tree, when="answers.memberAge >= 18")
    hints = [p.hint or "" for p in tree.problems()]
    assert any("entry.memberAge" in hint for hint in hints), hints


def test_entry_does_not_exist_outside_a_group(tree: Tree) -> None:
    tree.edit_service('when: answers.district == "eastern"', "when: entry.district == 1")
    assert [p.code for p in tree.problems()] == ["UNKNOWN_REFERENCE"]


@pytest.mark.parametrize(("check", "code"), [
    ("value + 1 > 0", "CEL_TYPE_ERROR"),  # a decimal field is a double, whether 100000 or 2.5 was typed
    ("answers.cash + 0.5 > 100000.0", None),
    ("double(entry.memberAge) + value > 1.0", None),
    ("entry.memberAge + value > 1.0", "CEL_TYPE_ERROR"),  # an integer field is an int
])
def test_number_arithmetic_is_checked_with_whole_and_decimal_samples(tree: Tree, check: str,
                                                                      code: str | None) -> None:
    assert _household(tree, check=check) == ([code] if code else [])
