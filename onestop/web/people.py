"""Acting for others: "Who is this for?" when a service may be applied for on someone's behalf, and "People I act
for": one's children under 18, the mandates one holds and the mandates one granted, with granting (after a face
confirmation, as the API requires) and revoking."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from onestop.web.client import ApiError
from onestop.web.context import Page

MYSELF = "self"
PATH = "/my/people"
_STEP_UP = ("INSUFFICIENT_USER_AUTHENTICATION", "UNAUTHENTICATED")


def choices(service: Mapping[str, Any], viewer: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The people the viewer may start ``service`` for: children (if parents may act) and grantors of a mandate in
    force that covers it (if mandates may act). The API checks again at the start."""
    allowed = set(service.get("actingAs") or ())
    themes = {theme["id"] for theme in service.get("themes") or ()}
    covering = {m["id"] for m in viewer.get("mandatesReceived") or () if m["status"] == "ACTIVE"
                and (service["slug"] in m["services"] or themes & set(m["themes"]))}
    return [d for d in viewer.get("dependents") or ()
            if d["relationship"] in allowed and (d["relationship"] != "MANDATE" or d["mandateId"] in covering)]


async def who_for(page: Page, service: Mapping[str, Any], *, missing: bool = False) -> Response:
    """The choice before a start: myself (an ``either`` service), or each person the citizen may act for."""
    data = await page.api.execute("WhoFor", {}, page.caller)
    people = choices(service, data["viewer"] or {})
    errors = {"for": page.t("choose_person")} if missing else {}
    return page.render("who_for.html", s=service, people=people, myself=service.get("applicant") == "EITHER",
                       errors=errors, status=400 if missing else 200)


async def _viewer(page: Page) -> dict[str, Any] | None:
    if not page.session.signed_in or page.session.kind == "staff":
        return None
    try:
        data: dict[str, Any] = await page.api.execute("People", {}, page.caller)
    except ApiError as exc:
        if exc.code in ("UNAUTHENTICATED", "FORBIDDEN"):
            return None
        raise
    return data


async def page(request: Request) -> Response:
    return await _page(await Page.open(request), {})


async def _page(page: Page, errors: Mapping[str, str], values: Mapping[str, Any] | None = None,
                status: int = 200) -> Response:
    data = await _viewer(page)
    if data is None:
        return page.redirect(page.sign_in_url(PATH))
    services = [edge["node"] for edge in data["services"]["edges"] if "MANDATE" in edge["node"]["actingAs"]]
    nodes = [edge["node"] for edge in data["services"]["edges"]]
    titles = {s["slug"]: s["title"] for s in nodes} | {t["id"]: t["name"] for s in nodes for t in s["themes"]}
    return page.render("people.html", viewer=data["viewer"], services=services, titles=titles, errors=errors,
                       values=values or {}, min_day=date.today().isoformat(), status=status)


def _grant_input(page: Page, services: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, str]]:
    """GrantMandateInput from the form: the services chosen, and the data items those services read."""
    chosen = [slug for slug in page.form.getlist("services") if isinstance(slug, str)] if page.form else []
    by_slug = {s["slug"]: s for s in services}
    items = list(dict.fromkeys(item for slug in chosen if slug in by_slug for item in by_slug[slug]["dataItems"]))
    errors: dict[str, str] = {}
    until = page.field("validUntil")
    try:
        if date.fromisoformat(until) < date.today():
            raise ValueError(until)
    except ValueError:
        errors["validUntil"] = page.t("mandate_date")
    # The end of that day in Hong Kong.
    variables = {"granteeHkid": page.field("granteeHkid"), "granteeName": page.field("granteeName"),
                 "services": chosen, "themes": [], "items": items, "validUntil": f"{until}T23:59:59+08:00"}
    return variables, errors


async def grant(request: Request) -> Response:
    page = await Page.open(request)
    data = await _viewer(page)
    if data is None:
        return page.redirect(page.sign_in_url(PATH))
    services = [edge["node"] for edge in data["services"]["edges"] if "MANDATE" in edge["node"]["actingAs"]]
    variables, errors = _grant_input(page, services)
    if errors:
        return await _page(page, errors, variables, status=400)
    return await _grant(page, variables, step_up=True)


async def _grant(page: Page, variables: dict[str, Any], *, step_up: bool) -> Response:
    from onestop.web.auth import begin

    try:
        data = await page.api.execute("GrantMandate", {"input": variables}, page.caller)
    except ApiError as exc:
        if exc.code not in _STEP_UP:
            raise
        if not step_up:  # back from the identity provider and still not enough: say so, do not loop
            return await _page(page, {"form": page.t("face_needed")}, variables, status=400)
        # Kept server-side (the HKID stays out of URLs) until the face confirmation comes back.
        page.session.pending_mandate = variables
        return await begin(page, next_path=PATH, acr_values=str(exc.extensions.get("acr_values") or "") or None,
                           mandate=True)
    payload = data["grantMandate"]
    if payload["userErrors"]:
        return await _page(page, _errors(payload["userErrors"]), variables, status=400)
    page.session.flash = page.t("mandate_granted")
    return page.redirect(PATH)


async def finish_grant(page: Page) -> Response:
    """Back from the face confirmation: grant what the form asked for, once."""
    variables, page.session.pending_mandate = page.session.pending_mandate, {}
    if not variables:
        return page.redirect(PATH)
    return await _grant(page, variables, step_up=False)


async def revoke(request: Request) -> Response:
    page = await Page.open(request)
    if not page.session.signed_in:
        return page.redirect(page.sign_in_url(PATH))
    data = await page.api.execute("RevokeMandate", {"id": page.field("mandate")}, page.caller)
    payload = data["revokeMandate"]
    if payload["userErrors"]:
        return await _page(page, {"mandate": payload["userErrors"][0]["message"]}, status=400)
    page.session.flash = page.t("mandate_revoked")
    return page.redirect(PATH)


def _errors(user_errors: list[dict[str, Any]]) -> dict[str, str]:
    errors: dict[str, str] = {}
    for error in user_errors:
        path = [p for p in error.get("field") or [] if p != "input"]
        errors.setdefault(path[0] if path else "form", error["message"])
    return errors
