"""Structured consent steps and computed values, through GraphQL, on the seed Old Age Living Allowance.

Real pieces: the seed catalogue and test citizens, dev IdP tokens, SQLite, a Temporal dev server and a worker.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from client import STANDARD, Api
from running import running_seed

from onestop.engine.applications.delivery import inbox as inbox_items
from onestop.engine.container import Engine
from onestop.graphql.relay import from_global_id

pytestmark = pytest.mark.slow

APPLICATION = """
fragment A on Application {
  id status exitMessage computed { name value text }
  currentStep { id type description departments items purpose fields { id value } }
}
"""
START = APPLICATION + """mutation($slug: String!) {
  startApplication(input: {serviceSlug: $slug}) { application { ...A } userErrors { field message code } } }"""
GRANT = APPLICATION + """mutation($id: ID!, $step: String!) {
  grantConsent(input: {applicationId: $id, stepId: $step}) { application { ...A } userErrors { field code } } }"""
SUBMIT = APPLICATION + """mutation($id: ID!, $step: String!, $answers: JSON!) {
  submitStep(input: {applicationId: $id, stepId: $step, answers: $answers}) {
    application { ...A } userErrors { field message code } } }"""
GO_BACK = APPLICATION + """mutation($id: ID!, $step: String!) {
  goBack(input: {applicationId: $id, stepId: $step}) { application { ...A } userErrors { field code } } }"""
CONSENTS = """{ viewer { consents { id consentId status applicationId
  department { code } items { provider item } } } }"""
REVOKE = """mutation($id: ID!) { revokeConsent(input: {consentId: $id}) {
  consent { id status } userErrors { field code } } }"""

SERVICE = "old-age-living-allowance"


running, engine, api = running_seed("cc-data")


class Applicant:
    def __init__(self, api: Api, headers: dict[str, str], app: dict[str, Any]) -> None:
        self.api, self.headers, self.app = api, headers, app

    @classmethod
    async def start(cls, api: Api) -> Applicant:
        headers = await api.token({"citizen": "lam-yuk-lan", "acr": STANDARD})
        payload = (await api.data(START, {"slug": SERVICE}, headers))["startApplication"]
        assert payload["userErrors"] == []
        return cls(api, headers, payload["application"])

    async def act(self, query: str, name: str, **variables: Any) -> dict[str, Any]:
        payload: dict[str, Any] = (await self.api.data(query, {"id": self.app["id"], **variables},
                                                       self.headers))[name]
        assert payload["userErrors"] == [], payload
        self.app = payload["application"]
        return self.app

    @property
    def step(self) -> dict[str, Any]:
        return dict(self.app["currentStep"])

    def computed(self) -> dict[str, tuple[Any, str]]:
        return {c["name"]: (c["value"], c["text"]) for c in self.app["computed"]}

    async def to_means(self) -> None:
        await self.act(GRANT, "grantConsent", step="records")
        prefilled = {f["id"]: f["value"] for f in self.step["fields"] if f["value"] is not None}
        await self.act(SUBMIT, "submitStep", step="residence", answers=prefilled | {
            "yearsInHongKong": 40, "onCssa": "no", "maritalStatus": "married"})
        assert self.step["id"] == "means"


def means(assets: float, spouse: float, income: float = 9000) -> dict[str, Any]:
    return {"monthlyIncome": income, "assets": assets, "spouseHkid": "A123456(3)", "spouseAssets": spouse,
            "bankAccount": "012-345-678901"}


async def test_computed_values_decide_the_exit_and_fill_in_its_message(api: Api) -> None:
    citizen = await Applicant.start(api)
    await citizen.to_means()
    # Before the means are answered, only the limits can be computed (they read the marital status).
    assert citizen.computed() == {"incomeLimit": (17490.0, "17,490"), "assetLimit": (640000.0, "640,000")}

    await citizen.act(SUBMIT, "submitStep", step="means", answers=means(500000, 200000.5))
    assert citizen.step["id"] == "above-limits"
    assert citizen.computed()["totalAssets"] == (700000.5, "700,000.50")
    expected = ("Your monthly income of HK$9,000 and assets of HK$700,000.50 must be within the limits of "
                "HK$17,490 and HK$640,000")
    assert citizen.step["description"].startswith(expected)
    assert citizen.app["exitMessage"].startswith(expected)

    await citizen.act(GO_BACK, "goBack", step="means")
    await citizen.act(SUBMIT, "submitStep", step="means", answers=means(400000, 200000))
    assert citizen.step["id"] == "verification"
    assert citizen.computed()["totalAssets"] == (600000.0, "600,000")


async def test_a_structured_consent_creates_revocable_consents_for_each_department(api: Api, engine: Engine) -> None:
    citizen = await Applicant.start(api)
    await citizen.to_means()
    await citizen.act(SUBMIT, "submitStep", step="means", answers=means(100000, 50000))
    step = citizen.step
    assert (step["id"], step["departments"]) == ("verification", ["IRD", "HD"])
    assert step["items"] == ["ird-tax.employer-returns", "hd-tenancy.tenancy"]
    assert step["purpose"].startswith("To check that your income")

    app_id = from_global_id(citizen.app["id"])
    assert app_id is not None
    await citizen.act(GRANT, "grantConsent", step="verification")
    assert citizen.step["id"] == "check"
    consents = [c for c in (await api.data(CONSENTS, headers=citizen.headers))["viewer"]["consents"]
                if c["applicationId"] == app_id[1]]
    by_department = {c["department"]["code"]: c for c in consents}
    assert set(by_department) >= {"IRD", "HD"}
    assert by_department["IRD"]["status"] == "ACTIVE"
    assert by_department["IRD"]["items"] == [{"provider": "hd-tenancy", "item": "tenancy"},
                                             {"provider": "ird-tax", "item": "employer-returns"}]
    revoked = (await api.data(REVOKE, {"id": by_department["HD"]["id"]}, citizen.headers))["revokeConsent"]
    assert (revoked["userErrors"], revoked["consent"]["status"]) == ([], "REVOKED")

    # The review shows the computed values, and the department receives them signed with the answers.
    assert citizen.computed()["totalAssets"] == (150000.0, "150,000")
    await citizen.act(SUBMIT, "submitStep", step="check", answers={"declaration": True})
    submitted = await citizen.act(SUBMIT, "submitStep", step="send", answers={})
    assert submitted["status"] == "SUBMITTED"
    delivered = None
    for _ in range(100):  # the inbox is written by the delivery activity just after the submit returns
        found = [item for item in await inbox_items(engine.database, engine.data.cipher, "SWD")
                 if item.application_id == app_id[1]]
        if found:
            delivered = found[0]
            break
        await asyncio.sleep(0.1)
    assert delivered is not None
    signed = engine.data.signer.verify_submission(delivered.jws)
    assert signed["computed"] == {"incomeLimit": 17490.0, "assetLimit": 640000.0, "totalAssets": 150000.0,
                                  "income": 9000.0}
    assert by_department["IRD"]["consentId"] in signed["consents"]
