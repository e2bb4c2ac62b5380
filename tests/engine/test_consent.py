from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from onestop.engine.data.consent import Consent
from onestop.engine.data.gateway import DataServices
from onestop.engine.errors import InvalidInput, NotFound, SignatureInvalid

PURPOSE = {"en": "Renew your driving licence", "tc": "續領駕駛執照"}
NOW = datetime(2026, 11, 27, 12, tzinfo=UTC)


async def grant(services: DataServices, sub: str = "sub-a", **overrides: Any) -> Consent:
    args: dict[str, Any] = {
        "service_slug": "renew-driving-licence", "service_hash": "a" * 64, "department": "TD",
        "items": ["td-licensing.driving-licence", "eme.nameEn"], "purpose": PURPOSE,
        "acr": "urn:onestop:acr:standard", "application_id": "app-1", "step_id": "prefill", "now": NOW,
    }
    args.update(overrides)
    return await services.consents.grant(sub, **args)


async def test_grant_records_a_signed_artefact(data_services: DataServices) -> None:
    consent = await grant(data_services)
    assert consent.items == ("eme.nameEn", "td-licensing.driving-licence")
    assert consent.providers == ("eme", "td-licensing")
    assert consent.expires_at == NOW + timedelta(days=30)
    assert consent.status(NOW) == "active"
    payload = data_services.signer.verify(consent.jws, typ="onestop-consent+jws").payload
    assert payload["items"] == ["eme.nameEn", "td-licensing.driving-licence"]
    assert payload["purpose"] == PURPOSE
    assert payload["acr"] == "urn:onestop:acr:standard"
    stored = await data_services.consents.get("sub-a", consent.id)
    assert stored == consent
    data_services.consents.verify(stored)


async def test_a_stored_consent_that_differs_from_its_signature_fails_verification(
        data_services: DataServices) -> None:
    consent = await grant(data_services)
    with pytest.raises(SignatureInvalid, match="differs"):
        data_services.consents.verify(replace(consent, items=(*consent.items, "eme.hkid")))


async def test_standing_consent_uses_its_validity(data_services: DataServices) -> None:
    consent = await grant(data_services, mode="standing", valid_for=timedelta(days=90), application_id=None)
    assert consent.expires_at == NOW + timedelta(days=90)
    assert consent.status(NOW + timedelta(days=91)) == "expired"


@pytest.mark.parametrize(("overrides", "path", "code"), [
    ({"items": ["td-licensing.favourite-colour"]}, ("items", "0"), "UNKNOWN_DATA_ITEM"),
    ({"items": ["nowhere.thing"]}, ("items", "0"), "UNKNOWN_PROVIDER"),
    ({"items": []}, ("items",), "INVALID_VALUE"),
    ({"purpose": {"en": "only English"}}, ("purpose",), "INVALID_VALUE"),
    ({"mode": "forever"}, ("mode",), "INVALID_VALUE"),
    ({"valid_for": timedelta(0)}, ("validFor",), "INVALID_VALUE"),
])
async def test_bad_grants_are_refused_with_field_errors(data_services: DataServices, overrides: dict[str, Any],
                                                        path: tuple[str, ...], code: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        await grant(data_services, **overrides)
    assert caught.value.errors[0].path == list(path)
    assert caught.value.errors[0].code == code


async def test_revoke_is_immediate_and_returns_a_signed_receipt(data_services: DataServices) -> None:
    consent = await grant(data_services)
    receipt = await data_services.consents.revoke("sub-a", consent.id, now=NOW + timedelta(minutes=1))
    assert receipt.revoked_at == NOW + timedelta(minutes=1)
    payload = data_services.signer.verify(receipt.jws, typ="onestop-consent-revocation+jws").payload
    assert payload["consentId"] == consent.id
    stored = await data_services.consents.get("sub-a", consent.id)
    assert stored.status() == "revoked"
    assert stored.receipt_jws == receipt.jws
    again = await data_services.consents.revoke("sub-a", consent.id)
    assert again == receipt


async def test_list_shows_only_own_consents_newest_first(data_services: DataServices) -> None:
    first = await grant(data_services)
    second = await grant(data_services, now=NOW + timedelta(hours=1))
    await grant(data_services, sub="sub-b")
    assert [c.id for c in await data_services.consents.list("sub-a")] == [second.id, first.id]
    assert await data_services.consents.list("nobody") == []


async def test_another_citizens_consent_looks_exactly_like_an_unknown_one(data_services: DataServices) -> None:
    theirs = await grant(data_services, sub="sub-a")
    await grant(data_services, sub="sub-b")
    with pytest.raises(NotFound) as foreign:
        await data_services.consents.get("sub-b", theirs.id)
    with pytest.raises(NotFound) as unknown:
        await data_services.consents.get("sub-b", "00000000-0000-0000-0000-000000000000")
    assert (foreign.value.code, type(foreign.value)) == (unknown.value.code, type(unknown.value))
    assert foreign.value.message.replace(theirs.id, "ID") == unknown.value.message.replace(unknown.value.ident, "ID")
    with pytest.raises(NotFound):
        await data_services.consents.revoke("sub-b", theirs.id)
    assert (await data_services.consents.get("sub-a", theirs.id)).status(NOW) == "active"


async def test_ending_an_application_ends_its_one_off_consents(data_services: DataServices) -> None:
    one_off = await grant(data_services)
    standing = await grant(data_services, mode="standing", application_id="app-1")
    other = await grant(data_services, application_id="app-2")
    assert await data_services.consents.end_for_application("app-1", now=NOW + timedelta(hours=1)) == 1
    assert (await data_services.consents.get("sub-a", one_off.id)).status(NOW + timedelta(hours=1)) == "expired"
    assert (await data_services.consents.get("sub-a", standing.id)).status(NOW + timedelta(hours=1)) == "active"
    assert (await data_services.consents.get("sub-a", other.id)).status(NOW + timedelta(hours=1)) == "active"


async def test_a_consent_just_granted_is_checked_as_loaded_and_another_ones_is_read_again(
        data_services: DataServices) -> None:
    from onestop.engine.errors import ConsentRequired, ConsentRevoked, ItemsNotConsented

    consents = data_services.consents
    consent = await grant(data_services)
    citizen = await data_services.citizens.get("sub-a")
    assert citizen is not None
    use = {"service_slug": "renew-driving-licence", "purpose": PURPOSE, "application_id": "app-1",
           "now": NOW + timedelta(minutes=1)}
    # Checked as it was loaded: every rule still applies, without reading the row again.
    assert await consents.require_live(citizen, consent.id, items=["eme.nameEn"], loaded=consent, **use) == consent
    with pytest.raises(ItemsNotConsented):
        await consents.require_live(citizen, consent.id, items=["eme.hkid"], loaded=consent, **use)
    with pytest.raises(ConsentRevoked):
        await consents.require_live(citizen, consent.id, items=["eme.nameEn"],
                                    loaded=replace(consent, revoked_at=NOW), **use)
    # A loaded consent that is not the one named (or not this citizen's) is no shortcut: the row is read.
    await consents.revoke("sub-a", consent.id, now=NOW)
    other = await grant(data_services, "sub-b")
    with pytest.raises(ConsentRevoked):
        await consents.require_live(citizen, consent.id, items=["eme.nameEn"], loaded=other, **use)
    with pytest.raises(ConsentRequired):
        await consents.require_live(citizen, other.id, items=["eme.nameEn"], loaded=other, **use)
