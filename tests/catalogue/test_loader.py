from __future__ import annotations

from pathlib import Path

import pytest

from onestop.catalogue import CatalogueError, ChoiceField, Service, load_catalogue

from .conftest import SERVICE_PATH, Tree, codes_at

SERVICE_FILE = "renew-licence.yaml"


def test_minimal_tree_loads_with_every_accessor(tree: Tree) -> None:
    catalogue = tree.load()
    service = catalogue.service("renew-licence")
    assert service is not None
    assert list(catalogue.services) == ["renew-licence"]
    assert catalogue.department("TD") is not None
    assert catalogue.data_item("td-licensing.driving-licence") is not None
    assert catalogue.data_item("td-licensing.nothing") is None
    assert catalogue.assurance.rank("face") == 2
    assert catalogue.assurance.level_for_acr("urn:onestop:acr:standard").id == "standard"  # type: ignore[union-attr]
    assert catalogue.assurance.rank_of("urn:unknown") is None
    assert catalogue.age_group_for(70).id == "elderly"
    assert catalogue.age_group_for(30).id == "adult"
    assert service.title.sc == "续领执照"


def test_option_lists_are_resolved_into_the_service(tree: Tree) -> None:
    service = tree.load().services["renew-licence"]
    district = service.field("district")
    assert isinstance(district, ChoiceField)
    assert district.option_values() == ("eastern", "wan-chai")


def test_service_round_trips_through_json(tree: Tree) -> None:
    service = tree.load().services["renew-licence"]
    again = Service.model_validate(service.model_dump(mode="json"))
    assert again == service
    assert again.content_hash == service.content_hash


def test_content_hash_changes_only_when_the_service_changes(tree: Tree) -> None:
    first = tree.load()
    tree.edit_service("id: renew-licence\n", "# a comment only\nid: renew-licence\n")
    same = tree.load()
    assert same.services["renew-licence"].content_hash == first.services["renew-licence"].content_hash
    assert same.version == first.version
    tree.edit_service("Renew it", "Renew your licence")
    changed = tree.load()
    assert changed.services["renew-licence"].content_hash != first.services["renew-licence"].content_hash
    assert changed.version != first.version


def test_option_list_change_changes_the_hash_of_services_using_it(tree: Tree) -> None:
    before = tree.load().services["renew-licence"].content_hash
    tree.edit("option-lists.yaml", "Wan Chai", "Wanchai")
    assert tree.load().services["renew-licence"].content_hash != before


def test_other_folders_are_not_definitions(tree: Tree) -> None:
    tree.write("dev/citizens.yaml", "citizens: [{id: x}]\n")
    tree.write("schema/notes.yaml", "anything: goes\n")
    tree.write("feeds/weather.yaml", "not: a service\n")
    assert list(tree.load().services) == ["renew-licence"]


def test_feeds_file_is_exposed_when_present(tree: Tree) -> None:
    assert tree.load().feeds_file is None
    tree.write("feeds.yaml", "feeds: []\n")
    assert tree.load().feeds_file == tree.root / "feeds.yaml"


@pytest.mark.parametrize(
    ("old", "new", "line", "col", "code", "hint"),
    [
        ("    purpose:", "    purpse:", 16, 5, "UNKNOWN_KEY", "did you mean 'purpose'?"),
        ("    type: form", "    type: forms", 19, 11, "INVALID_VALUE", "did you mean 'form'?"),
        ("        type: number", "        type: numbr", 32, 15, "INVALID_VALUE", "did you mean 'number'?"),
        ("version: 1", "version: three", 2, 10, "WRONG_TYPE", None),
        ("themes: [transport]", "themes: transport", 6, 9, "WRONG_TYPE", None),
        ("summary: {en: Renew it, tc: 續領}\n", "", 1, 1, "MISSING_KEY", None),
        ("title: {en: Renew a licence, tc: 續領執照}", "title: {en: Renew a licence}", 4, 8, "MISSING_TRANSLATION",
         None),
        ("title: {en: Renew a licence, tc: 續領執照}", "title: Renew", 4, 8, "WRONG_TYPE",
         "write it as {en: ..., tc: ...}"),
        ("assurance: standard", "assurance: standard\ndraftExpiry: 30 days", 9, 14, "BAD_DURATION", None),
        ("        required: true", "        pattern: '[a-'", 26, 18, "BAD_PATTERN", None),
        ("  - id: details", "  - id: Details!", 18, 9, "INVALID_VALUE", None),
        ("      - id: years\n", "      - id: years\n        colour: red\n", 32, 9, "UNKNOWN_KEY", None),
    ],
)
def test_structural_problems_are_reported_at_the_key(
    tree: Tree, old: str, new: str, line: int, col: int, code: str, hint: str | None
) -> None:
    tree.edit_service(old, new)
    problems = tree.problems()
    assert (SERVICE_FILE, line, col, code) in codes_at(problems), [p.format() for p in problems]
    if hint:
        assert any(p.hint == hint for p in problems), [p.hint for p in problems]


@pytest.mark.parametrize(
    ("old", "new", "line", "col", "code", "hint"),
    [
        ("themes: [transport]", "themes: [transprt]", 6, 10, "UNKNOWN_THEME", "did you mean 'transport'?"),
        ("ageGroups: [adult]", "ageGroups: [adults]", 7, 13, "UNKNOWN_AGE_GROUP", "did you mean 'adult'?"),
        ("department: TD", "department: TDD", 3, 13, "UNKNOWN_DEPARTMENT", "did you mean 'TD'?"),
        ("assurance: standard", "assurance: standrd", 8, 12, "UNKNOWN_ASSURANCE_LEVEL", "did you mean 'standard'?"),
        ("items: [td-licensing.driving-licence]", "items: [td-licence.driving-licence]", 17, 13,
         "UNKNOWN_PROVIDER", "did you mean 'td-licensing'?"),
        ("items: [td-licensing.driving-licence]", "items: [td-licensing.driving-licenc]", 17, 13,
         "UNKNOWN_DATA_ITEM", "did you mean 'driving-licence'?"),
        ("optionList: districts", "optionList: district", 30, 21, "UNKNOWN_OPTION_LIST", "did you mean 'districts'?"),
        ("      - id: years", "      - id: district", 31, 13, "DUPLICATE_FIELD", None),
        ("  - id: submit", "  - id: details", 39, 9, "DUPLICATE_STEP", None),
    ],
)
def test_unknown_and_duplicate_references_are_reported_with_suggestions(
    tree: Tree, old: str, new: str, line: int, col: int, code: str, hint: str | None
) -> None:
    tree.edit_service(old, new)
    problems = tree.problems()
    assert (SERVICE_FILE, line, col, code) in codes_at(problems), [p.format() for p in problems]
    if hint:
        assert any(p.hint == hint for p in problems), [p.hint for p in problems]


def test_duplicate_service_is_reported_in_both_files(tree: Tree) -> None:
    copy = tree.write("services/health/copy.yaml", (tree.root / SERVICE_PATH).read_text(encoding="utf-8"))
    problems = [p for p in tree.problems() if p.code == "DUPLICATE_SERVICE"]
    assert {(p.path, p.line, p.col) for p in problems} == {(tree.where(SERVICE_PATH), 1, 5), (str(copy), 1, 5)}


def test_steps_after_an_unconditional_submit_are_unreachable(tree: Tree) -> None:
    tree.write(SERVICE_PATH, (tree.root / SERVICE_PATH).read_text(encoding="utf-8")
               + "  - id: too-late\n    type: exit\n    title: {en: x, tc: x}\n    message: {en: x, tc: x}\n")
    assert (SERVICE_FILE, 42, 9, "UNREACHABLE_STEP") in codes_at(tree.problems())


def test_conditional_exit_does_not_make_later_steps_unreachable(tree: Tree) -> None:
    tree.edit_service("  - id: submit", "  - id: too-young\n    type: exit\n    when: citizen.age < 18\n"
                      "    title: {en: x, tc: x}\n    message: {en: x, tc: x}\n  - id: submit")
    assert tree.load().service("renew-licence") is not None


def test_prefill_source_must_be_requested_by_an_earlier_prefill_step(tree: Tree) -> None:
    tree.edit_service("    items: [td-licensing.driving-licence]",
                      "    when: false\n    items: [td-licensing.driving-licence]")
    tree.load()  # a conditional prefill step still counts as requesting the item
    tree.edit_service("    type: prefill", "    type: consent")
    tree.edit_service("    purpose: {en: To fill the form, tc: 填表}", "    statement: {en: I agree, tc: 我同意}")
    tree.edit_service("    items: [td-licensing.driving-licence]", "    required: true")
    problems = tree.problems()
    assert [(p.line, p.col, p.code) for p in problems] == [(26, 18, "UNKNOWN_DATA_ITEM")]
    assert "not requested by an earlier prefill step" in problems[0].message


def test_taxonomy_needs_three_assurance_levels(tree: Tree) -> None:
    tree.edit("taxonomy.yaml", '  - {id: face, acr: "urn:onestop:acr:face", name: {en: Face, tc: 面容}}\n', "")
    problems = tree.problems()
    assert ("taxonomy.yaml", 19, 3, "INVALID_VALUE") in codes_at(problems)


def test_every_problem_in_every_file_is_reported(tree: Tree) -> None:
    tree.edit_service("themes: [transport]", "themes: [transprt]")
    tree.edit_service("ageGroups: [adult]", "ageGroups: [adult, teens]")
    tree.write("services/health/other.yaml", "id: other\nversion: 1\ncolour: blue\n")
    tree.edit("departments/td.yaml", "type: object", "type: thing")
    codes = codes_at(tree.problems())
    assert {
        (SERVICE_FILE, 6, 10, "UNKNOWN_THEME"),
        (SERVICE_FILE, 7, 20, "UNKNOWN_AGE_GROUP"),
        ("other.yaml", 3, 1, "UNKNOWN_KEY"),
        ("other.yaml", 1, 1, "MISSING_KEY"),
        ("td.yaml", 9, 15, "INVALID_VALUE"),
    } <= codes


def test_a_broken_file_means_no_catalogue_at_all(tree: Tree) -> None:
    tree.write("services/health/broken.yaml", "id: [unclosed\n")
    with pytest.raises(CatalogueError) as info:
        load_catalogue(tree.root)
    assert [p.code for p in info.value.problems] == ["YAML_SYNTAX"]
    assert info.value.code == "INVALID_DEFINITIONS"


def test_missing_taxonomy_is_reported(tree: Tree) -> None:
    (tree.root / "taxonomy.yaml").unlink()
    assert [p.code for p in tree.problems()] == ["MISSING_FILE"]


def test_duplicate_department_and_provider_ids_are_reported(tree: Tree) -> None:
    tree.write("departments/td2.yaml", (tree.root / "departments/td.yaml").read_text(encoding="utf-8"))
    codes = codes_at(tree.problems())
    assert ("td2.yaml", 1, 7, "DUPLICATE_ID") in codes
    assert ("td2.yaml", 4, 9, "DUPLICATE_ID") in codes


def test_login_none_cannot_prefill(tree: Tree) -> None:
    tree.edit_service("assurance: standard", "assurance: standard\nlogin: none")
    assert ("renew-licence.yaml", 15, 11, "INVALID_VALUE") in codes_at(tree.problems())


def test_login_none_needs_the_lowest_assurance_level(tree: Tree) -> None:
    tree.edit_service("assurance: standard", "assurance: standard\nlogin: none")
    problems = [p for p in tree.problems() if p.code == "INVALID_VALUE" and "lowest level" in p.message]
    assert [(Path(p.path).name, p.line) for p in problems] == [("renew-licence.yaml", 8)]


def test_verified_by_needs_an_authoritative_item(tree: Tree) -> None:
    tree.edit("departments/td.yaml", "        description: {en: Your licence, tc: 你的執照}",
              "        description: {en: Your licence, tc: 你的執照}\n"
              "      - {id: copy, type: object, description: {en: A copy, tc: 副本}, "
              "verifiedBy: td-licensing.driving-licence}")
    problems = [p.message for p in tree.problems() if "authoritative" in p.message]
    assert problems == ["'td-licensing.driving-licence' is not marked authoritative"]


def test_options_and_option_list_together_are_refused(tree: Tree) -> None:
    tree.edit_service("optionList: districts",
                      "optionList: districts\n        options: [{value: a, label: {en: a, tc: a}}]")
    assert (SERVICE_FILE, 31, 18, "INVALID_VALUE") in codes_at(tree.problems())


@pytest.mark.parametrize(
    ("old", "new", "line", "col", "code"),
    [
        ("        integer: true", "        integer: true\n        min: 10\n        max: 1", 31, 9, "INVALID_VALUE"),
        ("        required: true", "        minLength: 9\n        maxLength: 3", 22, 9, "INVALID_VALUE"),
        ("optionList: districts", "options: [{value: a, label: {en: A, tc: A}}, {value: a, label: {en: B, tc: B}}]",
         30, 62, "DUPLICATE_ID"),
    ],
)
def test_field_constraints_must_be_consistent(
    tree: Tree, old: str, new: str, line: int, col: int, code: str
) -> None:
    tree.edit_service(old, new)
    assert (SERVICE_FILE, line, col, code) in codes_at(tree.problems())


def test_a_misspelt_step_type_key_is_named_with_a_suggestion(tree: Tree) -> None:
    tree.edit_service("    type: form", "    typ: form")
    [problem] = tree.problems()
    assert (problem.line, problem.col, problem.code) == (19, 5, "UNKNOWN_KEY")
    assert problem.message == "unknown key 'typ'"
    assert problem.hint == "did you mean 'type'?"


def test_a_step_without_type_lists_the_step_types(tree: Tree) -> None:
    tree.edit_service("    type: form\n", "")
    [problem] = tree.problems()
    assert problem.code == "MISSING_KEY"
    assert problem.hint == "type is one of: form, prefill, consent, stepUp, review, submit, exit, appointment, payment"
