"""The appointment reminder goes out the lead time its step declares before the appointment: a durable timer in the
workflow, which calls the reminder activity once."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from temporalio.client import Client
from temporalio.worker import Worker

from onestop.engine.appointments import SlotStore
from onestop.engine.db import Database
from onestop.workflows.snapshot import AppointmentSpec

from .test_application import ADULT, fresh
from .test_reliability import _early_reminder_service, _reminded, _slots_ahead, apps_for, until


async def test_the_reminder_timer_fires_the_declared_lead_time_before_the_appointment(
        client: Client, task_queue: str, database: Database, worker: Worker) -> None:
    [start] = _slots_ahead(1)
    # A lead time that makes the reminder due a few seconds from now (the slot is hours away).
    due = datetime.now(UTC) + timedelta(seconds=6)
    lead = int((start - due).total_seconds())
    service = _early_reminder_service()
    visit, *rest = service.steps
    assert isinstance(visit, AppointmentSpec)
    service = replace(service, steps=[replace(visit, reminder_seconds=lead), *rest])
    apps = apps_for(client, task_queue, database, service)
    app = (await apps.start("citizen-1", ADULT, service.id, fresh())).application_id
    await apps.book_appointment(app, "citizen-1", "visit", "north", start)
    await apps.submit_step(app, "citizen-1", "submit", {})
    assert not await _reminded(apps, app)  # the default, the day before, would have been due at once
    await until(lambda: _reminded(apps, app), within=30)
    [booking] = await SlotStore(database).bookings(app)
    assert booking.reminder_due_at is not None
    assert booking.reminder_due_at >= start - timedelta(seconds=lead)
    [booked] = (await apps.get(app, "citizen-1")).bookings
    assert booked.reminded
    assert booked.reminder_seconds == lead
