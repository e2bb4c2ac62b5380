"""Pages anyone can read: home, listings by theme and age group, search, a service, the language switch."""

from __future__ import annotations

import uuid
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from onestop.web import i18n, people
from onestop.web.client import ApiError
from onestop.web.context import Page, query_params, safe_next

PAGE_SIZE = 10


async def home(request: Request) -> Response:
    page = await Page.open(request)
    data = await page.api.execute("Home", None, page.caller)
    return page.render("home.html", info=data["publicInfo"], themes=data["themes"], age_groups=data["ageGroups"])


async def _listing(page: Page, heading_of: str | None, *, base: str, query: str | None = None,
                   theme: str | None = None, age_group: str | None = None) -> Response:
    after = page.request.query_params.get("after") or None
    try:
        data = await page.api.execute("Services", {"first": PAGE_SIZE, "after": after, "search": query,
                                                   "theme": theme, "ageGroup": age_group}, page.caller)
    except ApiError as exc:
        if exc.code != "BAD_USER_INPUT":
            raise
        # An unknown theme or age group, or a cursor from nowhere: nothing to list at this address.
        return page.render("error.html", status=404, heading=page.t("not_found"), message=None)
    if heading_of is not None:
        names = {item["id"]: item["name"] for item in [*data["themes"], *data["ageGroups"]]}
        if heading_of not in names:
            return page.render("error.html", status=404, heading=page.t("not_found"), message=None)
        heading = names[heading_of]
    else:
        heading = page.t("search_results")
    connection = data["services"]
    return page.render("listing.html", heading=heading, connection=connection, query=query, after=after,
                       first_url=base + query_params({"q": query}),
                       next_url=base + query_params({"q": query, "after": connection["pageInfo"]["endCursor"]}))


async def theme(request: Request) -> Response:
    page = await Page.open(request)
    theme_id = request.path_params["theme"]
    return await _listing(page, theme_id, base=f"/themes/{quote(theme_id)}", theme=theme_id)


async def age_group(request: Request) -> Response:
    page = await Page.open(request)
    group = request.path_params["group"]
    return await _listing(page, group, base=f"/age-groups/{quote(group)}", age_group=group)


async def search(request: Request) -> Response:
    page = await Page.open(request)
    query = (request.query_params.get("q") or "").strip()[:200]
    if not query:
        return page.render("listing.html", heading=page.t("search_results"), connection=None, query="")
    return await _listing(page, None, base="/search", query=query)


async def service(request: Request) -> Response:
    page = await Page.open(request)
    data = await page.api.execute("Service", {"slug": request.path_params["slug"]}, page.caller)
    if data["service"] is None:
        return page.render("error.html", status=404, heading=page.t("not_found"), message=None)
    return page.render("service.html", s=data["service"])


async def start(request: Request) -> Response:
    """POST "Start now"; signed out on a service that needs a login, remember the intent and sign in first."""
    page = await Page.open(request)
    slug = request.path_params["slug"]
    data = await page.api.execute("Service", {"slug": slug}, page.caller)
    found = data["service"]
    if found is None:
        return page.render("error.html", status=404, heading=page.t("not_found"), message=None)
    if found["loginRequired"] and not page.session.signed_in:
        page.session.pending_start = slug
        return page.redirect(page.sign_in_url(f"/services/{quote(slug)}/start"))
    if found.get("applicant", "SELF") != "SELF":
        # "Who is this for?" first; its form comes back here with the choice.
        chosen = page.field("for")
        if not chosen:
            return await people.who_for(page, found, missing=page.field("choosing") == "1")
        return await _start(page, slug, None if chosen == people.MYSELF else chosen)
    return await _start(page, slug)


async def resume_start(request: Request) -> Response:
    """GET after sign-in: starts only what a CSRF-checked POST asked for, once."""
    page = await Page.open(request)
    slug = request.path_params["slug"]
    if page.session.pending_start != slug or not page.session.signed_in:
        return page.redirect(f"/services/{quote(slug)}")
    page.session.pending_start = None
    data = await page.api.execute("Service", {"slug": slug}, page.caller)
    if data["service"] is not None and data["service"].get("applicant", "SELF") != "SELF":
        return await people.who_for(page, data["service"])
    return await _start(page, slug)


async def _start(page: Page, slug: str, on_behalf_of: str | None = None) -> Response:
    try:
        data = await page.api.execute("StartApplication", {"slug": slug, "cmid": uuid.uuid4().hex,
                                                           "for": on_behalf_of}, page.caller)
    except ApiError as exc:
        if exc.code == "UNAUTHENTICATED":
            page.session.pending_start = slug
            return page.redirect(page.sign_in_url(f"/services/{quote(slug)}/start"))
        raise
    payload = data["startApplication"]
    if payload["userErrors"] or payload["application"] is None:
        message = "; ".join(e["message"] for e in payload["userErrors"])
        return page.render("error.html", status=400, heading=page.t("not_eligible"), message=message)
    application = payload["application"]
    if payload.get("resumeToken"):
        page.session.resume[application["id"]] = payload["resumeToken"]
    return page.redirect(f"/applications/{quote(application['id'])}")


async def language(request: Request) -> Response:
    code = request.path_params["code"]
    target = safe_next(request.query_params.get("next"))
    response = RedirectResponse(target, status_code=303)
    if code in i18n.LANGUAGES:
        response.set_cookie(i18n.COOKIE, code, max_age=365 * 24 * 3600, httponly=True, samesite="lax",
                            secure=request.app.state.services.config.secure_cookies, path="/")
    return response
