from __future__ import annotations

import pytest
from pydantic import ValidationError

from onestop.catalogue.values import (
    HKAddress,
    hkid_check_digit,
    is_valid_email,
    is_valid_hk_phone,
    is_valid_hkid,
    normalize_hk_phone,
    normalize_hkid,
)


@pytest.mark.parametrize(
    ("prefix", "digits", "check"),
    [("A", "123456", "3"), ("AB", "123456", "9"), ("Z", "683365", "5"), ("C", "668668", "9")],
)
def test_check_digit_follows_the_weighted_modulus_11_scheme(prefix: str, digits: str, check: str) -> None:
    # Recompute by hand: one-letter prefixes count a leading space as 36, weights run 9..2.
    values = ([36] if len(prefix) == 1 else []) + [ord(c) - 55 for c in prefix] + [int(d) for d in digits]
    remainder = 11 - sum(v * w for v, w in zip(values, range(9, 1, -1), strict=True)) % 11
    expected = {10: "A", 11: "0"}.get(remainder, str(remainder))
    assert hkid_check_digit(prefix, digits) == expected
    if check == expected:
        assert is_valid_hkid(f"{prefix}{digits}({check})")


@pytest.mark.parametrize("hkid", ["A123456(3)", "AB123456(9)", "a1234563", "A123456 (3)", "A 123456 3"])
def test_valid_hkid_numbers_are_accepted(hkid: str) -> None:
    assert is_valid_hkid(hkid)


@pytest.mark.parametrize("hkid", ["A123456(4)", "A12345(3)", "123456(3)", "ABC123456(3)", "A123456(B)", ""])
def test_wrong_hkid_numbers_are_rejected(hkid: str) -> None:
    assert not is_valid_hkid(hkid)


def test_check_digit_a_and_0_cases() -> None:
    # Find real prefixes whose check character is A (remainder 1) and 0 (remainder 0).
    seen = {hkid_check_digit("A", f"{n:06d}") for n in range(30)}
    assert {"A", "0"} <= seen
    for n in range(30):
        check = hkid_check_digit("A", f"{n:06d}")
        assert is_valid_hkid(f"A{n:06d}({check})")


def test_normalize_hkid_gives_canonical_form_and_rejects_bad_numbers() -> None:
    assert normalize_hkid(" a123456 3 ") == "A123456(3)"
    with pytest.raises(ValueError, match="not a valid HKID"):
        normalize_hkid("A123456(4)")


@pytest.mark.parametrize("phone", ["91234567", "+852 9123 4567", "852-2804-2600", "3123 4567", "51234567"])
def test_hong_kong_phone_numbers_are_accepted(phone: str) -> None:
    assert is_valid_hk_phone(phone)


@pytest.mark.parametrize("phone", ["41234567", "1234567", "912345678", "+86 91234567", "abcdefgh", "01234567"])
def test_other_phone_numbers_are_rejected(phone: str) -> None:
    assert not is_valid_hk_phone(phone)


def test_normalize_phone_gives_e164() -> None:
    assert normalize_hk_phone("9123 4567") == "+85291234567"
    with pytest.raises(ValueError, match="Hong Kong phone"):
        normalize_hk_phone("4123 4567")


@pytest.mark.parametrize(
    ("email", "ok"),
    [("a@b.hk", True), ("chan.tai-man@gov.hk", True), ("no-at.hk", False), ("a@b", False), ("a b@c.hk", False)],
)
def test_email_validation(email: str, ok: bool) -> None:
    assert is_valid_email(email) is ok


def test_address_needs_building_or_street_and_a_known_region() -> None:
    address = HKAddress(flat="A", floor="12", building="Hing Wah Court", district="eastern", region="HK")
    assert address.lines()[0] == "Flat A, 12/F"
    with pytest.raises(ValidationError, match="building or a street"):
        HKAddress(district="eastern", region="HK")
    with pytest.raises(ValidationError):
        HKAddress.model_validate({"street": "1 Queen's Road", "district": "central", "region": "Macau"})
    with pytest.raises(ValidationError):
        HKAddress.model_validate({"street": "x", "district": "c", "region": "HK", "country": "HK"})
