from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text

from onestop.engine.crypto.cipher import FieldCipher, KeyRing
from onestop.engine.data.gateway import DataServices
from onestop.engine.data.profiles import CitizenDirectory
from onestop.engine.db import Database
from onestop.engine.errors import DecryptionFailed, InvalidInput

ADDRESS = {"flat": "C", "floor": "21", "building": "Laguna City", "street": "12 Cha Kwo Ling Road",
           "district": "kwun-tong", "region": "KLN"}
CHANGES: dict[str, Any] = {
    "nameEn": "WONG, Ka Fai", "nameZh": "黃家輝", "dateOfBirth": "1988-01-22", "hkid": "K305518(3)",
    "gender": "male", "phone": "6234 5678", "email": "kafai.wong@example.com",
    "residentialAddress": ADDRESS, "correspondenceAddress": ADDRESS,
}


async def test_update_then_get_returns_normalised_profile(data_services: DataServices) -> None:
    profile = await data_services.profiles.update("sub-a", CHANGES)
    assert profile.phone == "+85262345678"
    assert profile.gender == "M"
    assert profile.hkid == "K305518(3)"
    assert profile.residential_address is not None
    assert profile.residential_address.district == "kwun-tong"
    again = await data_services.profiles.get("sub-a")
    assert again == profile
    assert again.items()["nameZh"] == "黃家輝"


async def test_unknown_citizen_gets_an_empty_profile(data_services: DataServices) -> None:
    assert (await data_services.profiles.get("nobody")).items() == {}


async def test_personal_columns_hold_no_plaintext(data_services: DataServices, database: Database) -> None:
    await data_services.profiles.update("sub-a", CHANGES)
    async with database.engine.connect() as conn:
        rows = (await conn.execute(text("SELECT * FROM profiles"))).all()
    raw = repr(rows)
    for secret in ("K305518", "WONG", "黃家輝", "62345678", "kafai", "Laguna", "1988-01-22"):
        assert secret not in raw
    assert raw.count("v1.") == 9


async def test_wrong_key_cannot_read_profile(data_services: DataServices, database: Database) -> None:
    await data_services.profiles.update("sub-a", CHANGES)
    other = DataServices.assemble(database, FieldCipher(KeyRing.single(bytes(32))), data_services.signer,
                                  data_services.providers.specs())
    with pytest.raises(DecryptionFailed, match="ONESTOP_DATA_KEY"):
        await other.profiles.get("sub-a")


async def test_swapping_hkid_ciphertext_between_citizens_fails(data_services: DataServices,
                                                                database: Database) -> None:
    await data_services.profiles.update("sub-a", CHANGES)
    await data_services.profiles.update("sub-b", {**CHANGES, "hkid": "A123456(3)"})
    a = await data_services.citizens.get("sub-a")
    b = await data_services.citizens.get("sub-b")
    assert a is not None
    assert b is not None
    async with database.engine.begin() as conn:
        stolen = (await conn.execute(text("SELECT hkid FROM profiles WHERE citizen_id = :id"), {"id": a.id})).scalar()
        await conn.execute(text("UPDATE profiles SET hkid = :v WHERE citizen_id = :id"), {"v": stolen, "id": b.id})
    with pytest.raises(DecryptionFailed, match="moved from another row"):
        await data_services.profiles.get("sub-b")


@pytest.mark.parametrize(("changes", "path", "fragment"), [
    ({"hkid": "A123456(4)"}, ("hkid",), "check digit"),
    ({"phone": "1234 5678"}, ("phone",), "Hong Kong number"),
    ({"email": "not-an-email"}, ("email",), "e-mail"),
    ({"dateOfBirth": "2999-01-01"}, ("dateOfBirth",), "between 1900 and today"),
    ({"dateOfBirth": "22/01/1988"}, ("dateOfBirth",), "YYYY-MM-DD"),
    ({"gender": "?"}, ("gender",), "M, F or X"),
    ({"nameEn": "  "}, ("nameEn",), "non-empty"),
    ({"residentialAddress": {**ADDRESS, "region": "MO"}}, ("residentialAddress", "region"), "HK"),
    ({"residentialAddress": {"district": "kwun-tong", "region": "KLN"}}, ("residentialAddress",), "building"),
    ({"residentialAddress": {**ADDRESS, "colour": "red"}}, ("residentialAddress", "colour"), "not permitted"),
    ({"favouriteFood": "dim sum"}, ("favouriteFood",), "unknown profile field"),
])
async def test_invalid_changes_report_field_paths(data_services: DataServices, changes: dict[str, Any],
                                                  path: tuple[str, ...], fragment: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        await data_services.profiles.update("sub-a", changes)
    (error,) = caught.value.errors
    assert error.path == list(path)
    assert fragment in error.message["en"]


async def test_every_problem_is_reported_and_nothing_is_saved(data_services: DataServices) -> None:
    await data_services.profiles.update("sub-a", CHANGES)
    with pytest.raises(InvalidInput) as caught:
        await data_services.profiles.update("sub-a", {"nameEn": "NEW NAME", "hkid": "bad", "phone": "0"})
    assert {tuple(e.path) for e in caught.value.errors} == {("hkid",), ("phone",)}
    assert (await data_services.profiles.get("sub-a")).name_en == "WONG, Ka Fai"


async def test_district_must_come_from_the_option_list(database: Database, cipher: FieldCipher,
                                                       data_services: DataServices) -> None:
    strict = DataServices.assemble(database, cipher, data_services.signer, data_services.providers.specs(),
                                   districts={"central-and-western"})
    with pytest.raises(InvalidInput) as caught:
        await strict.profiles.update("sub-a", {"residentialAddress": ADDRESS})
    assert caught.value.errors[0].path == ["residentialAddress", "district"]


async def test_none_clears_a_field(data_services: DataServices) -> None:
    await data_services.profiles.update("sub-a", CHANGES)
    profile = await data_services.profiles.update("sub-a", {"correspondenceAddress": None})
    assert profile.correspondence_address is None
    assert profile.name_en == "WONG, Ka Fai"


async def test_a_citizen_once_seen_is_found_again_without_reading_the_database(database: Database) -> None:
    citizens = CitizenDirectory(database, FieldCipher(KeyRing.single(bytes(range(32)))))
    first = await citizens.ensure("sub-cached")
    sessions: list[None] = []
    opened = database.session

    def counted() -> Any:
        sessions.append(None)
        return opened()

    database.session = counted  # type: ignore[method-assign]
    try:
        assert await citizens.ensure("sub-cached") == first
        assert await citizens.get("sub-cached") == first
        assert await citizens.by_ref(first.ref) == first
        assert sessions == []
        assert await citizens.get("sub-never-seen") is None
        assert len(sessions) == 1  # an unknown subject is read, and not remembered as missing
    finally:
        database.session = opened  # type: ignore[method-assign]
