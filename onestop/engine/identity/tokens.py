"""Access-token verification: ``Authorization: Bearer <JWT>`` in, a ``Principal`` out.

Follows RFC 8725 (JWT best practices) and RFC 9068 (JWT access tokens): an algorithm allow-list checked
against the header *and* the key, keys only from the issuer's JWKS by ``kid``, ``typ`` must be ``at+jwt``
so an ID token is never accepted as an access token, ``iss``/``aud``/``exp``/``iat``/``sub`` plus the
assurance claims ``acr``/``auth_time`` always required. Each failure has its own ``reason`` so clients
and operators can tell an expired token from a forged one. The token itself is never logged.
"""

from __future__ import annotations

import hashlib
import logging
from collections import OrderedDict
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

import jwt
from jwt.exceptions import (
    DecodeError,
    ExpiredSignatureError,
    ImmatureSignatureError,
    InvalidAlgorithmError,
    InvalidAudienceError,
    InvalidIssuedAtError,
    InvalidIssuerError,
    InvalidKeyError,
    InvalidSignatureError,
    MissingRequiredClaimError,
    PyJWTError,
)

from onestop.config import Settings
from onestop.engine.errors import EngineError
from onestop.engine.identity.jwks import (
    DiscoveredJwksSource,
    HttpJwksSource,
    InProcessJwksSource,
    JwksCache,
    JwksError,
    JwksSource,
)
from onestop.engine.identity.principal import Principal
from onestop.engine.identity.provider import EmbeddedIdentityProvider

log = logging.getLogger(__name__)

ALLOWED_ALGORITHMS: tuple[str, ...] = ("EdDSA", "ES256", "RS256")
REQUIRED_CLAIMS: tuple[str, ...] = ("iss", "aud", "exp", "iat", "sub", "acr", "auth_time")
ACCESS_TOKEN_TYPES = frozenset({"at+jwt", "application/at+jwt"})
DEFAULT_LEEWAY = timedelta(seconds=30)
MAX_TOKEN_BYTES = 16 * 1024
_VERIFIED_CACHE_SIZE = 10_000


class AuthFailure(StrEnum):
    """Why a token was refused (``AuthenticationError.reason``)."""

    MISSING_TOKEN = "missing_token"  # noqa: S105 (a reason code, not a secret)
    MALFORMED = "malformed"
    DISALLOWED_ALGORITHM = "disallowed_algorithm"
    MISSING_KID = "missing_kid"
    WRONG_TYP = "wrong_typ"
    UNKNOWN_KID = "unknown_kid"
    KEYS_UNAVAILABLE = "keys_unavailable"
    BAD_SIGNATURE = "bad_signature"
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"
    WRONG_AUDIENCE = "wrong_audience"
    WRONG_ISSUER = "wrong_issuer"
    MISSING_CLAIM = "missing_claim"
    INVALID_CLAIM = "invalid_claim"


class AuthenticationError(EngineError):
    """The caller is not authenticated. Maps to GraphQL ``extensions.code = UNAUTHENTICATED`` or HTTP 401.

    ``reason`` is machine-readable (an ``AuthFailure``), ``claim`` names the claim for missing/invalid
    claims, ``message`` says what was wrong and what to do.
    """

    code = "UNAUTHENTICATED"

    def __init__(self, reason: AuthFailure, message: str, *, claim: str | None = None) -> None:
        super().__init__(None, message)
        self.reason = reason
        self.claim = claim

    @property
    def extensions(self) -> dict[str, str]:
        data = {"code": self.code, "reason": self.reason.value}
        if self.claim is not None:
            data["claim"] = self.claim
        return data

    def www_authenticate(self) -> str:
        """The RFC 6750 ``WWW-Authenticate`` value for an HTTP 401."""
        if self.reason is AuthFailure.MISSING_TOKEN:
            return 'Bearer realm="onestop"'
        description = self.message.replace("\\", "\\\\").replace('"', "'")
        return f'Bearer realm="onestop", error="invalid_token", error_description="{description}"'


def bearer_token(authorization: str | None) -> str:
    """The token of an ``Authorization: Bearer <token>`` header value."""
    if authorization is None or not authorization.strip():
        raise AuthenticationError(AuthFailure.MISSING_TOKEN, "send an access token: Authorization: Bearer <token>")
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationError(
            AuthFailure.MALFORMED, "the Authorization header must be 'Bearer <token>'"
        )
    return token.strip()


def _fail(reason: AuthFailure, message: str, claim: str | None = None) -> AuthenticationError:
    return AuthenticationError(reason, message, claim=claim)


class TokenVerifier:
    """Verifies access tokens of one issuer for one audience. ``verify`` is the whole public surface."""

    def __init__(
        self,
        *,
        issuer: str,
        audience: str,
        keys: JwksCache,
        algorithms: tuple[str, ...] = ALLOWED_ALGORITHMS,
        leeway: timedelta = DEFAULT_LEEWAY,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        unsafe = [alg for alg in algorithms if alg not in ALLOWED_ALGORITHMS]
        if unsafe:
            raise ValueError(f"algorithms {unsafe} are not allowed; choose from {list(ALLOWED_ALGORITHMS)}")
        self.issuer = issuer
        self.audience = audience
        self.keys = keys
        self.algorithms = algorithms
        self.leeway = leeway
        self._clock = clock
        # sha256(token) -> (principal, expiry). A client sends the same token with every request for minutes;
        # its signature and claims need checking once. A key removed from the JWKS stops new tokens at once and
        # already-verified ones at their expiry, the same bound any stateless resource server has.
        self._verified: OrderedDict[bytes, tuple[Principal, datetime]] = OrderedDict()

    @classmethod
    def from_source(cls, source: JwksSource, *, issuer: str, audience: str,
                    cooldown: float = 30.0, **options: Any) -> TokenVerifier:
        """A verifier whose keys come from ``source`` (cached, refreshed on unknown kid)."""
        cache = JwksCache(source, algorithms=options.get("algorithms", ALLOWED_ALGORITHMS), cooldown=cooldown)
        return cls(issuer=issuer, audience=audience, keys=cache, **options)

    @classmethod
    def for_settings(cls, settings: Settings, embedded: EmbeddedIdentityProvider | None = None) -> TokenVerifier:
        """Production: ``ONESTOP_OIDC_ISSUER`` (keys from ``ONESTOP_OIDC_JWKS_URL``, or else from the issuer's
        discovery document). Development without an issuer: the keys of the ``embedded`` identity provider."""
        if settings.oidc_issuer:
            source: JwksSource = (HttpJwksSource(settings.oidc_jwks_url) if settings.oidc_jwks_url
                                  else DiscoveredJwksSource(settings.oidc_issuer))
            return cls.from_source(source, issuer=settings.oidc_issuer, audience=settings.oidc_audience)
        if not settings.development or embedded is None:
            raise ValueError("ONESTOP_OIDC_ISSUER is required in production (the OIDC issuer of access tokens)")
        return cls.from_source(InProcessJwksSource(embedded.jwks, "dev-idp"),
                               issuer=embedded.issuer, audience=settings.oidc_audience)

    async def aclose(self) -> None:
        closer = getattr(self.keys.source, "aclose", None)
        if closer is not None:
            await closer()

    async def verify_authorization(self, authorization: str | None) -> Principal:
        """Verify the token of an ``Authorization`` header value."""
        return await self.verify(bearer_token(authorization))

    async def verify(self, token: str) -> Principal:
        """The principal of a valid access token; ``AuthenticationError`` with a specific reason otherwise."""
        digest = hashlib.sha256(token.encode()).digest() if isinstance(token, str) else b""
        cached = self._verified.get(digest)
        if cached is not None:
            if self._clock() < cached[1]:
                self._verified.move_to_end(digest)
                return cached[0]
            del self._verified[digest]
        principal = await self._verify(token)
        expiry = principal.claims.get("exp")
        if isinstance(expiry, int | float) and not isinstance(expiry, bool):
            self._verified[digest] = (principal, datetime.fromtimestamp(expiry, UTC))
            if len(self._verified) > _VERIFIED_CACHE_SIZE:
                self._verified.popitem(last=False)
        return principal

    async def _verify(self, token: str) -> Principal:
        if not isinstance(token, str) or not token:
            raise _fail(AuthFailure.MISSING_TOKEN, "send an access token: Authorization: Bearer <token>")
        if len(token) > MAX_TOKEN_BYTES or token.count(".") != 2:
            raise _fail(AuthFailure.MALFORMED, "the access token is not a compact JWS (header.payload.signature)")
        try:
            header = jwt.get_unverified_header(token)
        except PyJWTError:
            raise _fail(AuthFailure.MALFORMED, "the access token header cannot be decoded") from None

        if "crit" in header or header.get("b64", True) is not True:
            # RFC 7515 section 4.1.11: we understand no critical extensions, so any is a refusal.
            raise _fail(AuthFailure.MALFORMED, "the token uses a JWS extension ('crit'/'b64') this API does not accept")
        # jku, x5u, jwk and x5c header members are never read: keys come only from the issuer's JWKS.
        alg = header.get("alg")
        if alg not in self.algorithms:
            raise _fail(AuthFailure.DISALLOWED_ALGORITHM,
                        f"token algorithm {alg!r} is not allowed; accepted: {', '.join(self.algorithms)}")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise _fail(AuthFailure.MISSING_KID, "the token header has no 'kid'; tokens must name their key")
        typ = header.get("typ")
        if not isinstance(typ, str) or typ.lower() not in ACCESS_TOKEN_TYPES:
            raise _fail(AuthFailure.WRONG_TYP,
                        f"token type {typ!r} is not an access token (typ must be 'at+jwt'); "
                        "ID tokens cannot be used to call the API")

        try:
            key = await self.keys.get(kid)
        except JwksError:
            raise _fail(AuthFailure.KEYS_UNAVAILABLE,
                        "the identity provider's keys are unavailable; try again shortly") from None
        if key is None:
            raise _fail(AuthFailure.UNKNOWN_KID, "the token is signed with a key the issuer does not publish")
        if key.algorithm_name != alg:
            raise _fail(AuthFailure.DISALLOWED_ALGORITHM,
                        f"token algorithm {alg!r} does not match its key ({key.algorithm_name})")

        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key=key.key,
                algorithms=[alg],
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway,
                options={"require": list(REQUIRED_CLAIMS), "verify_signature": True},
            )
        except InvalidSignatureError:
            raise _fail(AuthFailure.BAD_SIGNATURE, "the token signature does not verify") from None
        except ExpiredSignatureError:
            raise _fail(AuthFailure.EXPIRED, "the token has expired; sign in again") from None
        except ImmatureSignatureError:
            raise _fail(AuthFailure.NOT_YET_VALID,
                        "the token is not valid yet (nbf or iat in the future); check the clock") from None
        except InvalidAudienceError:
            raise _fail(AuthFailure.WRONG_AUDIENCE,
                        f"the token is not meant for this API (audience must be {self.audience!r})") from None
        except InvalidIssuerError:
            raise _fail(AuthFailure.WRONG_ISSUER, "the token was issued by an issuer this API does not trust") \
                from None
        except MissingRequiredClaimError as exc:
            raise _fail(AuthFailure.MISSING_CLAIM, f"the token has no {exc.claim!r} claim", exc.claim) from None
        except InvalidIssuedAtError:
            raise _fail(AuthFailure.INVALID_CLAIM, "the token's 'iat' claim must be a number", "iat") from None
        except (InvalidAlgorithmError, InvalidKeyError):
            raise _fail(AuthFailure.DISALLOWED_ALGORITHM, "the token algorithm does not fit its key") from None
        except (DecodeError, PyJWTError):
            raise _fail(AuthFailure.MALFORMED, "the access token cannot be decoded") from None
        return self._principal(claims)

    def _principal(self, claims: Mapping[str, Any]) -> Principal:
        sub = _string(claims, "sub")
        acr = _string(claims, "acr")
        auth_time_raw = claims["auth_time"]
        if isinstance(auth_time_raw, bool) or not isinstance(auth_time_raw, int | float):
            raise _fail(AuthFailure.INVALID_CLAIM, "the token's 'auth_time' must be seconds since the epoch",
                        "auth_time")
        auth_time = datetime.fromtimestamp(auth_time_raw, UTC)
        if auth_time > self._clock() + self.leeway:
            raise _fail(AuthFailure.INVALID_CLAIM, "the token's 'auth_time' is in the future", "auth_time")
        department = claims.get("department")
        if department is not None:
            department = _string(claims, "department")
        txn = claims.get("txn")
        if txn is not None:
            txn = _string(claims, "txn")
        return Principal(
            sub=sub,
            kind="staff" if department is not None else "citizen",
            acr=acr,
            amr=_strings(claims, "amr"),
            auth_time=auth_time,
            department=department,
            roles=_strings(claims, "roles"),
            txn=txn,
            claims=claims,
        )


def _string(claims: Mapping[str, Any], name: str) -> str:
    value = claims.get(name)
    if not isinstance(value, str) or not value:
        raise _fail(AuthFailure.INVALID_CLAIM, f"the token's {name!r} claim must be a non-empty string", name)
    return value


def _strings(claims: Mapping[str, Any], name: str) -> tuple[str, ...]:
    value = claims.get(name, [])
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise _fail(AuthFailure.INVALID_CLAIM, f"the token's {name!r} claim must be a list of strings", name)
    return tuple(value)
