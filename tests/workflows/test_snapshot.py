"""The snapshot's step union: each kind decodes to its own class, including snapshots written by the flat class."""

from __future__ import annotations

import json
import typing
from typing import Any

import pytest
from pydantic import ValidationError
from temporalio.api.common.v1 import Payload
from temporalio.converter import DataConverter, PayloadConverter

from onestop.catalogue import Step, StepKind
from onestop.engine.crypto.codec import data_converter
from onestop.workflows.snapshot import (
    ConsentSpec,
    ExitSpec,
    FieldSpec,
    FormSpec,
    PrefillSpec,
    ReviewSpec,
    ServiceSnapshot,
    StepSpec,
    StepUpSpec,
    SubmitSpec,
)

from .conftest import CODEC_KEY, licence_service

CONVERTERS = {
    "default JSON": DataConverter.default.payload_converter,
    "onestop (pydantic)": data_converter(CODEC_KEY).payload_converter,
}


def t(en: str) -> dict[str, str]:
    return {"en": en, "tc": en}


def flat(**keys: Any) -> dict[str, Any]:
    """A step as the single flat step class wrote it into histories: every key present, unused ones at defaults."""
    step: dict[str, Any] = {
        "id": "x", "type": "form", "title": t("X"), "when": None, "description": None, "fields": [],
        "purpose": None, "items": [], "lawful_basis": "consent", "mode": "one-off", "valid_for_seconds": None,
        "statement": None, "consent_required": False, "assurance": None, "max_age_seconds": None,
        "department": None, "endpoint": None, "message": None,
    }
    return step | keys


FLAT_STEPS = [
    (flat(id="f", type="form", description=t("D"), fields=[{"id": "n", "type": "text", "label": t("N")}]),
     FormSpec(id="f", title=t("X"), description=t("D"), fields=[FieldSpec("n", "text", t("N"))])),
    (flat(id="p", type="prefill", purpose=t("P"), items=["eme.hkid"], mode="standing", valid_for_seconds=60),
     PrefillSpec(id="p", title=t("X"), purpose=t("P"), items=["eme.hkid"], mode="standing", valid_for_seconds=60)),
    (flat(id="c", type="consent", statement=t("S"), consent_required=True),
     ConsentSpec(id="c", title=t("X"), statement=t("S"), consent_required=True)),
    (flat(id="u", type="stepUp", assurance="face", max_age_seconds=300),
     StepUpSpec(id="u", title=t("X"), assurance="face", max_age_seconds=300)),
    (flat(id="r", type="review", fields=[{"id": "ok", "type": "boolean", "label": t("OK")}]),
     ReviewSpec(id="r", title=t("X"), fields=[FieldSpec("ok", "boolean", t("OK"))])),
    (flat(id="s", type="submit", department="TD", endpoint="https://td.example/in"),
     SubmitSpec(id="s", title=t("X"), department="TD", endpoint="https://td.example/in")),
    (flat(id="e", type="exit", when="citizen.age < 18", message=t("M")),
     ExitSpec(id="e", title=t("X"), when="citizen.age < 18", message=t("M"))),
]


def decode(converter: PayloadConverter, data: Any) -> ServiceSnapshot:
    payload = Payload(metadata={"encoding": b"json/plain"}, data=json.dumps(data).encode())
    [snapshot] = converter.from_payloads([payload], [ServiceSnapshot])
    assert isinstance(snapshot, ServiceSnapshot)
    return snapshot


@pytest.mark.parametrize("converter", CONVERTERS.values(), ids=CONVERTERS.keys())
def test_a_step_written_by_the_flat_step_class_decodes_to_its_kind(converter: PayloadConverter) -> None:
    service = {"id": "s", "version": 1, "content_hash": "h", "department": "TD", "title": t("S"),
               "steps": [step for step, _ in FLAT_STEPS]}
    assert decode(converter, service).steps == [spec for _, spec in FLAT_STEPS]


@pytest.mark.parametrize("converter", CONVERTERS.values(), ids=CONVERTERS.keys())
def test_a_snapshot_round_trips_with_every_step_kind_intact(converter: PayloadConverter) -> None:
    snapshot = licence_service()
    [payload] = converter.to_payloads([snapshot])
    [back] = converter.from_payloads([payload], [ServiceSnapshot])
    assert back == snapshot


def test_a_step_of_an_unknown_kind_is_refused() -> None:
    service = {"id": "s", "version": 1, "content_hash": "h", "department": "TD", "title": t("S"),
               "steps": [flat(type="payment")]}
    with pytest.raises(ValidationError, match="steps"):
        decode(CONVERTERS["onestop (pydantic)"], service)


def _literal(cls: type) -> str:
    [value] = typing.get_args(typing.get_type_hints(cls)["type"])
    return str(value)


def test_the_snapshot_and_the_catalogue_name_the_same_step_kinds() -> None:
    specs = typing.get_args(StepSpec)
    steps = typing.get_args(typing.get_args(Step)[0])
    assert sorted(_literal(spec) for spec in specs) == sorted(StepKind)
    assert sorted(_literal(step) for step in steps) == sorted(StepKind)
