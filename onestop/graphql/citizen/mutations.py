"""The citizen's mutations: edit the e-ME profile, revoke a consent."""

from __future__ import annotations

from datetime import datetime

import strawberry

from onestop.graphql.citizen.inputs import RevokeConsentInput, UpdateProfileInput
from onestop.graphql.citizen.services import citizen_services
from onestop.graphql.citizen.types import Consent, Profile
from onestop.graphql.context import Info_
from onestop.graphql.errors import UserError, UserErrorCode, outcome
from onestop.graphql.fields import field
from onestop.graphql.relay import from_global_id


@strawberry.type
class UpdateProfilePayload:
    profile: Profile | None
    user_errors: list[UserError]


@strawberry.type(description="Proof of a revocation, signed by the platform (JWS).")
class RevocationReceipt:
    consent_id: str
    revoked_at: datetime
    signature: str


@strawberry.type
class RevokeConsentPayload:
    consent: Consent | None
    receipt: RevocationReceipt | None
    user_errors: list[UserError]


def _artefact_id(value: str) -> str:
    parsed = from_global_id(value)
    return parsed[1] if parsed is not None and parsed[0] == "Consent" else value


@strawberry.type
class CitizenMutation:
    @field(description="Change your e-ME profile. Every invalid field is reported at once; nothing is saved then.")
    async def update_profile(self, info: Info_, input: UpdateProfileInput) -> UpdateProfilePayload:
        principal = await info.context.require_citizen()
        changes = input.changes()
        if not changes:
            return UpdateProfilePayload(profile=None, user_errors=[UserError(
                field=["input"], message="Nothing to change: set at least one field.", code=UserErrorCode.EMPTY_INPUT)])
        profiles = citizen_services(info).profiles
        done = await outcome(lambda: profiles.update(principal.sub, changes), info.context.lang)
        return UpdateProfilePayload(profile=done.map(Profile.of), user_errors=done.user_errors)

    @field(description="Revoke a consent now: later reads under it are refused, even for running applications.")
    async def revoke_consent(self, info: Info_, input: RevokeConsentInput) -> RevokeConsentPayload:
        principal = await info.context.require_citizen()
        consent_id = _artefact_id(str(input.consent_id))
        consents = citizen_services(info).consents
        done = await outcome(lambda: consents.revoke(principal.sub, consent_id), info.context.lang, not_found=UserError(
            field=["input", "consentId"], code=UserErrorCode.NOT_FOUND,
            message="No consent of yours has this id; list them with viewer { consents { id } }."))
        receipt = done.value
        if receipt is None:
            return RevokeConsentPayload(consent=None, receipt=None, user_errors=done.user_errors)
        record = await consents.get(principal.sub, consent_id)
        return RevokeConsentPayload(
            consent=Consent(record=record),
            receipt=RevocationReceipt(consent_id=receipt.consent_id, revoked_at=receipt.revoked_at,
                                      signature=receipt.jws),
            user_errors=[],
        )
