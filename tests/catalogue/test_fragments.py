"""Fragments: shared steps and fields spliced in at load, with problems placed in the fragment and the service."""

from __future__ import annotations

import pytest

from onestop.catalogue.fields import BooleanField, EmailField, PhoneField
from onestop.catalogue.steps import ReviewStep

from .conftest import SERVICE_PATH, Tree

# Line numbers in these texts are asserted below.
CONTACT = """\
fields:
  - id: email
    type: email
    label: {en: Email, tc: 電郵}
  - id: phone
    type: phone
    label: {en: Phone, tc: 電話}
"""

DECLARATION = """\
steps:
  - id: check
    type: review
    title: {en: Check, tc: 核對}
    fields:
      - {id: declaration, type: boolean, required: true, label: {en: True and complete, tc: 真確及完整}}
"""

SECOND_PATH = "services/transport/second.yaml"


@pytest.fixture
def with_fragments(tree: Tree) -> Tree:
    tree.write("fragments/contact.yaml", CONTACT)
    tree.write("fragments/declaration.yaml", DECLARATION)
    # Line 31: the contact include inside the form's fields; line 40: the declaration include among the steps.
    tree.edit_service("        optionList: districts\n", "        optionList: districts\n"
                      "      - include: fragments/contact.yaml\n")
    tree.edit_service("  - id: submit\n", "  - include: fragments/declaration.yaml\n  - id: submit\n")
    second = (tree.root / SERVICE_PATH).read_text(encoding="utf-8").replace("id: renew-licence", "id: second")
    tree.write(SECOND_PATH, second)
    return tree


def test_included_fields_and_steps_are_spliced_in_where_the_include_is(with_fragments: Tree) -> None:
    service = with_fragments.load().service("renew-licence")
    assert service is not None
    assert [step.id for step in service.steps] == ["prefill", "details", "check", "submit"]
    details = service.step("details")
    assert [field.id for field in details.all_fields()] == ["licenceNumber", "district", "email", "phone", "years"]
    assert isinstance(service.field("email"), EmailField)
    assert isinstance(service.field("phone"), PhoneField)
    assert isinstance(service.step("check"), ReviewStep)
    assert isinstance(service.field("declaration"), BooleanField)


def test_a_changed_fragment_is_a_new_version_of_every_service_that_includes_it(with_fragments: Tree) -> None:
    before = with_fragments.load()
    with_fragments.edit("fragments/contact.yaml", "{en: Phone, tc: 電話}", "{en: Mobile phone, tc: 手提電話}")
    after = with_fragments.load()
    for slug in ("renew-licence", "second"):
        assert before.services[slug].content_hash != after.services[slug].content_hash
    assert before.version != after.version


def test_a_broken_fragment_is_reported_in_the_fragment_and_at_each_include(with_fragments: Tree) -> None:
    with_fragments.edit("fragments/contact.yaml", "    type: phone", "    type: fone")
    problems = with_fragments.problems()
    assert {(p.path, p.line, p.col, p.code, p.included_from) for p in problems} == {
        (with_fragments.where("fragments/contact.yaml"), 6, 11, "INVALID_VALUE",
         f"{with_fragments.where(path)}:31:9") for path in (SERVICE_PATH, SECOND_PATH)
    }
    assert all(p.hint == "did you mean 'phone'?" for p in problems)


def test_a_bad_expression_in_a_fragment_points_into_the_fragment(with_fragments: Tree) -> None:
    with_fragments.edit("fragments/declaration.yaml", "    type: review\n",
                        "    type: review\n    when: answers.x ==\n")
    problems = [p for p in with_fragments.problems() if p.included_from and SERVICE_PATH in p.included_from]
    assert [(p.path, p.line, p.col, p.code, p.included_from) for p in problems] == [
        (with_fragments.where("fragments/declaration.yaml"), 4, 23, "CEL_SYNTAX",
         f"{with_fragments.where(SERVICE_PATH)}:40:5"),
    ]


def test_a_cross_reference_problem_in_a_fragment_names_the_include(with_fragments: Tree) -> None:
    with_fragments.edit("fragments/contact.yaml", "    type: phone\n",
                        "    type: phone\n    prefill: td-licensing.no-such-item\n")
    problems = [p for p in with_fragments.problems() if p.included_from and SERVICE_PATH in p.included_from]
    assert [(p.path, p.line, p.code) for p in problems] == [
        (with_fragments.where("fragments/contact.yaml"), 7, "UNKNOWN_DATA_ITEM"),
    ]


def test_items_after_an_include_keep_their_own_positions(with_fragments: Tree) -> None:
    with_fragments.edit_service("        integer: true\n", "        integer: maybe\n")
    problems = [p for p in with_fragments.problems() if p.path == with_fragments.where(SERVICE_PATH)]
    assert [(p.line, p.col, p.code, p.included_from) for p in problems] == [(35, 18, "WRONG_TYPE", None)]


@pytest.mark.parametrize(("include", "code"), [
    ("fragments/contacts.yaml", "UNKNOWN_FRAGMENT"),
    ("../taxonomy.yaml", "INVALID_VALUE"),
    ("fragments/declaration.yaml", "WRONG_FRAGMENT"),  # holds steps, included among fields
])
def test_a_bad_include_is_reported_at_the_include(with_fragments: Tree, include: str, code: str) -> None:
    with_fragments.edit_service("include: fragments/contact.yaml", f"include: {include}")
    problems = [p for p in with_fragments.problems()
                if SERVICE_PATH in p.path or SERVICE_PATH in (p.included_from or "")]
    assert [p.code for p in problems] == [code]
    if code != "WRONG_FRAGMENT":
        assert (problems[0].line, problems[0].col) == (31, 18)


def test_a_fragment_cannot_include_another(with_fragments: Tree) -> None:
    with_fragments.edit("fragments/contact.yaml", "fields:\n", "fields:\n  - include: fragments/declaration.yaml\n")
    problems = with_fragments.problems()
    assert {(p.path, p.line, p.code) for p in problems} == {
        (with_fragments.where("fragments/contact.yaml"), 2, "NESTED_INCLUDE")}


def test_a_repeated_key_in_a_fragment_is_reported_with_the_include(with_fragments: Tree) -> None:
    with_fragments.edit("fragments/contact.yaml", "    type: phone\n", "    type: phone\n    type: phone\n")
    problems = [p for p in with_fragments.problems() if SERVICE_PATH in (p.included_from or "")]
    assert [(p.path, p.line, p.code) for p in problems] == [
        (with_fragments.where("fragments/contact.yaml"), 7, "DUPLICATE_KEY")]
