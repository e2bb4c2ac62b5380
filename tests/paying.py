"""Paying a fee through GraphQL and the development payment simulator at /dev-pay/: the documents and steps the
payment tests share (tests/graphql/test_payments.py in one process, tests/acceptance/test_payment_kill.py with
`onestop worker` processes)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import httpx
from client import Api

APPLICATION = """
fragment A on Application {
  id status referenceNumber delivered
  currentStep { id type title description amount amountText currency fields { id value } }
  payment { id attempt status amount amountText currency method reference url receiptId receipt refundId }
  payments { id status }
  timeline { status message author }
}
"""
START = (
    APPLICATION
    + """mutation($slug: String!) {
  startApplication(input: {serviceSlug: $slug, clientMutationId: null}) {
    application { ...A } userErrors { field message code } } }"""
)
GRANT = (
    APPLICATION
    + """mutation($id: ID!, $step: String!) {
  grantConsent(input: {applicationId: $id, stepId: $step}) { application { ...A } userErrors { field code } } }"""
)
SUBMIT = (
    APPLICATION
    + """mutation($id: ID!, $step: String!, $answers: JSON!) {
  submitStep(input: {applicationId: $id, stepId: $step, answers: $answers}) {
    application { ...A } userErrors { field message code } } }"""
)
BEGIN = (
    APPLICATION
    + """mutation($id: ID!, $step: String!, $cmid: String, $back: String) {
  beginPayment(input: {applicationId: $id, stepId: $step, clientMutationId: $cmid, returnUrl: $back}) {
    paymentUrl payment { id attempt status url } application { ...A } userErrors { field message code } } }"""
)
BACK = (
    APPLICATION
    + """mutation($id: ID!, $step: String!) {
  goBack(input: {applicationId: $id, stepId: $step}) { application { ...A } userErrors { field message code } } }"""
)
WITHDRAW = (
    APPLICATION
    + """mutation($id: ID!) {
  withdrawApplication(input: {applicationId: $id}) { application { ...A } userErrors { field code } } }"""
)
GET = APPLICATION + "query($id: ID!) { application(id: $id) { ...A } }"
INBOX = """{ departmentInbox(first: 20) { edges { node { id status payment { status amount reference receiptId }
  timeline { message } } } } }"""

RETURN_URL = "http://onestop.test/applications/return"
DEV_PAY_KEY = "Bearer dev-pay-key"


async def until(check: Callable[[], Awaitable[bool]], within: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.1)


async def get(api: Api, app_id: str, who: dict[str, str]) -> dict[str, Any]:
    application: dict[str, Any] = (await api.data(GET, {"id": app_id}, who))["application"]
    return application


async def to_fee_step_of_birth_certificate(api: Api, who: dict[str, str], copies: int = 2) -> dict[str, Any]:
    app = (await api.data(START, {"slug": "birth-certificate-copy"}, who))["startApplication"]["application"]
    app = (await api.data(GRANT, {"id": app["id"], "step": "records"}, who))["grantConsent"]["application"]
    values = {f["id"]: f["value"] for f in app["currentStep"]["fields"] if f["value"] is not None}
    answers = {**values, "whose": "mine", "copies": copies, "purpose": "school", "delivery": "collect"}
    answers.pop("postalAddress", None)
    done = (await api.data(SUBMIT, {"id": app["id"], "step": "entry", "answers": answers}, who))["submitStep"]
    assert done["userErrors"] == []
    application: dict[str, Any] = done["application"]
    return application


async def to_fee_step_of_vehicle_licence(api: Api, who: dict[str, str]) -> dict[str, Any]:
    app = (await api.data(START, {"slug": "renew-vehicle-licence"}, who))["startApplication"]["application"]
    app = (await api.data(GRANT, {"id": app["id"], "step": "records"}, who))["grantConsent"]["application"]
    values = {f["id"]: f["value"] for f in app["currentStep"]["fields"] if f["value"] is not None}
    answers = {
        **values,
        "registrationMark": "KF 8823",
        "licencePeriod": "4",
        "insurer": "Harbour Insurance",
        "policyNumber": "HI-2026-001",
        "insuranceExpiry": "2099-12-31",
        "vehicleOlderThanSix": "no",
    }
    app = (await api.data(SUBMIT, {"id": app["id"], "step": "vehicle", "answers": answers}, who))["submitStep"][
        "application"
    ]
    app = (await api.data(SUBMIT, {"id": app["id"], "step": "check", "answers": {}}, who))["submitStep"]["application"]
    assert app["currentStep"]["id"] == "fee", app
    return app


async def begin(api: Api, app_id: str, who: dict[str, str], cmid: str | None = None) -> dict[str, Any]:
    result: dict[str, Any] = (
        await api.data(BEGIN, {"id": app_id, "step": "fee", "cmid": cmid or uuid.uuid4().hex, "back": RETURN_URL}, who)
    )["beginPayment"]
    assert result["userErrors"] == [], result
    return result


async def pay(api: Api, payment_url: str, outcome: str = "succeeded", method: str = "fps") -> httpx.Response:
    """A citizen on the hosted page: it shows the amount, and the chosen button answers back to the service."""
    path = urlsplit(payment_url).path
    page = await api.request("GET", path)
    assert page.status_code == 200, page.text
    assert "HK$" in page.text
    assert 'name="outcome"' in page.text
    return await api.request("POST", path, data={"outcome": outcome, "method": method})


async def simulated(api: Api, payment_id: str) -> dict[str, Any]:
    response = await api.request("GET", f"/dev-pay/api/payments/{payment_id}", headers={"Authorization": DEV_PAY_KEY})
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


def payment_id_of(url: str) -> str:
    return urlsplit(url).path.rsplit("/", 1)[-1]


async def delivered(api: Api, app_id: str, who: dict[str, str]) -> bool:
    return bool((await get(api, app_id, who))["delivered"])
