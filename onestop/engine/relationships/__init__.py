"""Relationships: parent and child from ImmD's birth registrations, mandates citizens grant each other, and the
check that lets one citizen act for another."""

from onestop.engine.relationships.acting import CANNOT_ACT_FOR, Dependent, Relationships
from onestop.engine.relationships.births import ADULT_AGE, BirthRegister, Child
from onestop.engine.relationships.mandates import MANDATE_TYP, Mandate, MandateScope, MandateStatus, MandateStore
from onestop.engine.relationships.parties import Acting, ActingAs, Parties

__all__ = [
    "ADULT_AGE",
    "CANNOT_ACT_FOR",
    "MANDATE_TYP",
    "Acting",
    "ActingAs",
    "BirthRegister",
    "Child",
    "Dependent",
    "Mandate",
    "MandateScope",
    "MandateStatus",
    "MandateStore",
    "Parties",
    "Relationships",
]
