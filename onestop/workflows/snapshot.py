"""The pinned, self-contained definition a running application interprets.

Built once from a catalogue ``Service`` when the application starts and carried in the workflow input, so a
new YAML version never changes a running application. Plain dataclasses keep it cheap to (de)serialise in
the workflow sandbox; new fields must have defaults so recorded histories still decode.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal

Text = dict[str, str]
"""Multilingual text: ``{"en": ..., "tc": ..., "sc": ...}``."""


@dataclass(frozen=True)
class OptionSpec:
    value: str
    label: Text


@dataclass(frozen=True)
class RuleSpec:
    check: str
    message: Text


@dataclass(frozen=True)
class FieldSpec:
    id: str
    type: str
    label: Text
    required: bool = False
    when: str | None = None
    help: Text | None = None
    prefill: str | None = None
    rules: list[RuleSpec] = field(default_factory=list)
    min_length: int | None = None
    max_length: int | None = None
    pattern: str | None = None
    multiline: bool = False
    minimum: float | None = None
    maximum: float | None = None
    integer: bool = False
    after: str | None = None
    before: str | None = None
    options: list[OptionSpec] = field(default_factory=list)
    min_items: int | None = None
    max_items: int | None = None
    fields: list[FieldSpec] = field(default_factory=list)
    # None: a verified prefilled value is read-only, any other editable; True/False: always editable/read-only.
    prefill_editable: bool | None = None
    # File fields: the accepted kinds (by content), the largest file, a list of files or one, the retention.
    accept: list[str] = field(default_factory=list)
    max_bytes: int | None = None
    multiple: bool = False
    delete_after_decision_days: int | None = None


# One frozen dataclass per step kind, each tagged by a ``type`` literal. Temporal's converters decode
# ``StepSpec`` by trying each member in turn: only the one whose literal matches the JSON's ``type`` accepts it,
# and keys a member does not declare are ignored, so snapshots written when every step carried all twenty keys
# of one flat class still decode to the right kind (the recorded histories prove it).


@dataclass(frozen=True, kw_only=True)
class _Step:
    id: str
    title: Text
    when: str | None = None


@dataclass(frozen=True, kw_only=True)
class FormSpec(_Step):
    type: Literal["form"] = "form"
    description: Text | None = None
    fields: list[FieldSpec] = field(default_factory=list)


@dataclass(frozen=True)
class PredicateSpec:
    """A yes/no fact checked against ``over`` by the gateway; only the boolean reaches the application."""

    id: str
    over: str
    check: str
    statement: Text


@dataclass(frozen=True, kw_only=True)
class PrefillSpec(_Step):
    type: Literal["prefill"] = "prefill"
    purpose: Text
    items: list[str] = field(default_factory=list)
    lawful_basis: str = "consent"
    mode: str = "one-off"
    valid_for_seconds: int | None = None
    predicates: list[PredicateSpec] = field(default_factory=list)
    # `of: actor`: the records of the person acting, not of the subject the application is about.
    of_actor: bool = False


@dataclass(frozen=True, kw_only=True)
class ConsentSpec(_Step):
    type: Literal["consent"] = "consent"
    statement: Text
    consent_required: bool = False
    # Structured consent: each department gets a signed consent record; none for a free-text statement.
    departments: list[str] = field(default_factory=list)
    items: list[str] = field(default_factory=list)
    purpose: Text | None = None


@dataclass(frozen=True, kw_only=True)
class StepUpSpec(_Step):
    type: Literal["stepUp"] = "stepUp"
    assurance: str
    max_age_seconds: int | None = None


@dataclass(frozen=True, kw_only=True)
class ReviewSpec(_Step):
    type: Literal["review"] = "review"
    fields: list[FieldSpec] = field(default_factory=list)


@dataclass(frozen=True, kw_only=True)
class SubmitSpec(_Step):
    type: Literal["submit"] = "submit"
    department: str | None = None
    endpoint: str | None = None


@dataclass(frozen=True, kw_only=True)
class ExitSpec(_Step):
    type: Literal["exit"] = "exit"
    message: Text


@dataclass(frozen=True, kw_only=True)
class PaymentSpec(_Step):
    type: Literal["payment"] = "payment"
    description: Text
    # A CEL expression in HK dollars over answers, computed values and ``fees`` (a number is a constant).
    amount: str
    currency: str = "HKD"
    refundable: bool = True


@dataclass(frozen=True, kw_only=True)
class AppointmentSpec(_Step):
    """Book one slot at one office; the slot calendar is in ``workflows/slots.py``."""

    type: Literal["appointment"] = "appointment"
    description: Text | None = None
    offices: list[OptionSpec] = field(default_factory=list)
    # Per weekday, Monday first: opening periods as [start, end] minutes after midnight, Hong Kong time.
    hours: list[list[list[int]]] = field(default_factory=list)
    slot_minutes: int = 15
    capacity: int = 1
    closed: list[str] = field(default_factory=list)
    hold_seconds: int = 900
    book_ahead_seconds: int = 90 * 24 * 3600
    min_notice_seconds: int = 24 * 3600
    # How long before the appointment its reminder goes out (snapshots from before it was declarable: a day).
    reminder_seconds: int = 24 * 3600


StepSpec = (FormSpec | PrefillSpec | ConsentSpec | StepUpSpec | ReviewSpec | SubmitSpec | ExitSpec | AppointmentSpec
            | PaymentSpec)


def fields_of(step: StepSpec) -> list[FieldSpec]:
    """The fields a step asks for: a form's or a review's, none for the other kinds."""
    return step.fields if isinstance(step, FormSpec | ReviewSpec) else []


@dataclass(frozen=True)
class ComputedSpec:
    """A named value; ``step`` is the step it was declared on (None: the service)."""

    name: str
    expression: str
    step: str | None = None


@dataclass(frozen=True)
class NoticeSpec:
    """One event's notice templates (``{name}`` placeholders); ``before_seconds`` for notices sent ahead."""

    event: str
    subject: Text
    body: Text
    sms: Text
    before_seconds: int | None = None


@dataclass(frozen=True)
class ServiceSnapshot:
    id: str
    version: int
    content_hash: str
    department: str
    title: Text
    steps: list[StepSpec]
    assurance: str = "basic"
    # Assurance level ids, weakest first, so the workflow can rank levels without the catalogue.
    assurance_levels: list[str] = field(default_factory=lambda: ["basic", "standard", "face"])
    eligibility_when: str | None = None
    eligibility_message: Text | None = None
    draft_expiry_seconds: int = 30 * 24 * 3600
    submission_url: str | None = None
    # In evaluation order: each after the values it reads.
    computed: list[ComputedSpec] = field(default_factory=list)
    # The fee table in HK dollars by name; payment amounts read it as ``fees``.
    fees: dict[str, float] = field(default_factory=dict)
    # One per event. Snapshots pinned before notices existed have none, so their runs send none and record no
    # new commands: the pinned input decides, as ``ApplicationInput.behaviour`` does.
    notices: list[NoticeSpec] = field(default_factory=list)
    # login: none services: channel ("email", "phone") -> the field whose answer receives the notices.
    notice_contact: dict[str, str] = field(default_factory=dict)

    def notice(self, event: str) -> NoticeSpec | None:
        return next((n for n in self.notices if n.event == event), None)

    def step(self, step_id: str) -> StepSpec | None:
        return next((s for s in self.steps if s.id == step_id), None)

    def rank(self, level: str) -> int:
        return self.assurance_levels.index(level) if level in self.assurance_levels else -1

    @cached_property
    def number_types(self) -> Mapping[str, bool]:
        """The ``number`` fields (group members included): field id -> whether it is ``integer``.

        Read by every expression's context, many times per citizen action: walked once per snapshot (a pinned
        snapshot is one object for every application on its version). Not a field: never serialised or compared.
        """
        found: dict[str, bool] = {}

        def walk(specs: list[FieldSpec]) -> None:
            for spec in specs:
                if spec.type == "number":
                    found[spec.id] = spec.integer
                walk(spec.fields)

        for step in self.steps:
            walk(fields_of(step))
        return found
