"""The citizen's own data over GraphQL: auth errors, profile, consents, access log, personal data, isolation."""

from __future__ import annotations

import base64
import json
import logging
from typing import Any

import pytest
from graphql_api import Api, codes_of, errors_of, login

from onestop.engine.container import Engine

VIEWER = "{ viewer { sub acr profile { nameEn dateOfBirth hkid phone residentialAddress { district region } } } }"
ADULT, ELDER, YOUTH = "wong-ka-fai", "cheung-kwok-wing", "chan-siu-ming"


async def test_viewer_without_a_token_is_null_with_unauthenticated(seed_api: Api) -> None:
    result = await seed_api.post(VIEWER)
    assert result["data"] == {"viewer": None}
    assert codes_of(result) == ["UNAUTHENTICATED"]
    assert "Authorization" in errors_of(result)[0]["message"]


@pytest.mark.parametrize("header", ["Bearer not.a.jwt", "Basic dXNlcjpwYXNz", "Bearer ", "token"])
async def test_a_bad_authorization_header_is_unauthenticated(seed_api: Api, header: str) -> None:
    result = await seed_api.post(VIEWER, headers={"Authorization": header})
    assert result["data"] == {"viewer": None}
    assert codes_of(result) == ["UNAUTHENTICATED"]


async def test_a_tampered_token_is_unauthenticated_and_leaks_nothing(seed_api: Api) -> None:
    headers = await login(seed_api, citizen=ADULT)
    token = headers["Authorization"].removeprefix("Bearer ")
    head, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["acr"] = "urn:onestop:acr:face"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    result = await seed_api.post(VIEWER, headers={"Authorization": f"Bearer {head}.{forged}.{signature}"})
    assert result["data"] == {"viewer": None}
    assert codes_of(result) == ["UNAUTHENTICATED"]
    assert errors_of(result)[0]["extensions"]["reason"] == "bad_signature"


async def test_a_staff_token_cannot_be_a_citizen_viewer(seed_api: Api) -> None:
    staff = (await seed_api.client.get("/dev-idp/staff")).json()
    staff_id = (staff["staff"] if isinstance(staff, dict) else staff)[0]["id"]
    result = await seed_api.post(VIEWER, headers=await login(seed_api, staff=staff_id))
    assert codes_of(result) == ["FORBIDDEN"]


async def test_viewer_sees_their_own_e_me_profile(seed_api: Api) -> None:
    headers = await login(seed_api, citizen=ADULT)
    viewer = (await seed_api.data(VIEWER, headers=headers))["viewer"]
    assert viewer["acr"] == "urn:onestop:acr:standard"
    assert viewer["profile"]["nameEn"] == "WONG, Ka Fai"
    assert viewer["profile"]["dateOfBirth"] == "1988-01-22"
    assert viewer["profile"]["hkid"] == "K305518(3)"


UPDATE = """
mutation Update($input: UpdateProfileInput!) {
  updateProfile(input: $input) {
    profile { phone email residentialAddress { building district region } }
    userErrors { field message code }
  }
}
"""


async def test_update_profile_saves_valid_changes(seed_api: Api) -> None:
    headers = await login(seed_api, citizen="lee-mei-ling")
    payload = (await seed_api.data(UPDATE, {"input": {
        "phone": "91234567", "residentialAddress": {"building": "Harbour Court", "district": "wan-chai",
                                                    "region": "HK"}}}, headers=headers))["updateProfile"]
    assert payload["userErrors"] == []
    assert payload["profile"]["phone"].replace(" ", "").endswith("91234567")
    assert payload["profile"]["residentialAddress"] == {"building": "Harbour Court", "district": "wan-chai",
                                                        "region": "HK"}
    again = (await seed_api.data(VIEWER, headers=headers))["viewer"]["profile"]
    assert again["phone"] == payload["profile"]["phone"]


async def test_update_profile_reports_every_bad_field_and_saves_nothing(seed_api: Api) -> None:
    headers = await login(seed_api, citizen="ng-wing-sze")
    before = (await seed_api.data(VIEWER, headers=headers))["viewer"]["profile"]
    payload = (await seed_api.data(UPDATE, {"input": {
        "phone": "12345", "hkid": "A123456(7)", "email": "nobody@example.com",
        "residentialAddress": {"district": "atlantis", "region": "HK", "street": "1 Queen's Road"},
    }}, headers=headers))["updateProfile"]
    assert payload["profile"] is None
    fields = {tuple(error["field"]) for error in payload["userErrors"]}
    assert {("input", "phone"), ("input", "hkid"), ("input", "residentialAddress", "district")} <= fields
    assert all(error["message"] and error["code"] for error in payload["userErrors"])
    after = (await seed_api.data(VIEWER, headers=headers))["viewer"]["profile"]
    assert after == before


async def test_update_profile_with_nothing_to_change_is_a_user_error(seed_api: Api) -> None:
    headers = await login(seed_api, citizen=ADULT)
    payload = (await seed_api.data(UPDATE, {"input": {}}, headers=headers))["updateProfile"]
    assert payload["userErrors"][0]["code"] == "EMPTY_INPUT"


async def test_update_profile_without_login_is_unauthenticated(seed_api: Api) -> None:
    result = await seed_api.post(UPDATE, {"input": {"phone": "91234567"}})
    assert codes_of(result) == ["UNAUTHENTICATED"]
    assert result["data"] is None


PERSONAL = """
query Mine($provider: ID!) {
  viewer { personalData(provider: $provider) { provider items { item value sourceDepartment updatedAt
                                                                 description } missing } }
}
"""
LOG = """
query Log($first: Int, $after: String) {
  viewer { dataAccessLog(first: $first, after: $after) {
    totalCount
    edges { cursor node { at serviceSlug departmentCode provider items { provider item } outcome hash } }
    pageInfo { hasNextPage hasPreviousPage endCursor }
  } }
}
"""


async def test_personal_data_shows_what_a_department_holds_with_provenance_and_is_logged(seed_api: Api) -> None:
    headers = await login(seed_api, citizen=ADULT)
    before = (await seed_api.data(LOG, {"first": 100}, headers=headers))["viewer"]["dataAccessLog"]["totalCount"]
    data = (await seed_api.data(PERSONAL, {"provider": "td-licensing"}, headers=headers))["viewer"]
    items = {item["item"]: item for item in data["personalData"]["items"]}
    licence = items["td-licensing.driving-licence"]
    assert licence["value"]["number"] == "K305518(3)"
    assert licence["sourceDepartment"] == "TD"
    assert licence["updatedAt"]
    assert licence["description"]

    log = (await seed_api.data(LOG, {"first": 1}, headers=headers))["viewer"]["dataAccessLog"]
    assert log["totalCount"] == before + 1
    newest = log["edges"][0]["node"]
    assert newest["provider"] == "td-licensing"
    assert newest["departmentCode"] == "TD"
    assert len(newest["hash"]) == 64


async def test_personal_data_for_an_unknown_provider_is_not_found(seed_api: Api) -> None:
    result = await seed_api.post(PERSONAL, {"provider": "no-such-provider"},
                                 headers=await login(seed_api, citizen=ADULT))
    assert codes_of(result) == ["NOT_FOUND"]


async def test_access_log_pages_with_cursors(seed_api: Api) -> None:
    headers = await login(seed_api, citizen=ELDER)
    for provider in ("eme", "eme", "eme"):
        await seed_api.data(PERSONAL, {"provider": provider}, headers=headers)
    first = (await seed_api.data(LOG, {"first": 2}, headers=headers))["viewer"]["dataAccessLog"]
    assert len(first["edges"]) == 2
    assert first["pageInfo"]["hasNextPage"] is True
    assert first["pageInfo"]["hasPreviousPage"] is False
    rest = (await seed_api.data(LOG, {"first": 100, "after": first["pageInfo"]["endCursor"]},
                                headers=headers))["viewer"]["dataAccessLog"]
    assert rest["pageInfo"]["hasPreviousPage"] is True
    hashes = [e["node"]["hash"] for e in first["edges"] + rest["edges"]]
    assert len(hashes) == len(set(hashes)) == first["totalCount"]


@pytest.mark.parametrize(("variables", "argument"), [({"first": 0}, "first"), ({"first": 101}, "first"),
                                                     ({"first": 5, "after": "bogus"}, "after")])
async def test_access_log_bad_paging_is_bad_user_input(seed_api: Api, variables: dict[str, Any],
                                                       argument: str) -> None:
    result = await seed_api.post(LOG, variables, headers=await login(seed_api, citizen=ADULT))
    assert codes_of(result) == ["BAD_USER_INPUT"]
    assert errors_of(result)[0]["extensions"]["argument"] == argument


CONSENTS = "{ viewer { consents { id consentId serviceSlug service { slug } department { code } providers " \
           "items { provider item description } purpose lawfulBasis mode status grantedAt expiresAt revokedAt " \
           "signature } } }"
REVOKE = """
mutation Revoke($id: ID!) {
  revokeConsent(input: {consentId: $id}) {
    consent { id status revokedAt }
    receipt { consentId revokedAt signature }
    userErrors { field message code }
  }
}
"""
NODE = "query N($id: ID!) { node(id: $id) { __typename id ... on Consent { status serviceSlug } } }"


async def _grant(engine: Engine, citizen_headers_sub: str) -> str:
    consent = await engine.data.consents.grant(
        citizen_headers_sub, service_slug="renew-driving-licence", service_hash="0" * 64, department="TD",
        items=["td-licensing.driving-licence"],
        purpose={"en": "To check your current licence.", "tc": "核對你現有的駕駛執照。"},
        acr="urn:onestop:acr:standard")
    return consent.id


async def _sub(api: Api, headers: dict[str, str]) -> str:
    sub: str = (await api.data("{ viewer { sub } }", headers=headers))["viewer"]["sub"]
    return sub


async def test_consents_are_listed_and_revocation_returns_a_signed_receipt(seed_api: Api,
                                                                           seed_engine: Engine) -> None:
    headers = await login(seed_api, citizen=ADULT)
    consent_id = await _grant(seed_engine, await _sub(seed_api, headers))
    consents = (await seed_api.data(CONSENTS, headers=headers))["viewer"]["consents"]
    mine = next(c for c in consents if c["consentId"] == consent_id)
    assert mine["status"] == "ACTIVE"
    assert mine["mode"] == "ONE_OFF"
    assert mine["service"] == {"slug": "renew-driving-licence"}
    assert mine["department"] == {"code": "TD"}
    assert mine["items"][0]["provider"] == "td-licensing"
    assert mine["items"][0]["description"]
    assert mine["purpose"] == "To check your current licence."
    assert mine["signature"].count(".") == 2

    payload = (await seed_api.data(REVOKE, {"id": mine["id"]}, headers=headers))["revokeConsent"]
    assert payload["userErrors"] == []
    assert payload["consent"]["status"] == "REVOKED"
    assert payload["receipt"]["consentId"] == consent_id
    assert payload["receipt"]["signature"].count(".") == 2
    receipt = seed_engine.data.signer.verify(payload["receipt"]["signature"])
    assert receipt is not None

    again = (await seed_api.data(REVOKE, {"id": consent_id}, headers=headers))["revokeConsent"]
    assert again["receipt"] == payload["receipt"]  # revoking twice returns the first receipt


async def test_consent_text_follows_the_request_language(seed_api: Api, seed_engine: Engine) -> None:
    headers = await login(seed_api, citizen=ELDER)
    consent_id = await _grant(seed_engine, await _sub(seed_api, headers))
    consents = (await seed_api.data(CONSENTS, headers={**headers, "Accept-Language": "zh-HK"}))
    mine = next(c for c in consents["viewer"]["consents"] if c["consentId"] == consent_id)
    assert mine["purpose"] == "核對你現有的駕駛執照。"


async def test_a_citizen_cannot_see_or_revoke_another_citizens_consent(seed_api: Api,
                                                                       seed_engine: Engine) -> None:
    owner = await login(seed_api, citizen=ADULT)
    intruder = await login(seed_api, citizen=YOUTH)
    consent_id = await _grant(seed_engine, await _sub(seed_api, owner))
    global_id = next(c["id"] for c in (await seed_api.data(CONSENTS, headers=owner))["viewer"]["consents"]
                     if c["consentId"] == consent_id)

    assert (await seed_api.data(NODE, {"id": global_id}, headers=owner))["node"]["status"] == "ACTIVE"
    assert (await seed_api.data(NODE, {"id": global_id}, headers=intruder)) == {"node": None}
    assert (await seed_api.data(NODE, {"id": global_id})) == {"node": None}
    theirs = (await seed_api.data(CONSENTS, headers=intruder))["viewer"]["consents"]
    assert consent_id not in {c["consentId"] for c in theirs}

    refused = (await seed_api.data(REVOKE, {"id": global_id}, headers=intruder))["revokeConsent"]
    unknown = (await seed_api.data(REVOKE, {"id": "00000000-0000-0000-0000-000000000000"},
                                   headers=intruder))["revokeConsent"]
    assert refused["userErrors"][0]["code"] == "NOT_FOUND"
    assert refused == {**unknown, "userErrors": [{**unknown["userErrors"][0]}]}  # indistinguishable
    still = (await seed_api.data(NODE, {"id": global_id}, headers=owner))["node"]
    assert still["status"] == "ACTIVE"


async def test_another_citizens_access_log_and_profile_stay_private(seed_api: Api) -> None:
    owner = await login(seed_api, citizen=ADULT)
    other = await login(seed_api, citizen=YOUTH)
    await seed_api.data(PERSONAL, {"provider": "eme"}, headers=owner)
    theirs = (await seed_api.data(LOG, {"first": 100}, headers=other))["viewer"]["dataAccessLog"]
    mine = (await seed_api.data(LOG, {"first": 100}, headers=owner))["viewer"]["dataAccessLog"]
    assert not {e["node"]["hash"] for e in theirs["edges"]} & {e["node"]["hash"] for e in mine["edges"]}
    profile = (await seed_api.data(VIEWER, headers=other))["viewer"]["profile"]
    assert profile["nameEn"] != "WONG, Ka Fai"


SERVICES = "{ services(first: 100) { edges { node { slug ageGroups { id } } } } }"


async def test_a_logged_in_citizen_sees_services_for_their_age_group_first(seed_api: Api) -> None:
    anonymous = [e["node"] for e in (await seed_api.data(SERVICES))["services"]["edges"]]
    elder = [e["node"] for e in (await seed_api.data(
        SERVICES, headers=await login(seed_api, citizen=ELDER)))["services"]["edges"]]
    assert sorted(n["slug"] for n in elder) == sorted(n["slug"] for n in anonymous)
    groups = [any(g["id"] == "elderly" for g in n["ageGroups"]) for n in elder]
    assert groups == sorted(groups, reverse=True)  # every elderly service before every other one
    assert groups[0]
    assert not all(groups)


async def test_personal_data_never_reaches_the_logs(seed_api: Api, caplog: pytest.LogCaptureFixture) -> None:
    headers = await login(seed_api, citizen=ADULT)
    with caplog.at_level(logging.DEBUG):
        await seed_api.data(VIEWER, headers=headers)
        await seed_api.data(PERSONAL, {"provider": "td-licensing"}, headers=headers)
        await seed_api.data(UPDATE, {"input": {"hkid": "Z999999(1)", "phone": "0000"}}, headers=headers)
    text = caplog.text
    for secret in ("K305518", "WONG, Ka Fai", "Z999999", "kafai.wong"):
        assert secret not in text


async def test_auth_errors_carry_a_www_authenticate_challenge(seed_api: Api) -> None:
    missing = await seed_api.client.post("/graphql", json={"query": VIEWER})
    assert missing.headers["www-authenticate"] == 'Bearer realm="onestop"'
    bad = await seed_api.client.post("/graphql", json={"query": VIEWER},
                                     headers={"Authorization": "Bearer not.a.jwt"})
    assert bad.headers["www-authenticate"].startswith('Bearer realm="onestop", error="invalid_token"')
    fine = await seed_api.client.post("/graphql", json={"query": VIEWER},
                                      headers=await login(seed_api, citizen=ADULT))
    assert "www-authenticate" not in fine.headers


async def test_one_request_loads_a_profile_once_however_many_fields_need_it(seed_api: Api,
                                                                           seed_engine: Engine) -> None:
    from sqlalchemy import event

    assert seed_engine.database is not None
    statements: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        statements.append(statement)

    headers = await login(seed_api, citizen=ELDER)
    sync_engine = seed_engine.database.engine.sync_engine
    event.listen(sync_engine, "before_cursor_execute", record)
    try:
        data = await seed_api.data("{ services(first: 1) { totalCount } viewer { a: profile { nameEn } "
                                   "b: profile { dateOfBirth } } }", headers=headers)
    finally:
        event.remove(sync_engine, "before_cursor_execute", record)
    assert data["viewer"]["a"]["nameEn"]
    assert data["viewer"]["b"]["dateOfBirth"]
    assert len([s for s in statements if "FROM profiles" in s]) == 1
