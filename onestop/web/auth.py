"""Sign-in (authorization code + PKCE), the callback that keeps tokens server-side, sign-out, step-up."""

from __future__ import annotations

import secrets
import time
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from onestop.web.context import Page, safe_next
from onestop.web.oidc import SignInError, pkce_pair
from onestop.web.sessions import COOKIE


def _callback_url(request: Request) -> str:
    return str(request.url_for("callback"))


async def begin(page: Page, *, next_path: str, acr_values: str | None = None, binding: str | None = None,
                application: str | None = None, step: str | None = None, mandate: bool = False) -> Response:
    """Send the browser to the identity provider; PKCE verifier and state stay in the session."""
    verifier, challenge = pkce_pair()
    state = secrets.token_urlsafe(24)
    page.session.login = {"verifier": verifier, "state": state, "next": next_path,
                          "application": application or "", "step": step or "", "mandate": "1" if mandate else ""}
    url = await page.services.oidc.authorize_url(redirect_uri=_callback_url(page.request), state=state,
                                                 challenge=challenge, acr_values=acr_values, binding=binding)
    return page.redirect(url)


async def sign_in(request: Request) -> Response:
    page = await Page.open(request)
    return await begin(page, next_path=safe_next(request.query_params.get("next")))


async def callback(request: Request) -> Response:
    page = await Page.open(request)
    login = page.session.login
    page.session.login = {}
    code = request.query_params.get("code")
    if not login or not code or not secrets.compare_digest(request.query_params.get("state", ""),
                                                           login.get("state", "")):
        return page.render("error.html", status=400, heading=page.t("problem"), message=page.t("sign_in_again"))
    try:
        tokens = await page.services.oidc.redeem(code=code, redirect_uri=_callback_url(request),
                                                 verifier=login["verifier"])
    except SignInError:
        return page.render("error.html", status=400, heading=page.t("problem"), message=page.t("sign_in_again"))
    claims = tokens.claims
    # A new session id and CSRF token at every sign-in: an id planted before it (fixation) is worth nothing.
    await page.services.store.delete(page.session_id)
    page.session_id = page.services.store.new_id()
    session = page.session
    session.csrf = secrets.token_urlsafe(32)
    session.token = tokens.access_token
    session.token_expires_at = time.time() + tokens.expires_in - 10
    session.kind = "staff" if "department" in claims else "citizen"
    session.department = claims.get("department")
    session.roles = [str(r) for r in claims.get("roles") or []]
    if login.get("application"):
        from onestop.web.apply import finish_step_up

        return await finish_step_up(page, login["application"], login["step"])
    if login.get("mandate"):
        from onestop.web.people import finish_grant

        return await finish_grant(page)
    return page.redirect(safe_next(login.get("next")))


async def sign_out(request: Request) -> Response:
    page = await Page.open(request)
    await page.services.store.delete(page.session_id)
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="lax",
                           secure=page.services.config.secure_cookies)
    return response


def sign_in_path(next_path: str) -> str:
    return f"/sign-in?next={quote(next_path, safe='')}"
