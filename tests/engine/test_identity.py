"""Access-token verification: the RFC 8725 attack list, each refused with its own reason."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from onestop.engine.dev.idp import DevSigningKey
from onestop.engine.identity.jwks import InProcessJwksSource, JwksCache
from onestop.engine.identity.tokens import (
    REQUIRED_CLAIMS,
    AuthenticationError,
    AuthFailure,
    TokenVerifier,
    bearer_token,
)

ISSUER = "http://127.0.0.1:8000/dev-idp"
AUDIENCE = "onestop"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def segment(obj: dict[str, Any]) -> str:
    return b64url(json.dumps(obj, separators=(",", ":")).encode())


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base: dict[str, Any] = {
        "iss": ISSUER, "aud": AUDIENCE, "sub": "pairwise-abc", "iat": now, "exp": now + 900,
        "auth_time": now, "acr": "urn:onestop:acr:standard", "amr": ["pwd", "otp"], "jti": "j1",
    }
    base.update(overrides)
    return {key: value for key, value in base.items() if value is not None}


@pytest.fixture(scope="module")
def key() -> DevSigningKey:
    return DevSigningKey.generate()


@pytest.fixture(scope="module")
def other_key() -> DevSigningKey:
    return DevSigningKey.generate()


def verifier_for(jwks: Callable[[], dict[str, Any]]) -> TokenVerifier:
    cache = JwksCache(InProcessJwksSource(jwks), algorithms=("EdDSA", "ES256", "RS256"), cooldown=0)
    return TokenVerifier(issuer=ISSUER, audience=AUDIENCE, keys=cache)


@pytest.fixture
def verifier(key: DevSigningKey) -> TokenVerifier:
    return verifier_for(key.jwks)


async def refused(verifier: TokenVerifier, token: str) -> AuthenticationError:
    with pytest.raises(AuthenticationError) as info:
        await verifier.verify(token)
    assert info.value.code == "UNAUTHENTICATED"
    return info.value


async def test_valid_citizen_token_gives_its_principal(verifier: TokenVerifier, key: DevSigningKey) -> None:
    principal = await verifier.verify(key.sign(claims(txn="app-1:face-check")))
    assert principal.sub == "pairwise-abc"
    assert principal.kind == "citizen"
    assert principal.acr == "urn:onestop:acr:standard"
    assert principal.amr == ("pwd", "otp")
    assert principal.txn == "app-1:face-check"
    assert principal.auth_time.tzinfo is not None
    assert principal.department is None
    assert principal.roles == ()


async def test_staff_token_carries_department_and_roles(verifier: TokenVerifier, key: DevSigningKey) -> None:
    principal = await verifier.verify(key.sign(claims(department="TD", roles=["caseworker"])))
    assert principal.kind == "staff"
    assert principal.is_staff
    assert principal.department == "TD"
    assert principal.has_role("caseworker")
    assert not principal.has_role("admin")


async def test_alg_none_is_refused(verifier: TokenVerifier, key: DevSigningKey) -> None:
    token = f"{segment({'alg': 'none', 'typ': 'at+jwt', 'kid': key.kid})}.{segment(claims())}."
    error = await refused(verifier, token)
    assert error.reason is AuthFailure.DISALLOWED_ALGORITHM


async def test_hs256_signed_with_the_public_key_is_refused(verifier: TokenVerifier, key: DevSigningKey) -> None:
    public_jwk = key.jwks()["keys"][0]
    for secret in (public_jwk["x"].encode(), json.dumps(public_jwk).encode()):
        signing_input = f"{segment({'alg': 'HS256', 'typ': 'at+jwt', 'kid': key.kid})}.{segment(claims())}"
        signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
        error = await refused(verifier, f"{signing_input}.{b64url(signature)}")
        assert error.reason is AuthFailure.DISALLOWED_ALGORITHM


async def test_symmetric_key_published_in_jwks_is_never_used(key: DevSigningKey) -> None:
    oct_key = {"kty": "oct", "kid": "shared", "k": b64url(b"s" * 32)}
    verifier = verifier_for(lambda: {"keys": [*key.jwks()["keys"], oct_key]})
    token = jwt.encode(claims(), b"s" * 32, algorithm="HS256", headers={"kid": "shared", "typ": "at+jwt"})
    error = await refused(verifier, token)
    assert error.reason is AuthFailure.DISALLOWED_ALGORITHM
    assert "shared" not in verifier.keys.kids


async def test_header_algorithm_must_match_the_key(verifier: TokenVerifier, key: DevSigningKey) -> None:
    # An ES256 header in front of the Ed25519 key's kid: allowed algorithm, wrong key.
    private = ec.generate_private_key(ec.SECP256R1())
    token = jwt.encode(claims(), private, algorithm="ES256", headers={"kid": key.kid, "typ": "at+jwt"})
    error = await refused(verifier, token)
    assert error.reason is AuthFailure.DISALLOWED_ALGORITHM


async def test_wrong_audience_is_refused(verifier: TokenVerifier, key: DevSigningKey) -> None:
    error = await refused(verifier, key.sign(claims(aud="another-api")))
    assert error.reason is AuthFailure.WRONG_AUDIENCE


async def test_wrong_issuer_is_refused(verifier: TokenVerifier, key: DevSigningKey) -> None:
    error = await refused(verifier, key.sign(claims(iss="https://evil.example")))
    assert error.reason is AuthFailure.WRONG_ISSUER


async def test_expired_token_is_refused(verifier: TokenVerifier, key: DevSigningKey) -> None:
    now = int(time.time())
    error = await refused(verifier, key.sign(claims(iat=now - 2000, exp=now - 60, auth_time=now - 2000)))
    assert error.reason is AuthFailure.EXPIRED


async def test_expiry_within_leeway_is_accepted(verifier: TokenVerifier, key: DevSigningKey) -> None:
    now = int(time.time())
    principal = await verifier.verify(key.sign(claims(exp=now - 10)))
    assert principal.sub == "pairwise-abc"


@pytest.mark.parametrize("claim", ["nbf", "iat"])
async def test_token_from_the_future_is_refused(verifier: TokenVerifier, key: DevSigningKey, claim: str) -> None:
    error = await refused(verifier, key.sign(claims(**{claim: int(time.time()) + 600})))
    assert error.reason is AuthFailure.NOT_YET_VALID


async def test_tampered_payload_is_refused(verifier: TokenVerifier, key: DevSigningKey) -> None:
    header, _payload, signature = key.sign(claims()).split(".")
    forged = segment(claims(sub="somebody-else", acr="urn:onestop:acr:face"))
    error = await refused(verifier, f"{header}.{forged}.{signature}")
    assert error.reason is AuthFailure.BAD_SIGNATURE


async def test_tampered_signature_is_refused(verifier: TokenVerifier, key: DevSigningKey) -> None:
    header, payload, signature = key.sign(claims()).split(".")
    raw = bytearray(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)))
    raw[0] ^= 0x01
    error = await refused(verifier, f"{header}.{payload}.{b64url(bytes(raw))}")
    assert error.reason is AuthFailure.BAD_SIGNATURE


async def test_token_signed_by_another_key_under_our_kid_is_refused(
    verifier: TokenVerifier, key: DevSigningKey, other_key: DevSigningKey
) -> None:
    forged = jwt.encode(claims(), other_key._private, algorithm="EdDSA", headers={"kid": key.kid, "typ": "at+jwt"})
    error = await refused(verifier, forged)
    assert error.reason is AuthFailure.BAD_SIGNATURE


async def test_unknown_kid_is_refused(verifier: TokenVerifier, other_key: DevSigningKey) -> None:
    error = await refused(verifier, other_key.sign(claims()))
    assert error.reason is AuthFailure.UNKNOWN_KID


async def test_missing_kid_is_refused(verifier: TokenVerifier, key: DevSigningKey) -> None:
    token = jwt.encode(claims(), key._private, algorithm="EdDSA", headers={"typ": "at+jwt"})
    error = await refused(verifier, token)
    assert error.reason is AuthFailure.MISSING_KID


@pytest.mark.parametrize("claim", REQUIRED_CLAIMS)
async def test_missing_required_claim_is_refused(verifier: TokenVerifier, key: DevSigningKey, claim: str) -> None:
    token_claims = claims()
    del token_claims[claim]
    error = await refused(verifier, key.sign(token_claims))
    assert error.reason is AuthFailure.MISSING_CLAIM
    assert error.claim == claim
    assert claim in error.message


@pytest.mark.parametrize("typ", ["JWT", "jwt", "id_token", None])
async def test_id_token_or_untyped_token_is_refused(verifier: TokenVerifier, key: DevSigningKey,
                                                    typ: str | None) -> None:
    headers: dict[str, Any] = {"kid": key.kid, "typ": typ}
    token = jwt.encode(claims(), key._private, algorithm="EdDSA", headers=headers)
    if typ is None:  # pyjwt adds typ JWT by default; rebuild the header without it
        token = jwt.encode(claims(), key._private, algorithm="EdDSA", headers={"kid": key.kid, "typ": None})
    error = await refused(verifier, token)
    assert error.reason is AuthFailure.WRONG_TYP


async def test_application_at_jwt_media_type_is_accepted(verifier: TokenVerifier, key: DevSigningKey) -> None:
    token = key.sign(claims(), typ="application/at+jwt")
    assert (await verifier.verify(token)).sub == "pairwise-abc"


async def test_empty_token_is_refused_as_missing(verifier: TokenVerifier) -> None:
    assert (await refused(verifier, "")).reason is AuthFailure.MISSING_TOKEN


@pytest.mark.parametrize("token", ["not-a-jwt", "a.b.c", "a.b", "x.y.z." , "x" * 20000,
                                   f"{b64url(b'[1]')}.{b64url(b'{}')}.sig"])
async def test_malformed_token_is_refused(verifier: TokenVerifier, token: str) -> None:
    error = await refused(verifier, token)
    assert error.reason is AuthFailure.MALFORMED


@pytest.mark.parametrize(("claim", "value"), [
    ("amr", "pwd"), ("roles", "caseworker"), ("acr", 2), ("sub", ""), ("auth_time", "yesterday"),
    ("department", ["TD"]), ("txn", 7),
])
async def test_claim_of_wrong_type_is_refused(verifier: TokenVerifier, key: DevSigningKey,
                                              claim: str, value: Any) -> None:
    error = await refused(verifier, key.sign(claims(**{claim: value})))
    assert error.reason is AuthFailure.INVALID_CLAIM
    assert error.claim == claim


async def test_auth_time_in_the_future_is_refused(verifier: TokenVerifier, key: DevSigningKey) -> None:
    error = await refused(verifier, key.sign(claims(auth_time=int(time.time()) + 3600)))
    assert error.reason is AuthFailure.INVALID_CLAIM
    assert error.claim == "auth_time"


@pytest.mark.parametrize("alg", ["RS256", "ES256"])
async def test_rsa_and_ec_keys_from_the_jwks_are_accepted(alg: str) -> None:
    private: Any = (rsa.generate_private_key(public_exponent=65537, key_size=2048) if alg == "RS256"
                    else ec.generate_private_key(ec.SECP256R1()))
    algorithm = jwt.get_algorithm_by_name(alg)
    public_jwk = json.loads(algorithm.to_jwk(private.public_key()))
    verifier = verifier_for(lambda: {"keys": [{**public_jwk, "kid": "k1", "use": "sig"}]})
    token = jwt.encode(claims(), private, algorithm=alg, headers={"kid": "k1", "typ": "at+jwt"})
    assert (await verifier.verify(token)).acr == "urn:onestop:acr:standard"


def test_verifier_refuses_to_be_configured_with_a_weak_algorithm(key: DevSigningKey) -> None:
    cache = JwksCache(InProcessJwksSource(key.jwks), algorithms=("EdDSA",))
    with pytest.raises(ValueError, match="HS256"):
        TokenVerifier(issuer=ISSUER, audience=AUDIENCE, keys=cache, algorithms=("EdDSA", "HS256"))


@pytest.mark.parametrize(("header", "reason"), [
    (None, AuthFailure.MISSING_TOKEN), ("", AuthFailure.MISSING_TOKEN), ("Basic abc", AuthFailure.MALFORMED),
    ("Bearer", AuthFailure.MALFORMED), ("Bearer   ", AuthFailure.MALFORMED), ("Token abc", AuthFailure.MALFORMED),
])
def test_bad_authorization_header_is_refused(header: str | None, reason: AuthFailure) -> None:
    with pytest.raises(AuthenticationError) as info:
        bearer_token(header)
    assert info.value.reason is reason


async def test_verify_authorization_reads_the_bearer_header(verifier: TokenVerifier, key: DevSigningKey) -> None:
    principal = await verifier.verify_authorization(f"Bearer {key.sign(claims())}")
    assert principal.sub == "pairwise-abc"


async def test_error_carries_data_for_the_api_and_a_www_authenticate_value(
    verifier: TokenVerifier, key: DevSigningKey
) -> None:
    error = await refused(verifier, key.sign(claims(aud="x")))
    assert error.extensions == {"code": "UNAUTHENTICATED", "reason": "wrong_audience"}
    challenge = error.www_authenticate()
    assert challenge.startswith('Bearer realm="onestop", error="invalid_token", error_description="')


async def test_tokens_never_reach_the_logs(caplog: pytest.LogCaptureFixture, key: DevSigningKey,
                                           other_key: DevSigningKey) -> None:
    def broken() -> dict[str, Any]:
        return {"keys": "nope"}

    verifier = verifier_for(broken)
    tokens = [key.sign(claims()), other_key.sign(claims(aud="x"))]
    with caplog.at_level(logging.DEBUG):
        for token in tokens:
            with pytest.raises(AuthenticationError):
                await verifier.verify(token)
    assert caplog.records, "the failed JWKS refresh should have been logged"
    for token in tokens:
        for part in token.split("."):
            assert part not in caplog.text


def test_principal_is_frozen_and_its_claims_read_only(key: DevSigningKey) -> None:
    from dataclasses import FrozenInstanceError

    from onestop.engine.identity.principal import Principal

    principal = Principal(sub="s", kind="citizen", acr="a", amr=(), auth_time=datetime.now(UTC),
                          claims={"sub": "s"})
    with pytest.raises(FrozenInstanceError):
        principal.sub = "t"  # type: ignore[misc]
    with pytest.raises(TypeError):
        principal.claims["sub"] = "t"  # type: ignore[index]


async def test_key_embedded_in_the_header_is_ignored(verifier: TokenVerifier, other_key: DevSigningKey) -> None:
    # The attacker signs with their own key and offers it (or a URL to it) in the header.
    jwk = other_key.jwks()["keys"][0]
    headers = {"kid": other_key.kid, "typ": "at+jwt", "jwk": jwk, "jku": "https://evil.example/jwks.json"}
    token = jwt.encode(claims(), other_key._private, algorithm="EdDSA", headers=headers)
    error = await refused(verifier, token)
    assert error.reason is AuthFailure.UNKNOWN_KID


@pytest.mark.parametrize("extra", [{"crit": ["exp"], "exp": 1}, {"b64": False, "crit": ["b64"]}])
async def test_critical_header_extensions_are_refused(verifier: TokenVerifier, key: DevSigningKey,
                                                      extra: dict[str, Any]) -> None:
    header = {"alg": "EdDSA", "typ": "at+jwt", "kid": key.kid, **extra}
    signing_input = f"{segment(header)}.{segment(claims())}"
    signature = key._private.sign(signing_input.encode())
    error = await refused(verifier, f"{signing_input}.{b64url(signature)}")
    assert error.reason is AuthFailure.MALFORMED


async def test_in_process_source_failure_keeps_known_keys(key: DevSigningKey) -> None:
    calls = {"n": 0}

    def flaky() -> dict[str, Any]:
        calls["n"] += 1
        if calls["n"] > 1:
            raise RuntimeError("key store offline")
        return key.jwks()

    verifier = verifier_for(flaky)
    assert (await verifier.verify(key.sign(claims()))).sub == "pairwise-abc"
    other = DevSigningKey.generate()
    error = await refused(verifier, other.sign(claims()))  # unknown kid: refresh attempted, fails
    assert error.reason is AuthFailure.UNKNOWN_KID
    assert calls["n"] == 2
    assert (await verifier.verify(key.sign(claims()))).sub == "pairwise-abc"


async def test_a_verified_token_is_not_verified_again_until_it_expires(key: DevSigningKey,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    now = [datetime.now(UTC)]
    verifier = verifier_for(key.jwks)
    verifier._clock = lambda: now[0]
    token = key.sign(claims(exp=int(now[0].timestamp()) + 60))
    first = await verifier.verify(token)
    decoded: list[str] = []
    real_decode = jwt.decode

    def counting_decode(*args: Any, **kwargs: Any) -> Any:
        decoded.append(args[0])
        return real_decode(*args, **kwargs)

    monkeypatch.setattr(jwt, "decode", counting_decode)
    assert await verifier.verify(token) is first
    assert decoded == []
    now[0] += timedelta(seconds=61)  # past its expiry: the signature and claims are checked afresh
    await verifier.verify(token)
    assert decoded == [token]
