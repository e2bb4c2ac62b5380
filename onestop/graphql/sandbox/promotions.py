"""Going live: requestSandboxPromotion (a provider's staff), approveSandboxPromotion and rejectSandboxPromotion
(the platform team), and sandboxPromotions / sandboxPromotion to follow them."""

from __future__ import annotations

from datetime import datetime

import strawberry

from onestop.engine import NotFound, PromotionStatus, SandboxPromotions
from onestop.engine import Promotion as PromotionRecord
from onestop.graphql.context import Info_
from onestop.graphql.errors import ApiError, ErrorCode, Outcome, UserError, UserErrorCode, outcome
from onestop.graphql.fields import field
from onestop.graphql.relay import (
    Connection,
    Node,
    connection_from_slice,
    from_global_id,
    page_of,
    register_node,
    to_global_id,
)

PROMOTION_TYPE = "SandboxPromotion"

strawberry.enum(
    PromotionStatus,
    name="SandboxPromotionStatus",
    description="Where a promotion stands: CHECKING, CHECKS_FAILED (see checks), AWAITING_APPROVAL by "
    "the platform team, PUBLISHING, LIVE in the public catalogue, REJECTED (see reason), "
    "FAILED (the live catalogue did not take it; see reason).",
)


@strawberry.type(description="One check a promotion must pass before the platform team may approve it.")
class SandboxPromotionCheck:
    name: str = strawberry.field(description="validated, tested or fits-live.")
    passed: bool
    detail: str


@strawberry.type(description="A request that a sandbox service's version join the public catalogue.")
class SandboxPromotion(Node):
    record: strawberry.Private[PromotionRecord]

    @field(description="Opaque, stable global id: pass to approveSandboxPromotion / rejectSandboxPromotion.")
    def id(self) -> strawberry.ID:
        return strawberry.ID(to_global_id(PROMOTION_TYPE, self.record.promotion_id))

    @field(description="The service's id, in the sandbox and, once live, in the public catalogue.")
    def service_slug(self) -> str:
        return self.record.service_slug

    @field(description="The sandbox catalogue version requested.")
    def version(self) -> int:
        return self.record.version

    @field(description="The content hash of the service as requested and tested: exactly what goes live.")
    def content_hash(self) -> str:
        return self.record.content_hash

    @field(description="The sandbox's namespace: the service's department code.")
    def namespace(self) -> str:
        return self.record.namespace

    @field()
    def status(self) -> PromotionStatus:
        return self.record.status

    @field(description="The checks run when it was requested; empty while CHECKING.")
    def checks(self) -> list[SandboxPromotionCheck]:
        return [SandboxPromotionCheck(name=c.name, passed=c.passed, detail=c.detail) for c in self.record.checks]

    @field(description="The provider's staff member who asked.")
    def requested_by(self) -> str:
        return self.record.requested_by

    @field()
    def requested_at(self) -> datetime:
        return self.record.requested_at

    @field(description="The platform team member who approved or rejected it.")
    def decided_by(self) -> str | None:
        return self.record.decided_by

    @field()
    def decided_at(self) -> datetime | None:
        return self.record.decided_at

    @field(description="Why it was rejected (or why publishing failed).")
    def reason(self) -> str | None:
        return self.record.reason

    @field(description="The public catalogue's version once the service went live.")
    def catalogue_version(self) -> str | None:
        return self.record.catalogue_version


@strawberry.input
class RequestSandboxPromotionInput:
    service_slug: str
    version: int | None = strawberry.field(
        default=None, description="The sandbox catalogue version; default the latest."
    )
    content_hash: str | None = strawberry.field(
        default=None,
        description="The content hash you tested (as sandboxPreview shows it): refused when the version holds another.",
    )
    client_mutation_id: str | None = None


@strawberry.input
class ApproveSandboxPromotionInput:
    promotion_id: strawberry.ID
    client_mutation_id: str | None = None


@strawberry.input
class RejectSandboxPromotionInput:
    promotion_id: strawberry.ID
    reason: str = strawberry.field(description="What the provider must change; required, at most 2,000 characters.")
    client_mutation_id: str | None = None


@strawberry.type
class SandboxPromotionPayload:
    promotion: SandboxPromotion | None
    user_errors: list[UserError]
    client_mutation_id: str | None = None


def _promotions(info: Info_) -> SandboxPromotions:
    sandbox = info.context.engine.sandbox
    if sandbox is None or sandbox.promotions is None:
        raise ApiError(ErrorCode.SERVICE_UNAVAILABLE, "sandboxes are not served by this process")
    return sandbox.promotions


def _payload(done: Outcome[PromotionRecord], client_mutation_id: str | None) -> SandboxPromotionPayload:
    return SandboxPromotionPayload(
        promotion=done.map(lambda record: SandboxPromotion(record=record)),
        user_errors=done.user_errors,
        client_mutation_id=client_mutation_id,
    )


def _key(global_id: str) -> str:
    """The promotion's own id in a global id; an id of anything else is a key no promotion has."""
    decoded = from_global_id(str(global_id))
    return decoded[1] if decoded is not None and decoded[0] == PROMOTION_TYPE else ""


def _not_found(promotion_id: str) -> UserError:
    return UserError(
        field=["input", "promotionId"], code=UserErrorCode.NOT_FOUND, message=f"No promotion {promotion_id!r}."
    )


@strawberry.type
class PromotionMutation:
    @field(
        description="Ask that a service of the caller's sandbox (a provider's staff) go live in the public "
        "catalogue, pinned to its content hash. Its checks run at once (validated, tested by a test citizen to "
        "submission, fits the live catalogue); then the platform team decides. Asking again answers the same "
        "promotion."
    )
    async def request_sandbox_promotion(
        self, info: Info_, input: RequestSandboxPromotionInput
    ) -> SandboxPromotionPayload:
        promotions = _promotions(info)
        principal = await info.context.principal()
        done = await outcome(
            lambda: promotions.request(principal, input.service_slug, input.version, input.content_hash),
            info.context.lang,
            not_found=UserError(
                field=["input", "serviceSlug"],
                code=UserErrorCode.NOT_FOUND,
                message=f"No service {input.service_slug!r} in that version of your sandbox.",
            ),
        )
        return _payload(done, input.client_mutation_id)

    @field(
        description="Approve a promotion (the platform team only): the definition, exactly as tested, is "
        "written into the live definitions and every replica reloads. Approving again changes nothing."
    )
    async def approve_sandbox_promotion(
        self, info: Info_, input: ApproveSandboxPromotionInput
    ) -> SandboxPromotionPayload:
        promotions = _promotions(info)
        principal = await info.context.principal()
        done = await outcome(
            lambda: promotions.approve(principal, _key(input.promotion_id)),
            info.context.lang,
            not_found=_not_found(str(input.promotion_id)),
        )
        return _payload(done, input.client_mutation_id)

    @field(description="Reject a promotion with a reason the provider can act on (the platform team only).")
    async def reject_sandbox_promotion(
        self, info: Info_, input: RejectSandboxPromotionInput
    ) -> SandboxPromotionPayload:
        promotions = _promotions(info)
        principal = await info.context.principal()
        done = await outcome(
            lambda: promotions.reject(principal, _key(input.promotion_id), input.reason),
            info.context.lang,
            not_found=_not_found(str(input.promotion_id)),
        )
        return _payload(done, input.client_mutation_id)


@strawberry.type
class PromotionQuery:
    @field(
        description="Promotions, newest first: every sandbox's for the platform team, the caller's own "
        "sandbox's for a provider's staff."
    )
    async def sandbox_promotions(
        self, info: Info_, status: PromotionStatus | None = None, first: int | None = None, after: str | None = None
    ) -> Connection[SandboxPromotion]:
        promotions = _promotions(info)
        page = page_of(first, after)
        records, total = await promotions.list(
            await info.context.principal(), status=status, offset=page.offset, limit=page.limit
        )
        return connection_from_slice([SandboxPromotion(record=r) for r in records], page, total)

    @field(description="One promotion; null when unknown or not yours.")
    async def sandbox_promotion(self, info: Info_, id: strawberry.ID) -> SandboxPromotion | None:
        return await _promotion_node(info, _key(id))


async def _promotion_node(info: Info_, key: str) -> SandboxPromotion | None:
    sandbox = info.context.engine.sandbox
    if sandbox is None or sandbox.promotions is None:
        return None
    try:
        record = await sandbox.promotions.get(await info.context.principal(), key)
    except NotFound:  # unknown and not yours answer alike
        return None
    return SandboxPromotion(record=record)


register_node(PROMOTION_TYPE, _promotion_node)
