"""A generic citizen: valid answers for any rendered step, from `currentStep.fields` alone (no YAML).

It knows only what a frontend knows: each field's type, bounds, pattern, options and current value. When the
server refuses a value (a custom rule, a bound it misread), the next candidate for that field is tried.
"""

from __future__ import annotations

import dataclasses
import re
import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from client import FACE, STANDARD, Api, pay_fee

from .conftest import BOOK, GET, GRANT, OFFERED, OFFICES, START, STEP_UP, SUBMIT

HKID = "A123456(3)"
PHONE = "91234567"
EMAIL = "applicant@example.org"
TEXT = "Acceptance test answer"

_OFFSET = re.compile(r"^(-)?P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?$")


def resolve_date(bound: str | None, today: date) -> date | None:
    """A date bound as the definitions write it: ISO date, `today`, or an ISO-8601 offset such as -P18Y."""
    if not bound:
        return None
    if bound == "today":
        return today
    match = _OFFSET.match(bound)
    if match is None:
        return date.fromisoformat(bound)
    sign = -1 if match.group(1) else 1
    years, months, weeks, days = (int(g or 0) for g in match.groups()[1:])
    month_index = today.year * 12 + today.month - 1 + sign * (years * 12 + months)
    year, month = divmod(month_index, 12)
    day = min(today.day, 28)
    return date(year, month + 1, day) + timedelta(days=sign * (weeks * 7 + days))


def from_pattern(pattern: str) -> str | None:
    """The shortest string a simple regular expression accepts (first alternative, first class member)."""
    source = pattern.split("|")[0] if "(" not in pattern else pattern
    out: list[str] = []
    i = 0
    while i < len(source):
        char = source[i]
        if char in "^$":
            i += 1
            continue
        if char == "(":
            return None
        if char == "[":
            end = source.index("]", i + 1)
            body = source[i + 1:end]
            atom = "0" if body.startswith("\\d") else ("\\" + body[1] if body.startswith("\\") else body[0])
            atom = atom[-1]
            i = end + 1
        elif char == "\\":
            atom = {"d": "0", "w": "a", "s": " "}.get(source[i + 1], source[i + 1])
            i += 2
        elif char == ".":
            atom, i = "a", i + 1
        else:
            atom, i = char, i + 1
        count = 1
        if i < len(source) and source[i] == "{":
            end = source.index("}", i)
            low = source[i + 1:end].split(",")[0]
            count = max(int(low), 1)
            i = end + 1
        elif i < len(source) and source[i] in "?*":
            count, i = 0, i + 1
        elif i < len(source) and source[i] == "+":
            i += 1
        out.append(atom * count)
    text = "".join(out)
    return text if re.fullmatch(pattern, text) else None


def _text(field: dict[str, Any]) -> list[Any]:
    if field.get("pattern"):
        generated = from_pattern(field["pattern"])
        return [generated] if generated is not None else []
    low = int(field.get("min") or 0)
    high = int(field["max"]) if field.get("max") is not None else 200
    text = TEXT[:high]
    return [text.ljust(max(low, 1), "x")]


def _number(field: dict[str, Any]) -> list[Any]:
    low, high = field.get("min"), field.get("max")
    if low is not None and high is not None:
        middle = (low + high) / 2
        candidates = [middle, high, low]
    elif low is not None:
        candidates = [max(low, 1) * 10 + 10, low]
    elif high is not None:
        candidates = [high, high / 2]
    else:
        candidates = [10, 1]
    return [int(c) for c in candidates]  # integer fields refuse fractions; every seed bound is whole


def _date(field: dict[str, Any], today: date) -> list[Any]:
    after = resolve_date(field.get("after"), today)
    before = resolve_date(field.get("before"), today)
    if after and before:
        picks = [after + (before - after) / 2, after + timedelta(days=1), before - timedelta(days=1)]
    elif after:
        picks = [after + timedelta(days=30)]
    elif before:
        picks = [before - timedelta(days=400)]
    else:
        picks = [today]
    return [p.isoformat() for p in picks]


def _address(field: dict[str, Any]) -> list[Any]:
    districts = [o["value"] for o in field.get("options") or []] or ["wan-chai"]
    return [{"flat": "1", "floor": "2", "building": "Acceptance Court", "street": "1 Test Road",
             "district": districts[0], "region": "HK"}]


def candidates(field: dict[str, Any], today: date) -> list[Any]:
    """Valid-looking values for one rendered field, best guess first; the current value leads when present."""
    kind = field["type"]
    options = [o["value"] for o in field.get("options") or []]
    generated: list[Any]
    if kind == "text":
        generated = _text(field)
    elif kind == "number":
        generated = _number(field)
    elif kind == "date":
        generated = _date(field, today)
    elif kind == "boolean":
        generated = [True]
    elif kind == "choice":
        generated = list(options)
    elif kind == "multiChoice":
        size = max(int(field.get("minItems") or 1), 1)
        generated = [options[i:i + size] for i in range(0, max(len(options) - size + 1, 1))]
    elif kind == "email":
        generated = [EMAIL]
    elif kind == "phone":
        generated = [PHONE]
    elif kind == "hkid":
        generated = [HKID]
    elif kind == "address":
        generated = _address(field)
    elif kind == "file":
        generated = []  # uploaded by the driver (``_upload``): a file field's answer is a document id
    elif kind == "group":
        count = max(int(field.get("minItems") or 0), 1)
        if field.get("maxItems") is not None:
            count = min(count, int(field["maxItems"]))
        item = {sub["id"]: candidates(sub, today)[0] for sub in field.get("fields") or []}
        generated = [[dict(item) for _ in range(count)]]
    else:
        raise AssertionError(f"unknown field type {kind!r} in {field['id']}")
    if field.get("value") is not None:
        return [field["value"], *[g for g in generated if g != field["value"]]]
    return generated


def answer(fields: list[dict[str, Any]], today: date, variation: dict[str, int]) -> dict[str, Any]:
    """Answers for every rendered field; ``variation[field]`` picks a later candidate after a refusal."""
    result: dict[str, Any] = {}
    for field in fields:
        if field["type"] == "file":
            continue
        options = candidates(field, today)
        if not options:
            raise AssertionError(f"no candidate value for field {field['id']} ({field})")
        result[field["id"]] = options[variation.get(field["id"], 0) % len(options)]
    return result


@dataclass
class Run:
    """How one application went: the final state and every choice the generic citizen made."""

    application: dict[str, Any]
    varied: list[tuple[str, int]] = dataclasses.field(default_factory=list)  # (field id, number of candidates)
    actions: int = 0
    seen: list[dict[str, Any]] = dataclasses.field(default_factory=list)  # every step as it was rendered


class Refused(AssertionError):
    """The server refused an action the generic citizen could not fix."""


class NoDependent(Refused):
    """The service is applied for on someone's behalf, and this citizen acts for no one it accepts."""


DEPENDENTS = "query { viewer { dependents { id } } }"


async def drive(api: Api, slug: str, citizen: str, today: date, variation: dict[str, int] | None = None,
                *, start_headers: dict[str, str] | None = None, stop_at: str | None = None) -> Run:
    """Start ``slug`` as ``citizen`` and answer every step until the application leaves DRAFT (or reaches a
    step of type ``stop_at``)."""
    headers = start_headers or await api.token({"citizen": citizen, "acr": STANDARD})
    payload = (await api.data(START, {"slug": slug, "cmid": uuid.uuid4().hex}, headers))["startApplication"]
    if [e["code"] for e in payload["userErrors"]] == ["CANNOT_ACT_FOR"]:
        # A service applied for on someone's behalf (a parent for a child): the first dependent it accepts.
        for dependent in (await api.data(DEPENDENTS, {}, headers))["viewer"]["dependents"]:
            payload = (await api.data(START, {"slug": slug, "cmid": uuid.uuid4().hex, "for": dependent["id"]},
                                      headers))["startApplication"]
            if payload["application"] is not None and payload["application"]["status"] != "NOT_ELIGIBLE":
                break
        if payload["application"] is None:
            raise NoDependent(f"startApplication refused: {payload['userErrors']}")
    if payload["userErrors"]:
        raise Refused(f"startApplication refused: {payload['userErrors']}")
    return await advance(api, Run(payload["application"]), citizen, today, variation, headers=headers,
                         stop_at=stop_at)


async def advance(api: Api, run: Run, citizen: str, today: date, variation: dict[str, int] | None = None,
                  *, headers: dict[str, str] | None = None, stop_at: str | None = None) -> Run:
    """Carry on with ``run.application`` from its current step (e.g. a draft resumed later)."""
    variation = dict(variation or {})
    headers = headers or await api.token({"citizen": citizen, "acr": STANDARD})
    app_id = run.application["id"]
    for _ in range(40):
        app = run.application
        step = app["currentStep"]
        if app["status"] != "DRAFT" or step is None or step["type"] in ("EXIT", stop_at):
            return run
        run.seen.append(step)
        variables: dict[str, Any] = {"id": app_id, "step": step["id"]}
        if step["type"] in ("PREFILL", "CONSENT"):
            run.application = await _apply(api, GRANT, variables, headers, "grantConsent")
        elif step["type"] == "SUBMIT":
            run.application = await _apply(api, SUBMIT, variables | {"answers": {}}, headers, "submitStep")
        elif step["type"] == "PAYMENT":
            await pay_fee(api, app_id, step["id"], headers)
            run.application = (await api.data(GET, {"id": app_id}, headers))["application"]
        elif step["type"] == "STEP_UP":
            run.application = await _step_up(api, citizen, variables, headers)
        elif step["type"] in ("FORM", "REVIEW"):
            run.application = await _answer(api, run, variables, step["fields"], headers, today, variation)
        elif step["type"] == "APPOINTMENT":
            run.application = await _book(api, variables, headers, today)
        else:
            raise Refused(f"unknown step type {step['type']}")
        run.actions += 1
    raise Refused(f"{app['serviceSlug']}: still a draft after 40 actions: {run.application}")


async def _apply(api: Api, query: str, variables: dict[str, Any], headers: dict[str, str], name: str
                 ) -> dict[str, Any]:
    payload = (await api.data(query, variables, headers))[name]
    if payload["userErrors"]:
        raise Refused(f"{name} on {variables['step']}: {payload['userErrors']}")
    application: dict[str, Any] = payload["application"]
    return application


async def _book(api: Api, variables: dict[str, Any], headers: dict[str, str], today: date) -> dict[str, Any]:
    """Book the first free slot of the first office with one in the coming four weeks."""
    window = {"id": variables["id"], "from": today.isoformat(), "to": (today + timedelta(days=28)).isoformat()}
    step = (await api.data(OFFICES, {"id": variables["id"]}, headers))["application"]["currentStep"]
    for office in [o["value"] for o in step["appointment"]["offices"]]:
        found = (await api.data(OFFERED, window | {"office": office}, headers))["application"]["currentStep"]
        free = [s["start"] for s in found["appointment"]["availability"] if s["remaining"] > 0]
        if free:
            return await _apply(api, BOOK, variables | {"office": office, "start": free[0]}, headers,
                                "bookAppointment")
    raise Refused(f"no free appointment slot on {variables['step']}")


async def _step_up(api: Api, citizen: str, variables: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
    result = await api.post(STEP_UP, variables, headers)
    if not result.get("errors"):
        payload = result["data"]["completeStepUp"]
        if payload["userErrors"]:
            raise Refused(f"completeStepUp: {payload['userErrors']}")
        application: dict[str, Any] = payload["application"]
        return application
    extensions = result["errors"][0].get("extensions", {})
    if extensions.get("code") != "INSUFFICIENT_USER_AUTHENTICATION":
        raise Refused(f"completeStepUp: {result['errors']}")
    acr = str(extensions["acr_values"]).split()[0]
    body: dict[str, Any] = {"citizen": citizen, "acr": acr}
    if acr == FACE:
        listing = await api.citizens()
        body["selfie"] = next(c for c in listing if c["id"] == citizen)["faceSamples"]["match"]
    lang = headers.get("Accept-Language", "en")
    stepped = await api.token(body, lang)
    again = await api.post(STEP_UP, variables, stepped)
    extensions = (again.get("errors") or [{}])[0].get("extensions", {})
    if extensions.get("binding"):  # the face check must be bound to this application and step
        stepped = await api.token(body | {"binding": extensions["binding"]}, lang)
        again = await api.post(STEP_UP, variables, stepped)
    if again.get("errors"):
        raise Refused(f"completeStepUp with a fresh {acr} token: {again['errors']}")
    payload = again["data"]["completeStepUp"]
    if payload["userErrors"]:
        raise Refused(f"completeStepUp: {payload['userErrors']}")
    application = payload["application"]
    return application


SAMPLE_FILES = {"application/pdf": b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n",
                "image/png": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02"}


async def _upload(api: Api, app_id: str, field: dict[str, Any], headers: dict[str, str]) -> Any:
    """Upload sample files for a file field (POST /documents); the document id (or ids) it answers with."""
    media = next(m for m in field.get("accept") or [] if m in SAMPLE_FILES)
    ids = []
    for _ in range(max(int(field.get("minItems") or 1), 1)):
        response = await api.request("POST", "/documents", params={"applicationId": app_id, "fieldId": field["id"]},
                                     content=SAMPLE_FILES[media], headers=headers | {"X-File-Name": "sample"})
        if response.status_code != 201:
            raise Refused(f"upload for {field['id']}: {response.status_code} {response.text}")
        ids.append(response.json()["document"]["id"])
    return ids if field.get("multiple") else ids[0]


async def _answer(api: Api, run: Run, variables: dict[str, Any], fields: list[dict[str, Any]],
                  headers: dict[str, str], today: date, variation: dict[str, int]) -> dict[str, Any]:
    for f in fields:
        if f["type"] in ("choice", "number", "multiChoice") and not f.get("prefilled"):
            run.varied.append((f["id"], len(candidates(f, today))))
    last: list[dict[str, Any]] = []
    uploaded = {f["id"]: await _upload(api, run.application["id"], f, headers) for f in fields if f["type"] == "file"}
    for _ in range(12):
        answers = answer(fields, today, variation) | uploaded
        payload = (await api.data(SUBMIT, variables | {"answers": answers}, headers))["submitStep"]
        if not payload["userErrors"]:
            application: dict[str, Any] = payload["application"]
            return application
        last = payload["userErrors"]
        for error in last:
            path = error["field"] or []
            if len(path) < 3 or path[:2] != ["input", "answers"] or path[2] not in answers:
                raise Refused(f"submitStep on {variables['step']}: {last}")
            variation[path[2]] = variation.get(path[2], 0) + 1
    raise Refused(f"submitStep on {variables['step']}: no candidate accepted; last errors {last}; "
                  f"answers {answers}")
