"""What the catalogue remembers to load fast (texts, fields, expression outcomes over samples) never hides a
problem: each copy of a bad definition reports its own, at its own file:line:col."""

from __future__ import annotations

from pathlib import Path

from onestop.catalogue.fields import NumberField, TextField
from onestop.catalogue.text import LocalizedText

from .conftest import SERVICE, SERVICE_PATH, Tree, codes_at

COPY_PATH = "services/transport/renew-licence-copy.yaml"


def _copy(tree: Tree, text: str) -> None:
    tree.write(COPY_PATH, text.replace("id: renew-licence\n", "id: renew-licence-copy\n", 1))


def test_equal_texts_and_fields_are_one_instance_and_different_ones_are_not() -> None:
    text = {"en": "Name in English", "tc": "英文姓名"}
    assert LocalizedText.model_validate(dict(text)) is LocalizedText.model_validate(dict(text))
    assert LocalizedText.model_validate(dict(text)).sc == "英文姓名"
    assert LocalizedText.model_validate({**text, "sc": "英文名"}).sc == "英文名"
    field = {"id": "age", "type": "number", "label": text, "min": 1}
    assert NumberField.model_validate(dict(field)) is NumberField.model_validate(dict(field))
    assert NumberField.model_validate({**field, "min": 2}).min == 2.0
    text_field = {"id": "age", "type": "text", "label": text, "minLength": 1}
    assert TextField.model_validate(text_field).min_length == 1
    assert TextField.model_validate({**text_field, "minLength": True}).min_length == 1  # not the cached 1's model
    assert TextField.model_validate({**text_field, "minLength": True}) is not TextField.model_validate(text_field)


def test_a_bad_field_copied_into_two_services_is_reported_in_both(tree: Tree) -> None:
    bad = SERVICE.replace("        integer: true\n", "        integer: true\n        min: 5\n        max: 1\n", 1)
    tree.write(SERVICE_PATH, bad)
    _copy(tree, bad)
    found = codes_at(tree.problems())
    assert {(name, code) for name, _, _, code in found} == {
        ("renew-licence.yaml", "INVALID_VALUE"), ("renew-licence-copy.yaml", "INVALID_VALUE")}
    assert len({(line, col) for _, line, col, _ in found}) == 1  # the same place in each copy


def test_a_good_field_remembered_from_one_service_still_fails_its_cross_checks_in_another(tree: Tree) -> None:
    # The copy's field is the very same model as the first service's; its condition reads a field the copy lacks.
    _copy(tree, SERVICE.replace("      - id: district\n        type: choice\n        label: {en: District, tc: 地區}\n"
                                "        optionList: districts\n", "", 1))
    problems = tree.problems()
    assert [(Path(p.path).name, p.code) for p in problems] == [("renew-licence-copy.yaml", "UNKNOWN_REFERENCE")]
    assert "answers.district" in problems[0].message


def test_an_expression_type_error_is_reported_for_every_service_that_has_it(tree: Tree) -> None:
    bad = SERVICE.replace("check: value >= 1 && value <= 10", 'check: value + "x" == 1', 1)
    tree.write(SERVICE_PATH, bad)
    _copy(tree, bad)
    found = codes_at(tree.problems())
    assert {(name, code) for name, _, _, code in found} == {
        ("renew-licence.yaml", "CEL_TYPE_ERROR"), ("renew-licence-copy.yaml", "CEL_TYPE_ERROR")}
