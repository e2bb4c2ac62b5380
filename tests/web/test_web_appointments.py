"""The appointment step in the web app over real HTTP: choose an office and a day, book a free time, send."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from urllib.parse import urlencode

import httpx
from web_system import WebSystem, csrf_of, form_fields, replace, sign_in

CITIZEN = "chan-siu-ming"
HONG_KONG = timezone(timedelta(hours=8))


async def _follow(client: httpx.AsyncClient, response: httpx.Response) -> httpx.Response:
    while response.status_code == 303 and response.headers["location"].startswith("/"):
        response = await client.get(response.headers["location"])
    return response


async def _press(client: httpx.AsyncClient, page: httpx.Response, button: tuple[str, str],
                 **values: str) -> httpx.Response:
    fields = replace(form_fields(page.text, button), **values)
    return await client.post(str(page.url.path), content=urlencode(fields),
                             headers={"content-type": "application/x-www-form-urlencoded"})


def _heading(page: httpx.Response) -> str:
    match = re.search(r"<h1[^>]*>(.*?)</h1>", page.text, re.S)
    assert match, page.text
    return match.group(1).strip()


def _weekday_ahead() -> str:
    day = datetime.now(HONG_KONG).date() + timedelta(days=3)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day.isoformat()


async def test_a_citizen_books_a_time_at_an_office_and_sends_the_booking(system: WebSystem) -> None:
    async with system.client() as client, system.client() as staff:
        service = await client.get("/services/hkid-replacement-appointment")
        started = await client.post("/services/hkid-replacement-appointment/start",
                                    data={"csrf": csrf_of(service.text)})
        signed = await sign_in(client, citizen=CITIZEN, start=await client.get(started.headers["location"]))
        prefill = await _follow(client, signed)
        reason = await _follow(client, await _press(client, prefill, ("action", "grant")))
        assert _heading(reason) == "Reason"
        slot = await _follow(client, await _press(client, reason, ("action", "submit"),
                                                  f_reasonForReplacement="lost"))
        assert _heading(slot) == "Choose a time", slot.text
        assert 'name="office"' in slot.text
        assert "Kowloon Office (Cheung Sha Wan)" in slot.text
        day = _weekday_ahead()
        times = await client.get(str(slot.url.path), params={"office": "kowloon-office", "day": day})
        assert times.status_code == 200
        starts = re.findall(r'type="radio" name="start" value="([^"]+)"', times.text)
        assert starts, times.text
        assert starts[0].startswith(f"{day}T08:45:00")
        assert "6 places left" in times.text
        # Booking without choosing a time says so, on the same page.
        unchosen = await _press(client, times, ("action", "book"))
        assert unchosen.status_code == 400
        assert "Choose a time" in unchosen.text
        review = await _follow(client, await _press(client, times, ("action", "book"), start=starts[0]))
        assert _heading(review) == "Check your booking", review.text
        check = await _follow(client, await _press(client, review, ("action", "submit")))
        done = await _follow(client, await _press(client, check, ("action", "send")))
        assert "Application complete" in done.text
        assert "Kowloon Office (Cheung Sha Wan)" in done.text
        reference = re.search(r'class="onestop-reference">([^<]+)<', done.text)
        assert reference
        # The department's console shows the confirmed booking.
        console = await staff.get("/console")
        inbox = await _follow(staff, await sign_in(staff, staff="immd-officer",
                                                   start=await staff.get(console.headers["location"])))
        link = re.search(r'href="(/console/applications/[^"]+)">' + re.escape(reference.group(1)), inbox.text)
        assert link, inbox.text
        case = await staff.get(link.group(1))
        assert "Kowloon Office (Cheung Sha Wan)" in case.text
        assert "CONFIRMED" in case.text
