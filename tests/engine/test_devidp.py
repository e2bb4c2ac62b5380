"""The development identity provider over real HTTP requests to its ASGI app."""

from __future__ import annotations

import stat
import textwrap
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from onestop.config import Environment, Settings
from onestop.engine.dev.faces import DevFaceMatcher
from onestop.engine.dev.idp import (
    DevIdentityProvider,
    DevSigningKey,
    FixtureError,
    citizen_sub,
    dev_idp_app,
    load_dev_citizens,
    load_dev_staff,
)
from onestop.engine.identity.jwks import HttpJwksSource, InProcessJwksSource
from onestop.engine.identity.stepup import AssuranceLadder
from onestop.engine.identity.tokens import TokenVerifier

BASIC, STANDARD, FACE = "urn:onestop:acr:basic", "urn:onestop:acr:standard", "urn:onestop:acr:face"
LADDER = AssuranceLadder.of([("basic", BASIC), ("standard", STANDARD), ("face", FACE)])
TODAY = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)

CITIZENS = """\
citizens:
  - id: chan-tai-man
    profile: {nameEn: CHAN Tai Man, nameZh: 陳大文, dateOfBirth: 1985-03-14, hkid: "A123456(3)"}
    records: {}
    updated: 2026-10-01
  - id: wong-siu-ming
    profile: {nameEn: WONG Siu Ming, nameZh: 黃小明, dateOfBirth: "2008-11-28"}
    faceEnrolment: {consent: true, consentedAt: "2026-09-01T10:00:00+08:00"}
  - id: lee-ah-po
    profile: {nameEn: LEE Ah Po, dateOfBirth: 1950-01-01}
    faceEnrolment: {consent: false}
"""

STAFF = """\
staff:
  - {id: td-officer, name: Officer Ho, department: TD, roles: [caseworker]}
  - {id: imm-supervisor, name: Supervisor Ma, department: IMMD, roles: [caseworker, supervisor]}
"""


def age_group(age: int) -> str:
    return "youth" if age < 25 else "adult" if age < 65 else "elderly"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    dev = tmp_path / "definitions" / "dev"
    dev.mkdir(parents=True)
    (dev / "citizens.yaml").write_text(CITIZENS, encoding="utf-8")
    (dev / "staff.yaml").write_text(STAFF, encoding="utf-8")
    return Settings(env=Environment.DEVELOPMENT, data_dir=tmp_path / "data", definitions=tmp_path / "definitions")


@pytest.fixture
def idp(settings: Settings) -> DevIdentityProvider:
    dev = settings.definitions / "dev"
    return DevIdentityProvider(
        settings, LADDER, load_dev_citizens(dev / "citizens.yaml"), load_dev_staff(dev / "staff.yaml"),
        DevFaceMatcher(), DevSigningKey.load_or_create(settings), age_group_of=age_group, clock=lambda: TODAY,
    )


@pytest.fixture
async def client(idp: DevIdentityProvider) -> AsyncIterator[httpx.AsyncClient]:
    app = Starlette(routes=[Mount("/dev-idp", app=idp.app)])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as http:
        yield http


@pytest.fixture
def verifier(idp: DevIdentityProvider) -> TokenVerifier:
    # The clock of the IdP is fixed in the past for age checks; tokens still verify now, so sign "now".
    return TokenVerifier.from_source(InProcessJwksSource(idp.jwks), issuer=idp.issuer, audience=idp.audience)


@pytest.fixture
def live_idp(idp: DevIdentityProvider) -> DevIdentityProvider:
    idp._clock = lambda: datetime.now(UTC)
    return idp


async def samples(client: httpx.AsyncClient, citizen: str) -> dict[str, str]:
    listing = (await client.get("/dev-idp/citizens")).json()["citizens"]
    return next(c["faceSamples"] for c in listing if c["id"] == citizen)


async def test_discovery_names_issuer_keys_and_acr_levels(client: httpx.AsyncClient) -> None:
    response = await client.get("/dev-idp/.well-known/openid-configuration")
    assert response.status_code == 200
    config = response.json()
    assert config["issuer"] == "http://127.0.0.1:8000/dev-idp"
    assert config["jwks_uri"] == "http://127.0.0.1:8000/dev-idp/jwks.json"
    assert config["token_endpoint"] == "http://127.0.0.1:8000/dev-idp/token"
    assert config["acr_values_supported"] == [BASIC, STANDARD, FACE]
    assert config["subject_types_supported"] == ["pairwise"]


async def test_jwks_publishes_only_the_public_ed25519_key(client: httpx.AsyncClient,
                                                          idp: DevIdentityProvider) -> None:
    keys = (await client.get("/dev-idp/jwks.json")).json()["keys"]
    assert len(keys) == 1
    assert keys[0]["kty"] == "OKP"
    assert keys[0]["crv"] == "Ed25519"
    assert keys[0]["kid"] == idp.key.kid
    assert "d" not in keys[0]


async def test_citizens_list_ages_groups_and_face_samples(client: httpx.AsyncClient) -> None:
    listing = {c["id"]: c for c in (await client.get("/dev-idp/citizens")).json()["citizens"]}
    assert set(listing) == {"chan-tai-man", "wong-siu-ming", "lee-ah-po"}
    assert listing["chan-tai-man"]["name"] == "CHAN Tai Man"
    assert listing["chan-tai-man"]["age"] == 41
    assert listing["chan-tai-man"]["ageGroup"] == "adult"
    # born 2008-11-28: still 17 on 2026-11-27
    assert listing["wong-siu-ming"]["age"] == 17
    assert listing["wong-siu-ming"]["ageGroup"] == "youth"
    assert listing["lee-ah-po"]["ageGroup"] == "elderly"
    for citizen in listing.values():
        assert set(citizen["faceSamples"]) == {"match", "mismatch"}
        assert citizen["faceSamples"]["match"] != citizen["faceSamples"]["mismatch"]
    assert listing["lee-ah-po"]["faceEnrolled"] is False
    assert listing["chan-tai-man"]["faceEnrolled"] is True


@pytest.mark.parametrize(("acr", "amr"), [(BASIC, ["pwd"]), (STANDARD, ["pwd", "otp"])])
async def test_token_at_each_password_level_verifies(client: httpx.AsyncClient, live_idp: DevIdentityProvider,
                                                     verifier: TokenVerifier, acr: str, amr: list[str]) -> None:
    response = await client.post("/dev-idp/token", json={"citizen": "chan-tai-man", "acr": acr})
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 900
    assert response.headers["cache-control"] == "no-store"
    principal = await verifier.verify(body["access_token"])
    assert principal.acr == acr
    assert list(principal.amr) == amr
    assert principal.kind == "citizen"
    assert principal.claims["exp"] - principal.claims["iat"] == 900


async def test_subject_is_pairwise_and_never_the_dev_id(client: httpx.AsyncClient, live_idp: DevIdentityProvider,
                                                        verifier: TokenVerifier, settings: Settings) -> None:
    subs = []
    for citizen in ("chan-tai-man", "wong-siu-ming", "chan-tai-man"):
        body = (await client.post("/dev-idp/token", json={"citizen": citizen, "acr": BASIC})).json()
        subs.append((await verifier.verify(body["access_token"])).sub)
    assert subs[0] == subs[2]
    assert subs[0] != subs[1]
    assert "chan" not in subs[0]
    assert subs[0] == citizen_sub(settings, "chan-tai-man")


async def test_face_token_with_matching_selfie_is_bound_to_the_transaction(
    client: httpx.AsyncClient, live_idp: DevIdentityProvider, verifier: TokenVerifier
) -> None:
    selfie = (await samples(client, "chan-tai-man"))["match"]
    response = await client.post("/dev-idp/token", json={
        "citizen": "chan-tai-man", "acr": FACE, "selfie": selfie, "binding": "app-42:face-check"})
    assert response.status_code == 200, response.text
    principal = await verifier.verify(response.json()["access_token"])
    assert principal.acr == FACE
    assert principal.amr == ("face",)
    assert principal.txn == "app-42:face-check"


async def test_face_token_with_mismatching_selfie_is_refused(client: httpx.AsyncClient) -> None:
    selfie = (await samples(client, "chan-tai-man"))["mismatch"]
    response = await client.post("/dev-idp/token", json={"citizen": "chan-tai-man", "acr": FACE, "selfie": selfie})
    assert response.status_code == 403
    assert response.json()["error"] == "face_mismatch"
    assert "access_token" not in response.json()


async def test_another_citizens_selfie_does_not_match(client: httpx.AsyncClient) -> None:
    selfie = (await samples(client, "wong-siu-ming"))["match"]
    response = await client.post("/dev-idp/token", json={"citizen": "chan-tai-man", "acr": FACE, "selfie": selfie})
    assert response.status_code == 403
    assert response.json()["error"] == "face_mismatch"


@pytest.mark.parametrize(("body", "status", "error"), [
    ({"citizen": "chan-tai-man", "acr": FACE}, 401, "selfie_required"),
    ({"citizen": "chan-tai-man", "acr": FACE, "selfie": "!!not base64!!"}, 400, "invalid_selfie"),
    ({"citizen": "chan-tai-man", "acr": FACE, "selfie": "c2hvcnQ="}, 400, "invalid_selfie"),
    ({"citizen": "nobody", "acr": BASIC}, 400, "unknown_citizen"),
    ({"citizen": "chan-tai-man", "acr": "urn:other:acr:gold"}, 400, "unsupported_acr"),
    ({"citizen": "chan-tai-man"}, 400, "invalid_request"),
    ({"citizen": "chan-tai-man", "staff": "td-officer", "acr": BASIC}, 400, "invalid_request"),
    ({"staff": "nobody"}, 400, "unknown_staff"),
    ({"citizen": "chan-tai-man", "acr": BASIC, "binding": 12}, 400, "invalid_request"),
    ([1, 2], 400, "invalid_request"),
])
async def test_bad_token_requests_get_oauth_errors(client: httpx.AsyncClient, body: Any, status: int,
                                                   error: str) -> None:
    response = await client.post("/dev-idp/token", json=body)
    assert response.status_code == status
    payload = response.json()
    assert payload["error"] == error
    assert payload["error_description"]


async def test_non_json_token_request_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.post("/dev-idp/token", content=b"citizen=chan", headers={"content-type": "text/plain"})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


async def test_withdrawn_face_enrolment_refuses_the_face_level_until_re_enrolled(
    client: httpx.AsyncClient, live_idp: DevIdentityProvider, verifier: TokenVerifier
) -> None:
    selfie = (await samples(client, "chan-tai-man"))["match"]
    face_request = {"citizen": "chan-tai-man", "acr": FACE, "selfie": selfie}
    withdrawn = await client.delete("/dev-idp/faces/chan-tai-man")
    assert withdrawn.json() == {"citizen": "chan-tai-man", "enrolled": False, "withdrawn": True}
    assert live_idp.enrolments.get("chan-tai-man") is None

    refused = await client.post("/dev-idp/token", json=face_request)
    assert refused.status_code == 403
    assert refused.json()["error"] == "face_not_enrolled"

    no_consent = await client.post("/dev-idp/faces/enrol", json={"citizen": "chan-tai-man", "consent": False})
    assert no_consent.status_code == 400
    assert no_consent.json()["error"] == "consent_required"
    assert (await client.post("/dev-idp/token", json=face_request)).status_code == 403

    enrolled = await client.post("/dev-idp/faces/enrol", json={"citizen": "chan-tai-man", "consent": True})
    assert enrolled.status_code == 201
    status = (await client.get("/dev-idp/faces/chan-tai-man")).json()
    assert status["enrolled"] is True
    assert status["consentSource"] == "request"
    accepted = await client.post("/dev-idp/token", json=face_request)
    assert accepted.status_code == 200
    assert (await verifier.verify(accepted.json()["access_token"])).acr == FACE


async def test_fixture_records_the_enrolment_consent(client: httpx.AsyncClient) -> None:
    status = (await client.get("/dev-idp/faces/wong-siu-ming")).json()
    assert status["enrolled"] is True
    assert status["consentSource"] == "fixture"
    assert status["consentedAt"] == "2026-09-01T10:00:00+08:00"
    # no consent in the fixture: never enrolled, so the face level is refused
    refused = await client.post("/dev-idp/token", json={
        "citizen": "lee-ah-po", "acr": FACE, "selfie": (await samples(client, "lee-ah-po"))["match"]})
    assert refused.json()["error"] == "face_not_enrolled"


async def test_face_endpoints_refuse_unknown_citizens(client: httpx.AsyncClient) -> None:
    assert (await client.delete("/dev-idp/faces/nobody")).status_code == 404
    enrol = await client.post("/dev-idp/faces/enrol", json={"citizen": "nobody", "consent": True})
    assert enrol.json()["error"] == "unknown_citizen"


async def test_staff_token_verifies_with_department_and_roles(
    client: httpx.AsyncClient, live_idp: DevIdentityProvider, verifier: TokenVerifier
) -> None:
    staff = (await client.get("/dev-idp/staff")).json()["staff"]
    assert {"id": "td-officer", "name": "Officer Ho", "department": "TD", "roles": ["caseworker"]} in staff
    response = await client.post("/dev-idp/token", json={"staff": "imm-supervisor"})
    assert response.status_code == 200
    principal = await verifier.verify(response.json()["access_token"])
    assert principal.kind == "staff"
    assert principal.department == "IMMD"
    assert principal.roles == ("caseworker", "supervisor")
    assert principal.acr == STANDARD


async def test_tokens_verify_through_the_jwks_endpoint_over_http(
    client: httpx.AsyncClient, live_idp: DevIdentityProvider
) -> None:
    # The production path: an HTTP JWKS source pointed at the IdP's published jwks_uri.
    config = (await client.get("/dev-idp/.well-known/openid-configuration")).json()
    source = HttpJwksSource(config["jwks_uri"], client=client)
    verifier = TokenVerifier.from_source(source, issuer=config["issuer"], audience="onestop")
    body = (await client.post("/dev-idp/token", json={"citizen": "wong-siu-ming", "acr": STANDARD})).json()
    assert (await verifier.verify(body["access_token"])).acr == STANDARD


def test_signing_key_is_created_once_and_private(settings: Settings) -> None:
    first = DevSigningKey.load_or_create(settings)
    second = DevSigningKey.load_or_create(settings)
    assert first.kid == second.kid
    path = settings.data_dir / "keys" / "dev-idp-ed25519.pem"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_pairwise_subject_survives_restarts(settings: Settings) -> None:
    assert citizen_sub(settings, "chan-tai-man") == citizen_sub(settings, "chan-tai-man")
    assert citizen_sub(settings, "chan-tai-man") != citizen_sub(settings, "wong-siu-ming")


def test_factory_returns_a_mountable_app(settings: Settings) -> None:
    dev = settings.definitions / "dev"
    app = dev_idp_app(settings, LADDER, load_dev_citizens(dev / "citizens.yaml"),
                      load_dev_staff(dev / "staff.yaml"), DevFaceMatcher(), DevSigningKey.generate())
    assert callable(app)


def test_from_settings_reads_the_definitions_dev_folder(settings: Settings) -> None:
    idp = DevIdentityProvider.from_settings(settings, lambda: LADDER)
    assert set(idp.citizens) == {"chan-tai-man", "wong-siu-ming", "lee-ah-po"}
    assert idp.ladder is LADDER


@pytest.mark.parametrize(("text", "message"), [
    ("citizens:\n  - id: x\n    profile: {nameEn: X}\n", "citizen 'x': needs profile.dateOfBirth"),
    ("citizens:\n  - id: x\n    profile: {nameEn: X, dateOfBirth: 1990-13-01}\n", "citizen 'x'"),
    ("citizens:\n  - profile: {nameEn: X}\n", "citizens[0]: needs an 'id'"),
    ("people: []\n", "expected a top-level 'citizens:' list"),
    ("citizens:\n  - id: x\n    profile: {nameEn: X, dateOfBirth: 1990-01-01}\n"
     "  - id: x\n    profile: {nameEn: Y, dateOfBirth: 1990-01-01}\n", "id 'x' appears twice"),
])
def test_bad_citizen_fixture_names_file_and_entry(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "citizens.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    with pytest.raises(FixtureError) as info:
        load_dev_citizens(path)
    assert str(path) in str(info.value)
    assert message in str(info.value)


def test_bad_staff_fixture_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "staff.yaml"
    path.write_text("staff:\n  - {id: a, roles: [x]}\n", encoding="utf-8")
    with pytest.raises(FixtureError, match="needs 'id' and 'department'"):
        load_dev_staff(path)


def test_age_counts_birthdays_not_years() -> None:
    citizens = load_dev_citizens_from_text("2008-11-28")
    assert citizens[0].age(date(2026, 11, 27)) == 17
    assert citizens[0].age(date(2026, 11, 28)) == 18


def load_dev_citizens_from_text(born: str) -> Any:
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "citizens.yaml"
        path.write_text(f"citizens:\n  - id: a\n    profile: {{nameEn: A, dateOfBirth: {born}}}\n", encoding="utf-8")
        return load_dev_citizens(path)


def test_repository_fixtures_cover_every_age_group_and_three_departments(definitions_dir: Path) -> None:
    citizens = load_dev_citizens(definitions_dir / "dev" / "citizens.yaml")
    staff = load_dev_staff(definitions_dir / "dev" / "staff.yaml")
    groups = [age_group(c.age(TODAY.date())) for c in citizens]
    assert len(citizens) >= 5
    assert groups.count("youth") >= 1
    assert groups.count("adult") >= 2
    assert groups.count("elderly") >= 2
    assert len({s.department for s in staff}) >= 3
    assert all(c.face_consented_at is not None for c in citizens)
