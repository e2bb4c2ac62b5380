"""Relationships: parent and child from ImmD's birth registrations, mandates citizens grant each other, and the
check that lets one citizen act for another."""

from onestop.engine.relationships.acting import CANNOT_ACT_FOR, Dependent, Relationships
from onestop.engine.relationships.births import ADULT_AGE, BirthRegister, Child
from onestop.engine.relationships.guardians import (
    GUARDIAN_DEPARTMENT,
    GUARDIAN_ROLE,
    Guardianship,
    GuardianshipStatus,
    GuardianStore,
)
from onestop.engine.relationships.mandates import MANDATE_TYP, Mandate, MandateScope, MandateStatus, MandateStore
from onestop.engine.relationships.parties import Acting, ActingAs, Parties

__all__ = [
    "ADULT_AGE",
    "CANNOT_ACT_FOR",
    "GUARDIAN_DEPARTMENT",
    "GUARDIAN_ROLE",
    "MANDATE_TYP",
    "Acting",
    "ActingAs",
    "BirthRegister",
    "Child",
    "Dependent",
    "GuardianStore",
    "Guardianship",
    "GuardianshipStatus",
    "Mandate",
    "MandateScope",
    "MandateStatus",
    "MandateStore",
    "Parties",
    "Relationships",
]
