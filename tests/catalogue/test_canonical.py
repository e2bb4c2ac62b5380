"""canonical_json writes the same bytes as the rfc8785 reference, so content hashes never move."""

from __future__ import annotations

import copy
import hashlib
from pathlib import Path
from typing import Any

import pytest
import rfc8785

from onestop.catalogue import load_catalogue
from onestop.catalogue.canonical import canonical_json
from onestop.catalogue.models import dump_data

DEFINITIONS = Path(__file__).resolve().parents[2] / "definitions"

VALUES: list[Any] = [
    {"b": 1, "a": [True, False, None], "c": "text"},
    {"min": 1.0, "max": 5.0, "steps": [0.0, -3.0, {"n": 2.0}]},
    {"fraction": 0.5},
    {"tiny": 1e-7, "huge": 1e21, "large": 2.0**60},
    [1.5, 2.0],
    -0.0,
    2**53 - 1,
    {"quote\"back\\slash": "\x00\x1f\b\f\n\r\t\u2028\x7f"},
    {"\U0001f600": 1, "\ue000": 2, "z": 3},  # JCS orders by UTF-16: the emoji's surrogates sort before U+E000
    {"tc": "續領正式駕駛執照", "sc": "续领正式驾驶执照", "en": "Renew"},
    {"tuple": (1, 2.0, "x")},
    {"tuple": (1, "x", [3])},
    {},
    [],
]


@pytest.mark.parametrize("value", VALUES)
def test_canonical_json_writes_what_rfc8785_writes(value: Any) -> None:
    assert canonical_json(value) == rfc8785.dumps(value)


@pytest.mark.parametrize("value", [2**53, {"n": -(2**60)}, {1: "x"}, float("nan"), {"x": [float("inf")]}, "\ud800"])
def test_canonical_json_refuses_what_rfc8785_refuses(value: Any) -> None:
    with pytest.raises(rfc8785.CanonicalizationError):
        rfc8785.dumps(value)
    with pytest.raises(rfc8785.CanonicalizationError):
        canonical_json(value)


def test_canonical_json_leaves_its_input_as_given() -> None:
    value = {"min": 1.0, "items": [2.0, {"max": 3.0}]}
    before = copy.deepcopy(value)
    canonical_json(value)
    assert value == before
    assert type(value["min"]) is float
    assert type(value["items"][0]) is float  # type: ignore[index]


def test_content_hashes_of_the_seed_services_are_the_rfc8785_hashes() -> None:
    catalogue = load_catalogue(DEFINITIONS)
    for service in catalogue.services.values():
        assert service.content_hash == hashlib.sha256(rfc8785.dumps(dump_data(service))).hexdigest()
