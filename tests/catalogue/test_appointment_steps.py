"""The ``appointment`` step: offices and closed days from option lists, hours and capacity, each problem at
file:line:col."""

from __future__ import annotations

from pathlib import Path

import pytest

from onestop.catalogue import AppointmentStep
from onestop.workflows.compile import snapshot_from_service
from onestop.workflows.snapshot import AppointmentSpec

from .conftest import SERVICE_PATH, Tree

APPOINTMENT = """\
  - id: visit
    type: appointment
    title: {en: Choose a time, tc: 選擇時間}
    offices: offices
    hours:
      mon: ["09:00-12:00", "14:00-17:00"]
      sat: ["09:00-12:00"]
    slotMinutes: 30
    capacity: 4
    holidays: closed-days
    hold: PT10M
"""

LISTS = """\
offices:
  - {value: north-office, label: {en: North office, tc: 北辦事處}}
  - {value: south-office, label: {en: South office, tc: 南辦事處}}
closed-days:
  - {value: "2026-12-25", label: {en: Christmas Day, tc: 聖誕節}}
"""


@pytest.fixture
def booking_tree(tree: Tree) -> Tree:
    tree.edit_service("  - id: submit\n", APPOINTMENT + "  - id: submit\n")
    tree.edit("option-lists.yaml", "districts:\n", LISTS + "districts:\n")
    return tree


def where(tree: Tree, text: str, key: str) -> tuple[int, int]:
    """Line and column (1-based) of ``key`` on the line of the service holding ``text``."""
    lines = (tree.root / SERVICE_PATH).read_text(encoding="utf-8").splitlines()
    number = next(i for i, line in enumerate(lines) if text in line)
    return number + 1, lines[number].index(key) + 1


def test_an_appointment_step_loads_with_its_offices_and_closed_days(booking_tree: Tree) -> None:
    service = booking_tree.load().services["renew-licence"]
    step = service.step("visit")
    assert isinstance(step, AppointmentStep)
    assert [o.value for o in step.office_options or ()] == ["north-office", "south-office"]
    spec = snapshot_from_service(service).step("visit")
    assert isinstance(spec, AppointmentSpec)
    assert spec.hours[0] == [[540, 720], [840, 1020]]
    assert spec.hours[5] == [[540, 720]]
    assert spec.hours[6] == []
    assert (spec.slot_minutes, spec.capacity, spec.hold_seconds, spec.closed) == (30, 4, 600, ["2026-12-25"])
    assert spec.min_notice_seconds == 86400
    assert spec.book_ahead_seconds == 90 * 86400


@pytest.mark.parametrize(("old", "new", "anchor", "key", "code"), [
    ("offices: offices", "offices: ofices", "offices: ofices", "ofices", "UNKNOWN_OPTION_LIST"),
    ("holidays: closed-days", "holidays: districts", "holidays:", "districts", "INVALID_VALUE"),
    ("capacity: 4", "capacity: 0", "capacity:", "0", "INVALID_VALUE"),
    ('sat: ["09:00-12:00"]', 'sat: ["12:00-09:00"]', "hours:", "sat", "INVALID_VALUE"),
    ('sat: ["09:00-12:00"]', 'sat: ["9am-noon"]', "sat:", "9am", "INVALID_VALUE"),
    ('sat: ["09:00-12:00"]', 'sat: ["09:00-09:20"]', "sat:", "sat", "INVALID_VALUE"),
    ("slotMinutes: 30", "slotMinute: 30", "slotMinute:", "slotMinute", "UNKNOWN_KEY"),
    ("hold: PT10M", "hold: ten minutes", "hold:", "ten", "BAD_DURATION"),
    ("hold: PT10M", "hold: PT10M\n    reminder: {before: PT0S}", "reminder:", "before", "INVALID_VALUE"),
    ("hold: PT10M", "hold: PT10M\n    reminder: {before: P91D}", "reminder:", "before", "INVALID_VALUE"),
    ("hold: PT10M", "hold: PT10M\n    reminder: {before: soon}", "reminder:", "soon", "BAD_DURATION"),
    ("hold: PT10M", "hold: PT10M\n    reminder: {befor: P2D}", "reminder:", "befor", "UNKNOWN_KEY"),
])
def test_a_wrong_appointment_step_is_reported_where_it_is_written(booking_tree: Tree, old: str, new: str,
                                                                  anchor: str, key: str, code: str) -> None:
    booking_tree.edit_service(old, new)
    problems = booking_tree.problems()
    assert code in [p.code for p in problems], problems
    problem = next(p for p in problems if p.code == code)
    assert Path(problem.path).name == "renew-licence.yaml"
    line, _ = where(booking_tree, anchor, anchor.split(":")[0])
    assert problem.line in (line, line + 1), (problem, line)
    assert problem.message


NOTICES = """notices:
  appointmentReminder:
    before: P2D
    subject: {en: "Your appointment for {service}", tc: "你的{service}預約"}
    body: {en: "See you at {office} on {appointment}.", tc: "請於 {appointment} 到 {office}。"}
steps:
"""


@pytest.mark.parametrize(("step", "notices", "seconds"), [
    ("", "", 86400),  # the day before
    ("    reminder: {before: PT3H}\n", "", 3 * 3600),
    ("", NOTICES, 2 * 86400),  # the service's appointmentReminder notice says when
    ("    reminder: {before: PT3H}\n", NOTICES, 3 * 3600),  # the step's own wins
])
def test_the_reminder_goes_out_the_lead_time_the_definition_declares(booking_tree: Tree, step: str, notices: str,
                                                                     seconds: int) -> None:
    booking_tree.edit_service("    hold: PT10M\n", "    hold: PT10M\n" + step)
    if notices:
        booking_tree.edit_service("steps:\n", notices)
    spec = snapshot_from_service(booking_tree.load().services["renew-licence"]).step("visit")
    assert isinstance(spec, AppointmentSpec)
    assert spec.reminder_seconds == seconds


def test_an_appointment_step_needs_a_submit_step_after_it(tree: Tree) -> None:
    tree.edit_service("    title: {en: Submit, tc: 遞交}\n", "    title: {en: Submit, tc: 遞交}\n"
                      + APPOINTMENT.replace("    holidays: closed-days\n", ""))
    tree.edit("option-lists.yaml", "districts:\n", LISTS + "districts:\n")
    problems = tree.problems()
    assert any(p.code == "INVALID_VALUE" and "submit step after it" in p.message for p in problems)
