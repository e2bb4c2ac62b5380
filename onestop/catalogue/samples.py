"""Typed sample values: what load-time checks evaluate expressions against."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from onestop.catalogue.expressions import typed_number
from onestop.catalogue.fields import (
    AddressField,
    BooleanField,
    ChoiceField,
    DateField,
    EmailField,
    Field,
    FileField,
    GroupField,
    HkidField,
    MultiChoiceField,
    NumberField,
    PhoneField,
    TextField,
)
from onestop.catalogue.taxonomy import Option

SAMPLE_CITIZEN = {"age": 30, "ageGroup": "adult", "assurance": "basic", "loggedIn": True}
SAMPLE_ACTOR = {**SAMPLE_CITIZEN, "age": 40, "relationship": "parent"}
SAMPLE_TODAY = "2026-01-01"


def _first_option(field: ChoiceField, lists: Mapping[str, tuple[Option, ...]]) -> str:
    options = field.options or lists.get(field.option_list or "", ())
    return options[0].value if options else "option"


WHOLE, FRACTIONAL = True, False
"""The two ways a citizen types a number (``100000`` and ``2.5``): expressions are checked with both."""


def sample_value(field: Field, lists: Mapping[str, tuple[Option, ...]], whole: bool = WHOLE) -> Any:
    """A value of the shape, and CEL type, the field's answers have at run time."""
    if isinstance(field, MultiChoiceField):
        return [_first_option(field, lists)]
    if isinstance(field, ChoiceField):
        return _first_option(field, lists)
    if isinstance(field, GroupField):
        return [{member.id: sample_value(member, lists, whole) for member in field.fields}]
    if isinstance(field, FileField):
        sample = "doc-00000000000000000000000000000000"
        return [sample] if field.multiple else sample
    if isinstance(field, NumberField):
        # Typed as at run time, so a type error a citizen's input could cause shows here first.
        return typed_number(100000 if whole or field.integer else 2.5, field.integer)
    simple: dict[type, Any] = {
        TextField: "x", DateField: "2000-01-01", BooleanField: False, EmailField: "a@example.hk",
        PhoneField: "+85291234567", HkidField: "A123456(3)",
        AddressField: {"flat": "x", "floor": "x", "block": "x", "building": "x", "street": "x",
                       "district": "central-and-western", "region": "HK"},
    }
    return simple.get(type(field), "x")


def sample_context(answers: Mapping[str, Any], value: Any = None,
                   entry: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The variables an expression sees, with sample citizen data and the given answers (and group entry)."""
    context: dict[str, Any] = {"citizen": SAMPLE_CITIZEN, "subject": SAMPLE_CITIZEN, "actor": SAMPLE_ACTOR,
                               "answers": dict(answers), "today": SAMPLE_TODAY}
    if value is not None:
        context["value"] = value
    if entry is not None:
        context["entry"] = dict(entry)
    return context
