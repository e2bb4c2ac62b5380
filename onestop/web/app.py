"""The web app: routes, templates, static files and error pages, over one GraphQL client."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from onestop.web import account, apply, auth, console, forms, i18n, portal, portal_docs, public
from onestop.web.assets import STATIC
from onestop.web.client import ApiClient, ApiError
from onestop.web.config import WebConfig
from onestop.web.context import CommitSessions, CsrfError, Page, Services
from onestop.web.oidc import OidcClient, SignInError
from onestop.web.security import SecurityHeaders
from onestop.web.sessions import SessionRows, SessionStore

log = logging.getLogger(__name__)
TEMPLATES = Path(__file__).resolve().parent / "templates"


def templates() -> Environment:
    # Templates ship with the package: no file checks on every render (auto_reload would stat each one).
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]),
                      trim_blocks=True, lstrip_blocks=True, auto_reload=False)
    env.filters["fid"] = forms.html_id
    env.filters["date_parts"] = forms.date_parts
    env.filters["words"] = forms.words
    return env


def _plain(status: int, text: str) -> Response:
    return HTMLResponse(f"<!doctype html><html lang=\"en\"><title>{text}</title><h1>{text}</h1>",
                        status_code=status)


async def _csrf_refused(request: Request, exc: Exception) -> Response:
    return _plain(403, "The form expired; go back, reload the page and try again.")


async def _api_failed(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    log.warning("API error on %s: %s %s", request.url.path, exc.code, exc.message)
    page = await Page.begin(request)
    status = 429 if exc.code == "RATE_LIMITED" else 503 if exc.code == "INTERNAL_SERVER_ERROR" else 400
    return page.render("error.html", status=status, heading=page.t("problem"), message=exc.message)


async def _sign_in_failed(request: Request, exc: Exception) -> Response:
    page = await Page.begin(request)
    return page.render("error.html", status=502, heading=page.t("problem"), message=page.t("sign_in_again"))


async def _not_found(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 404
    language = i18n.pick(request.cookies.get(i18n.COOKIE) or request.headers.get("accept-language"))
    return _plain(status, i18n.translate(language, "not_found") if status == 404 else "Error")


def create_web_app(config: WebConfig, sessions: SessionRows | None = None) -> Starlette:
    """The web app; it reaches the API and the identity provider only through ``config``'s HTTP client.

    ``sessions`` is where sealed sessions are kept: in this process when None, shared (the platform database)
    when several web replicas serve the same browsers.
    """
    http = config.http_client()
    services = Services(config=config, api=ApiClient(http), oidc=OidcClient(http, config.issuer, config.client_id),
                        store=SessionStore(config.session_key, sessions), templates=templates())
    routes = [
        Route("/", public.home, methods=["GET"]),
        Route("/search", public.search, methods=["GET"]),
        Route("/themes/{theme}", public.theme, methods=["GET"]),
        Route("/age-groups/{group}", public.age_group, methods=["GET"]),
        Route("/services/{slug}", public.service, methods=["GET"]),
        Route("/services/{slug}/start", public.start, methods=["POST"]),
        Route("/services/{slug}/start", public.resume_start, methods=["GET"]),
        Route("/language/{code}", public.language, methods=["GET"]),
        Route("/sign-in", auth.sign_in, methods=["GET"]),
        Route("/auth/callback", auth.callback, methods=["GET"], name="callback"),
        Route("/sign-out", auth.sign_out, methods=["POST"]),
        Route("/applications/{id}", apply.show, methods=["GET"]),
        Route("/applications/{id}", apply.act, methods=["POST"]),
        Route("/my/applications", account.applications, methods=["GET"]),
        Route("/my/data", account.my_data, methods=["GET"]),
        Route("/my/data/profile", account.update_profile, methods=["POST"]),
        Route("/my/data/consents/revoke", account.revoke_consent, methods=["POST"]),
        Route("/my/data/alerts/answer", account.answer_alert, methods=["POST"]),
        Route("/console", console.inbox, methods=["GET"]),
        Route("/console/alerts", console.alerts, methods=["GET"]),
        Route("/console/alerts/{id}", console.alert_action, methods=["POST"]),
        Route("/console/applications/{id}", console.application, methods=["GET"]),
        Route("/console/applications/{id}", console.decide, methods=["POST"]),
        Route("/sandbox", portal.home, methods=["GET"]),
        Route("/sandbox/join", portal.join, methods=["GET"]),
        Route("/sandbox/mine", portal.mine, methods=["GET"]),
        Route("/sandbox/mine/secret", portal.rotate_secret, methods=["POST"]),
        Route("/sandbox/upload", portal.upload_form, methods=["GET"]),
        Route("/sandbox/upload", portal.upload, methods=["POST"]),
        Route("/sandbox/services/{slug}/preview", portal.preview, methods=["GET"]),
        Route("/sandbox/services/{slug}/test", portal.test_application, methods=["GET"]),
        Route("/sandbox/services/{slug}/test", portal.start, methods=["POST"]),
        Route("/sandbox/inbox", portal.inbox, methods=["GET"]),
        Route("/sandbox/guide", portal_docs.guide, methods=["GET"]),
        Route("/sandbox/reference/{name}", portal_docs.reference, methods=["GET"]),
        Route("/sandbox/news", portal_docs.news, methods=["GET"]),
        Route("/sandbox/news.atom", portal_docs.news_atom, methods=["GET"]),
        # Only the static files are compressed: pages carry CSRF tokens beside reflected input, and compressing
        # those would open them to length side channels (BREACH).
        Mount("/static", app=GZipMiddleware(StaticFiles(directory=STATIC), minimum_size=1024), name="static"),
    ]
    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        # Run by ``onestop web``; mounted inside ``serve`` (lifespan off) the in-process transport holds no sockets.
        yield
        await services.aclose()

    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        middleware=[Middleware(SecurityHeaders, issuer=config.issuer, secure=config.secure_cookies),
                    Middleware(CommitSessions)],
        exception_handlers={CsrfError: _csrf_refused, ApiError: _api_failed, SignInError: _sign_in_failed,
                            404: _not_found, 405: _not_found},
    )
    app.state.services = services
    return app
