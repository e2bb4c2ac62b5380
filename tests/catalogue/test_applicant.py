"""Who may apply: `applicant` and `actingAs` in a service definition, checked with file:line:col."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import Tree, codes_at

SERVICE_FILE = "renew-licence.yaml"


@pytest.mark.parametrize(("added", "line", "col", "fragment"), [
    ("applicant: dependent", 9, 12, "needs `actingAs`"),
    ("applicant: either\nactingAs: []", 9, 12, "needs `actingAs`"),
    ("actingAs: [parent]", 9, 11, "`applicant: self`"),
    ("applicant: self\nactingAs: [mandate]", 10, 11, "`applicant: self`"),
    ("whenActingEnds: close", 9, 17, "`whenActingEnds`"),
])
def test_a_wrong_applicant_declaration_is_reported_where_it_is(tree: Tree, added: str, line: int, col: int,
                                                               fragment: str) -> None:
    tree.edit_service("assurance: standard", f"assurance: standard\n{added}")
    problems = [p for p in tree.problems() if p.code == "INVALID_VALUE" and fragment in p.message]
    assert [(Path(p.path).name, p.line, p.col) for p in problems] == [(SERVICE_FILE, line, col)]


def test_an_unknown_relationship_is_refused(tree: Tree) -> None:
    tree.edit_service("assurance: standard", "assurance: standard\napplicant: dependent\nactingAs: [uncle]")
    assert any(name == SERVICE_FILE and line == 10 for name, line, _, _ in codes_at(tree.problems()))


def test_a_dependent_service_loads_with_its_relationships(tree: Tree) -> None:
    tree.edit_service("assurance: standard", "assurance: standard\napplicant: dependent\nactingAs: [parent, mandate]")
    service = tree.load().services["renew-licence"]
    assert (service.who_applies, service.acting_as) == ("dependent", ("parent", "mandate"))


def test_a_dependent_service_says_what_becomes_of_a_draft_when_acting_ends(tree: Tree) -> None:
    tree.edit_service("assurance: standard",
                      "assurance: standard\napplicant: dependent\nactingAs: [parent]\nwhenActingEnds: close")
    assert tree.load().services["renew-licence"].when_acting_ends == "close"
    tree.edit_service("whenActingEnds: close", "whenActingEnds: later")
    assert any(name == SERVICE_FILE and line == 11 for name, line, _, _ in codes_at(tree.problems()))


def test_a_service_without_applicant_applies_for_itself_and_keeps_its_hash(tree: Tree) -> None:
    before = tree.load().services["renew-licence"]
    assert before.who_applies == "self"
    tree.edit_service("assurance: standard", "assurance: standard\napplicant: either\nactingAs: [mandate]")
    assert tree.load().services["renew-licence"].content_hash != before.content_hash


def test_the_seed_services_declare_who_applies(definitions_dir: Path) -> None:
    from onestop.catalogue import load_catalogue

    catalogue = load_catalogue(definitions_dir)
    declared = {slug: (s.who_applies, s.acting_as) for slug, s in catalogue.services.items() if s.applicant}
    assert declared == {
        "primary-one-admission": ("dependent", ("parent",)),
        "child-immunisation-appointment": ("dependent", ("parent",)),
        "senior-citizen-card": ("either", ("mandate", "guardian")),
        "elderly-health-care-voucher": ("either", ("mandate", "guardian")),
    }


@pytest.mark.parametrize("rule", [
    "actor.age >= 18 && subject.age >= 18",
    'actor.relationship == "self" || citizen.age >= 18',
    "actor.ageGroup == subject.ageGroup && actor.assurance == citizen.assurance && actor.loggedIn",
])
def test_actor_and_subject_are_known_to_rules(tree: Tree, rule: str) -> None:
    tree.edit_service("when: citizen.age >= 18", f"when: {rule}")
    assert tree.load().services["renew-licence"].eligibility is not None


@pytest.mark.parametrize(("rule", "fragment"), [
    ("actor.phone == \"x\"", "actor.phone does not exist"),
    ("subject.relationship == \"parent\"", "subject.relationship does not exist"),
    ("citizen.agee >= 18", "citizen.agee does not exist"),
    ("carer.age >= 18", "unknown variable 'carer'"),
])
def test_a_wrong_actor_or_subject_reference_is_reported(tree: Tree, rule: str, fragment: str) -> None:
    tree.edit_service("when: citizen.age >= 18", f"when: {rule}")
    problems = [p for p in tree.problems() if p.code == "UNKNOWN_REFERENCE"]
    assert [Path(p.path).name for p in problems] == [SERVICE_FILE]
    assert fragment in problems[0].message


def test_reading_the_actors_records_needs_someone_acting_for_another(tree: Tree) -> None:
    tree.edit_service("type: prefill", "type: prefill\n    of: actor")
    problems = [p for p in tree.problems() if p.code == "INVALID_VALUE" and "`of: actor`" in p.message]
    assert [Path(p.path).name for p in problems] == [SERVICE_FILE]
    tree.edit_service("assurance: standard", "assurance: standard\napplicant: either\nactingAs: [mandate]")
    (step,) = [s for s in tree.load().services["renew-licence"].steps if s.type == "prefill"]
    assert step.of == "actor"
