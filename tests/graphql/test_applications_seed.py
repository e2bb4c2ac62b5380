"""Every seed service can be completed through GraphQL by a suitable test citizen.

A generic driver walks each service's steps as a frontend would: it consents to prefill, uses prefilled
values, fills the rest from candidates per field type, and tries the next candidate for a field the
workflow refuses (custom rules). A service it cannot finish fails the test with the last userErrors.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from client import pay_fee
from test_applications import FACE, Api, api, engine, running  # noqa: F401 - module fixtures

from onestop.catalogue.values import hkid_check_digit
from onestop.graphql.relay import from_global_id

FIELDS = """fields { id type required value prefilled min max pattern after before minItems maxItems
  options { value } fields { id type required min max pattern after before options { value } } }"""
A = f"""fragment A on Application {{ id status referenceNumber exitMessage
  currentStep {{ id type assurance {FIELDS} }} }}"""
START = A + """mutation($slug: String!, $cmid: String, $for: ID) { startApplication(input: {serviceSlug: $slug,
  clientMutationId: $cmid, onBehalfOf: $for}) { application { ...A } userErrors { field message code } } }"""
DEPENDENTS = "query { viewer { dependents { id } } }"
GRANT = A + """mutation($id: ID!, $step: String!) { grantConsent(input: {applicationId: $id, stepId: $step}) {
  application { ...A } userErrors { field message code } } }"""
SUBMIT = A + """mutation($id: ID!, $step: String!, $answers: JSON!) { submitStep(input: {applicationId: $id,
  stepId: $step, answers: $answers}) { application { ...A } userErrors { field message code } } }"""
GET = A + "query($id: ID!) { application(id: $id) { ...A } }"
STEP_UP = A + """mutation($id: ID!, $step: String!) { completeStepUp(input: {applicationId: $id, stepId: $step}) {
  application { ...A } userErrors { field message code } } }"""
BOOK = A + """mutation($id: ID!, $step: String!, $office: String!, $start: DateTime!) { bookAppointment(input: {
  applicationId: $id, stepId: $step, office: $office, start: $start}) { application { ...A } userErrors { code } } }"""
OFFICES = """query($id: ID!) { application(id: $id) { currentStep { appointment { offices { value } } } } }"""
FREE = """query($id: ID!, $office: String!, $from: Date!, $to: Date!) { application(id: $id) { currentStep {
  appointment { availability(office: $office, from: $from, to: $to) { start remaining } } } } }"""

# Samples for the seed's text patterns (a regex sampler is more than a test needs).
PATTERNS = {
    r"^1[3-9][0-9]{9}$": "13812345678",
    r"^M\d{5}$": "M12345",
    r"^[0-9\- ]{9,20}$": "012-345678-901",
    r"^[0-9][A-Z0-9]{2}-[0-9]{8}$": "7KF-01234567",
    r"^[A-Z]{0,2} ?[0-9]{1,4}$|^[A-Z0-9 ]{1,8}$": "KF 8823",
    r"^[HK][0-9]{8}$": "H60213459",
    r"^https://[a-z0-9.-]+/[^*#\s]*$": "https://app.example.com/callback",
}
HKIDS = [f"{p}{d}({hkid_check_digit(p, d)})" for p, d in (("A", "123456"), ("B", "654321"), ("CA", "182361"))]


def _bound(value: str | None, today: date, default: date) -> date:
    if value is None:
        return default
    if value == "today":
        return today
    if value[0] in "+-P":
        sign = -1 if value.startswith("-") else 1
        body = value.lstrip("+-")[1:]
        days = 0
        number = ""
        for ch in body:
            if ch.isdigit():
                number += ch
                continue
            days += int(number) * {"Y": 366, "M": 31, "W": 7, "D": 1}[ch]
            number = ""
        return today + timedelta(days=sign * days)
    return date.fromisoformat(value)


def candidates(spec: dict[str, Any]) -> list[Any]:
    today = datetime.now(UTC).date()
    kind = spec["type"]
    if kind == "text":
        if spec.get("pattern"):
            return [PATTERNS.get(spec["pattern"], "TEST")]
        low, high = int(spec.get("min") or 1), int(spec.get("max") or 40)
        return [(base * 4)[:max(low, min(high, len(base)))] for base in ("Test answer", "123456789 ")]
    if kind == "number":
        low = spec["min"] if spec.get("min") is not None else 0
        high = spec["max"] if spec.get("max") is not None else low + 1000
        return [v for v in (10, 36, low + 1, low, 1, 2, 144, 200, high, (low + high) // 2) if low <= v <= high]
    if kind == "date":
        start = _bound(spec.get("after"), today, today - timedelta(days=3650)) + timedelta(days=1)
        end = _bound(spec.get("before"), today, today + timedelta(days=3650)) - timedelta(days=1)
        middle = start + (end - start) / 2
        return [(middle + timedelta(days=i)).isoformat() for i in range(7)] + [start.isoformat(), end.isoformat()]
    if kind == "boolean":
        return [True, False]
    if kind == "choice":
        return [o["value"] for o in spec["options"]]
    if kind == "multiChoice":
        return [[o["value"]] for o in spec["options"]]
    if kind == "email":
        return ["citizen@example.com"]
    if kind == "phone":
        return ["91234567"]
    if kind == "hkid":
        return HKIDS
    if kind == "address":
        return [{"building": "Harbour Building", "street": "1 Harbour Road", "district": d, "region": "HK"}
                for d in ("wan-chai", "central-and-western", "sha-tin")]
    if kind == "group":
        count = max(spec.get("minItems") or 1, 1)
        subs = {sub["id"]: candidates(sub) for sub in spec["fields"]}
        return [[{sid: values[k % len(values)] for sid, values in subs.items()} for _ in range(count)]
                for k in range(6)]
    return [None]


async def fill(client: Api, headers: dict[str, str], app: dict[str, Any], variant: int) -> dict[str, Any]:
    step = app["currentStep"]
    specs = {f["id"]: f for f in step["fields"]}
    # A variant shifts the first candidate of fields the citizen types, so a retry takes other branches.
    choice = {fid: 0 if f["value"] is not None else variant for fid, f in specs.items()}
    options = {fid: ([f["value"]] if f["value"] is not None else []) + candidates(f) for fid, f in specs.items()}
    last: list[dict[str, Any]] = []
    for _ in range(25):
        answers = {fid: options[fid][choice[fid] % len(options[fid])] for fid in specs}
        result = (await client.data(SUBMIT, {"id": app["id"], "step": step["id"], "answers": answers}, headers)
                  )["submitStep"]
        if result["application"] is not None:
            return result["application"]  # type: ignore[no-any-return]
        last = result["userErrors"]
        for error in last:
            path = error["field"] or []
            if len(path) >= 3 and path[2] in choice:
                choice[path[2]] += 1
    raise AssertionError(f"step {step['id']} refused every candidate: {last}")


async def book(client: Api, headers: dict[str, str], app: dict[str, Any]) -> dict[str, Any]:
    """Book the first free slot of the first office with one in the coming four weeks."""
    today = datetime.now(UTC).date()
    window = {"id": app["id"], "from": today.isoformat(), "to": (today + timedelta(days=28)).isoformat()}
    step = (await client.data(OFFICES, {"id": app["id"]}, headers))["application"]["currentStep"]
    for office in [o["value"] for o in step["appointment"]["offices"]]:
        found = (await client.data(FREE, window | {"office": office}, headers))["application"]["currentStep"]
        free = [s["start"] for s in found["appointment"]["availability"] if s["remaining"] > 0]
        if free:
            result = (await client.data(BOOK, {"id": app["id"], "step": app["currentStep"]["id"], "office": office,
                                               "start": free[0]}, headers))["bookAppointment"]
            assert result["application"] is not None, result["userErrors"]
            return result["application"]  # type: ignore[no-any-return]
    raise AssertionError(f"no free appointment slot on {app['currentStep']['id']}")


async def drive(client: Api, citizen: str, slug: str, variant: int = 0) -> dict[str, Any]:
    headers = await client.token({"citizen": citizen, "acr": "urn:onestop:acr:standard"})
    result = (await client.data(START, {"slug": slug, "cmid": uuid.uuid4().hex}, headers))["startApplication"]
    if [e["code"] for e in result["userErrors"]] == ["CANNOT_ACT_FOR"]:
        # A service applied for on someone's behalf (a parent for a child): try each of the citizen's dependents.
        for dependent in (await client.data(DEPENDENTS, {}, headers))["viewer"]["dependents"]:
            result = (await client.data(START, {"slug": slug, "cmid": uuid.uuid4().hex, "for": dependent["id"]},
                                        headers))["startApplication"]
            if result["application"] is not None and result["application"]["status"] != "NOT_ELIGIBLE":
                break
    app = result["application"]
    if app is None:
        return {"status": "NOT_STARTED", "exitMessage": str(result["userErrors"]), "referenceNumber": None}
    for _ in range(30):
        if app["status"] != "DRAFT":
            return app  # type: ignore[no-any-return]
        step = app["currentStep"]
        variables = {"id": app["id"], "step": step["id"]}
        if step["type"] in ("PREFILL", "CONSENT"):
            app = (await client.data(GRANT, variables, headers))["grantConsent"]["application"]
        elif step["type"] == "STEP_UP":
            parsed = from_global_id(app["id"])
            assert parsed is not None
            level = {"face": FACE, "standard": "urn:onestop:acr:standard", "basic": "urn:onestop:acr:basic"}
            acr = level.get(step["assurance"], FACE)
            body: dict[str, Any] = {"citizen": citizen, "acr": acr, "binding": f"{parsed[1]}:{step['id']}"}
            if acr == FACE:
                listing = (await client.client.get("/dev-idp/citizens")).json()["citizens"]
                body["selfie"] = next(c for c in listing if c["id"] == citizen)["faceSamples"]["match"]
            proof = await client.token(body)
            outcome = (await client.data(STEP_UP, variables, proof))["completeStepUp"]
            assert outcome["application"] is not None, outcome["userErrors"]
            app = outcome["application"]
        elif step["type"] in ("FORM", "REVIEW"):
            app = await fill(client, headers, app, variant)
        elif step["type"] == "PAYMENT":
            await pay_fee(client, app["id"], step["id"], headers)
            app = (await client.data(GET, {"id": app["id"]}, headers))["application"]
        elif step["type"] == "SUBMIT":
            app = (await client.data(SUBMIT, {**variables, "answers": {}}, headers))["submitStep"]["application"]
        elif step["type"] == "APPOINTMENT":
            app = await book(client, headers, app)
        else:
            return app  # type: ignore[no-any-return]
    return app  # type: ignore[no-any-return]


@pytest.mark.slow
async def test_every_seed_service_can_be_completed_through_graphql(api: Api) -> None:  # noqa: F811
    query = "{ services(first: 100) { edges { node { slug ageGroups { id } } } } }"
    services = await api.client.post("/graphql", json={"query": query})
    nodes = [e["node"] for e in services.json()["data"]["services"]["edges"]]
    citizens = (await api.client.get("/dev-idp/citizens")).json()["citizens"]
    failures: dict[str, str] = {}
    for node in nodes:
        groups = {g["id"] for g in node["ageGroups"]}
        outcome = "no citizen in its age groups"
        attempts = [(c["id"], v) for c in citizens if c["ageGroup"] in groups for v in range(3)]
        for citizen, variant in attempts:
            app = await drive(api, citizen, node["slug"], variant)
            outcome = f"{citizen}: {app['status']} {app['exitMessage'] or ''}"
            if app["status"] == "SUBMITTED" and app["referenceNumber"]:
                break
        else:
            failures[node["slug"]] = outcome
    assert len(nodes) >= 10
    assert not failures, failures
