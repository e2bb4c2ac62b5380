"""Mutation inputs of the relationships domain."""

from __future__ import annotations

from datetime import datetime

import strawberry


@strawberry.input
class GrantMandateInput:
    grantee_hkid: str = strawberry.field(description="The HKID of the person who will act for you.")
    grantee_name: str = strawberry.field(description="Their name as on their identity card.")
    services: list[str] = strawberry.field(default_factory=list, description="Service slugs covered.")
    themes: list[str] = strawberry.field(default_factory=list, description="Theme ids covered.")
    items: list[str] = strawberry.field(default_factory=list,
                                        description="Data items (provider.item) they may have read for you.")
    valid_from: datetime | None = strawberry.field(default=None, description="Default: now.")
    valid_until: datetime = strawberry.field(description="When the mandate ends (at most five years on).")


@strawberry.input
class RevokeMandateInput:
    mandate_id: strawberry.ID


@strawberry.input
class AppointGuardianInput:
    guardian_hkid: str = strawberry.field(description="The HKID of the person appointed guardian.")
    guardian_name: str = strawberry.field(description="Their name as on their identity card.")
    ward_hkid: str = strawberry.field(description="The HKID of the person who cannot grant a mandate themself.")
    ward_name: str = strawberry.field(description="Their name as on their identity card.")
    order_reference: str = strawberry.field(description="The reference of the order or decision appointing them.")
    valid_until: datetime | None = strawberry.field(default=None, description="When it ends; omit for until ended.")


@strawberry.input
class EndGuardianshipInput:
    guardianship_id: strawberry.ID
    valid_until: datetime | None = strawberry.field(
        default=None, description="End it at this time (in the future) instead of at once: the applications the "
        "guardian started for the ward are handed to the ward then, by a durable timer. Setting it again moves it.")
