"""The development identity provider, mounted at ``/dev-idp/`` only in development.

It lets the whole product run and be tested offline: OIDC discovery and JWKS, the test citizens and staff
of ``definitions/dev/``, tokens at any assurance level (the face level with a selfie checked by the face
matcher), face enrolment with consent and its withdrawal. Tokens look like a real IdP's access tokens
(RFC 9068, EdDSA, pairwise ``sub``), so the API verifies them exactly as it verifies production ones.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import secrets
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from html import escape
from typing import Any
from urllib.parse import parse_qsl, unquote

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route, Router
from starlette.types import ASGIApp

from onestop.config import Settings
from onestop.engine import metrics
from onestop.engine.dev.faces import DevFaceMatcher, FaceEnrolments, FaceError, FaceMatcher
from onestop.engine.dev.fixtures import (
    DevCitizen,
    DevStaff,
    FixtureError,
    load_dev_citizens,
    load_dev_staff,
)
from onestop.engine.dev.keys import (
    DevSigningKey,
    citizen_sub,
    pairwise_secret,
    pairwise_sub,
    staff_sub,
)
from onestop.engine.dev.login import (
    AuthorizationCodes,
    OAuthError,
    login_page,
    parse_authorize,
    redirect_with_code,
)
from onestop.engine.identity.provider import RegisteredClient, SandboxDirectory
from onestop.engine.identity.stepup import AssuranceLadder
from onestop.engine.security.events import NO_EVENTS, EventKind, EventSink

__all__ = [
    "DevCitizen", "DevIdentityProvider", "DevSigningKey", "DevStaff", "FixtureError", "OAuthError",
    "citizen_sub", "dev_idp_app", "dev_issuer", "load_dev_citizens", "load_dev_staff", "pairwise_secret",
    "pairwise_sub", "staff_sub",
]

log = logging.getLogger(__name__)

TOKEN_LIFETIME = timedelta(minutes=15)
CLIENT_ID = "onestop-dev"
_MAX_BODY = 64 * 1024


def dev_issuer(settings: Settings) -> str:
    """The dev IdP's ``iss``: the API's public base URL + ``/dev-idp``."""
    return settings.base_url.rstrip("/") + "/dev-idp"


# -- the provider ------------------------------------------------------------------------------------


_FACE_ERROR_STATUS = {"selfie_required": 401, "face_not_enrolled": 403, "face_mismatch": 403,
                      "invalid_selfie": 400, "consent_required": 400}


LadderSource = AssuranceLadder | Callable[[], AssuranceLadder]


class DevIdentityProvider:
    """State and endpoints of the development IdP; ``app`` is the ASGI app to mount at ``/dev-idp``."""

    events: EventSink = NO_EVENTS
    # The sandboxes' registered clients and logins (staff, synthetic citizens), looked up on first use.
    directory: SandboxDirectory | None = None

    def __init__(
        self,
        settings: Settings,
        ladder: LadderSource,
        citizens: Sequence[DevCitizen],
        staff: Sequence[DevStaff],
        matcher: FaceMatcher,
        key: DevSigningKey,
        *,
        age_group_of: Callable[[int], str | None] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.settings = settings
        self.issuer = dev_issuer(settings)
        self.audience = settings.oidc_audience
        self.key = key
        self.matcher = matcher
        self.citizens = {c.id: c for c in citizens}
        self.staff = {s.id: s for s in staff}
        self.enrolments = FaceEnrolments(matcher)
        self._ladder = ladder
        self._age_group_of = age_group_of
        self._clock = clock
        self._secret = pairwise_secret(settings)
        self.codes = AuthorizationCodes(clock)
        self.clients: dict[str, RegisteredClient] = {}
        # Sandbox test citizens' tokens carry their sandbox (namespace) and login, so the API keeps them inside.
        self.sandbox_citizens: dict[str, str] = {}
        self.sandbox_clients: set[str] = set()
        for citizen in citizens:
            if citizen.face_consented_at is not None:
                self.enrolments.enrol(citizen.id, consent=True, consented_at=citizen.face_consented_at,
                                      source="fixture")
        self.app: ASGIApp = Router(routes=[
            Route("/.well-known/openid-configuration", self._discovery, methods=["GET"]),
            Route("/jwks.json", self._jwks, methods=["GET"]),
            Route("/citizens", self._citizens, methods=["GET"]),
            Route("/staff", self._staff, methods=["GET"]),
            Route("/token", self._token, methods=["POST"]),
            Route("/faces/enrol", self._enrol, methods=["POST"]),
            Route("/faces/{citizen}", self._face, methods=["GET", "DELETE"]),
            Route("/authorize", self._authorize, methods=["GET", "POST"]),
            Route("/", self._login_page, methods=["GET"]),
        ])

    @classmethod
    def from_settings(cls, settings: Settings, ladder: LadderSource, *,
                      age_group_of: Callable[[int], str | None] | None = None,
                      matcher: FaceMatcher | None = None) -> DevIdentityProvider:
        """Citizens and staff from ``<definitions>/dev/``, the persisted key, the dev face matcher."""
        fixtures = settings.definitions / "dev"
        citizens_file, staff_file = fixtures / "citizens.yaml", fixtures / "staff.yaml"
        # A definitions tree without dev fixtures still serves (an IdP with nobody to log in as);
        # a fixture that exists but is broken fails start-up with its path.
        for missing in (f for f in (citizens_file, staff_file) if not f.exists()):
            log.warning("dev IdP: %s not found; nobody can log in as that kind of user", missing)
        citizens = load_dev_citizens(citizens_file) if citizens_file.exists() else ()
        staff = load_dev_staff(staff_file) if staff_file.exists() else ()
        return cls(settings, ladder, citizens, staff, matcher or DevFaceMatcher(),
                   DevSigningKey.load_or_create(settings), age_group_of=age_group_of)

    @property
    def ladder(self) -> AssuranceLadder:
        return self._ladder if isinstance(self._ladder, AssuranceLadder) else self._ladder()

    def jwks(self) -> dict[str, Any]:
        return self.key.jwks()

    def citizen_sub(self, citizen_id: str) -> str:
        return pairwise_sub(self._secret, self.audience, f"citizen:{citizen_id}")

    def staff_sub(self, staff_id: str) -> str:
        return pairwise_sub(self._secret, self.audience, f"staff:{staff_id}")

    # -- issuing (also used directly by tests and tools) ----------------------------------------------

    def issue_citizen_token(self, citizen_id: str, acr: str, *, selfie: str | None = None,
                            binding: str | None = None) -> dict[str, Any]:
        """A token response for a citizen at ``acr``; the top (face) level needs a matching ``selfie``."""
        if citizen_id not in self.citizens:
            raise OAuthError(400, "unknown_citizen",
                             f"no test citizen {citizen_id!r}; GET {self.issuer}/citizens lists them")
        ladder = self.ladder
        rank = ladder.rank_of(acr)
        if rank is None:
            raise OAuthError(400, "unsupported_acr",
                             f"acr {acr!r} is not an assurance level; use one of: {', '.join(ladder.acrs)}")
        face = acr == ladder.top.acr
        if face:
            try:
                self.enrolments.verify(citizen_id, selfie)
            except FaceError as exc:
                metrics.FACE_CHECKS.labels(exc.code).inc()
                raise OAuthError(_FACE_ERROR_STATUS.get(exc.code, 400), exc.code, exc.message) from exc
            metrics.FACE_CHECKS.labels("match").inc()
        amr = ["face"] if face else (["pwd"] if rank == 0 else ["pwd", "otp"])
        sandbox = self.sandbox_citizens.get(citizen_id)
        extra = {"sandbox": sandbox, "sandbox_login": citizen_id} if sandbox is not None else {}
        return self._token_response(self.citizen_sub(citizen_id), acr, amr, binding, extra)

    def issue_staff_token(self, staff_id: str, *, binding: str | None = None) -> dict[str, Any]:
        member = self.staff.get(staff_id)
        if member is None:
            raise OAuthError(400, "unknown_staff", f"no staff member {staff_id!r}; GET {self.issuer}/staff lists them")
        ladder = self.ladder
        level = ladder.level("standard") or ladder.levels[max(0, len(ladder.levels) - 2)]
        extra = {"department": member.department, "roles": list(member.roles)}
        return self._token_response(self.staff_sub(staff_id), level.acr, ["pwd", "otp"], binding, extra)

    def _token_response(self, sub: str, acr: str, amr: list[str], binding: str | None,
                        extra: dict[str, Any]) -> dict[str, Any]:
        now = int(self._clock().timestamp())
        claims: dict[str, Any] = {
            "iss": self.issuer, "aud": self.audience, "sub": sub, "client_id": CLIENT_ID,
            "iat": now, "exp": now + int(TOKEN_LIFETIME.total_seconds()), "auth_time": now,
            "jti": secrets.token_urlsafe(16), "acr": acr, "amr": amr, **extra,
        }
        if binding is not None:
            claims["txn"] = binding
        return {"access_token": self.key.sign(claims), "token_type": "Bearer",
                "expires_in": int(TOKEN_LIFETIME.total_seconds())}

    # -- endpoints -----------------------------------------------------------------------------------

    async def _discovery(self, request: Request) -> Response:
        return JSONResponse({
            "issuer": self.issuer,
            "jwks_uri": f"{self.issuer}/jwks.json",
            "token_endpoint": f"{self.issuer}/token",
            "authorization_endpoint": f"{self.issuer}/authorize",
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code", "urn:onestop:dev:direct"],
            "code_challenge_methods_supported": ["S256"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["EdDSA"],
            "token_endpoint_auth_methods_supported": ["none"],
            "acr_values_supported": list(self.ladder.acrs),
            "claims_supported": ["sub", "acr", "amr", "auth_time", "department", "roles", "txn"],
        })

    async def _jwks(self, request: Request) -> Response:
        return JSONResponse(self.jwks(), media_type="application/jwk-set+json")

    async def _citizens(self, request: Request) -> Response:
        today = self._clock().date()
        listing = []
        for citizen in self.citizens.values():
            age = citizen.age(today)
            enrolment = self.enrolments.get(citizen.id)
            listing.append({
                "id": citizen.id,
                "name": citizen.name_en,
                "nameZh": citizen.name_zh,
                "age": age,
                "ageGroup": self._age_group_of(age) if self._age_group_of else None,
                "faceEnrolled": enrolment is not None,
                "faceSamples": self.face_samples(citizen.id),
            })
        return JSONResponse({"citizens": listing})

    def face_samples(self, citizen_id: str) -> dict[str, str] | None:
        """The matcher's matching and non-matching selfies for a citizen (dev matchers only)."""
        sample = getattr(self.matcher, "sample_for", None)
        mismatch = getattr(self.matcher, "mismatch_sample_for", None)
        if sample is None or mismatch is None:
            return None
        return {"match": sample(citizen_id), "mismatch": mismatch(citizen_id)}

    async def _staff(self, request: Request) -> Response:
        return JSONResponse({"staff": [
            {"id": s.id, "name": s.name, "department": s.department, "roles": list(s.roles)}
            for s in self.staff.values()
        ]})

    async def admit(self, login: Mapping[str, Any]) -> None:
        """Make a sandbox's staff member or test citizen (and its client) known before they sign in."""
        if self.directory is None:
            return
        for key in ("citizen", "staff"):
            ident = login.get(key)
            if isinstance(ident, str) and ident not in self.citizens and ident not in self.staff:
                found = await self.directory.sandbox_login(ident)
                if found is None or found.kind != key:
                    continue
                if found.kind == "staff":
                    self.staff[ident] = DevStaff(ident, found.name, found.department, found.roles)
                elif found.date_of_birth is not None:
                    self.citizens[ident] = DevCitizen(ident, found.name, None, found.date_of_birth, found.created_at)
                    self.sandbox_citizens[ident] = found.department
                    # Synthetic citizens are provisioned with a consented test face template.
                    self.enrolments.enrol(ident, consent=True, consented_at=found.created_at or self._clock(),
                                          source="sandbox")
        client_id = login.get("client_id")
        # A sandbox's client is read again on each use: its provider may have rotated the secret since.
        if isinstance(client_id, str) and (client_id not in self.clients or client_id in self.sandbox_clients):
            client = await self.directory.registered_client(client_id)
            if client is not None:
                self.clients[client_id] = client
                self.sandbox_clients.add(client_id)

    async def _token(self, request: Request) -> Response:
        try:
            body = await _json_body(request)
            await self.admit(body)
            if body.get("grant_type") == "authorization_code":
                self._authenticate_client(body, request)
                result = self.codes.redeem(
                    code=_required_str(body, "code"), client_id=_required_str(body, "client_id"),
                    redirect_uri=_required_str(body, "redirect_uri"),
                    code_verifier=_required_str(body, "code_verifier"),
                )
                return JSONResponse(result, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})
            if body.get("grant_type") is not None:
                raise OAuthError(400, "unsupported_grant_type",
                                 "grant_type must be authorization_code (or omitted for a direct test login)")
            result = self._issue_recorded(body, request)
        except OAuthError as exc:
            return exc.response()
        return JSONResponse(result, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})

    def _authenticate_client(self, body: Mapping[str, Any], request: Request) -> None:
        """A registered (confidential) client proves itself with its secret: HTTP Basic or ``client_secret``."""
        client = self.clients.get(str(body.get("client_id", "")))
        if client is None:
            return
        secret = body.get("client_secret")
        basic = request.headers.get("authorization", "")
        if basic.lower().startswith("basic "):
            try:
                user, _, password = base64.b64decode(basic[6:]).decode("utf-8").partition(":")
            except (ValueError, UnicodeDecodeError):
                raise OAuthError(401, "invalid_client", "malformed HTTP Basic credentials") from None
            if unquote(user) == client.client_id:
                secret = unquote(password)
        digest = hashlib.sha256(secret.encode()).hexdigest() if isinstance(secret, str) else ""
        if not hmac.compare_digest(digest, client.secret_sha256):
            raise OAuthError(401, "invalid_client", "client authentication failed: send the client secret "
                                                    "(HTTP Basic or client_secret)")

    def _issue(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """A token response for a direct request body ``{citizen, acr, selfie?, binding?}`` or ``{staff}``."""
        citizen, staff = body.get("citizen"), body.get("staff")
        binding = _optional_str(body, "binding", max_length=200)
        if (citizen is None) == (staff is None):
            raise OAuthError(400, "invalid_request", 'send exactly one of "citizen" or "staff"')
        if staff is not None:
            if not isinstance(staff, str):
                raise OAuthError(400, "invalid_request", '"staff" must be a staff id string')
            return self.issue_staff_token(staff, binding=binding)
        acr = body.get("acr")
        if not isinstance(citizen, str) or not isinstance(acr, str):
            raise OAuthError(400, "invalid_request",
                             '"citizen" (a test citizen id) and "acr" (an acr URI) must be strings')
        selfie = _optional_str(body, "selfie", max_length=4096)
        return self.issue_citizen_token(citizen, acr, selfie=selfie, binding=binding)

    def _issue_recorded(self, body: Mapping[str, Any], request: Request) -> dict[str, Any]:
        """``_issue``, reporting the sign-in (and a face mismatch) as a security event either way."""
        citizen, staff = body.get("citizen"), body.get("staff")
        sub = self.citizen_sub(citizen) if isinstance(citizen, str) else None
        staff_sub = self.staff_sub(staff) if isinstance(staff, str) else None
        ip = request.client.host if request.client else None
        try:
            result = self._issue(body)
        except OAuthError as exc:
            if exc.error == "face_mismatch":
                self.events.record(EventKind.FACE_MISMATCH, citizen_sub=sub, ip=ip)
            self.events.record(EventKind.SIGN_IN, citizen_sub=sub, staff=staff_sub, ip=ip, outcome="failed",
                               reason=exc.error)
            raise
        self.events.record(EventKind.SIGN_IN, citizen_sub=sub, staff=staff_sub, ip=ip, outcome="ok",
                           acr=body.get("acr"))
        return result

    async def _authorize(self, request: Request) -> Response:
        if request.method == "GET":
            params: dict[str, Any] = dict(request.query_params)
        else:
            try:
                params = await _json_body(request)
            except OAuthError as exc:
                return exc.response()
        await self.admit(params)
        try:
            authorize = parse_authorize({k: v for k, v in params.items() if isinstance(v, str)}, self)
        except OAuthError as exc:
            return HTMLResponse(f"<!doctype html><h1>Sign-in request refused</h1><p>{escape(exc.error)}: "
                                f"{escape(exc.description)}</p>", status_code=exc.status)
        if request.method == "GET":
            return login_page(self, authorize)
        login = {k: v for k, v in params.items() if k in {"citizen", "staff", "acr", "selfie"} and v != ""}
        if authorize.binding:
            login["binding"] = authorize.binding
        try:
            result = self._issue_recorded(login, request)
        except OAuthError as exc:
            return login_page(self, authorize, error=exc.description, status=exc.status)
        code = self.codes.issue(client_id=authorize.client_id, redirect_uri=authorize.redirect_uri,
                                code_challenge=authorize.code_challenge, token_response=result)
        return redirect_with_code(authorize, code)

    async def _enrol(self, request: Request) -> Response:
        try:
            body = await _json_body(request)
            citizen = body.get("citizen")
            if not isinstance(citizen, str) or citizen not in self.citizens:
                raise OAuthError(400, "unknown_citizen", f"no test citizen {citizen!r}")
            if body.get("consent") is not True:
                raise OAuthError(400, "consent_required",
                                 'enrolling a face template needs the citizen\'s explicit consent ("consent": true)')
            enrolment = self.enrolments.enrol(citizen, consent=True, consented_at=self._clock(), source="request")
        except OAuthError as exc:
            return exc.response()
        return JSONResponse({"citizen": citizen, "enrolled": True,
                             "consentedAt": enrolment.consented_at.isoformat()}, status_code=201)

    async def _face(self, request: Request) -> Response:
        citizen = request.path_params["citizen"]
        if citizen not in self.citizens:
            return OAuthError(404, "unknown_citizen", f"no test citizen {citizen!r}").response()
        if request.method == "DELETE":
            withdrawn = self.enrolments.withdraw(citizen)
            return JSONResponse({"citizen": citizen, "enrolled": False, "withdrawn": withdrawn})
        enrolment = self.enrolments.get(citizen)
        return JSONResponse({
            "citizen": citizen, "enrolled": enrolment is not None,
            "consentedAt": enrolment.consented_at.isoformat() if enrolment else None,
            "consentSource": enrolment.consent_source if enrolment else None,
        })

    async def _login_page(self, request: Request) -> Response:
        return login_page(self, None)


async def _json_body(request: Request) -> dict[str, Any]:
    """The body as a mapping: JSON, or form-encoded (OAuth's token requests and the login page's forms)."""
    raw = await request.body()
    if len(raw) > _MAX_BODY:
        raise OAuthError(413, "invalid_request", f"request body larger than {_MAX_BODY} bytes")
    if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        try:
            pairs = parse_qsl(raw.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
        except UnicodeDecodeError:
            raise OAuthError(400, "invalid_request", "the form body must be UTF-8") from None
        return dict(pairs)
    try:
        body = json.loads(raw or b"null")
    except ValueError:
        raise OAuthError(400, "invalid_request", "the body must be JSON") from None
    if not isinstance(body, dict):
        raise OAuthError(400, "invalid_request", "the body must be a JSON object")
    return body


def _optional_str(body: Mapping[str, Any], name: str, *, max_length: int) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value or len(value) > max_length:
        raise OAuthError(400, "invalid_request", f'"{name}" must be a non-empty string of at most {max_length} '
                                                 "characters")
    return value


def dev_idp_app(settings: Settings, catalogue_acr_ladder: LadderSource, citizens: Sequence[DevCitizen],
                staff: Sequence[DevStaff], matcher: FaceMatcher, key: DevSigningKey,
                **options: Any) -> ASGIApp:
    """The dev IdP as an ASGI app (mount at ``/dev-idp``); keep ``DevIdentityProvider`` for its state."""
    return DevIdentityProvider(settings, catalogue_acr_ladder, citizens, staff, matcher, key, **options).app


def _required_str(body: Mapping[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise OAuthError(400, "invalid_request", f'"{name}" is required')
    return value
