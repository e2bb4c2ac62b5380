"""The citizen's calendar file (RFC 5545) for a booked appointment, built with ``icalendar``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from icalendar import Alarm, Calendar, Event

PRODUCT_ID = "-//onestop//appointments//EN"


def ics(*, booking_id: str, title: str, office: str, start: datetime, end: datetime, reference: str | None,
        now: datetime | None = None, remind_before: timedelta = timedelta(days=1)) -> bytes:
    """One VEVENT for the booking, with a reminder alarm ``remind_before`` it. Nothing personal: the title, the office
    and the reference number only, since calendar files travel to phones and shared calendars."""
    calendar = Calendar()
    calendar.add("prodid", PRODUCT_ID)
    calendar.add("version", "2.0")
    calendar.add("method", "PUBLISH")
    event = Event()
    event.add("uid", f"{booking_id}@onestop")
    event.add("dtstamp", (now or datetime.now(UTC)).astimezone(UTC))
    event.add("dtstart", start.astimezone(UTC))
    event.add("dtend", end.astimezone(UTC))
    event.add("summary", title)
    event.add("location", office)
    if reference:
        event.add("description", f"Reference number: {reference}")
    alarm = Alarm()
    alarm.add("action", "DISPLAY")
    alarm.add("description", title)
    alarm.add("trigger", -remind_before)
    event.add_component(alarm)
    calendar.add_component(event)
    content: bytes = calendar.to_ical()
    return content
