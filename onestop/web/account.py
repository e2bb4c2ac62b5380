"""The signed-in citizen's own pages: My applications and My data (profile, consents, access log)."""

from __future__ import annotations

import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from onestop.web.client import ApiError
from onestop.web.context import Page, query_params

SELF_DECLARED = ("phone", "email")


async def _viewer(page: Page, operation: str, variables: dict[str, Any]) -> dict[str, Any] | None:
    if not page.session.signed_in:
        return None
    try:
        data = await page.api.execute(operation, variables, page.caller)
    except ApiError as exc:
        if exc.code in ("UNAUTHENTICATED", "FORBIDDEN"):
            return None
        raise
    viewer: dict[str, Any] | None = data["viewer"]
    return viewer


async def applications(request: Request) -> Response:
    page = await Page.open(request)
    after = request.query_params.get("after") or None
    viewer = await _viewer(page, "MyApplications", {"first": 50, "after": after})
    if viewer is None:
        return page.redirect(page.sign_in_url())
    connection = viewer["applications"]
    nodes = [edge["node"] for edge in connection["edges"]]
    next_url = ("/my/applications" + query_params({"after": connection["pageInfo"]["endCursor"]})
                if connection["pageInfo"]["hasNextPage"] else None)
    return page.render("my_applications.html", drafts=[a for a in nodes if a["status"] == "DRAFT"],
                       sent=[a for a in nodes if a["status"] != "DRAFT"], next_url=next_url)


async def my_data(request: Request) -> Response:
    page = await Page.open(request)
    return await _my_data(page, {})


async def _my_data(page: Page, errors: dict[str, str], status: int = 200) -> Response:
    viewer = await _viewer(page, "MyData", {"after": page.request.query_params.get("after") or None})
    if viewer is None:
        return page.redirect(page.sign_in_url("/my/data"))
    return page.render("my_data.html", viewer=viewer, errors=errors, status=status)


async def update_profile(request: Request) -> Response:
    page = await Page.open(request)
    if not page.session.signed_in:
        return page.redirect(page.sign_in_url("/my/data"))
    changes = {key: page.field(key) or None for key in SELF_DECLARED}
    data = await page.api.execute("UpdateProfile", {"input": changes}, page.caller)
    payload = data["updateProfile"]
    if payload["userErrors"]:
        errors = {(e.get("field") or ["", "form"])[-1]: e["message"] for e in payload["userErrors"]}
        return await _my_data(page, errors, status=400)
    page.session.flash = page.t("saved")
    return page.redirect("/my/data")


async def revoke_consent(request: Request) -> Response:
    page = await Page.open(request)
    if not page.session.signed_in:
        return page.redirect(page.sign_in_url("/my/data"))
    data = await page.api.execute("RevokeConsent", {"id": page.field("consent")}, page.caller)
    payload = data["revokeConsent"]
    if payload["userErrors"]:
        return await _my_data(page, {"consent": payload["userErrors"][0]["message"]}, status=400)
    page.session.flash = page.t("saved")
    return page.redirect("/my/data")


ANSWERS = ("WAS_ME", "WAS_NOT_ME")


async def answer_alert(request: Request) -> Response:
    page = await Page.open(request)
    if not page.session.signed_in or page.session.kind == "staff":
        return page.redirect(page.sign_in_url("/my/data"))
    answer = page.field("answer")
    if answer not in ANSWERS:
        return await _my_data(page, {"alert": page.t("choose_answer")}, status=400)
    data = await page.api.execute("AnswerSecurityAlert", {"id": page.field("alert"), "answer": answer,
                                                          "cmid": uuid.uuid4().hex}, page.caller)
    payload = data["answerSecurityAlert"]
    if payload["userErrors"]:
        return await _my_data(page, {"alert": payload["userErrors"][0]["message"]}, status=400)
    page.session.flash = page.t("alert_answered")
    return page.redirect("/my/data")
