"""The department console: the inbox with status filters and paging, one application, decisions by role."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response

from onestop.web import answers
from onestop.web.client import ApiError
from onestop.web.context import Page, query_params

STATUSES = ("SUBMITTED", "IN_REVIEW", "NEEDS_INFO", "APPROVED", "REJECTED", "WITHDRAWN", "DELIVERY_FAILED")
CASEWORKER = ("IN_REVIEW", "NEEDS_INFO")
APPROVER = ("APPROVED", "REJECTED")
PAGE_SIZE = 20


def _staff(page: Page) -> bool:
    return page.session.signed_in and page.session.kind == "staff"


def _refuse(page: Page) -> Response:
    if not page.session.signed_in:
        return page.redirect(page.sign_in_url())
    return page.render("error.html", status=403, heading=page.t("console"), message=page.t("staff_only"))


async def inbox(request: Request) -> Response:
    page = await Page.open(request)
    if not _staff(page):
        return _refuse(page)
    status = request.query_params.get("status") or None
    status = status if status in STATUSES else None
    after = request.query_params.get("after") or None
    data = await page.api.execute("DepartmentInbox", {"first": PAGE_SIZE, "after": after, "status": status},
                                  page.caller)
    connection = data["departmentInbox"]
    return page.render("console_inbox.html", inbox=connection, statuses=STATUSES, selected=status, after=after,
                       first_url="/console" + query_params({"status": status}),
                       next_url="/console" + query_params({"status": status,
                                                           "after": connection["pageInfo"]["endCursor"]}))


def _decisions(page: Page, status: str) -> list[str]:
    # Not delivered yet: the department has nothing to decide on until an operator delivers it again.
    if status in ("APPROVED", "REJECTED", "WITHDRAWN", "DRAFT", "EXPIRED", "NOT_ELIGIBLE", "DELIVERY_FAILED"):
        return []
    allowed = list(CASEWORKER)
    if "approver" in page.session.roles:
        allowed += APPROVER
    return allowed


async def _show(page: Page, application_id: str, errors: dict[str, str], status: int = 200) -> Response:
    data = await page.api.execute("ConsoleApplication", {"id": application_id}, page.caller)
    application: dict[str, Any] | None = data["application"]
    if application is None:
        return page.render("error.html", status=404, heading=page.t("not_found"), message=None)
    summary = answers.summary(application, application.get("service"), yes=page.t("yes"), no=page.t("no"),
                              other=page.t("answers"), change=False)
    return page.render("console_application.html", app=application, summary=summary, errors=errors,
                       decisions=_decisions(page, application["status"]), status=status,
                       redeliver="operator" in page.session.roles)


async def application(request: Request) -> Response:
    page = await Page.open(request)
    if not _staff(page):
        return _refuse(page)
    return await _show(page, request.path_params["id"], {})


async def decide(request: Request) -> Response:
    page = await Page.open(request)
    if not _staff(page):
        return _refuse(page)
    application_id = request.path_params["id"]
    if page.field("action") == "redeliver":
        return await _redeliver(page, application_id)
    status = page.field("status")
    if status not in (*CASEWORKER, *APPROVER):
        return await _show(page, application_id, {"status": page.t("update_status")}, status=400)
    data = await page.api.execute("UpdateApplicationStatus", {
        "id": application_id, "status": status, "message": page.field("message") or None,
        "cmid": uuid.uuid4().hex}, page.caller)
    payload = data["updateApplicationStatus"]
    if payload["userErrors"]:
        errors = {(e.get("field") or ["", "status"])[-1]: e["message"] for e in payload["userErrors"]}
        return await _show(page, application_id, errors, status=400)
    page.session.flash = page.t("saved")
    return page.redirect(f"/console/applications/{quote(application_id)}")


async def _redeliver(page: Page, application_id: str) -> Response:
    try:
        data = await page.api.execute("RedeliverApplication", {"id": application_id, "cmid": uuid.uuid4().hex},
                                      page.caller)
    except ApiError as error:
        if error.code == "FORBIDDEN":
            return _forbidden(page)
        raise
    payload = data["redeliverApplication"]
    if payload["userErrors"]:
        return await _show(page, application_id, {"action": payload["userErrors"][0]["message"]}, status=400)
    page.session.flash = page.t("redelivered")
    return page.redirect(f"/console/applications/{quote(application_id)}")


ALERT_STATUSES = ("OPEN", "ACKNOWLEDGED", "RESOLVED", "FALSE_POSITIVE")
SEVERITIES = ("LOW", "MEDIUM", "HIGH", "CRITICAL")


def _forbidden(page: Page) -> Response:
    return page.render("error.html", status=403, heading=page.t("operations"), message=page.t("operator_only"))


async def alerts(request: Request) -> Response:
    page = await Page.open(request)
    if not _staff(page):
        return _refuse(page)
    if "operator" not in page.session.roles:
        return _forbidden(page)
    status = request.query_params.get("status") or None
    status = status if status in ALERT_STATUSES else None
    severity = request.query_params.get("severity") or None
    severity = severity if severity in SEVERITIES else None
    after = request.query_params.get("after") or None
    try:
        data = await page.api.execute("OperatorAlerts", {"first": PAGE_SIZE, "after": after, "status": status,
                                                         "severity": severity}, page.caller)
    except ApiError as error:
        if error.code == "FORBIDDEN":
            return _forbidden(page)
        raise
    connection = data["securityAlerts"]
    filters = {"status": status, "severity": severity}
    return page.render("console_alerts.html", alerts=connection, health=data["systemHealth"],
                       statuses=ALERT_STATUSES, severities=SEVERITIES, selected=status, selected_severity=severity,
                       after=after, first_url="/console/alerts" + query_params(filters),
                       next_url="/console/alerts" + query_params({**filters,
                                                                  "after": connection["pageInfo"]["endCursor"]}))


async def alert_action(request: Request) -> Response:
    page = await Page.open(request)
    if not _staff(page):
        return _refuse(page)
    if "operator" not in page.session.roles:
        return _forbidden(page)
    action = page.field("action")
    variables: dict[str, Any] = {"id": request.path_params["id"], "cmid": uuid.uuid4().hex}
    if action == "acknowledge":
        name, key = "AcknowledgeAlert", "acknowledgeAlert"
    elif action == "resolve":
        name, key = "ResolveAlert", "resolveAlert"
        variables["note"] = page.field("note") or None
    else:
        return page.render("error.html", status=400, heading=page.t("operations"), message=page.t("update_status"))
    try:
        data = await page.api.execute(name, variables, page.caller)
    except ApiError as error:
        if error.code == "FORBIDDEN":
            return _forbidden(page)
        raise
    errors = data[key]["userErrors"]
    page.session.flash = errors[0]["message"] if errors else page.t("saved")
    return page.redirect("/console/alerts")
