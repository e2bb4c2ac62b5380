"""An application as a guided conversation: one page per current step, one POST per citizen action."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import date, datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response

from onestop.web import answers, forms
from onestop.web.client import ApiError
from onestop.web.context import Page

_MUTATIONS = {"grant": ("GrantConsent", "grantConsent"), "decline": ("DeclineConsent", "declineConsent"),
              "back": ("GoBack", "goBack"), "send": ("SubmitStep", "submitStep"),
              "withdraw": ("WithdrawApplication", "withdrawApplication")}


def _path(application_id: str) -> str:
    return f"/applications/{quote(application_id)}"


async def _load(page: Page, application_id: str) -> dict[str, Any] | None:
    data = await page.api.execute("Application", {"id": application_id}, page.caller_for(application_id))
    application: dict[str, Any] | None = data["application"]
    return application


def _not_found(page: Page) -> Response:
    # The same for every id: it tells a former actor why without saying anything about the application.
    message = page.t("not_yours_now") if page.session.signed_in else None
    return page.render("error.html", status=404, heading=page.t("not_found"), message=message)


async def show(request: Request) -> Response:
    page = await Page.open(request)
    application_id = request.path_params["id"]
    try:
        application = await _load(page, application_id)
    except ApiError as exc:
        if exc.code == "UNAUTHENTICATED":
            return page.redirect(page.sign_in_url())
        raise
    if application is None:
        return _not_found(page)
    step = application.get("currentStep")
    if application["status"] == "DRAFT" and step is not None and step["type"] == "APPOINTMENT":
        return await _appointment_page(page, application)
    return await _render(page, application)


_HONG_KONG = timezone(timedelta(hours=8))


async def _appointment_page(page: Page, application: Mapping[str, Any], *, errors: Mapping[str, str] | None = None,
                            status: int = 200) -> Response:
    """The appointment step: an office and a day chosen by a GET form, that day's free times as radios."""
    step = application["currentStep"]
    offices = [o["value"] for o in step["appointment"]["offices"]]
    office = page.request.query_params.get("office") or page.field("office")
    office = office if office in offices else (offices[0] if offices else "")
    tomorrow = datetime.now(_HONG_KONG).date() + timedelta(days=1)
    try:
        day = date.fromisoformat(page.request.query_params.get("day") or page.field("day") or "")
    except ValueError:
        day = tomorrow
    slots: list[dict[str, Any]] = []
    if office:
        data = await page.api.execute("AppointmentSlots", {"id": application["id"], "office": office,
                                                           "from": day.isoformat()},
                                      page.caller_for(application["id"]))
        found = (data["application"] or {}).get("currentStep") or {}
        slots = [s | {"time": datetime.fromisoformat(s["start"]).astimezone(_HONG_KONG).strftime("%H:%M")}
                 for s in (found.get("appointment") or {}).get("availability") or []]
    booking = {"office": office, "day": day.isoformat(), "min_day": tomorrow.isoformat(), "slots": slots}
    return await _render(page, application, errors=errors, status=status, booking=booking)


async def _render(page: Page, application: Mapping[str, Any], *, errors: Mapping[str, str] | None = None,
                  values: Mapping[str, Any] | None = None, raw: Mapping[str, str] | None = None,
                  status: int = 200, booking: Mapping[str, Any] | None = None) -> Response:
    step = application.get("currentStep")
    if application["status"] != "DRAFT" or step is None:
        done = page.request.query_params.get("done") == "1"
        return page.render("status.html", status=status, app=application, done=done, errors=errors or {})
    current_values = dict(values) if values is not None else {f["id"]: f.get("value") for f in step["fields"]}
    for f in step["fields"]:
        if f["type"] == "file":  # the files uploaded for it, to keep or drop
            current_values[f["id"]] = [d for d in application.get("documents") or [] if d["fieldId"] == f["id"]]
    done_steps = [s for s in application["steps"] if s["state"] == "DONE"]
    previous = next((s["id"] for s in reversed(done_steps) if s["type"] in ("FORM", "REVIEW", "PREFILL",
                                                                             "CONSENT")), None)
    summary: list[dict[str, Any]] = []
    if step["type"] in ("SUBMIT", "REVIEW"):
        data = await page.api.execute("ServiceOutline", {"slug": application["serviceSlug"]}, page.caller)
        summary = answers.summary(application, data["service"], yes=page.t("yes"), no=page.t("no"),
                                  other=page.t("answers"), change=True)
    return page.render(
        "step.html", status=status, app=application, step=step, errors=errors or {}, values=current_values,
        raw=raw or {}, previous=previous, has_group=any(f["type"] == "group" for f in step["fields"]),
        summary=summary, progress=[s for s in application["steps"] if s["state"] != "SKIPPED"],
        booking=booking or {}, anonymous=application["id"] in page.session.resume and not page.session.signed_in)


async def act(request: Request) -> Response:
    """Every action on an application page: answer, add/remove an entry, agree, decline, back, send, ..."""
    page = await Page.open(request)
    try:
        return await _act(request, page)
    finally:
        await page.form.close()  # uploaded files spool to temporary files until closed


async def _act(request: Request, page: Page) -> Response:
    application_id = request.path_params["id"]
    action = page.field("action")
    try:
        application = await _load(page, application_id)
    except ApiError as exc:
        if exc.code == "UNAUTHENTICATED":
            return page.redirect(page.sign_in_url(_path(application_id)))
        raise
    if application is None:
        return _not_found(page)
    step = application.get("currentStep")
    step_id = page.field("step") or (step["id"] if step else "")
    if step is not None and step_id != step["id"] and action != "back":
        # A stale page (another tab moved on): show where the application is now.
        return page.redirect(_path(application_id))
    caller = page.caller_for(application_id)
    cmid = uuid.uuid4().hex
    if action == "respond":
        message = page.field("message")
        if not message:
            return await _render(page, application, errors={"message": page.t("reply")}, status=400)
        data = await page.api.execute("RespondToRequest", {"id": application_id, "message": message[:2000],
                                                          "cmid": cmid}, caller)
        return await _after(page, application, data["respondToRequest"])
    if action == "stepup":
        return await finish_step_up(page, application_id, step_id)
    if action == "book" and step is not None:
        start = page.field("start")
        if not start:
            return await _appointment_page(page, application, errors={"start": page.t("choose_time")}, status=400)
        data = await page.api.execute("BookAppointment", {"id": application_id, "step": step_id,
                                                          "office": page.field("office"), "start": start,
                                                          "cmid": cmid}, caller)
        payload = data["bookAppointment"]
        if payload["userErrors"]:
            return await _appointment_page(page, application, errors=_errors(payload["userErrors"]), status=400)
        return page.redirect(_path(application_id))
    if action == "pay":
        return await _pay(page, application, step_id)
    if action.startswith(("add:", "remove:", "submit")) and step is not None:
        return await _answer(page, application, step, action)
    if action in _MUTATIONS:
        operation, field = _MUTATIONS[action]
        variables: dict[str, Any] = {"id": application_id, "cmid": cmid}
        if action == "back":
            variables["step"] = page.field("to")
        elif action != "withdraw":
            variables["step"] = step_id
        if action == "send":
            variables["answers"] = {}
        data = await page.api.execute(operation, variables, caller)
        payload = data[field]
        if action == "send" and not payload["userErrors"]:
            return page.redirect(_path(application_id) + "?done=1")
        return await _after(page, application, payload)
    return page.redirect(_path(application_id))


async def _upload(page: Page, application: Mapping[str, Any], step: Mapping[str, Any],
                  parsed: forms.Parsed) -> dict[str, str]:
    """Forward the files chosen in a file field to the API's upload endpoint; their ids join the answer, and the
    API's refusals (wrong kind, too large, infected) come back by field."""
    refused: dict[str, str] = {}
    for spec in step["fields"]:
        if spec["type"] != "file":
            continue
        chosen = [f for f in page.form.getlist(f"f.{spec['id']}") if isinstance(f, UploadFile) and f.filename]
        new: list[str] = []
        for upload in chosen:
            document_id, problem = await page.api.upload(application["id"], spec["id"], upload.filename or "",
                                                         await upload.read(), page.caller_for(application["id"]))
            if problem is not None:
                refused[spec["id"]] = problem
            elif document_id is not None:
                new.append(document_id)
        if spec.get("multiple"):
            parsed.answers[spec["id"]] = [*parsed.answers.get(spec["id"], []), *new]
        elif new:
            parsed.answers[spec["id"]] = new[-1]
    return refused


async def _answer(page: Page, application: Mapping[str, Any], step: Mapping[str, Any], action: str) -> Response:
    parsed = forms.read_step(step["fields"], page.form)
    refused = await _upload(page, application, step, parsed) if action == "submit" else {}
    if action != "submit":
        values = forms.regroup(parsed.answers, action, step["fields"])
        return await _render(page, application, values=values, raw=parsed.raw)
    if parsed.errors or refused:
        errors = {key: page.t(code) for key, code in parsed.errors.items()} | refused
        if refused:
            application = await _load(page, application["id"]) or application  # with the files just uploaded
        return await _render(page, application, errors=errors, values=parsed.answers, raw=parsed.raw, status=400)
    data = await page.api.execute("SubmitStep", {"id": application["id"], "step": step["id"],
                                                 "answers": parsed.answers, "cmid": uuid.uuid4().hex},
                                  page.caller_for(application["id"]))
    payload = data["submitStep"]
    if payload["userErrors"]:
        return await _render(page, application, errors=_errors(payload["userErrors"]), values=parsed.answers,
                             raw=parsed.raw, status=400)
    return page.redirect(_path(application["id"]))


async def _pay(page: Page, application: Mapping[str, Any], step_id: str) -> Response:
    """Open the payment provider's hosted page; the citizen comes back to this application's page."""
    back = str(page.request.base_url).rstrip("/") + _path(application["id"])
    data = await page.api.execute("BeginPayment", {"id": application["id"], "step": step_id, "back": back,
                                                   "cmid": uuid.uuid4().hex}, page.caller_for(application["id"]))
    payload = data["beginPayment"]
    if payload["userErrors"] or not payload["paymentUrl"]:
        return await _render(page, application, errors=_errors(payload["userErrors"]), status=400)
    return page.redirect(payload["paymentUrl"])


def _errors(user_errors: list[dict[str, Any]]) -> dict[str, str]:
    errors: dict[str, str] = {}
    for error in user_errors:
        key = forms.error_key(error.get("field")) or (error.get("field") or ["form"])[-1]
        errors.setdefault(key, error["message"])
    return errors


async def _after(page: Page, application: Mapping[str, Any], payload: Mapping[str, Any]) -> Response:
    if payload["userErrors"]:
        return await _render(page, application, errors=_errors(payload["userErrors"]), status=400)
    return page.redirect(_path(application["id"]))


async def finish_step_up(page: Page, application_id: str, step_id: str) -> Response:
    """Complete a step-up with the session's token; when it is not enough, sign in again as the API asks."""
    from onestop.web.auth import begin

    try:
        data = await page.api.execute("CompleteStepUp", {"id": application_id, "step": step_id,
                                                         "cmid": uuid.uuid4().hex}, page.caller_for(application_id))
    except ApiError as exc:
        if exc.code not in ("INSUFFICIENT_USER_AUTHENTICATION", "UNAUTHENTICATED"):
            raise
        # Each round trip needs the citizen at the identity provider, so this cannot loop on its own.
        return await begin(page, next_path=_path(application_id),
                           acr_values=str(exc.extensions.get("acr_values") or "") or None,
                           binding=str(exc.extensions.get("binding") or "") or None,
                           application=application_id, step=step_id)
    payload = data["completeStepUp"]
    if payload["userErrors"]:
        application = await _load(page, application_id)
        if application is None:
            return _not_found(page)
        return await _render(page, application, errors=_errors(payload["userErrors"]), status=400)
    return page.redirect(_path(application_id))
