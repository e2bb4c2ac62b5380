"""A provider's staff rotate their sandbox's OIDC client secret: the new one is returned once and works at the
sandbox identity provider at once; the old one is refused; nobody else can rotate it."""

from __future__ import annotations

import hashlib
import secrets
from urllib.parse import parse_qs, urlsplit

from client import STANDARD, Api

from onestop.engine.dev.login import pkce_challenge
from onestop.engine.sandbox import Sandbox

from .conftest import approve

REDIRECT = "https://app.example.com/callback"
ROTATE = """mutation { rotateSandboxClientSecret(input: {clientMutationId: "r1"}) {
  clientId clientSecret clientMutationId userErrors { field code message } } }"""


async def _code(api: Api, sandbox: Sandbox) -> dict[str, str]:
    """An authorization code for one of the sandbox's test citizens: the token request that redeems it."""
    verifier = secrets.token_urlsafe(48)
    form = {"client_id": sandbox.client_id, "redirect_uri": REDIRECT, "state": "s",
            "code_challenge": pkce_challenge(verifier)}
    await api.client.get("/dev-idp/authorize", params={**form, "response_type": "code",
                                                        "code_challenge_method": "S256"})
    signed_in = await api.client.post("/dev-idp/authorize", data={**form, "citizen": sandbox.citizens[0].login,
                                                                  "acr": STANDARD})
    assert signed_in.status_code == 303, signed_in.text
    code = parse_qs(urlsplit(signed_in.headers["location"]).query)["code"][0]
    return {"grant_type": "authorization_code", "code": code, "client_id": sandbox.client_id,
            "redirect_uri": REDIRECT, "code_verifier": verifier}


async def test_a_rotated_secret_replaces_the_old_one_at_once(api: Api) -> None:
    _, sandbox = await approve(api, "tsang-chi-keung", "Rotating Secrets Ltd", REDIRECT)
    before = await _code(api, sandbox)
    assert (await api.client.post("/dev-idp/token", data={**before, "client_secret": sandbox.client_secret})
            ).status_code == 200  # the identity provider now knows (and caches) the client
    staff = await api.token({"staff": sandbox.staff[0].login})
    rotated = (await api.data(ROTATE, None, staff))["rotateSandboxClientSecret"]
    assert rotated["userErrors"] == []
    assert rotated["clientId"] == sandbox.client_id
    assert rotated["clientMutationId"] == "r1"
    new = rotated["clientSecret"]
    assert len(new) >= 32
    assert new != sandbox.client_secret
    registered = await api.engine.sandbox.registered_client(sandbox.client_id)
    assert registered.secret_sha256 == hashlib.sha256(new.encode()).hexdigest()
    redeem = await _code(api, sandbox)
    assert (await api.client.post("/dev-idp/token", data={**redeem, "client_secret": sandbox.client_secret})
            ).status_code == 401
    token = await api.client.post("/dev-idp/token", data={**redeem, "client_secret": new})
    assert token.status_code == 200, token.text
    again = await api.engine.sandbox.sandbox_of(sandbox.application_id)
    assert again.client_secret == new


async def test_only_the_sandbox_staff_can_rotate(api: Api) -> None:
    for who in ({"citizen": "wong-ka-fai", "acr": STANDARD}, {"staff": "platform-officer"}):
        result = await api.post(ROTATE, None, await api.token(who))
        assert result["errors"][0]["extensions"]["code"] == "FORBIDDEN", result
