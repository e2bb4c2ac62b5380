"""Per-request state of a page: the session, the language, who the API call is for, and rendering."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from jinja2 import Environment
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from onestop.web import i18n
from onestop.web.client import ApiClient, Caller
from onestop.web.config import WebConfig
from onestop.web.oidc import OidcClient
from onestop.web.sessions import COOKIE, Session, SessionStore

MAX_POST_BYTES = 60 * 1024 * 1024
"""The largest form post: a step's files (the API still holds each to its field's maxSize)."""
MAX_FILES = 20


class CsrfError(Exception):
    """A POST without the session's CSRF token: refused before anything happens."""


@dataclass
class Services:
    """What every page shares (one per app)."""

    config: WebConfig
    api: ApiClient
    oidc: OidcClient
    store: SessionStore
    templates: Environment

    async def aclose(self) -> None:
        """Close the connections to the API (and identity provider) this app holds."""
        await self.api.http.aclose()


def safe_next(target: str | None, default: str = "/") -> str:
    """Only the app's own absolute paths: never another origin, never a scheme-relative ``//host``."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return default
    return target


class Page:
    """One request's view of the app."""

    def __init__(self, request: Request, services: Services) -> None:
        self.request = request
        self.services = services
        self.api = services.api
        cookie_id = request.cookies.get(COOKIE)
        loaded = services.store.load(cookie_id)
        self.new_session = loaded is None
        self.session_id = cookie_id if loaded is not None and cookie_id else services.store.new_id()
        self.session: Session = loaded or Session()
        self.language = i18n.pick(request.cookies.get(i18n.COOKIE) or request.headers.get("accept-language"))

    @classmethod
    async def open(cls, request: Request) -> Page:
        page = cls(request, request.app.state.services)
        if request.method == "POST":
            # Checked before anything is read: the body of a page with a file field carries the files.
            declared = request.headers.get("content-length", "")
            if not declared.isdigit() or int(declared) > MAX_POST_BYTES:
                raise HTTPException(413 if declared.isdigit() else 411,
                                    f"A form may send at most {MAX_POST_BYTES // (1024 * 1024)}MB.")
            form = await request.form(max_files=MAX_FILES)
            page.form = form
            if form.get("csrf") != page.session.csrf or page.new_session:
                raise CsrfError
        return page

    form: Any = None

    def t(self, key: str) -> str:
        return i18n.translate(self.language, key)

    @property
    def caller(self) -> Caller:
        token = self.session.token if self.session.signed_in else None
        return Caller(language=self.language, token=token)

    def caller_for(self, application_id: str) -> Caller:
        token = self.session.token if self.session.signed_in else None
        return Caller(language=self.language, token=token, resume_token=self.session.resume.get(application_id))

    def _finish(self, response: Response) -> Response:
        self.services.store.save(self.session_id, self.session)
        response.set_cookie(COOKIE, self.session_id, httponly=True, samesite="lax",
                            secure=self.services.config.secure_cookies, path="/")
        return response

    def render(self, template: str, status: int = 200, **values: Any) -> Response:
        flash, self.session.flash = self.session.flash, None
        html = self.services.templates.get_template(template).render(
            page=self, t=self.t, session=self.session, lang=self.language, languages=i18n.LANGUAGES,
            csrf=self.session.csrf, path=self.request.url.path, here=self.here, flash=flash, **values)
        return self._finish(HTMLResponse(html, status_code=status, headers={"Cache-Control": "no-store"}))

    def redirect(self, target: str) -> Response:
        return self._finish(RedirectResponse(target, status_code=303))

    @property
    def here(self) -> str:
        query = self.request.url.query
        return self.request.url.path + (f"?{query}" if query else "")

    def sign_in_url(self, next_path: str | None = None) -> str:
        return f"/sign-in?next={quote(next_path or self.here, safe='')}"

    def field(self, name: str) -> str:
        value = self.form.get(name) if self.form is not None else None
        return value.strip() if isinstance(value, str) else ""


def query_params(values: Mapping[str, str | None]) -> str:
    from urllib.parse import urlencode

    kept = {k: v for k, v in values.items() if v}
    return f"?{urlencode(kept)}" if kept else ""
