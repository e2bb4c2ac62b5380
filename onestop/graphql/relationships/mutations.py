"""Granting and revoking mandates (granting needs a face-level sign-in: INSUFFICIENT_USER_AUTHENTICATION else);
appointing and ending guardians (SWD staff with the approver role: FORBIDDEN else)."""

from __future__ import annotations

from datetime import UTC, datetime

import strawberry

from onestop.graphql.context import Info_
from onestop.graphql.errors import Unauthenticated, UserError, UserErrorCode, outcome
from onestop.graphql.fields import field
from onestop.graphql.relationships.inputs import (
    AppointGuardianInput,
    EndGuardianshipInput,
    GrantMandateInput,
    RevokeMandateInput,
)
from onestop.graphql.relationships.types import Guardianship, Mandate


@strawberry.type
class MandatePayload:
    mandate: Mandate | None
    user_errors: list[UserError]


@strawberry.type
class GuardianshipPayload:
    guardianship: Guardianship | None
    user_errors: list[UserError]


@strawberry.type
class RelationshipsMutation:
    @field(description="Let another citizen act for you in the services and themes named, until validUntil. Needs "
                       "you to be 18 or over and a face-level sign-in within the last 10 minutes.")
    async def grant_mandate(self, info: Info_, input: GrantMandateInput) -> MandatePayload:
        principal = await info.context.require_citizen()
        engine = info.context.engine
        grantor = await engine.data.citizens.ensure(principal.sub)
        done = await outcome(lambda: engine.relationships.grant(
            principal, grantor, grantee_hkid=input.grantee_hkid, grantee_name=input.grantee_name,
            services=input.services, themes=input.themes, items=input.items, valid_from=input.valid_from,
            valid_until=input.valid_until), info.context.lang)
        now = datetime.now(UTC)
        return MandatePayload(mandate=done.map(lambda m: Mandate(record=m, now=now)), user_errors=done.user_errors)

    @field(description="Revoke a mandate you granted, at once: the person stops at their next action.")
    async def revoke_mandate(self, info: Info_, input: RevokeMandateInput) -> MandatePayload:
        principal = await info.context.require_citizen()
        engine = info.context.engine
        grantor = await engine.data.citizens.ensure(principal.sub)
        done = await outcome(lambda: engine.relationships.revoke(grantor, str(input.mandate_id)), info.context.lang,
                             not_found=UserError(field=["input", "mandateId"], code=UserErrorCode.NOT_FOUND,
                                                 message="No mandate you granted has this id; list them with "
                                                         "viewer { mandatesGranted { id } }."))
        now = datetime.now(UTC)
        return MandatePayload(mandate=done.map(lambda m: Mandate(record=m, now=now)), user_errors=done.user_errors)

    @field(description="Record a guardian for a citizen who cannot grant a mandate themself (SWD staff with the "
                       "approver role; the action is audited). The guardian can then act for them in services whose "
                       "actingAs includes guardian.")
    async def appoint_guardian(self, info: Info_, input: AppointGuardianInput) -> GuardianshipPayload:
        principal = await info.context.principal()
        if principal is None:
            raise Unauthenticated()
        engine = info.context.engine
        done = await outcome(lambda: engine.relationships.appoint_guardian(
            principal, guardian_hkid=input.guardian_hkid, guardian_name=input.guardian_name,
            ward_hkid=input.ward_hkid, ward_name=input.ward_name, order_reference=input.order_reference,
            valid_until=input.valid_until), info.context.lang)
        now = datetime.now(UTC)
        return GuardianshipPayload(guardianship=done.map(lambda g: Guardianship(record=g, now=now)),
                                   user_errors=done.user_errors)

    @field(description="End a guardianship at once, or on a date (SWD staff with the approver role; audited). The "
                       "applications the guardian started for the ward are handed to the ward then, and the guardian "
                       "is refused with CANNOT_ACT_FOR from then on.")
    async def end_guardianship(self, info: Info_, input: EndGuardianshipInput) -> GuardianshipPayload:
        principal = await info.context.principal()
        if principal is None:
            raise Unauthenticated()
        engine = info.context.engine
        done = await outcome(lambda: engine.relationships.end_guardianship(principal, str(input.guardianship_id),
                                                                         input.valid_until),
                             info.context.lang,
                             not_found=UserError(field=["input", "guardianshipId"], code=UserErrorCode.NOT_FOUND,
                                                 message="No guardianship your department recorded has this id; list "
                                                         "them with the guardianships query."))
        now = datetime.now(UTC)
        return GuardianshipPayload(guardianship=done.map(lambda g: Guardianship(record=g, now=now)),
                                   user_errors=done.user_errors)
