"""The slot calendar of an appointment step: pure, deterministic, shared by the workflow and the engine.

Times are Hong Kong time (UTC+8 all year: Hong Kong has had no daylight saving since 1979), so a fixed offset
is exact and needs no time-zone database inside the workflow sandbox.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, time, timedelta, timezone

from onestop.workflows.snapshot import AppointmentSpec

HONG_KONG = timezone(timedelta(hours=8), "HKT")
MAX_RANGE_DAYS = 31
"""The most days one availability question may span."""


def slots_on(spec: AppointmentSpec, day: date) -> list[datetime]:
    """Every slot start of ``day`` by the opening hours (closed days have none), in Hong Kong time."""
    if day.isoformat() in spec.closed or not spec.hours:
        return []
    starts: list[datetime] = []
    for start, end in spec.hours[day.weekday()]:
        minute = start
        while minute + spec.slot_minutes <= end:
            starts.append(datetime.combine(day, time(minute // 60, minute % 60), HONG_KONG))
            minute += spec.slot_minutes
    return starts


def window(spec: AppointmentSpec, now: datetime) -> tuple[datetime, datetime]:
    """The earliest and latest slot start bookable at ``now``."""
    return now + timedelta(seconds=spec.min_notice_seconds), now + timedelta(seconds=spec.book_ahead_seconds)


def bookable_between(spec: AppointmentSpec, first: date, last: date, now: datetime) -> Iterator[datetime]:
    """The slot starts from ``first`` to ``last`` (inclusive, Hong Kong dates) that can be booked at ``now``."""
    earliest, latest = window(spec, now)
    day = first
    while day <= last:
        for start in slots_on(spec, day):
            if earliest <= start <= latest:
                yield start
        day += timedelta(days=1)


def slot_problem(spec: AppointmentSpec, office: str, start: datetime, now: datetime) -> tuple[str, str] | None:
    """Why ``start`` at ``office`` cannot be booked at ``now`` (English, Chinese), or None when it can."""
    if office not in {o.value for o in spec.offices}:
        return (f"There is no office {office!r} for this appointment; choose one of the offices listed.",
                f"此預約沒有辦事處 {office!r}；請從所列辦事處中選擇。")
    if start.tzinfo is None:
        return ("Give the time with its offset, e.g. 2026-12-01T09:00:00+08:00.",
                "請連同時區提供時間，例如 2026-12-01T09:00:00+08:00。")
    local = start.astimezone(HONG_KONG)
    if local not in slots_on(spec, local.date()):
        return ("That time is not a slot of this office: choose one of the available times.",
                "該時間並非此辦事處的預約時段，請從可預約時間中選擇。")
    earliest, latest = window(spec, now)
    if local < earliest:
        return ("That time is too soon or has passed; choose a later time.", "該時間太早或已過，請選擇較後的時間。")
    if local > latest:
        return ("That time is too far ahead; choose an earlier time.", "該時間太遠，請選擇較早的時間。")
    return None


def end_of(spec: AppointmentSpec, start: datetime) -> datetime:
    return start + timedelta(minutes=spec.slot_minutes)


def reminder_at(start: datetime, before_seconds: int = 24 * 3600) -> datetime:
    """When the reminder is due: ``before_seconds`` ahead of the appointment (by default the same time on the day
    before)."""
    return start - timedelta(seconds=before_seconds)
