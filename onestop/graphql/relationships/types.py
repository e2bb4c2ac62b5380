"""Types of the relationships domain: dependents, mandates, and the parties of an application."""

from __future__ import annotations

from datetime import date, datetime

import strawberry

from onestop.engine import ActingAs as ActingAsKind
from onestop.engine import Dependent as DependentRecord
from onestop.engine import Mandate as MandateRecord
from onestop.engine import MandateStatus as MandateStatusKind
from onestop.graphql.context import Info_
from onestop.graphql.fields import field

# Registered under these names; annotations use the engine's classes (strawberry.enum marks them in place).
strawberry.enum(ActingAsKind, name="ActingAs",
                           description="How one citizen may act for another: for themself, as a parent of a child "
                                       "under 18, under a mandate, or as an appointed guardian.")
strawberry.enum(MandateStatusKind, name="MandateStatus")


@strawberry.type(description="Someone you may act for: your child under 18, or a person whose mandate you hold.")
class Dependent:
    record: strawberry.Private[DependentRecord]
    today: strawberry.Private[date]

    @field(description="Pass as startApplication's onBehalfOf.")
    def id(self) -> strawberry.ID:
        return strawberry.ID(self.record.ref)

    @field(description="The name as registered (birth registration) or as the mandate names them.")
    def name(self) -> str:
        return self.record.name

    @field()
    def relationship(self) -> ActingAsKind:
        return self.record.relationship

    @field(description="A child's date of birth from the birth registration; null under a mandate.")
    def date_of_birth(self) -> date | None:
        return self.record.date_of_birth

    @field(description="A child's age today; parental access ends at 18.")
    def age(self) -> int | None:
        born = self.record.date_of_birth
        if born is None:
            return None
        return self.today.year - born.year - ((self.today.month, self.today.day) < (born.month, born.day))

    @field(description="Under a mandate: the mandate's id.")
    def mandate_id(self) -> str | None:
        return self.record.mandate_id


@strawberry.type(description="A mandate: the grantor lets the grantee act for them in the services and themes named, "
                             "with the data items named, from validFrom until validUntil. Signed by the platform; "
                             "the grantor can revoke it at any time.")
class Mandate:
    record: strawberry.Private[MandateRecord]
    now: strawberry.Private[datetime]

    @field()
    def id(self) -> strawberry.ID:
        return strawberry.ID(self.record.id)

    @field()
    def grantor_name(self) -> str:
        return self.record.grantor_name

    @field()
    def grantee_name(self) -> str:
        return self.record.grantee_name

    @field(description="Service slugs the mandate covers.")
    def services(self) -> list[str]:
        return list(self.record.scope.services)

    @field(description="Theme ids the mandate covers (every service of the theme).")
    def themes(self) -> list[str]:
        return list(self.record.scope.themes)

    @field(description="Data items (provider.item) the grantee may have read for the grantor.")
    def items(self) -> list[str]:
        return list(self.record.scope.items)

    @field()
    def valid_from(self) -> datetime:
        return self.record.valid_from

    @field()
    def valid_until(self) -> datetime:
        return self.record.valid_until

    @field()
    def granted_at(self) -> datetime:
        return self.record.granted_at

    @field()
    def revoked_at(self) -> datetime | None:
        return self.record.revoked_at

    @field()
    def status(self) -> MandateStatusKind:
        return self.record.status(self.now)

    @field(description="The signed mandate artefact (compact JWS, verifiable with the platform's keys); it names "
                       "both people by pseudonymous reference only.")
    def signature(self) -> str:
        return self.record.jws


@strawberry.type(description="The person acting on an application, or the person it is about.")
class ApplicationParty:
    relationship: ActingAsKind = strawberry.field(
        description="How the actor acts for the subject (SELF when the same).")
    is_you: bool = strawberry.field(description="True when this party is the signed-in caller.")
    name: str | None = strawberry.field(description="The subject's name, shown to the actor; null otherwise.")


async def application_parties(info: Info_, application_id: str) -> tuple[ApplicationParty, ApplicationParty]:
    """(actor, subject) of an application as the caller may see them: the subject's name only for its actor."""
    engine = info.context.engine
    principal = await info.context.principal()
    caller = await engine.data.citizens.get(principal.sub) if principal is not None and principal.is_citizen else None
    parties = await engine.relationships.parties(application_id)
    if parties is None:
        # The applicant acts for themself: a citizen reaching it is its owner; staff are neither party.
        mine = caller is not None or principal is None
        alone = ApplicationParty(relationship=ActingAsKind.SELF, is_you=mine, name=None)
        return alone, alone
    caller_ref = caller.ref if caller is not None else ""
    name = await engine.relationships.name_for(caller_ref, caller, parties)
    actor = ApplicationParty(relationship=parties.acting_as, is_you=caller_ref == parties.actor_ref, name=None)
    subject = ApplicationParty(relationship=parties.acting_as, is_you=caller_ref == parties.subject_ref, name=name)
    return actor, subject
