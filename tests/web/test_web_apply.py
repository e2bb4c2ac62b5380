"""Applications through the web app over real HTTP: sign-in, prefill, consent, face step-up, check your answers,
the department's decision, a `login: none` service, errors, CSRF and sessions."""

from __future__ import annotations

import asyncio
import re
from urllib.parse import urlencode

import httpx
from web_system import (
    EVERY_FIELD,
    FACE,
    WebSystem,
    csrf_of,
    form_fields,
    replace,
    selfie_of,
    sign_in,
)

CITIZEN = "wong-ka-fai"


async def _follow(client: httpx.AsyncClient, response: httpx.Response) -> httpx.Response:
    while response.status_code == 303 and response.headers["location"].startswith("/"):
        response = await client.get(response.headers["location"])
    return response


async def _press(client: httpx.AsyncClient, page: httpx.Response, button: tuple[str, str],
                 **values: str) -> httpx.Response:
    action = str(page.url.path)
    fields = replace(form_fields(page.text, button), **values)
    return await client.post(action, content=urlencode(fields),
                             headers={"content-type": "application/x-www-form-urlencoded"})


def _heading(page: httpx.Response) -> str:
    match = re.search(r"<h1[^>]*>(.*?)</h1>", page.text, re.S)
    assert match, page.text
    return match.group(1).strip()


async def pay_on_hosted_page(client: httpx.AsyncClient, fee: httpx.Response) -> httpx.Response:
    """"Pay" goes to the development provider's hosted page; paying there comes back to the application, which
    moves on once the provider's signed webhook is in."""
    to_provider = await _press(client, fee, ("action", "pay"))
    assert to_provider.status_code == 303
    hosted = await client.get(to_provider.headers["location"])
    assert "/dev-pay/checkout/" in str(hosted.url)
    assert "HK$900.00" in hosted.text
    back = await client.post(str(hosted.url), data={"outcome": "succeeded", "method": "fps"})
    assert back.status_code == 303
    page = await client.get(back.headers["location"])
    for _ in range(100):
        if _heading(page) != "Pay the licence fee":
            return page
        assert "waiting for the payment provider" in page.text
        await asyncio.sleep(0.1)
        page = await client.get(back.headers["location"])
    raise AssertionError("the payment was not confirmed")


async def renew_driving_licence(system: WebSystem, client: httpx.AsyncClient) -> str:
    """Sign in from "Start now", complete every step; returns the reference number."""
    service = await client.get("/services/renew-driving-licence")
    started = await client.post("/services/renew-driving-licence/start", data={"csrf": csrf_of(service.text)})
    assert started.headers["location"].startswith("/sign-in?next=")
    signed = await sign_in(client, citizen=CITIZEN, start=await client.get(started.headers["location"]))
    prefill = await _follow(client, signed)
    assert _heading(prefill) == "Use the details government already holds"
    licence = await _follow(client, await _press(client, prefill, ("action", "grant")))
    assert _heading(licence) == "Your licence"
    assert 'value="K305518(3)"' in licence.text  # prefilled from the department's records
    consent = await _follow(client, await _press(client, licence, ("action", "submit"), f_period="10"))
    assert _heading(consent) == "Sharing with the Police", consent.text
    step_up = await _follow(client, await _press(client, consent, ("action", "grant")))
    assert _heading(step_up) == "Confirm it is you"
    to_idp = await _press(client, step_up, ("action", "stepup"))
    assert "acr_values=urn%3Aonestop%3Aacr%3Aface" in to_idp.headers["location"]
    assert "binding=" in to_idp.headers["location"]
    review = await _follow(client, await sign_in(client, citizen=CITIZEN, acr=FACE,
                                                 selfie=await selfie_of(client, CITIZEN), start=to_idp))
    assert _heading(review) == "Check your answers"
    fee = await _follow(client, await _press(client, review, ("action", "submit"), f_declaration="true"))
    assert _heading(fee) == "Pay the licence fee"
    assert "HK$900" in fee.text
    check = await pay_on_hosted_page(client, fee)
    assert _heading(check) == "Check your answers before sending"
    assert 'Driving licence number' in check.text
    assert 'K305518(3)' in check.text
    assert 'Change' in check.text
    done = await _follow(client, await _press(client, check, ("action", "send")))
    match = re.search(r'class="onestop-reference">([^<]+)<', done.text)
    assert match, done.text
    assert "Application complete" in done.text
    return match.group(1)


async def test_a_citizen_applies_and_the_approver_approves(system: WebSystem) -> None:
    async with system.client() as citizen, system.client() as staff:
        reference = await renew_driving_licence(system, citizen)
        console = await staff.get("/console")
        inbox = await _follow(staff, await sign_in(staff, staff="td-supervisor", start=await staff.get(
            console.headers["location"])))
        assert reference in inbox.text
        link = re.search(r'href="(/console/applications/[^"]+)">' + re.escape(reference), inbox.text)
        assert link
        case = await staff.get(link.group(1))
        assert 'APPROVED' in case.text
        assert 'NEEDS_INFO' in case.text
        decided = await _follow(staff, await staff.post(link.group(1), data={
            "csrf": csrf_of(case.text), "status": "APPROVED", "message": "Done"}))
        assert 'onestop-status">APPROVED<' in decided.text
        mine = await citizen.get("/my/applications")
        assert reference in mine.text
        assert 'onestop-status">APPROVED<' in mine.text


async def test_a_caseworker_asks_for_more_and_the_citizen_replies(system: WebSystem) -> None:
    async with system.client() as citizen, system.client() as staff:
        reference = await renew_driving_licence(system, citizen)
        inbox = await _follow(staff, await sign_in(staff, staff="td-officer", next_path="/console?status=SUBMITTED"))
        link = re.search(r'href="(/console/applications/[^"]+)">' + re.escape(reference), inbox.text)
        assert link, inbox.text
        case = await staff.get(link.group(1))
        assert 'value="NEEDS_INFO"' in case.text
        assert 'value="APPROVED"' not in case.text
        asked = await _follow(staff, await staff.post(link.group(1), data={
            "csrf": csrf_of(case.text), "status": "NEEDS_INFO", "message": "Send a recent photo"}))
        assert 'onestop-status">NEEDS_INFO<' in asked.text
        mine = await citizen.get("/my/applications")
        own = re.search(r'href="(/applications/[^"]+)">View', mine.text.split(reference)[1])
        assert own
        status = await citizen.get(own.group(1))
        assert "Send a recent photo" in status.text
        replied = await _follow(citizen, await _press(citizen, status, ("action", "respond"),
                                                      message="Photo sent by post"))
        assert 'onestop-status">IN_REVIEW<' in replied.text
        assert 'Photo sent by post' in replied.text


async def test_a_service_without_login_is_completed_with_every_field_type(system: WebSystem) -> None:
    async with system.client() as client:
        service = await client.get(f"/services/{EVERY_FIELD}")
        form = await _follow(client, await client.post(f"/services/{EVERY_FIELD}/start",
                                                       data={"csrf": csrf_of(service.text)}))
        assert _heading(form) == "Tell us everything"
        assert 'name="f.people.0.personName"' in form.text  # the one entry the group needs
        assert 'name="f.people.1.personName"' not in form.text
        added = await _press(client, form, ("action", "add:people"))
        assert 'name="f.people.1.personName"' in added.text
        removed = await _press(client, added, ("action", "remove:people:1"))
        assert 'name="f.people.1.personName"' not in removed.text
        answers = {"f_name": "Chan Tai Man", "f_count": "3", "f_seenOn_day": "", "f_seenOn_month": "",
                   "f_seenOn_year": "", "f_colour": "blue", "f_kinds": "air", "f_email": "a@example.org",
                   "f_phone": "91234567", "f_hkid": "A123456(4)", "f_where_building": "Test Court",
                   "f_where_district": "wan-chai", "f_where_region": "HK", "f_people_0_personName": "Ann",
                   "f_people_0_personAge": "7", "f_agree": "true", "f_subscribe": "true"}
        refused = await _press(client, removed, ("action", "submit"), **answers)
        assert refused.status_code == 400
        assert "There is a problem" in refused.text
        assert 'href="#f-hkid"' in refused.text
        assert 'href="#f-seenOn"' in refused.text
        assert 'value="Chan Tai Man"' in refused.text  # nothing typed is lost
        import datetime

        today = datetime.date.today()
        answers |= {"f_hkid": "A123456(3)", "f_seenOn_day": str(today.day), "f_seenOn_month": str(today.month),
                    "f_seenOn_year": str(today.year)}
        check = await _follow(client, await _press(client, refused, ("action", "submit"), **answers))
        assert _heading(check) == "Check your answers before sending", check.text
        for shown in ("Chan Tai Man", "Blue", "Air", "Test Court", "Ann, 7", "Yes"):
            assert shown in check.text
        done = await _follow(client, await _press(client, check, ("action", "send")))
        assert re.search(r'class="onestop-reference">[^<]+<', done.text), done.text


async def test_a_post_without_the_csrf_token_is_refused(system: WebSystem) -> None:
    async with system.client() as client:
        await client.get("/")
        refused = await client.post(f"/services/{EVERY_FIELD}/start", data={"csrf": "guess"})
    assert refused.status_code == 403


async def test_the_session_cookie_is_httponly_lax_and_holds_no_token(system: WebSystem) -> None:
    async with system.client() as client:
        await client.get("/")
        before = client.cookies["onestop_session"]
        signed = await sign_in(client, citizen=CITIZEN)
        assert client.cookies["onestop_session"] != before  # a new id at sign-in: no session fixation
        cookie = signed.headers["set-cookie"]
        assert 'HttpOnly' in cookie
        assert 'SameSite=lax' in cookie
        assert 'Secure' not in cookie
        assert "eyJ" not in cookie
        assert signed.headers["location"] == "/"
        data = await client.get("/my/data")
        assert "Who read your data" in data.text
        out = await client.post("/sign-out", data={"csrf": csrf_of(data.text)})
        assert out.status_code == 303
        after = await client.get("/my/data")
    assert after.status_code == 303
    assert after.headers['location'].startswith('/sign-in')


async def test_my_data_updates_the_phone_and_revokes_a_consent(system: WebSystem) -> None:
    async with system.client() as client:
        await renew_driving_licence(system, client)
        data = await client.get("/my/data")
        assert "ACTIVE" in data.text
        bad = await client.post(
            "/my/data/profile", data={"csrf": csrf_of(data.text), "phone": "123", "email": "w@example.org"})
        assert bad.status_code == 400
        assert 'There is a problem' in bad.text
        saved = await _follow(client, await client.post("/my/data/profile", data={
            "csrf": csrf_of(data.text), "phone": "91234567", "email": "w@example.org"}))
        phone = re.search(r'name="phone" type="tel" value="([^"]*)"', saved.text)
        assert phone
        assert phone.group(1).replace(' ', '').endswith('91234567')
        assert 'Saved.' in saved.text
        consent = re.search(r'name="consent" value="([^"]+)"', saved.text)
        assert consent
        revoked = await _follow(client, await client.post("/my/data/consents/revoke", data={
            "csrf": csrf_of(saved.text), "consent": consent.group(1)}))
        assert "REVOKED" in revoked.text
