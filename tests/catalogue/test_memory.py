"""A loaded catalogue keeps one copy of what its models repeat: the sets of given keys, short texts."""

from __future__ import annotations

from pathlib import Path

from objects import models_in

from onestop.catalogue import LocalizedText, load_catalogue
from onestop.catalogue.models import DefinitionModel
from onestop.catalogue.yamlsource import parse_text

DEFINITIONS = Path(__file__).resolve().parents[2] / "definitions"



def test_models_given_the_same_keys_share_one_set_of_them() -> None:
    catalogue = load_catalogue(DEFINITIONS)
    models = [model for service in catalogue.services.values() for model in models_in(service)]
    sets = {id(model.__pydantic_fields_set__): frozenset(model.__pydantic_fields_set__) for model in models}
    assert len(models) > 1000
    assert len(sets) == len(set(sets.values()))  # one set object per distinct combination of keys


class _Item(DefinitionModel):
    name: str
    note: str | None = None


def test_a_copy_with_updates_leaves_the_shared_set_as_it_was() -> None:
    first, second = _Item.model_validate({"name": "a"}), _Item.model_validate({"name": "b"})
    assert first.__pydantic_fields_set__ is second.__pydantic_fields_set__
    copied = first.model_copy(update={"note": "n"})
    assert copied.model_fields_set == {"name", "note"}
    assert first.model_fields_set == {"name"}
    assert _Item.model_validate({"name": "c"}).model_dump(exclude_unset=True) == {"name": "c"}
    assert LocalizedText.model_validate({"en": "Name", "tc": "姓名"}).sc == "姓名"


def test_short_texts_read_from_yaml_are_one_object() -> None:
    first, _ = parse_text("a.yaml", "id: renew-licence\ntype: form\nvalue: true\nn: 3\n")
    second, _ = parse_text("b.yaml", "id: renew-licence\ntype: form\nvalue: yes\nn: 3\n")
    assert first is not None
    assert second is not None
    assert first.data["type"] is second.data["type"]
    assert first.data["id"] is second.data["id"]
    assert first.data["value"] is True
    assert second.data["value"] is True
    assert first.data["n"] == 3
    assert second.data["n"] == 3
