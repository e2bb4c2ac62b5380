"""Types of the relationships domain: dependents, mandates, and the parties of an application."""

from __future__ import annotations

from datetime import date, datetime

import strawberry

from onestop.engine import ActingAs as ActingAsKind
from onestop.engine import Citizen, Parties
from onestop.engine import Dependent as DependentRecord
from onestop.engine import Guardianship as GuardianshipRecord
from onestop.engine import GuardianshipStatus as GuardianshipStatusKind
from onestop.engine import Mandate as MandateRecord
from onestop.engine import MandateStatus as MandateStatusKind
from onestop.graphql.context import Info_
from onestop.graphql.fields import field

# Registered under these names; annotations use the engine's classes (strawberry.enum marks them in place).
strawberry.enum(ActingAsKind, name="ActingAs",
                           description="How one citizen may act for another: for themself, as a parent of a child "
                                       "under 18, under a mandate, or as an appointed guardian.")
strawberry.enum(MandateStatusKind, name="MandateStatus")
strawberry.enum(GuardianshipStatusKind, name="GuardianshipStatus")


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


@strawberry.type(description="A guardian a department (SWD) appointed for a citizen who cannot grant a mandate. "
                             "Signed by the platform; recording and ending one are audited.")
class Guardianship:
    record: strawberry.Private[GuardianshipRecord]
    now: strawberry.Private[datetime]

    @field(description="Pass to endGuardianship.")
    def id(self) -> strawberry.ID:
        return strawberry.ID(self.record.id)

    @field()
    def guardian_name(self) -> str:
        return self.record.guardian_name

    @field()
    def ward_name(self) -> str:
        return self.record.ward_name

    @field(description="The reference of the order or decision appointing the guardian.")
    def order_reference(self) -> str:
        return self.record.order_reference

    @field(description="The appointing department's code (SWD).")
    def department(self) -> str:
        return self.record.department

    @field(description="Null: until ended.")
    def valid_until(self) -> datetime | None:
        return self.record.valid_until

    @field()
    def appointed_at(self) -> datetime:
        return self.record.appointed_at

    @field()
    def ended_at(self) -> datetime | None:
        return self.record.ended_at

    @field()
    def status(self) -> GuardianshipStatusKind:
        return self.record.status(self.now)

    @field(description="The signed guardianship artefact (compact JWS); it names both people by pseudonymous "
                       "reference only.")
    def signature(self) -> str:
        return self.record.jws


@strawberry.type(description="The person acting (on an application, a consent or a data access), or the person it "
                             "is about.")
class ApplicationParty:
    relationship: ActingAsKind = strawberry.field(
        description="How the actor acts for the subject (SELF when the same).")
    is_you: bool = strawberry.field(description="True when this party is the signed-in caller.")
    name: str | None = strawberry.field(description="The subject's name, shown to the actor; null otherwise.")


_BASIS: dict[ActingAsKind, dict[str, str]] = {
    ActingAsKind.PARENT: {
        "en": "You are their parent (from the birth registration): you may act for them, and their records are read "
              "for this application, until they turn 18. They see every access in their data-access log.",
        "tc": "你是其家長（按出生登記）：在其年滿18歲前，你可代其申請，並為此申請讀取其紀錄。"
              "每次讀取都記錄在其資料存取紀錄。",
        "sc": "你是其家长（按出生登记）：在其年满18岁前，你可代其申请，并为此申请读取其纪录。"
              "每次读取都记录在其资料存取纪录。"},
    ActingAsKind.MANDATE: {
        "en": "Under the mandate they granted you: only the data items it names are read, and they see every access "
              "in their data-access log.",
        "tc": "按其授予你的授權：只讀取授權列明的資料項目，每次讀取都記錄在其資料存取紀錄。",
        "sc": "按其授予你的授权：只读取授权列明的资料项目，每次读取都记录在其资料存取纪录。"},
    ActingAsKind.GUARDIAN: {
        "en": "You are their guardian, appointed through the Social Welfare Department: their records are read for "
              "this application, and every access is in their data-access log.",
        "tc": "你是經社會福利署委任的監護人：為此申請讀取其紀錄，每次讀取都記錄在其資料存取紀錄。",
        "sc": "你是经社会福利署委任的监护人：为此申请读取其纪录，每次读取都记录在其资料存取纪录。"},
}


async def acting_basis(info: Info_, application_id: str) -> str | None:
    """Why the actor may fetch the subject's data, in the request's language; None when acting for oneself."""
    parties = await info.context.engine.relationships.parties(application_id)
    if parties is None or parties.actor_ref == parties.subject_ref or parties.acting_as not in _BASIS:
        return None
    texts = _BASIS[parties.acting_as]
    return texts.get(info.context.lang.value) or texts["en"]


async def data_parties(info: Info_, subject: Citizen, actor_ref: str | None, application_id: str | None,
                       viewer_ref: str) -> tuple[ApplicationParty, ApplicationParty]:
    """(actor, subject) of a consent or access-log entry recorded in ``subject``'s name, as ``viewer_ref`` sees them:
    the subject's name only for someone who acted for them."""
    if actor_ref is None or actor_ref == subject.ref:
        alone = ApplicationParty(relationship=ActingAsKind.SELF, is_you=viewer_ref == subject.ref, name=None)
        return alone, alone
    engine = info.context.engine
    parties = await engine.relationships.parties(application_id) if application_id else None
    if parties is not None and parties.actor_ref == actor_ref:
        relationship = parties.acting_as
    else:
        relationship = await engine.relationships.relationship_to(actor_ref, subject)
    name = None
    if viewer_ref == actor_ref:
        viewer = await engine.data.citizens.by_ref(viewer_ref)
        name = await engine.relationships.name_for(viewer_ref, viewer, Parties(
            actor_ref, subject.ref, relationship, parties.mandate_id if parties is not None else None))
    return (ApplicationParty(relationship=relationship, is_you=viewer_ref == actor_ref, name=None),
            ApplicationParty(relationship=relationship, is_you=viewer_ref == subject.ref, name=name))


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
