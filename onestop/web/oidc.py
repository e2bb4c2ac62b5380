"""Sign-in as an OIDC client: authorization code + PKCE (S256), tokens redeemed by the server."""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
import jwt


class SignInError(Exception):
    """The identity provider refused or the answer did not match the request; the user signs in again."""


@dataclass(frozen=True)
class Endpoints:
    authorization: str
    token: str


@dataclass(frozen=True)
class TokenSet:
    access_token: str
    expires_in: int
    claims: dict[str, Any]


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


class OidcClient:
    """One issuer, one public client (PKCE replaces a client secret for this confidential-by-server client)."""

    def __init__(self, http: httpx.AsyncClient, issuer: str, client_id: str) -> None:
        self.http = http
        self.issuer = issuer.rstrip("/")
        self.client_id = client_id
        self._endpoints: Endpoints | None = None

    async def endpoints(self) -> Endpoints:
        if self._endpoints is None:
            response = await self.http.get(f"{self.issuer}/.well-known/openid-configuration")
            if response.status_code != 200:
                raise SignInError(f"the identity provider's discovery document is unavailable ({response.status_code})")
            body = response.json()
            self._endpoints = Endpoints(body["authorization_endpoint"], body["token_endpoint"])
        return self._endpoints

    async def authorize_url(self, *, redirect_uri: str, state: str, challenge: str, acr_values: str | None = None,
                            binding: str | None = None) -> str:
        params = {"response_type": "code", "client_id": self.client_id, "redirect_uri": redirect_uri,
                  "state": state, "code_challenge": challenge, "code_challenge_method": "S256",
                  "scope": "openid"}
        if acr_values:
            params["acr_values"] = acr_values
        if binding:
            params["binding"] = binding
        return f"{(await self.endpoints()).authorization}?{urlencode(params)}"

    async def redeem(self, *, code: str, redirect_uri: str, verifier: str) -> TokenSet:
        response = await self.http.post((await self.endpoints()).token, data={
            "grant_type": "authorization_code", "code": code, "client_id": self.client_id,
            "redirect_uri": redirect_uri, "code_verifier": verifier})
        if response.status_code != 200:
            raise SignInError(f"the identity provider refused the sign-in ({response.status_code})")
        body = response.json()
        token = str(body["access_token"])
        # The API verifies the token on every call; here its claims only label the session (name, roles).
        claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
        return TokenSet(token, int(body.get("expires_in", 900)), claims)
