"""Service steps: one model per ``type``, joined in the ``Step`` discriminated union."""

from __future__ import annotations

from collections.abc import Iterator
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field as Key
from pydantic import WithJsonSchema, model_validator

from onestop.catalogue.appointments import AppointmentReminder, OpeningHours
from onestop.catalogue.departments import HttpUrl
from onestop.catalogue.expressions import Expression
from onestop.catalogue.fees import AmountExpression
from onestop.catalogue.fields import Field, GroupField
from onestop.catalogue.models import DataRef, DefinitionModel, Duration, Slug
from onestop.catalogue.predicates import Predicate
from onestop.catalogue.taxonomy import Option
from onestop.catalogue.text import LocalizedText


class StepKind(StrEnum):
    """The kinds of step; each step model's ``type`` is one of these values, and GraphQL derives its enum here."""

    FORM = "form"
    PREFILL = "prefill"
    CONSENT = "consent"
    STEP_UP = "stepUp"
    REVIEW = "review"
    SUBMIT = "submit"
    EXIT = "exit"
    APPOINTMENT = "appointment"
    PAYMENT = "payment"


StepId = Annotated[str, Key(pattern=r"^[a-z][a-z0-9-]*$", max_length=64)]
ComputedName = Annotated[str, Key(pattern=r"^[a-z][A-Za-z0-9]*$", max_length=64)]
ComputedExpression = Annotated[Expression, WithJsonSchema({
    "type": "string", "maxLength": 500, "description": "a CEL expression; its value may be of any type"})]
Computations = dict[ComputedName, ComputedExpression]
"""``compute:``: named CEL expressions whose values conditions, rules and messages (``{name}``) can use."""


class StepBase(DefinitionModel):
    id: StepId
    title: LocalizedText
    when: Expression | None = Key(default=None, description="CEL; the step is skipped when false")
    compute: Computations | None = Key(default=None, description="named values computed from the answers before "
                                "this step; usable from this step on")

    def all_fields(self) -> Iterator[Field]:
        """Every field of the step, group members after their group."""
        yield from iter_fields(getattr(self, "fields", ()))


def iter_fields(fields: tuple[Field, ...]) -> Iterator[Field]:
    for field in fields:
        yield field
        if isinstance(field, GroupField):
            yield from iter_fields(field.fields)


class FormStep(StepBase):
    type: Literal["form"]
    description: LocalizedText | None = None
    fields: tuple[Field, ...] = Key(min_length=1)


class PrefillStep(StepBase):
    type: Literal["prefill"]
    purpose: LocalizedText
    items: tuple[DataRef, ...] = Key(default=(), description="provider.item references")
    predicates: tuple[Predicate, ...] = Key(default=(), description=(
        "yes/no facts checked against authoritative records: only the boolean is shared, never the record"))
    lawful_basis: str = "consent"
    mode: Literal["one-off", "standing"] = "one-off"
    valid_for: Duration | None = Key(default=None, description="standing consents only")

    @model_validator(mode="after")
    def _asks_for_something(self) -> PrefillStep:
        if not self.items and not self.predicates:
            raise ValueError("a prefill step needs `items` (provider.item) or `predicates`, or both")
        return self

    @model_validator(mode="after")
    def _valid_for_standing_only(self) -> PrefillStep:
        if self.valid_for is not None and self.mode != "standing":
            raise ValueError("validFor applies to standing consents only: set `mode: standing` or drop validFor")
        return self


class ConsentStep(StepBase):
    type: Literal["consent"]
    statement: LocalizedText
    required: bool = False
    departments: tuple[str, ...] | None = Key(default=None, description="the departments the consent is given to; each "
                                       "gets a signed, revocable consent record the citizen sees")
    items: tuple[DataRef, ...] | None = Key(default=None, description="provider.item references of the data concerned")
    purpose: LocalizedText | None = Key(default=None, description="why; the statement when not given")

    @model_validator(mode="after")
    def _structured_needs_departments(self) -> ConsentStep:
        # None rather than empty defaults: an old definition's content hash must not change.
        if (self.items or self.purpose is not None) and not self.departments:
            raise ValueError("name the departments the consent is given to (`departments: [IRD]`) "
                             "when you give items or a purpose")
        return self


class StepUpStep(StepBase):
    type: Literal["stepUp"]
    assurance: Slug
    max_age: Duration | None = Key(default=None, description="how recent the authentication must be, e.g. PT5M")


class ReviewStep(StepBase):
    type: Literal["review"]
    fields: tuple[Field, ...] = ()


class SubmitStep(StepBase):
    type: Literal["submit"]
    department: str | None = None
    endpoint: HttpUrl | None = None


class ExitStep(StepBase):
    type: Literal["exit"]
    message: LocalizedText


class PaymentStep(StepBase):
    type: Literal["payment"]
    description: LocalizedText = Key(description="what the citizen pays for; on the payment page and the receipt")
    amount: AmountExpression
    currency: Literal["HKD"] = "HKD"
    refundable: bool = Key(default=True, description="refund the fee when the application is withdrawn or "
                           "rejected after payment (it is always refunded when it cannot be delivered)")



class AppointmentStep(StepBase):
    """Book a time at one of the offices of an option list; capacity is held per slot by the engine."""

    type: Literal["appointment"]
    description: LocalizedText | None = None
    offices: Slug = Key(description="the option list whose options are the offices (values are office ids)")
    hours: OpeningHours = Key(description="opening periods per weekday, Hong Kong time")
    slot_minutes: int = Key(ge=5, le=480, description="length of one slot in minutes")
    capacity: int = Key(ge=1, le=10_000, description="bookings one slot of one office takes")
    holidays: Slug | None = Key(default=None, description="an option list of closed days: values are YYYY-MM-DD "
                                "dates (e.g. hk-public-holidays)")
    hold: Duration = Key(default="PT15M", description="how long a booked slot is held before the application "
                         "is submitted; unsubmitted, it is released")
    book_ahead: Duration = Key(default="P90D", description="how far ahead slots can be booked")
    min_notice: Duration = Key(default="P1D", description="the earliest slot is at least this far ahead")
    reminder: AppointmentReminder | None = Key(
        default=None, description="when the appointment reminder goes out ({before: P2D}); default: the service's "
        "notices.appointmentReminder.before, else P1D")
    office_options: tuple[Option, ...] | None = Key(
        default=None, description="filled from the `offices` option list at load; leave it out")
    closed_dates: tuple[str, ...] | None = Key(
        default=None, description="filled from the `holidays` option list at load; leave it out")


Step = Annotated[
    FormStep | PrefillStep | ConsentStep | StepUpStep | ReviewStep | SubmitStep | ExitStep | AppointmentStep
    | PaymentStep,
    Key(discriminator="type"),
]
