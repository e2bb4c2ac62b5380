"""Appointments through GraphQL over HTTP, against real Temporal and a real database (SQLite and PostgreSQL).

50 citizens' applications race for the 10 places of one slot: the database lets exactly 10 through. Holds run
out, reschedules and withdrawals give places back, and the booking comes as a calendar file.
"""

from __future__ import annotations

import asyncio
import shutil
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from client import Api, login
from icalendar import Calendar
from postgres import database_url_for
from running import dev_settings, running_engine
from temporalio.testing import WorkflowEnvironment

from onestop.engine.container import Engine
from onestop.graphql.app import create_app
from onestop.workflows.slots import HONG_KONG

CITIZEN = "chan-siu-ming"
ALL_WEEK = "\n".join(f"      {day}: [\"00:00-23:30\"]" for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun"))


def appointment_service(slug: str, *, capacity: int, hold: str, min_notice: str) -> str:
    return f"""\
id: {slug}
version: 1
department: IMMD
title: {{en: Test appointment {slug}, tc: 測試預約}}
summary: {{en: A test appointment., tc: 測試預約。}}
themes: [immigration]
ageGroups: [adult]
assurance: basic
draftExpiry: P7D
steps:
  - id: slot
    type: appointment
    title: {{en: Choose a time, tc: 選擇時間}}
    offices: immd-offices
    hours:
{ALL_WEEK}
    slotMinutes: 30
    capacity: {capacity}
    holidays: hk-public-holidays
    hold: {hold}
    bookAhead: P30D
    minNotice: {min_notice}
  - id: send
    type: submit
    title: {{en: Book, tc: 預約}}
"""


APPLICATION = """
fragment A on Application {
  id status referenceNumber
  currentStep { id type appointment { offices { value label } slotMinutes holdMinutes } }
  appointments { stepId office officeName start end status heldUntil ics }
}
"""
START = APPLICATION + """mutation($slug: String!, $cmid: String) {
  startApplication(input: {serviceSlug: $slug, clientMutationId: $cmid}) {
    application { ...A } userErrors { field message code } } }"""
BOOK = APPLICATION + """mutation($id: ID!, $step: String!, $office: String!, $start: DateTime!) {
  bookAppointment(input: {applicationId: $id, stepId: $step, office: $office, start: $start}) {
    application { ...A } userErrors { field message code } } }"""
SUBMIT = APPLICATION + """mutation($id: ID!, $step: String!) {
  submitStep(input: {applicationId: $id, stepId: $step, answers: {}}) {
    application { ...A } userErrors { field message code } } }"""
WITHDRAW = APPLICATION + """mutation($id: ID!) {
  withdrawApplication(input: {applicationId: $id}) { application { ...A } userErrors { field code } } }"""
GET = APPLICATION + "query($id: ID!) { application(id: $id) { ...A } }"
AVAILABILITY = """query($slug: String!, $office: String!, $from: Date!, $to: Date) {
  appointmentAvailability(serviceSlug: $slug, stepId: "slot", office: $office, from: $from, to: $to) {
    start end remaining } }"""
STEP_AVAILABILITY = """query($id: ID!, $office: String!, $from: Date!) {
  application(id: $id) { currentStep { appointment { availability(office: $office, from: $from) {
    start remaining } } } } }"""
STAFF_VIEW = """query($id: ID!) { application(id: $id) { status appointments { office start status } } }"""

OFFICE = "kowloon-office"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
async def engine(request: pytest.FixtureRequest, temporal_env: WorkflowEnvironment, definitions_dir: Path,
                 tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Engine]:
    tree = tmp_path_factory.mktemp("appointments") / "definitions"
    shutil.copytree(definitions_dir, tree)
    services = tree / "services" / "test"
    services.mkdir()
    (services / "crowded.yaml").write_text(
        appointment_service("crowded-appointment", capacity=10, hold="PT1H", min_notice="P1D"), encoding="utf-8")
    (services / "brief.yaml").write_text(
        appointment_service("brief-appointment", capacity=2, hold="PT4S", min_notice="PT0S"), encoding="utf-8")
    data = tmp_path_factory.mktemp("appointments-data")
    async with database_url_for(request.param, data / "onestop.db") as url, \
            running_engine(temporal_env, dev_settings(tree, data, database_url=url)) as (built, _client):
        yield built


@pytest.fixture(scope="module")
async def api(engine: Engine) -> AsyncIterator[Api]:
    app = create_app(engine.settings, engine)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://onestop.test",
                                 timeout=120) as client:
        yield Api(client, engine=engine)


@pytest.fixture(scope="module")
async def citizen(api: Api) -> dict[str, str]:
    return await login(api, citizen=CITIZEN)


async def start(api: Api, headers: dict[str, str], slug: str) -> dict[str, Any]:
    payload = (await api.data(START, {"slug": slug, "cmid": str(uuid.uuid4())}, headers))["startApplication"]
    assert payload["userErrors"] == [], payload
    application: dict[str, Any] = payload["application"]
    return application


async def book(api: Api, headers: dict[str, str], app_id: str, start_at: datetime,
               office: str = OFFICE) -> dict[str, Any]:
    payload: dict[str, Any] = (await api.data(BOOK, {"id": app_id, "step": "slot", "office": office,
                                                     "start": start_at.isoformat()}, headers))["bookAppointment"]
    return payload


async def slots(api: Api, slug: str, day: date, office: str = OFFICE) -> dict[datetime, int]:
    found = (await api.data(AVAILABILITY, {"slug": slug, "office": office, "from": day.isoformat()}))
    return {datetime.fromisoformat(s["start"]): s["remaining"] for s in found["appointmentAvailability"]}


def next_open_day() -> date:
    """A weekday at least two days ahead that is not a public holiday in the seed's list."""
    day = datetime.now(HONG_KONG).date() + timedelta(days=2)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


async def eventually(check: Any, seconds: float = 30) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        if await check():
            return
        assert asyncio.get_running_loop().time() < deadline, "the condition never held"
        await asyncio.sleep(0.3)


async def test_fifty_bookers_for_ten_places_get_exactly_ten(api: Api, citizen: dict[str, str]) -> None:
    day = next_open_day()
    target = datetime.combine(day, datetime.min.time(), HONG_KONG).replace(hour=10)
    assert (await slots(api, "crowded-appointment", day))[target] == 10
    applications = await asyncio.gather(*(start(api, citizen, "crowded-appointment") for _ in range(50)))
    assert applications[0]["currentStep"]["appointment"]["slotMinutes"] == 30
    results = await asyncio.gather(*(book(api, citizen, a["id"], target) for a in applications))
    booked = [r for r in results if not r["userErrors"]]
    refused = [r for r in results if r["userErrors"]]
    assert len(booked) == 10
    assert {e["code"] for r in refused for e in r["userErrors"]} == {"SLOT_FULL"}
    assert all(r["application"]["currentStep"]["id"] == "send" for r in booked)
    assert all(r["application"]["appointments"][0]["status"] == "HELD" for r in booked)
    assert (await slots(api, "crowded-appointment", day))[target] == 0
    store = api.engine.appointments.store
    assert await store.count_active("crowded-appointment", OFFICE, target) == 10
    # A citizen refused for SLOT_FULL is still on the appointment step and can take another time.
    other = target + timedelta(minutes=30)
    loser = applications[next(i for i, r in enumerate(results) if r["userErrors"])]
    retry = await book(api, citizen, loser["id"], other)
    assert retry["userErrors"] == [], retry


async def test_a_hold_that_runs_out_gives_the_place_back(api: Api, citizen: dict[str, str]) -> None:
    day = next_open_day()
    target = datetime.combine(day, datetime.min.time(), HONG_KONG).replace(hour=11)
    app = await start(api, citizen, "brief-appointment")
    held = await book(api, citizen, app["id"], target)
    assert held["userErrors"] == [], held
    assert held["application"]["appointments"][0]["status"] == "HELD"
    assert (await slots(api, "brief-appointment", day))[target] == 1

    async def released() -> bool:
        current = (await api.data(GET, {"id": app["id"]}, citizen))["application"]
        return current["appointments"] == [] and current["currentStep"]["id"] == "slot"

    await eventually(released)
    assert (await slots(api, "brief-appointment", day))[target] == 2
    late = (await api.data(SUBMIT, {"id": app["id"], "step": "send"}, citizen))["submitStep"]
    assert [e["code"] for e in late["userErrors"]] == ["NOT_CURRENT_STEP"]


async def test_reschedule_releases_the_old_slot_before_and_after_submission(
        api: Api, citizen: dict[str, str]) -> None:
    day = next_open_day()
    first, second, third = (datetime.combine(day, datetime.min.time(), HONG_KONG).replace(hour=h)
                            for h in (13, 14, 15))
    app = await start(api, citizen, "crowded-appointment")
    assert (await book(api, citizen, app["id"], first))["userErrors"] == []
    moved = await book(api, citizen, app["id"], second)
    assert moved["userErrors"] == [], moved
    assert [a["start"] for a in moved["application"]["appointments"]] == [second.isoformat()]
    free = await slots(api, "crowded-appointment", day)
    assert (free[first], free[second]) == (10, 9)
    same = await book(api, citizen, app["id"], second)
    assert [e["code"] for e in same["userErrors"]] == ["ALREADY_BOOKED"]

    submitted = (await api.data(SUBMIT, {"id": app["id"], "step": "send"}, citizen))["submitStep"]
    assert submitted["userErrors"] == [], submitted
    assert submitted["application"]["status"] == "SUBMITTED"
    assert submitted["application"]["appointments"][0]["status"] == "CONFIRMED"
    assert submitted["application"]["appointments"][0]["heldUntil"] is None
    after = await book(api, citizen, app["id"], third)
    assert after["userErrors"] == [], after
    assert after["application"]["appointments"][0]["status"] == "CONFIRMED"
    free = await slots(api, "crowded-appointment", day)
    assert (free[second], free[third]) == (10, 9)
    # The department's view of the application shows the booking too.
    staff = await login(api, staff="immd-officer")
    seen = (await api.data(STAFF_VIEW, {"id": app["id"]}, staff))["application"]
    assert seen["appointments"] == [{"office": OFFICE, "start": third.isoformat(), "status": "CONFIRMED"}]


async def test_withdrawing_releases_the_slot(api: Api, citizen: dict[str, str]) -> None:
    day = next_open_day()
    target = datetime.combine(day, datetime.min.time(), HONG_KONG).replace(hour=16)
    app = await start(api, citizen, "crowded-appointment")
    assert (await book(api, citizen, app["id"], target))["userErrors"] == []
    assert (await slots(api, "crowded-appointment", day))[target] == 9
    withdrawn = (await api.data(WITHDRAW, {"id": app["id"]}, citizen))["withdrawApplication"]
    assert withdrawn["application"]["status"] == "WITHDRAWN"

    async def free_again() -> bool:
        return (await slots(api, "crowded-appointment", day))[target] == 10

    await eventually(free_again)


async def test_the_calendar_file_parses_back_with_the_booking(api: Api, citizen: dict[str, str]) -> None:
    day = next_open_day()
    target = datetime.combine(day, datetime.min.time(), HONG_KONG).replace(hour=9, minute=30)
    app = await start(api, citizen, "crowded-appointment")
    booked = await book(api, citizen, app["id"], target, office="sha-tin-office")
    appointment = booked["application"]["appointments"][0]
    assert appointment["officeName"] == "Sha Tin Office"
    calendar = Calendar.from_ical(appointment["ics"])
    events = calendar.walk("VEVENT")
    assert len(events) == 1
    event = events[0]
    assert event.decoded("dtstart") == target.astimezone(UTC)
    assert event.decoded("dtend") == (target + timedelta(minutes=30)).astimezone(UTC)
    assert str(event["location"]) == "Sha Tin Office"
    assert "Test appointment" in str(event["summary"])
    assert event.walk("VALARM")[0].decoded("trigger") == timedelta(days=-1)
    assert CITIZEN not in appointment["ics"]


NOTICES = "query($id: ID!) { application(id: $id) { notices { event status } } }"


async def test_the_day_before_hook_fires_for_a_confirmed_booking(api: Api, citizen: dict[str, str]) -> None:
    # minNotice PT0S: a slot within the next day is bookable, so its reminder is due as soon as it is confirmed.
    now = datetime.now(HONG_KONG)
    upcoming = [s for s, left in (await slots(api, "brief-appointment", now.date())).items() if left > 0] + \
        [s for s, left in (await slots(api, "brief-appointment", now.date() + timedelta(days=1))).items() if left]
    app = await start(api, citizen, "brief-appointment")
    assert (await book(api, citizen, app["id"], upcoming[0]))["userErrors"] == []
    submitted = (await api.data(SUBMIT, {"id": app["id"], "step": "send"}, citizen))["submitStep"]
    assert submitted["userErrors"] == [], submitted
    store = api.engine.appointments.store
    key = app["id"]

    async def reminded() -> bool:
        from onestop.graphql.relay import from_global_id

        parsed = from_global_id(key)
        assert parsed is not None
        records = await store.bookings(parsed[1])
        return any(r.reminder_due_at is not None for r in records)

    await eventually(reminded)

    async def noticed() -> bool:
        found = (await api.data(NOTICES, {"id": key}, citizen))["application"]["notices"]
        return [n["status"] for n in found if n["event"] == "APPOINTMENT_REMINDER"] == ["sent"]

    await eventually(noticed)  # the day-before reminder goes out as the service's appointmentReminder notice


@pytest.mark.parametrize(("office", "days", "hour", "minute", "code"), [
    ("nowhere-office", 2, 10, 0, "UNKNOWN_OFFICE"),
    (OFFICE, 2, 10, 10, "INVALID_SLOT"),  # off the 30-minute grid
    (OFFICE, 2, 23, 30, "INVALID_SLOT"),  # after closing
    (OFFICE, 0, 23, 0, "INVALID_SLOT"),  # sooner than the minimum notice of a day
    (OFFICE, 45, 10, 0, "INVALID_SLOT"),  # further ahead than bookAhead
])
async def test_bad_bookings_are_refused_with_a_clear_code(api: Api, citizen: dict[str, str], office: str,
                                                          days: int, hour: int, minute: int, code: str) -> None:
    day = datetime.now(HONG_KONG).date() + timedelta(days=days)
    target = datetime.combine(day, datetime.min.time(), HONG_KONG).replace(hour=hour, minute=minute)
    app = await start(api, citizen, "crowded-appointment")
    refused = await book(api, citizen, app["id"], target, office=office)
    assert [e["code"] for e in refused["userErrors"]] == [code]
    assert refused["userErrors"][0]["message"]


async def test_availability_of_an_unknown_office_is_a_clear_error(api: Api) -> None:
    result = await api.post(AVAILABILITY, {"slug": "crowded-appointment", "office": "nowhere",
                                           "from": next_open_day().isoformat()})
    assert result["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "nowhere" in result["errors"][0]["message"]
