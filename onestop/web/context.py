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
from onestop.web.sessions import COOKIE, Loaded, Session, SessionStore

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
        await self.store.rows.aclose()


def safe_next(target: str | None, default: str = "/") -> str:
    """Only the app's own absolute paths: never another origin, never a scheme-relative ``//host``."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return default
    return target


PAGES = "onestop.pages"


class CommitSessions:
    """Writes the request's session before its response starts: the browser's next request may reach another
    replica, which must find it (ASGI middleware, so every page, redirect and error page goes through it)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        pages: list[Page] = []
        scope[PAGES] = pages

        async def sending(message: Any) -> None:
            if message["type"] == "http.response.start":
                for page in pages:
                    await page.commit()
            await send(message)

        await self.app(scope, receive, sending)


class Page:
    """One request's view of the app."""

    def __init__(self, request: Request, services: Services, loaded: Loaded | None = None) -> None:
        self.request = request
        self.services = services
        self.api = services.api
        cookie_id = request.cookies.get(COOKIE)
        self.loaded = loaded
        self.new_session = loaded is None
        self.session_id = cookie_id if loaded is not None and cookie_id else services.store.new_id()
        self._loaded_id = self.session_id if loaded is not None else None
        self.session: Session = loaded.session if loaded is not None else Session()
        self.language = i18n.pick(request.cookies.get(i18n.COOKIE) or request.headers.get("accept-language"))
        self.finished = False
        pages = request.scope.get(PAGES)
        if pages is not None:
            pages.append(self)

    @classmethod
    async def begin(cls, request: Request) -> Page:
        """The page with its session loaded, without reading a form (error pages)."""
        services: Services = request.app.state.services
        return cls(request, services, await services.store.read(request.cookies.get(COOKIE)))

    @classmethod
    async def open(cls, request: Request) -> Page:
        page = await cls.begin(request)
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

    async def commit(self) -> None:
        """Store the session if a response for it was made (``CommitSessions`` calls it)."""
        if self.finished:
            self.finished = False
            previous = self.loaded if self._loaded_id == self.session_id else None
            await self.services.store.save(self.session_id, self.session, previous=previous)

    def _finish(self, response: Response) -> Response:
        self.finished = True
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
