"""Hong Kong value formats shared by the workflow and the e-ME profile: HKID, phone, email, address."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

_HKID = re.compile(r"^([A-Z]{1,2})(\d{6})\(?([0-9A])\)?$")
_PHONE = re.compile(r"^(?:\+?852)?([235-9]\d{7})$")
# Deliberately permissive: one @, no spaces, a dot in the domain. Deliverability is not ours to judge.
_EMAIL = re.compile(r"^[^@\s]+@[^@\s.]+(?:\.[^@\s.]+)+$")


def _compact(value: str) -> str:
    return re.sub(r"[\s\-]", "", value).upper()


def hkid_check_digit(prefix: str, digits: str) -> str:
    """The check character for an HKID prefix (one or two letters) and its six digits."""
    letters = prefix.upper()
    # A one-letter prefix counts as a leading space, valued 36 (the Immigration Department's scheme).
    values = [36] if len(letters) == 1 else []
    values += [ord(letter) - ord("A") + 10 for letter in letters]
    values += [int(digit) for digit in digits]
    total = sum(value * weight for value, weight in zip(values, range(9, 1, -1), strict=True))
    check = 11 - total % 11
    return "A" if check == 10 else "0" if check == 11 else str(check)


def is_valid_hkid(value: str) -> bool:
    """True when ``value`` is an HKID number (``A123456(3)``, ``AB123456(9)``) with a correct check digit."""
    match = _HKID.match(_compact(value))
    if match is None:
        return False
    prefix, digits, check = match.groups()
    return hkid_check_digit(prefix, digits) == check


def normalize_hkid(value: str) -> str:
    """The canonical form ``A123456(3)``; raises ``ValueError`` when the number is not valid."""
    match = _HKID.match(_compact(value))
    if match is None or not is_valid_hkid(value):
        raise ValueError(f"not a valid HKID number: {value!r} (expected e.g. A123456(3))")
    prefix, digits, check = match.groups()
    return f"{prefix}{digits}({check})"


def is_valid_hk_phone(value: str) -> bool:
    """True for a Hong Kong number: 8 digits starting 2, 3, 5-9, optionally prefixed +852."""
    return _PHONE.match(_compact(value)) is not None


def normalize_hk_phone(value: str) -> str:
    """The E.164 form ``+85291234567``; raises ``ValueError`` when the number is not valid."""
    match = _PHONE.match(_compact(value))
    if match is None:
        raise ValueError(f"not a Hong Kong phone number: {value!r} (8 digits starting 2, 3, 5-9)")
    return f"+852{match.group(1)}"


def is_valid_email(value: str) -> bool:
    """True for a plausible e-mail address (``name@domain.tld``, at most 254 characters)."""
    return len(value) <= 254 and _EMAIL.match(value) is not None


class HKAddress(BaseModel):
    """A structured Hong Kong address; ``district`` is a value of the ``districts`` option list."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    flat: str | None = None
    floor: str | None = None
    block: str | None = None
    building: str | None = None
    street: str | None = None
    district: str = Field(min_length=1)
    region: Literal["HK", "KLN", "NT"]

    @model_validator(mode="after")
    def _building_or_street(self) -> HKAddress:
        if not (self.building or self.street):
            raise ValueError("an address needs a building or a street")
        return self

    def lines(self) -> list[str]:
        """The address as display lines, most specific first."""
        unit = ", ".join(
            part for part in (
                f"Flat {self.flat}" if self.flat else "",
                f"{self.floor}/F" if self.floor else "",
                f"Block {self.block}" if self.block else "",
            ) if part
        )
        return [line for line in (unit, self.building or "", self.street or "", self.district, self.region) if line]
