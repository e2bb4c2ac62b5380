"""Security operations through the web app over real HTTP: three failed face confirmations and one detector run
raise an alert; the citizen reads it in My data and disowns it; an operator sees it explained with the system's
health, acknowledges and resolves it; a caseworker without the operator role is refused and sees no link."""

from __future__ import annotations

import re

import httpx
import pytest
from web_system import FACE, WebSystem, csrf_of, sign_in

# Not the citizen other web tests confirm the face of: the alert locks face step-up for this one.
CITIZEN = "chan-siu-ming"


async def _follow(client: httpx.AsyncClient, response: httpx.Response) -> httpx.Response:
    while response.status_code == 303 and response.headers["location"].startswith("/"):
        response = await client.get(response.headers["location"])
    return response


@pytest.fixture(scope="module")
async def raised(system: WebSystem) -> None:
    async with system.client() as client:
        listing = (await client.get("/dev-idp/citizens")).json()["citizens"]
        mismatch = next(c for c in listing if c["id"] == CITIZEN)["faceSamples"]["mismatch"]
        for _ in range(3):
            response = await client.post("/dev-idp/token", json={"citizen": CITIZEN, "acr": FACE,
                                                                  "selfie": mismatch})
            assert response.status_code == 403, response.text
    result = await system.engine.security.activities().detect_once()
    assert result.alerts >= 1


def _alert_row(html: str) -> str:
    rows = [row for row in re.findall(r"<tr>(.*?)</tr>", html, re.S) if "faceMismatches10m" in row]
    assert len(rows) == 1, html
    return rows[0]


async def test_a_citizen_sees_the_alert_in_my_data_and_answers_it_was_not_them(
        system: WebSystem, raised: None) -> None:
    async with system.client() as client:
        page = await _follow(client, await sign_in(client, citizen=CITIZEN, next_path="/my/data"))
        assert "Security alerts about your account" in page.text
        alert = re.search(r'name="alert" value="([^"]+)"', page.text)
        assert alert, page.text
        answered = await _follow(client, await client.post("/my/data/alerts/answer", data={
            "csrf": csrf_of(page.text), "alert": alert.group(1), "answer": "WAS_NOT_ME"}))
        assert answered.status_code == 200
        assert "We have recorded your answer." in answered.text
        assert "You told us this wasn&#39;t you." in answered.text
        bad = await client.post("/my/data/alerts/answer", data={
            "csrf": csrf_of(answered.text), "alert": alert.group(1), "answer": "MAYBE"})
        assert bad.status_code == 400
        client.cookies.set("onestop_lang", "zh-HK")
        chinese = await client.get("/my/data")
        assert "有關你帳戶的保安警示" in chinese.text
        assert "這不是我" in chinese.text
        no_csrf = await client.post("/my/data/alerts/answer", data={"alert": alert.group(1), "answer": "WAS_ME"})
        assert no_csrf.status_code in (400, 403)


async def test_an_operator_sees_the_alert_with_its_explanation_acknowledges_and_resolves_it(
        system: WebSystem, raised: None) -> None:
    async with system.client() as client:
        page = await _follow(client, await sign_in(client, staff="dpo-operator",
                                                   next_path="/console/alerts?status=OPEN"))
        assert page.status_code == 200, page.text
        assert 'href="/console/alerts"' in page.text  # the navigation links the operator view
        assert "System health" in page.text
        assert "Open alerts" in page.text
        row = _alert_row(page.text)
        severity = re.search(r'<span class="usa-tag">(HIGH|CRITICAL)</span>', row)  # CRITICAL once disowned
        assert severity, row
        assert "OPEN" in row
        assert "citizen:" in row
        assert re.search(r"Citizens who said it was not them: [01] / 1", row), row
        assert "observed 3.0, expected 0.0, threshold 3.0" in row
        by_severity = await client.get("/console/alerts", params={"status": "OPEN", "severity": severity.group(1)})
        assert "faceMismatches10m" in by_severity.text
        low = await client.get("/console/alerts", params={"status": "OPEN", "severity": "LOW"})
        assert "faceMismatches10m" not in low.text
        action = re.search(r'action="(/console/alerts/[^"]+)"', row)
        assert action
        acknowledged = await _follow(client, await client.post(action.group(1), data={
            "csrf": csrf_of(page.text), "action": "acknowledge"}))
        assert "Saved." in acknowledged.text
        listed = await client.get("/console/alerts", params={"status": "ACKNOWLEDGED"})
        row = _alert_row(listed.text)
        assert "ACKNOWLEDGED" in row
        assert ">Acknowledge<" not in row
        assert ">Resolve<" in row
        resolved = await _follow(client, await client.post(action.group(1), data={
            "csrf": csrf_of(listed.text), "action": "resolve", "note": "citizen called 1823"}))
        assert "Saved." in resolved.text
        done = await client.get("/console/alerts", params={"status": "RESOLVED"})
        row = _alert_row(done.text)
        assert "RESOLVED" in row
        assert "citizen called 1823" in row
        assert ">Resolve<" not in row
        assert "faceMismatches10m" not in (await client.get("/console/alerts", params={"status": "OPEN"})).text


async def test_a_caseworker_without_the_operator_role_is_refused(system: WebSystem, raised: None) -> None:
    async with system.client() as client:
        inbox = await _follow(client, await sign_in(client, staff="td-officer", next_path="/console"))
        assert inbox.status_code == 200
        assert 'href="/console/alerts"' not in inbox.text
        refused = await client.get("/console/alerts")
        assert refused.status_code == 403
        assert "This page is for staff with the operator role." in refused.text
        post = await client.post("/console/alerts/whatever", data={"csrf": csrf_of(inbox.text),
                                                                   "action": "acknowledge"})
        assert post.status_code == 403
        assert "operator role" in post.text


async def test_a_supervisor_with_the_operator_role_sees_the_link(system: WebSystem) -> None:
    async with system.client() as client:
        inbox = await _follow(client, await sign_in(client, staff="td-supervisor", next_path="/console"))
        assert 'href="/console/alerts"' in inbox.text
