"""The dev IdP's browser "one-tap login": OAuth 2.0 authorization code with PKCE (RFC 7636, S256 only).

A frontend sends the browser to ``/dev-idp/authorize?response_type=code&client_id=..&redirect_uri=..
&code_challenge=..&code_challenge_method=S256&state=..[&acr_values=..][&binding=..]``; the page lists the
test citizens and staff, one tap picks who and at which level, the browser comes back to ``redirect_uri``
with ``code`` and ``state``, and the frontend redeems the code at ``/dev-idp/token`` (``grant_type=
authorization_code``, ``code_verifier``). Codes live 60 seconds and work once. Redirects go only to
loopback hosts or the API's own origin, so this page can never be used as an open redirector.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from html import escape
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

if TYPE_CHECKING:
    from onestop.engine.dev.idp import DevIdentityProvider

CODE_LIFETIME = timedelta(seconds=60)
_VERIFIER = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")
_LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}


class OAuthError(Exception):
    """An OAuth-style failure: ``{"error", "error_description"}`` with an HTTP status."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description

    def response(self) -> JSONResponse:
        return JSONResponse({"error": self.error, "error_description": self.description},
                            status_code=self.status, headers={"Cache-Control": "no-store"})


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def pkce_challenge(verifier: str) -> str:
    """The S256 ``code_challenge`` of a ``code_verifier``."""
    return _b64url(hashlib.sha256(verifier.encode("ascii")).digest())


@dataclass(frozen=True)
class _Grant:
    client_id: str
    redirect_uri: str
    code_challenge: str
    token_response: dict[str, Any]
    expires_at: datetime


class AuthorizationCodes:
    """One-time codes, stored by hash, each bound to its client, redirect URI and PKCE challenge."""

    def __init__(self, clock: Callable[[], datetime]) -> None:
        self._clock = clock
        self._grants: dict[str, _Grant] = {}

    @staticmethod
    def _key(code: str) -> str:
        return hashlib.sha256(code.encode()).hexdigest()

    def issue(self, *, client_id: str, redirect_uri: str, code_challenge: str,
              token_response: dict[str, Any]) -> str:
        now = self._clock()
        self._grants = {k: g for k, g in self._grants.items() if g.expires_at > now}
        code = secrets.token_urlsafe(32)
        self._grants[self._key(code)] = _Grant(client_id, redirect_uri, code_challenge, token_response,
                                               now + CODE_LIFETIME)
        return code

    def redeem(self, *, code: str, client_id: str, redirect_uri: str, code_verifier: str) -> dict[str, Any]:
        # pop first: a code is spent by any attempt, right or wrong (RFC 6749 section 4.1.2)
        grant = self._grants.pop(self._key(code), None)
        if grant is None or grant.expires_at <= self._clock():
            raise OAuthError(400, "invalid_grant", "the authorization code is unknown, used or expired")
        if grant.client_id != client_id or grant.redirect_uri != redirect_uri:
            raise OAuthError(400, "invalid_grant", "client_id and redirect_uri must match the authorization request")
        if not _VERIFIER.fullmatch(code_verifier):
            raise OAuthError(400, "invalid_grant", "code_verifier must be 43-128 characters [A-Za-z0-9-._~]")
        if not hmac.compare_digest(pkce_challenge(code_verifier), grant.code_challenge):
            raise OAuthError(400, "invalid_grant", "code_verifier does not match the code_challenge")
        return grant.token_response


def _allowed_redirect(uri: str, base_url: str) -> bool:
    parts = urlsplit(uri)
    if parts.scheme not in {"http", "https"} or not parts.hostname or parts.fragment:
        return False
    own = urlsplit(base_url)
    return parts.hostname in _LOOPBACK or (parts.scheme, parts.netloc) == (own.scheme, own.netloc)


@dataclass(frozen=True)
class AuthorizeRequest:
    client_id: str
    redirect_uri: str
    state: str
    code_challenge: str
    acr: str | None
    binding: str | None

    def hidden_fields(self) -> str:
        values = {"client_id": self.client_id, "redirect_uri": self.redirect_uri, "state": self.state,
                  "code_challenge": self.code_challenge, "binding": self.binding or ""}
        return "".join(f'<input type="hidden" name="{k}" value="{escape(v)}">' for k, v in values.items())


def parse_authorize(params: Mapping[str, str], idp: DevIdentityProvider) -> AuthorizeRequest:
    """Check an authorization request; errors are shown on the page, never redirected."""
    redirect_uri = params.get("redirect_uri", "")
    registered = idp.clients.get(params.get("client_id", ""))
    if registered is not None:
        # A registered client's redirect URI must be one it registered, exactly (no prefix, no wildcard).
        if redirect_uri not in registered.redirect_uris:
            raise OAuthError(400, "invalid_request", "redirect_uri is not one this client registered (exact match)")
    elif not _allowed_redirect(redirect_uri, idp.settings.base_url):
        raise OAuthError(400, "invalid_request",
                         "redirect_uri must be an http(s) URL on localhost/127.0.0.1 or this server's origin")
    if params.get("response_type", "code") != "code":
        raise OAuthError(400, "unsupported_response_type", "only response_type=code is supported")
    if params.get("code_challenge_method", "S256") != "S256":
        raise OAuthError(400, "invalid_request", "code_challenge_method must be S256 (plain is not accepted)")
    challenge = params.get("code_challenge", "")
    if not re.fullmatch(r"[A-Za-z0-9_-]{43}", challenge):
        raise OAuthError(400, "invalid_request", "code_challenge is required: BASE64URL(SHA-256(code_verifier))")
    client_id = params.get("client_id", "")
    if not client_id or len(client_id) > 100:
        raise OAuthError(400, "invalid_request", "client_id is required")
    requested = [acr for acr in params.get("acr_values", "").split() if idp.ladder.rank_of(acr) is not None]
    binding = params.get("binding") or None
    if binding is not None and len(binding) > 200:
        raise OAuthError(400, "invalid_request", "binding must be at most 200 characters")
    return AuthorizeRequest(client_id=client_id, redirect_uri=redirect_uri, state=params.get("state", "")[:500],
                            code_challenge=challenge, acr=requested[0] if requested else None, binding=binding)


def redirect_with_code(request: AuthorizeRequest, code: str) -> Response:
    separator = "&" if "?" in request.redirect_uri else "?"
    query = urlencode({"code": code, "state": request.state} if request.state else {"code": code})
    return RedirectResponse(f"{request.redirect_uri}{separator}{query}", status_code=303,
                            headers={"Cache-Control": "no-store"})


def login_page(idp: DevIdentityProvider, request: AuthorizeRequest | None, *, error: str | None = None,
               status: int = 200) -> HTMLResponse:
    """The one-tap page: every test citizen and staff member, one button per assurance level.

    Without an authorization request (``GET /dev-idp/``) the buttons call ``/dev-idp/token`` directly and
    show the access token, for pasting into GraphiQL.
    """
    ladder = idp.ladder
    levels = [level for level in ladder.levels if request is None or request.acr is None
              or ladder.rank_of(level.acr) == ladder.rank_of(request.acr)]
    hidden = request.hidden_fields() if request else ""
    base = escape(urlsplit(idp.issuer).path)
    action = (f'method="post" action="{base}/authorize"' if request
              else f'method="post" action="{base}/token" data-direct')
    rows = []
    for citizen in idp.citizens.values():
        buttons = []
        for level in levels:
            if level.acr == ladder.top.acr:
                samples = idp.face_samples(citizen.id) or {}
                for label, selfie in (("face ✓", samples.get("match")), ("face ✗ (someone else)",
                                                                          samples.get("mismatch"))):
                    buttons.append(_button(action, hidden, {"citizen": citizen.id, "acr": level.acr,
                                                            "selfie": selfie or ""}, label))
            else:
                buttons.append(_button(action, hidden, {"citizen": citizen.id, "acr": level.acr}, level.id))
        rows.append(f"<tr><td>{escape(citizen.name_en)}</td><td>{escape(citizen.name_zh or '')}</td>"
                    f"<td><code>{escape(citizen.id)}</code></td><td>{''.join(buttons)}</td></tr>")
    staff_rows = [
        f"<tr><td>{escape(s.name)}</td><td>{escape(s.department)}</td><td>{escape(', '.join(s.roles))}</td>"
        f"<td>{_button(action, hidden, {'staff': s.id}, 'sign in')}</td></tr>"
        for s in idp.staff.values()
    ]
    notice = f'<p class="error" role="alert">{escape(error)}</p>' if error else ""
    # Sandboxes' staff and synthetic citizens are provisioned at run time: typed in, looked up on submit.
    acr_options = "".join(f'<option value="{escape(level.acr)}">{escape(level.id)}</option>' for level in levels
                          if level.acr != ladder.top.acr)
    sandbox = (
        f'<form {action}>{hidden}<label>Sandbox staff login <input name="staff" required></label> '
        f'<button type="submit">sign in as sandbox staff</button></form><br>'
        f'<form {action}>{hidden}<label>Sandbox test citizen login <input name="citizen" required></label> '
        f'<label>level <select name="acr">{acr_options}</select></label> '
        f'<button type="submit">sign in as test citizen</button></form>'
    ) if acr_options else ""
    body = _PAGE.format(
        notice=notice, citizens="".join(rows), staff="".join(staff_rows), sandbox=sandbox,
        mode="Signing in for an application" if request else "Tokens for GraphiQL (Authorization: Bearer ...)",
    )
    return HTMLResponse(body, status_code=status, headers={
        "Cache-Control": "no-store", "X-Frame-Options": "DENY", "Content-Security-Policy": _PAGE_POLICY,
    })


def _button(action: str, hidden: str, values: Mapping[str, str], label: str) -> str:
    fields = "".join(f'<input type="hidden" name="{k}" value="{escape(v)}">' for k, v in values.items())
    return f'<form {action}>{hidden}{fields}<button type="submit">{escape(label)}</button></form>'


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>onestop — development sign-in</title>
<style>body{{font:15px system-ui,sans-serif;margin:2rem;max-width:70rem}}table{{border-collapse:collapse}}
td{{padding:.3rem .6rem;border-bottom:1px solid #ddd}}form{{display:inline}}button{{margin:.1rem}}
.error{{color:#a00;font-weight:bold}}pre{{white-space:pre-wrap;word-break:break-all;background:#f4f4f4;
padding:.5rem}}</style></head>
<body><h1>Development sign-in</h1><p>Test citizens and staff only — this page exists in development mode.
{mode}.</p>{notice}
<h2>Citizens</h2><table>{citizens}</table><h2>Staff</h2><table>{staff}</table>
<h2>Sandbox sign-ins</h2>{sandbox}
<pre id="token" hidden></pre>
<script>
for (const form of document.querySelectorAll("form[data-direct]")) {{
  form.addEventListener("submit", async (event) => {{
    event.preventDefault();
    const body = Object.fromEntries(new FormData(form));
    for (const key of Object.keys(body)) if (body[key] === "") delete body[key];
    const response = await fetch(form.action, {{method: "POST", headers: {{"Content-Type": "application/json"}},
                                          body: JSON.stringify(body)}});
    const out = document.getElementById("token");
    const data = await response.json();
    out.hidden = false;
    out.textContent = response.ok ? "Bearer " + data.access_token : data.error + ": " + data.error_description;
  }});
}}
</script></body></html>"""


def _hashes(tag: str) -> str:
    # The page's only inline script and style are constant, so the policy allows exactly them by hash
    # (CSP3) instead of 'unsafe-inline', which would also run any script an injection slipped in.
    page = _PAGE.format(notice="", citizens="", staff="", sandbox="", mode="")
    found = re.findall(rf"<{tag}>(.*?)</{tag}>", page, re.DOTALL)
    return " ".join(f"'sha256-{base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()}'"
                    for text in found)


# form-action: the authorize form redirects to the client's redirect_uri, which may be any origin.
_PAGE_POLICY = (f"default-src 'none'; style-src {_hashes('style')}; script-src {_hashes('script')}; "
                "connect-src 'self'; form-action 'self' http: https:; base-uri 'none'; frame-ancestors 'none'")
