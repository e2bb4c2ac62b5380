"""The dev IdP's browser login: authorization code + PKCE over real HTTP requests to the ASGI app."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from onestop.config import Environment, Settings
from onestop.engine.dev.faces import DevFaceMatcher
from onestop.engine.dev.idp import DevCitizen, DevIdentityProvider, DevSigningKey, DevStaff
from onestop.engine.dev.login import pkce_challenge
from onestop.engine.identity.jwks import InProcessJwksSource
from onestop.engine.identity.stepup import AssuranceLadder
from onestop.engine.identity.tokens import TokenVerifier

BASIC, STANDARD, FACE = "urn:onestop:acr:basic", "urn:onestop:acr:standard", "urn:onestop:acr:face"
LADDER = AssuranceLadder.of([("basic", BASIC), ("standard", STANDARD), ("face", FACE)])
REDIRECT = "http://localhost:5173/callback"


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def idp(tmp_path: Path, clock: Clock) -> DevIdentityProvider:
    settings = Settings(env=Environment.DEVELOPMENT, data_dir=tmp_path)
    citizens = [DevCitizen(id="chan", name_en="CHAN <Tai> Man", name_zh="陳大文", date_of_birth=date(1980, 1, 1),
                           face_consented_at=datetime(2026, 1, 1, tzinfo=UTC))]
    staff = [DevStaff(id="td-officer", name="Officer", department="TD", roles=("caseworker",))]
    return DevIdentityProvider(settings, LADDER, citizens, staff, DevFaceMatcher(), DevSigningKey.generate(),
                               clock=clock)


@pytest.fixture
async def client(idp: DevIdentityProvider) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=Starlette(routes=[Mount("/dev-idp", app=idp.app)]))
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as http:
        yield http


@pytest.fixture
def verifier(idp: DevIdentityProvider) -> TokenVerifier:
    return TokenVerifier.from_source(InProcessJwksSource(idp.jwks), issuer=idp.issuer, audience=idp.audience)


def authorize_params(verifier_secret: str, **extra: str) -> dict[str, str]:
    return {"response_type": "code", "client_id": "web", "redirect_uri": REDIRECT, "state": "xyz",
            "code_challenge": pkce_challenge(verifier_secret), "code_challenge_method": "S256", **extra}


async def login(client: httpx.AsyncClient, params: dict[str, str], who: dict[str, str]) -> httpx.Response:
    form = {k: v for k, v in params.items() if k not in {"response_type", "code_challenge_method"}}
    return await client.post("/dev-idp/authorize", data={**form, **who})


def code_of(response: httpx.Response) -> str:
    assert response.status_code == 303, response.text
    location = urlsplit(response.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT
    query = parse_qs(location.query)
    assert query["state"] == ["xyz"]
    return query["code"][0]


async def redeem(client: httpx.AsyncClient, code: str, secret: str, **extra: str) -> httpx.Response:
    return await client.post("/dev-idp/token", data={
        "grant_type": "authorization_code", "code": code, "client_id": "web", "redirect_uri": REDIRECT,
        "code_verifier": secret, **extra})


@pytest.fixture
def code_verifier() -> str:
    return secrets.token_urlsafe(48)


async def test_login_page_lists_everyone_with_escaped_text(client: httpx.AsyncClient, code_verifier: str) -> None:
    params = authorize_params(code_verifier, state='"><script>alert(1)</script>')
    response = await client.get("/dev-idp/authorize", params=params)
    assert response.status_code == 200
    page = response.text
    assert "CHAN &lt;Tai&gt; Man" in page
    assert "<script>alert(1)" not in page
    assert 'action="/dev-idp/authorize"' in page
    assert "Officer" in page
    assert response.headers["x-frame-options"] == "DENY"


async def test_authorization_code_with_pkce_gives_a_verifiable_token(
    client: httpx.AsyncClient, verifier: TokenVerifier, code_verifier: str
) -> None:
    params = authorize_params(code_verifier)
    code = code_of(await login(client, params, {"citizen": "chan", "acr": STANDARD}))
    response = await redeem(client, code, code_verifier)
    assert response.status_code == 200, response.text
    principal = await verifier.verify(response.json()["access_token"])
    assert principal.acr == STANDARD
    again = await redeem(client, code, code_verifier)
    assert again.status_code == 400
    assert again.json()["error"] == "invalid_grant"


@pytest.mark.parametrize("change", [{"code_verifier": "x" * 43}, {"redirect_uri": "http://localhost/other"},
                                    {"client_id": "another-client"}, {"code_verifier": "short"}])
async def test_code_redemption_must_match_the_request_and_spends_the_code(
    client: httpx.AsyncClient, code_verifier: str, change: dict[str, str]
) -> None:
    code = code_of(await login(client, authorize_params(code_verifier), {"citizen": "chan", "acr": BASIC}))
    wrong = await redeem(client, code, code_verifier, **change)
    assert wrong.status_code == 400
    assert wrong.json()["error"] == "invalid_grant"
    assert (await redeem(client, code, code_verifier)).json()["error"] == "invalid_grant"


async def test_code_expires_after_a_minute(client: httpx.AsyncClient, clock: Clock, code_verifier: str) -> None:
    code = code_of(await login(client, authorize_params(code_verifier), {"citizen": "chan", "acr": BASIC}))
    clock.now += timedelta(seconds=61)
    assert (await redeem(client, code, code_verifier)).json()["error"] == "invalid_grant"


async def test_face_login_through_the_page_is_bound_to_the_transaction(
    client: httpx.AsyncClient, verifier: TokenVerifier, code_verifier: str
) -> None:
    params = authorize_params(code_verifier, acr_values=FACE, binding="app-9:face-check")
    page = (await client.get("/dev-idp/authorize", params=params)).text
    assert f'value="{STANDARD}"' not in page  # only the requested level is offered
    selfie = DevFaceMatcher().sample_for("chan")
    code = code_of(await login(client, params, {"citizen": "chan", "acr": FACE, "selfie": selfie}))
    principal = await verifier.verify((await redeem(client, code, code_verifier)).json()["access_token"])
    assert principal.acr == FACE
    assert principal.txn == "app-9:face-check"


async def test_face_login_with_the_wrong_selfie_stays_on_the_page(client: httpx.AsyncClient,
                                                                  code_verifier: str) -> None:
    params = authorize_params(code_verifier, acr_values=FACE)
    response = await login(client, params, {"citizen": "chan", "acr": FACE,
                                            "selfie": DevFaceMatcher().mismatch_sample_for("chan")})
    assert response.status_code == 403
    assert "does not match" in response.text
    assert "location" not in response.headers


async def test_staff_login_through_the_page(client: httpx.AsyncClient, verifier: TokenVerifier,
                                            code_verifier: str) -> None:
    code = code_of(await login(client, authorize_params(code_verifier), {"staff": "td-officer"}))
    principal = await verifier.verify((await redeem(client, code, code_verifier)).json()["access_token"])
    assert principal.department == "TD"


@pytest.mark.parametrize(("change", "error"), [
    ({"redirect_uri": "https://evil.example/steal"}, "redirect_uri"),
    ({"redirect_uri": "javascript:alert(1)"}, "redirect_uri"),
    ({"code_challenge_method": "plain"}, "S256"),
    ({"code_challenge": ""}, "code_challenge"),
    ({"response_type": "token"}, "response_type"),
    ({"client_id": ""}, "client_id"),
])
async def test_bad_authorization_requests_are_refused_without_redirecting(
    client: httpx.AsyncClient, code_verifier: str, change: dict[str, str], error: str
) -> None:
    response = await client.get("/dev-idp/authorize", params={**authorize_params(code_verifier), **change})
    assert response.status_code == 400
    assert error in response.text
    assert "location" not in response.headers


async def test_redirect_to_the_servers_own_origin_is_allowed(client: httpx.AsyncClient, code_verifier: str) -> None:
    params = authorize_params(code_verifier, redirect_uri="http://127.0.0.1:8000/app/callback")
    assert (await client.get("/dev-idp/authorize", params=params)).status_code == 200


async def test_unknown_grant_type_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.post("/dev-idp/token", data={"grant_type": "password", "username": "chan"})
    assert response.status_code == 400
    assert response.json()["error"] == "unsupported_grant_type"


async def test_token_playground_page_posts_to_the_token_endpoint(client: httpx.AsyncClient) -> None:
    response = await client.get("/dev-idp/")
    assert response.status_code == 200
    assert 'action="/dev-idp/token" data-direct' in response.text


async def test_discovery_advertises_the_code_flow(client: httpx.AsyncClient) -> None:
    config: dict[str, Any] = (await client.get("/dev-idp/.well-known/openid-configuration")).json()
    assert config["authorization_endpoint"] == "http://127.0.0.1:8000/dev-idp/authorize"
    assert config["code_challenge_methods_supported"] == ["S256"]
