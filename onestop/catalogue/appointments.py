"""Opening hours of an ``appointment`` step: when its offices take bookings, and how a day splits into slots."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated

from pydantic import Field as Key
from pydantic import model_validator

from onestop.catalogue.loader import did_you_mean
from onestop.catalogue.models import DefinitionModel, Duration, duration
from onestop.catalogue.problems import Problem
from onestop.catalogue.taxonomy import Option
from onestop.catalogue.yamlsource import Loc, Source

if TYPE_CHECKING:
    from onestop.catalogue.steps import AppointmentStep

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
"""The keys of ``hours``, Monday first (``date.weekday()`` order)."""

TimeRange = Annotated[str, Key(pattern=r"^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d$",
                               description="opening period in Hong Kong time, e.g. 08:45-12:00")]


def minutes_of(period: str) -> tuple[int, int]:
    """``"08:45-12:00"`` as minutes after midnight: ``(525, 720)``."""
    start, end = period.split("-")
    return int(start[:2]) * 60 + int(start[3:]), int(end[:2]) * 60 + int(end[3:])


class OpeningHours(DefinitionModel):
    """Opening periods per weekday; a day left out is closed."""

    mon: tuple[TimeRange, ...] = ()
    tue: tuple[TimeRange, ...] = ()
    wed: tuple[TimeRange, ...] = ()
    thu: tuple[TimeRange, ...] = ()
    fri: tuple[TimeRange, ...] = ()
    sat: tuple[TimeRange, ...] = ()
    sun: tuple[TimeRange, ...] = ()

    def periods(self) -> list[list[tuple[int, int]]]:
        """Each weekday's periods in minutes after midnight, Monday first."""
        return [[minutes_of(p) for p in getattr(self, day)] for day in WEEKDAYS]

    @model_validator(mode="after")
    def _ordered(self) -> OpeningHours:
        for day, periods in zip(WEEKDAYS, self.periods(), strict=True):
            previous_end = -1
            for start, end in periods:
                if start >= end:
                    raise ValueError(f"{day}: a period must end after it starts (write 08:45-12:00)")
                if start < previous_end:
                    raise ValueError(f"{day}: periods must be in order and must not overlap")
                previous_end = end
        if not any(self.periods()):
            raise ValueError("give the opening periods of at least one day (mon: [\"09:00-12:00\"])")
        return self


class AppointmentReminder(DefinitionModel):
    """When the appointment reminder notice goes out."""

    before: Duration = Key(default="P1D", description="how long before the appointment, e.g. P2D or PT3H; default "
                           "P1D (the day before, at the appointment's time)")


def check_appointment(source: Source, loc: Loc, step: AppointmentStep, lists: Mapping[str, tuple[Option, ...]],
                      *, lists_ok: bool, submitted_later: bool) -> list[Problem]:
    """Cross-file checks of an appointment step: its option lists exist, closed days are dates, a submit follows."""
    problems: list[Problem] = []
    if lists_ok and step.offices not in lists:
        choices = sorted(lists)
        hint = did_you_mean(step.offices, choices) or f"known: {', '.join(choices)}"
        problems.append(source.problem((*loc, "offices"), "UNKNOWN_OPTION_LIST",
                                       f"unknown option list '{step.offices}'", hint))
    if lists_ok and step.holidays is not None:
        if step.holidays not in lists:
            choices = sorted(lists)
            hint = did_you_mean(step.holidays, choices) or f"known: {', '.join(choices)}"
            problems.append(source.problem((*loc, "holidays"), "UNKNOWN_OPTION_LIST",
                                           f"unknown option list '{step.holidays}'", hint))
        else:
            for option in lists[step.holidays]:
                try:
                    dt.date.fromisoformat(option.value)
                except ValueError:
                    problems.append(source.problem(
                        (*loc, "holidays"), "INVALID_VALUE",
                        f"option list '{step.holidays}' has '{option.value}', which is not a date",
                        "a holidays list has YYYY-MM-DD dates as its values"))
                    break
    slot = step.slot_minutes
    for day, periods in zip(WEEKDAYS, step.hours.periods(), strict=True):
        for start, end in periods:
            if (end - start) < slot:
                problems.append(source.problem(
                    (*loc, "hours", day), "INVALID_VALUE",
                    f"a {day} period is shorter than one slot of {slot} minutes",
                    "lengthen the period or shorten slotMinutes"))
    if duration(step.hold) <= dt.timedelta(0) or duration(step.book_ahead) <= duration(step.min_notice):
        problems.append(source.problem(
            (*loc, "bookAhead"), "INVALID_VALUE", "hold must be positive and bookAhead longer than minNotice"))
    if step.reminder is not None and not (
            dt.timedelta(0) < duration(step.reminder.before) <= duration(step.book_ahead)):
        problems.append(source.problem(
            (*loc, "reminder", "before"), "INVALID_VALUE",
            f"reminder before {step.reminder.before} must be positive and at most bookAhead ({step.book_ahead})",
            "write how long before the appointment the reminder goes out, e.g. before: P2D"))
    if not submitted_later:
        problems.append(source.problem(
            (*loc, "type"), "INVALID_VALUE", "an appointment step needs a submit step after it",
            "a booking is held until the application is submitted; add a `type: submit` step later"))
    return problems
