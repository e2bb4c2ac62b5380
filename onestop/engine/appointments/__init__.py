"""Appointments: slot places counted in the database, the workflow's activities, availability and calendar files."""

from __future__ import annotations

from dataclasses import dataclass

from onestop.engine.applications.snapshots import CatalogueSnapshots
from onestop.engine.appointments.activities import AppointmentActivities, ReminderHook, no_reminder
from onestop.engine.appointments.service import AppointmentService, SlotAvailability, hold_minutes
from onestop.engine.appointments.store import BookingRecord, Hold, SlotStore
from onestop.engine.catalogue_store import CatalogueStore
from onestop.engine.db import Database


@dataclass
class AppointmentServices:
    store: SlotStore
    service: AppointmentService
    # Where the day-before reminder goes: the notices engine replaces this hook when it is wired in.
    reminder_hook: ReminderHook = no_reminder

    @classmethod
    def build(cls, database: Database, catalogue: CatalogueStore) -> AppointmentServices:
        store = SlotStore(database)
        return cls(store, AppointmentService(store, CatalogueSnapshots(catalogue)))

    def activities(self) -> AppointmentActivities:
        return AppointmentActivities(self.store, self.reminder_hook)


__all__ = ["AppointmentActivities", "AppointmentService", "AppointmentServices", "BookingRecord", "Hold",
           "ReminderHook", "SlotAvailability", "SlotStore", "hold_minutes", "no_reminder"]
