"""The seed catalogue and the dev fixtures keep the promises the issues make about them.

These tests read the real ``definitions/`` tree: a department author's edit that drops a step type, breaks a
test citizen's HKID or points a record at an item no provider declares fails here, not in a demo.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from onestop.catalogue import Catalogue, ChoiceField, GroupField, PrefillStep, Service, load_catalogue
from onestop.catalogue.fields import Field
from onestop.catalogue.values import HKAddress, is_valid_email, is_valid_hk_phone, is_valid_hkid

STEP_TYPES = ("form", "prefill", "consent", "stepUp", "review", "submit", "exit")
FIELD_TYPES = ("text", "number", "date", "boolean", "choice", "multiChoice", "email", "phone", "hkid", "address",
               "group")
# Today as the fixtures' comments assume it; ages and eligibility below are computed on this date.
FIXTURE_DAY = dt.date(2026, 11, 27)


@pytest.fixture(scope="module")
def catalogue(definitions_dir: Path) -> Catalogue:
    return load_catalogue(definitions_dir)


@pytest.fixture(scope="module")
def citizens(definitions_dir: Path) -> list[dict[str, Any]]:
    data = yaml.safe_load((definitions_dir / "dev" / "citizens.yaml").read_text(encoding="utf-8"))
    entries: list[dict[str, Any]] = data["citizens"]
    return entries


@pytest.fixture(scope="module")
def staff(definitions_dir: Path) -> list[dict[str, Any]]:
    data = yaml.safe_load((definitions_dir / "dev" / "staff.yaml").read_text(encoding="utf-8"))
    entries: list[dict[str, Any]] = data["staff"]
    return entries


def _walk(fields: tuple[Field, ...]) -> Iterator[Field]:
    for field in fields:
        yield field
        if isinstance(field, GroupField):
            yield from _walk(field.fields)


def _fields(service: Service) -> Iterator[Field]:
    for step in service.steps:
        yield from _walk(getattr(step, "fields", None) or ())


def _age(born: dt.date) -> int:
    return FIXTURE_DAY.year - born.year - ((FIXTURE_DAY.month, FIXTURE_DAY.day) < (born.month, born.day))


def _dig(value: Any, path: list[str]) -> Any:
    for part in path:
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def test_seed_catalogue_is_broad_enough(catalogue: Catalogue) -> None:
    services = list(catalogue.services.values())
    assert len(services) >= 24
    assert len({s.department for s in services}) >= 8
    assert len({theme for s in services for theme in s.themes}) >= 8


def test_every_age_group_has_services(catalogue: Catalogue) -> None:
    covered = {group for s in catalogue.services.values() for group in s.age_groups}
    assert {group.id for group in catalogue.taxonomy.age_groups} <= covered


@pytest.mark.parametrize("step_type", STEP_TYPES)
def test_every_step_type_is_used(catalogue: Catalogue, step_type: str) -> None:
    assert any(step.type == step_type for s in catalogue.services.values() for step in s.steps)


@pytest.mark.parametrize("field_type", FIELD_TYPES)
def test_every_field_type_is_used(catalogue: Catalogue, field_type: str) -> None:
    assert any(field.type == field_type for s in catalogue.services.values() for field in _fields(s))


def test_renewing_a_driving_licence_walks_through_every_interactive_step(catalogue: Catalogue) -> None:
    service = catalogue.service("renew-driving-licence")
    assert service is not None
    assert {"prefill", "consent", "form", "stepUp", "review", "submit"} <= {step.type for step in service.steps}
    step_up = next(step for step in service.steps if step.type == "stepUp")
    assert catalogue.assurance.rank(step_up.assurance) == len(catalogue.taxonomy.assurance_levels) - 1


def test_some_services_need_no_login(catalogue: Catalogue) -> None:
    assert any(not s.login_required for s in catalogue.services.values())


def test_every_definition_file_names_its_schema(definitions_dir: Path) -> None:
    expected = {"taxonomy.yaml": "./schema/taxonomy.schema.json",
                "option-lists.yaml": "./schema/option-lists.schema.json"}
    files = {definitions_dir / name: schema for name, schema in expected.items()}
    files |= {path: "../schema/department.schema.json" for path in (definitions_dir / "departments").glob("*.yaml")}
    files |= {path: "../../schema/service.schema.json" for path in (definitions_dir / "services").glob("*/*.yaml")}
    wrong = [str(path) for path, schema in files.items()
             if path.read_text(encoding="utf-8").splitlines()[0] != f"# yaml-language-server: $schema={schema}"]
    assert wrong == []


def test_prefilled_fields_name_items_an_earlier_prefill_step_asks_for(catalogue: Catalogue) -> None:
    unasked = []
    for service in catalogue.services.values():
        asked: set[str] = set()
        for step in service.steps:
            if isinstance(step, PrefillStep):
                asked |= {str(item) for item in step.items}
            for field in _walk(getattr(step, "fields", None) or ()):
                if field.prefill is not None and ".".join(str(field.prefill).split(".")[:2]) not in asked:
                    unasked.append(f"{service.id}.{field.id} <- {field.prefill}")
    assert unasked == []


def test_test_citizens_span_the_age_groups(catalogue: Catalogue, citizens: list[dict[str, Any]]) -> None:
    groups = [catalogue.age_group_for(_age(c["profile"]["dateOfBirth"])).id for c in citizens]
    assert groups.count("youth") >= 1
    assert groups.count("adult") >= 2
    assert groups.count("elderly") >= 2


def test_every_test_citizen_has_an_authoritative_identity_record(citizens: list[dict[str, Any]]) -> None:
    # Eligibility reads ImmD's record, not the profile: the two must agree for the ages above to hold.
    for citizen in citizens:
        record, profile = citizen["records"]["immd-records"], citizen["profile"]
        assert (record["name-en"], record["name-zh"], record["date-of-birth"], record["hkid"]) == (
            profile["nameEn"], profile["nameZh"], profile["dateOfBirth"], profile["hkid"]), citizen["id"]


def test_test_citizen_ids_are_unique(citizens: list[dict[str, Any]]) -> None:
    ids = [c["id"] for c in citizens]
    assert len(ids) == len(set(ids))


def test_test_citizens_have_valid_e_me_profiles(catalogue: Catalogue, citizens: list[dict[str, Any]]) -> None:
    districts = {option.value for option in catalogue.option_lists["districts"]}
    for citizen in citizens:
        profile = citizen["profile"]
        assert is_valid_hkid(profile["hkid"]), citizen["id"]
        assert is_valid_hk_phone(profile["phone"]), citizen["id"]
        assert is_valid_email(profile["email"]), citizen["id"]
        for key in ("residentialAddress", "correspondenceAddress"):
            assert HKAddress.model_validate(profile[key]).district in districts, (citizen["id"], key)


def test_citizen_records_are_items_the_providers_declare(catalogue: Catalogue,
                                                         citizens: list[dict[str, Any]]) -> None:
    undeclared = [f"{c['id']}: {provider}.{item}"
                  for c in citizens for provider, items in c["records"].items() for item in items
                  if provider == "eme" or catalogue.data_item(f"{provider}.{item}") is None]
    assert undeclared == []


def test_prefilled_choices_accept_the_values_citizens_hold(catalogue: Catalogue,
                                                           citizens: list[dict[str, Any]]) -> None:
    # A prefilled choice whose value is not an option would greet the citizen with an error on their own data.
    mismatches = []
    for service in catalogue.services.values():
        for field in _fields(service):
            if not isinstance(field, ChoiceField) or field.prefill is None:
                continue
            provider, item, *path = str(field.prefill).split(".")
            allowed = {option.value for option in field.options or ()}
            for citizen in citizens:
                source = citizen["profile"] if provider == "eme" else citizen["records"].get(provider, {})
                value = _dig(source, [item, *path])
                if value is not None and value not in allowed:
                    mismatches.append(f"{service.id}.{field.id}: {citizen['id']} holds {value!r}")
    assert mismatches == []


def test_every_test_citizen_can_apply_for_several_services(catalogue: Catalogue,
                                                          citizens: list[dict[str, Any]]) -> None:
    for citizen in citizens:
        age = _age(citizen["profile"]["dateOfBirth"])
        context = {"citizen": {"age": age, "ageGroup": catalogue.age_group_for(age).id, "assurance": "face",
                               "loggedIn": True}, "answers": {}, "today": FIXTURE_DAY.isoformat()}
        eligible = [s.id for s in catalogue.services.values()
                    if s.eligibility is None or s.eligibility.when.evaluate(context)]
        assert len(eligible) >= 8, (citizen["id"], eligible)


def test_staff_work_in_known_departments_and_someone_can_approve(catalogue: Catalogue,
                                                                 staff: list[dict[str, Any]]) -> None:
    assert all(member["department"] in catalogue.departments for member in staff)
    assert len({member["department"] for member in staff}) >= 5
    assert any("approver" in member["roles"] for member in staff)
