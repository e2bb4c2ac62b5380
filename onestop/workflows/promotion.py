"""Going live: a provider's request that a sandbox service's version join the public catalogue.

One workflow per request, pinned to the version's content hash. It checks the version (validated, tested in the
sandbox, fits the live catalogue), waits for the platform team's decision (an Update each, approve or reject with a
reason, refused by its validator unless the promotion awaits one), then publishes exactly the pinned files into the
live definitions or records the rejection. The activities are idempotent by the promotion's id, so a retry after a
killed worker converges on one outcome.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

CHECK_PROMOTION = "check_promotion"
PUBLISH_PROMOTION = "publish_promotion"
REJECT_PROMOTION = "reject_promotion"

MAX_REASON = 2000
"""The longest rejection reason, as other staff messages."""


class PromotionStatus(StrEnum):
    CHECKING = "CHECKING"
    CHECKS_FAILED = "CHECKS_FAILED"
    AWAITING_APPROVAL = "AWAITING_APPROVAL"
    PUBLISHING = "PUBLISHING"
    LIVE = "LIVE"
    REJECTED = "REJECTED"
    FAILED = "FAILED"


@dataclass(frozen=True)
class PromotionRequest:
    """What goes live: one service of one sandbox catalogue version, pinned by its content hash. The files
    themselves stay in the ``sandbox_promotions`` row (payloads stay small)."""

    promotion_id: str
    provider_id: str
    namespace: str
    service_slug: str
    version: int
    content_hash: str


@dataclass(frozen=True)
class PromotionCheck:
    name: str
    passed: bool
    detail: str


@dataclass(frozen=True)
class CheckResult:
    checks: list[PromotionCheck]

    @property
    def passed(self) -> bool:
        return all(check.passed for check in self.checks)


@dataclass(frozen=True)
class PromotionDecision:
    """A platform team member's decision; ``by`` is their staff subject (the engine checked their role)."""

    by: str
    reason: str = ""


@dataclass(frozen=True)
class PublishInput:
    promotion_id: str
    approved_by: str


@dataclass(frozen=True)
class PublishResult:
    catalogue_version: str


@dataclass(frozen=True)
class RejectInput:
    promotion_id: str
    rejected_by: str
    reason: str


@dataclass(frozen=True)
class PromotionState:
    status: PromotionStatus
    checks: list[PromotionCheck] = field(default_factory=list)
    decided_by: str = ""
    reason: str = ""
    catalogue_version: str = ""


def promotion_workflow_id(provider_id: str, service_slug: str, content_hash: str) -> str:
    """One promotion per service and content hash: asking again for the same definition joins it."""
    return f"sandbox-promotion:{provider_id}:{service_slug}:{content_hash[:24]}"


_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=200), maximum_interval=timedelta(seconds=10), maximum_attempts=20
)


@workflow.defn(name="SandboxPromotion")
class SandboxPromotionWorkflow:
    def __init__(self) -> None:
        self._status = PromotionStatus.CHECKING
        self._checks: list[PromotionCheck] = []
        self._decided_by = ""
        self._reason = ""
        self._catalogue_version = ""
        self._request: PromotionRequest | None = None
        # Set as a decision's handler starts, so a second decision is refused while the first one's activity runs.
        self._decided = False

    @workflow.run
    async def run(self, request: PromotionRequest) -> PromotionState:
        self._request = request
        result: CheckResult = await workflow.execute_activity(
            CHECK_PROMOTION,
            request,
            result_type=CheckResult,
            start_to_close_timeout=timedelta(minutes=2),
            retry_policy=_RETRY,
        )
        self._checks = list(result.checks)
        if not result.passed:
            self._status = PromotionStatus.CHECKS_FAILED
            return self._state()
        self._status = PromotionStatus.AWAITING_APPROVAL
        await workflow.wait_condition(lambda: self._status in _DONE)
        # An update's handler is still answering its caller when the status moves on: let it finish.
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._state()

    @workflow.query
    def state(self) -> PromotionState:
        return self._state()

    @workflow.update
    async def approve(self, decision: PromotionDecision) -> PromotionState:
        assert self._request is not None  # the validator refused any update before the checks passed
        self._decided, self._status, self._decided_by = True, PromotionStatus.PUBLISHING, decision.by
        try:
            published: PublishResult = await workflow.execute_activity(
                PUBLISH_PROMOTION,
                PublishInput(self._request.promotion_id, decision.by),
                result_type=PublishResult,
                start_to_close_timeout=timedelta(minutes=5),
                retry_policy=_RETRY,
            )
        except ActivityError as failed:
            cause = failed.cause
            self._reason = cause.message if isinstance(cause, ApplicationError) else str(cause or failed)
            self._status = PromotionStatus.FAILED
            return self._state()
        self._catalogue_version = published.catalogue_version
        self._status = PromotionStatus.LIVE
        return self._state()

    @approve.validator
    def _may_approve(self, decision: PromotionDecision) -> None:
        self._awaiting("approve", decision)

    @workflow.update
    async def reject(self, decision: PromotionDecision) -> PromotionState:
        assert self._request is not None
        self._decided, self._decided_by, self._reason = True, decision.by, decision.reason.strip()
        await workflow.execute_activity(
            REJECT_PROMOTION,
            RejectInput(self._request.promotion_id, decision.by, self._reason),
            start_to_close_timeout=timedelta(minutes=1),
            retry_policy=_RETRY,
        )
        self._status = PromotionStatus.REJECTED
        return self._state()

    @reject.validator
    def _may_reject(self, decision: PromotionDecision) -> None:
        self._awaiting("reject", decision)
        if not decision.reason.strip():
            raise ValueError("a rejection needs a reason the provider can act on")
        if len(decision.reason) > MAX_REASON:
            raise ValueError(f"the reason is longer than {MAX_REASON} characters")

    def _awaiting(self, action: str, decision: PromotionDecision) -> None:
        if not decision.by:
            raise ValueError("a decision names who made it")
        if self._decided and self._status == PromotionStatus.AWAITING_APPROVAL:
            raise ValueError(f"cannot {action}: another decision on this promotion is being recorded")
        if self._status != PromotionStatus.AWAITING_APPROVAL:
            raise ValueError(f"cannot {action}: the promotion is {self._status.value}, not AWAITING_APPROVAL")

    def _state(self) -> PromotionState:
        return PromotionState(self._status, list(self._checks), self._decided_by, self._reason, self._catalogue_version)


_DONE = frozenset({PromotionStatus.LIVE, PromotionStatus.REJECTED, PromotionStatus.FAILED})
