"""canonical_json writes the same bytes as the rfc8785 reference, so content hashes never move."""

from __future__ import annotations

import copy
import hashlib
from pathlib import Path
from typing import Any

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from onestop.catalogue import load_catalogue
from onestop.catalogue.canonical import canonical_json
from onestop.catalogue.fees import MAX_FEE, Fee
from onestop.catalogue.fields import NumberField
from onestop.catalogue.models import canonical_data, dump_data

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


# --- property: any JSON value, the fast path and the reference write the same bytes (or both refuse) -------------

_TEXTS = st.text(st.characters(codec="utf-8"), max_size=12) | st.sampled_from(
    [
        "",
        "\U0001f600",
        "\ue000",
        "\uffff",
        "a\x00b",
        "\x1f\x7f\u2028\u2029",
        'q"b\\s',
        "v1.0",
        "e+5",
        "1e5",
        "null",
        "續領",
        "-0.0",
        "\ud800",
    ]
)
_NUMBERS = (
    st.integers(min_value=-(2**54), max_value=2**54)
    | st.sampled_from([2**53 - 1, -(2**53 - 1), 2**53, 0])
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.floats(min_value=-(2.0**54), max_value=2.0**54).map(float.__trunc__).map(float)
    | st.sampled_from([-0.0, 0.0, 1e16, 1e21, 1e-7, 5e-324, 2.0**53, 1e15])
)
_JSON = st.recursive(
    st.none() | st.booleans() | _NUMBERS | _TEXTS,
    lambda inner: (
        st.lists(inner, max_size=5)
        | st.lists(inner, max_size=3).map(tuple)
        | st.dictionaries(_TEXTS, inner, max_size=5)
    ),
    max_leaves=30,
)


LABEL = {"en": "n", "tc": "數"}


def _written(function: Any, value: Any) -> bytes | type[Exception]:
    try:
        return bytes(function(value))
    except (rfc8785.CanonicalizationError, UnicodeEncodeError) as error:  # a lone surrogate in a key: the latter
        return type(error)


@settings(max_examples=1500, deadline=None, derandomize=True)
@given(_JSON)
def test_canonical_json_is_rfc8785_for_any_json_value(value: Any) -> None:
    before = copy.deepcopy(value)
    expected = _written(rfc8785.dumps, value)
    assert _written(canonical_json, value) == expected
    assert repr(value) == repr(before)  # left as given (repr: NaN != NaN)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.lists(st.floats(min_value=-MAX_FEE, max_value=MAX_FEE) | st.integers(-(10**6), 10**6).map(float)
                | st.sampled_from([-0.0, 0.0, 0.5, 1e-7, 999999.99]), min_size=1, max_size=6))
def test_canonical_data_hashes_like_the_dump(numbers: list[float]) -> None:
    """A number field's and a fee's whole floats, given to the fast path as integers, hash to the dump's RFC 8785
    bytes."""
    for number in numbers:
        field = NumberField.model_validate({"id": "n", "type": "number", "label": LABEL, "min": number})
        assert _written(canonical_json, canonical_data(field)) == _written(rfc8785.dumps, dump_data(field))
        if number > 0 and round(number, 2) == number:
            fee = Fee.model_validate({"amount": number, "label": LABEL})
            assert _written(canonical_json, canonical_data(fee)) == _written(rfc8785.dumps, dump_data(fee))


def test_canonical_data_gives_whole_floats_as_integers_and_dump_data_does_not() -> None:
    field = NumberField.model_validate({"id": "n", "type": "number", "label": LABEL, "min": 5, "max": 7.5})
    assert dump_data(field)["min"] == 5.0
    assert type(dump_data(field)["min"]) is float
    assert type(canonical_data(field)["min"]) is int
    assert canonical_data(field)["max"] == 7.5
    assert canonical_json(canonical_data(field)) == rfc8785.dumps(dump_data(field))
