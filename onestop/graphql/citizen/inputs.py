"""Inputs of the citizen's mutations. An omitted field is left alone; an explicit null clears it."""

from __future__ import annotations

from datetime import date
from typing import Any

import strawberry

from onestop.graphql.citizen.types import Gender, Region


@strawberry.input(description="A structured Hong Kong address; needs `building` or `street`.")
class AddressInput:
    flat: str | None = None
    floor: str | None = None
    block: str | None = None
    building: str | None = None
    street: str | None = None
    district: str = strawberry.field(description="A value of the `districts` option list.")
    region: Region

    def to_item(self) -> dict[str, Any]:
        data = {"flat": self.flat, "floor": self.floor, "block": self.block, "building": self.building,
                "street": self.street, "district": self.district, "region": self.region.value}
        return {key: value for key, value in data.items() if value is not None}


@strawberry.input(description="Changes to the e-ME profile; omitted fields are unchanged, null clears.")
class UpdateProfileInput:
    name_en: str | None = strawberry.UNSET
    name_zh: str | None = strawberry.UNSET
    date_of_birth: date | None = strawberry.UNSET
    hkid: str | None = strawberry.UNSET
    gender: Gender | None = strawberry.UNSET
    phone: str | None = strawberry.UNSET
    email: str | None = strawberry.UNSET
    residential_address: AddressInput | None = strawberry.UNSET
    correspondence_address: AddressInput | None = strawberry.UNSET

    def changes(self) -> dict[str, Any]:
        """The set fields by e-ME item id (camelCase), as the profile service takes them."""
        values: dict[str, Any] = {
            "nameEn": self.name_en, "nameZh": self.name_zh,
            "dateOfBirth": self.date_of_birth.isoformat() if isinstance(self.date_of_birth, date)
            else self.date_of_birth,
            "hkid": self.hkid, "gender": self.gender.value if isinstance(self.gender, Gender) else self.gender,
            "phone": self.phone, "email": self.email,
            "residentialAddress": self.residential_address.to_item()
            if isinstance(self.residential_address, AddressInput) else self.residential_address,
            "correspondenceAddress": self.correspondence_address.to_item()
            if isinstance(self.correspondence_address, AddressInput) else self.correspondence_address,
        }
        return {key: value for key, value in values.items() if value is not strawberry.UNSET}


@strawberry.input
class RevokeConsentInput:
    consent_id: strawberry.ID = strawberry.field(
        description="The consent's global id (Consent.id); its artefact id (Consent.consentId) also works.")
