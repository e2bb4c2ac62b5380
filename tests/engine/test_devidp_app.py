"""The dev IdP as the running app serves it: built by the engine from the repository's definitions."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from onestop.config import Environment, Settings
from onestop.engine.container import Engine, build_engine
from onestop.engine.dev.idp import citizen_sub
from onestop.engine.identity.stepup import InsufficientAuthentication, require_assurance
from onestop.graphql.app import create_app

pytestmark = pytest.mark.slow  # builds the whole engine from the repository's definitions


@pytest.fixture(scope="module")
async def engine(tmp_path_factory: pytest.TempPathFactory, definitions_dir: Path) -> AsyncIterator[Engine]:
    settings = Settings(env=Environment.DEVELOPMENT, data_dir=tmp_path_factory.mktemp("data"),
                        definitions=definitions_dir)
    built = await build_engine(settings)
    yield built
    await built.close()


@pytest.fixture(scope="module")
async def client(engine: Engine) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(engine.settings, engine)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=engine.settings.base_url) as http:
        yield http


async def test_engine_serves_the_repository_citizens_with_catalogue_age_groups(client: httpx.AsyncClient) -> None:
    listing = (await client.get("/dev-idp/citizens")).json()["citizens"]
    groups = {c["ageGroup"] for c in listing}
    assert {"youth", "adult", "elderly"} <= groups
    config = (await client.get("/dev-idp/.well-known/openid-configuration")).json()
    assert config["acr_values_supported"] == [
        "urn:onestop:acr:basic", "urn:onestop:acr:standard", "urn:onestop:acr:face"]


async def test_engine_verifier_accepts_dev_tokens_and_the_catalogue_ranks_them(
    client: httpx.AsyncClient, engine: Engine
) -> None:
    assert engine.tokens is not None
    listing = (await client.get("/dev-idp/citizens")).json()["citizens"]
    citizen = listing[0]
    response = await client.post("/dev-idp/token", json={
        "citizen": citizen["id"], "acr": "urn:onestop:acr:face", "selfie": citizen["faceSamples"]["match"]})
    principal = await engine.tokens.verify(response.json()["access_token"])
    assert principal.sub == citizen_sub(engine.settings, citizen["id"])
    catalogue = engine.catalogue.catalogue
    # The catalogue's own ranking plugs straight into the step-up check.
    require_assurance(principal, acr_values="urn:onestop:acr:face", rank_of=catalogue.assurance.rank_of,
                      max_age=300, now=principal.auth_time)
    basic = await client.post("/dev-idp/token", json={"citizen": citizen["id"], "acr": "urn:onestop:acr:basic"})
    weak = await engine.tokens.verify(basic.json()["access_token"])
    with pytest.raises(InsufficientAuthentication):
        require_assurance(weak, acr_values="urn:onestop:acr:standard", rank_of=catalogue.assurance.rank_of,
                          max_age=None, now=weak.auth_time)


async def test_staff_tokens_come_from_the_repository_staff(client: httpx.AsyncClient, engine: Engine) -> None:
    assert engine.tokens is not None
    staff = (await client.get("/dev-idp/staff")).json()["staff"]
    td = next(s for s in staff if s["department"] == "TD")
    token = (await client.post("/dev-idp/token", json={"staff": td["id"]})).json()["access_token"]
    principal = await engine.tokens.verify(token)
    assert principal.is_staff
    assert principal.department == "TD"


async def test_production_has_no_dev_idp_and_needs_an_issuer(tmp_path: Path, definitions_dir: Path) -> None:
    settings = Settings(env=Environment.PRODUCTION, data_dir=tmp_path, definitions=definitions_dir)
    with pytest.raises(ValueError, match="ONESTOP_OIDC_ISSUER"):
        await build_engine(settings)
    keys = {name: SecretStr(base64.urlsafe_b64encode(bytes([n]) * 32).decode())
            for n, name in enumerate(("data_key", "codec_key", "signing_key"), start=1)}
    configured = settings.model_copy(update={"oidc_issuer": "https://login.example",
                                             "oidc_jwks_url": "https://login.example/jwks.json", **keys})
    engine = await build_engine(configured, migrate=True)
    try:
        assert engine.identity_provider is None
        assert engine.tokens is not None
        assert engine.tokens.issuer == "https://login.example"
        app = create_app(configured, engine)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1") as http:
            assert (await http.get("/dev-idp/citizens")).status_code == 404
            assert (await http.post("/dev-idp/token", json={"citizen": "x", "acr": "y"})).status_code in {404, 405}
    finally:
        await engine.close()
