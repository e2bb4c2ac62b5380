"""Application types: everything a frontend needs to render the current step without reading YAML."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime
from enum import Enum
from typing import TypeVar, cast

import strawberry
from strawberry.scalars import JSON

from onestop import engine
from onestop.catalogue import StepKind
from onestop.catalogue.functions import display
from onestop.catalogue.text import Lang, localized
from onestop.engine import (
    CITIZEN_ACTOR,
    ApplicationView,
    AppointmentSpec,
    ConsentSpec,
    ExitSpec,
    FieldProvenance,
    FieldSpec,
    FormSpec,
    IndexEntry,
    PaymentSpec,
    PredicateSpec,
    PrefillSpec,
    Status,
    StepSpec,
    StepUpSpec,
    dollars,
    editable,
    fields_of,
)
from onestop.graphql.appointments.types import Appointment, AppointmentStepDetails
from onestop.graphql.catalogue.types import ConsentItem, Department, FieldOption, Service, split_item
from onestop.graphql.context import Info_
from onestop.graphql.documents.types import Document
from onestop.graphql.fields import field
from onestop.graphql.notices.types import NoticeType
from onestop.graphql.payments.types import Payment, payments_of
from onestop.graphql.relationships.types import ApplicationParty, acting_basis, application_parties
from onestop.graphql.relay import Node, to_global_id

T = TypeVar("T")

# Derived from the workflow's Status, never copied: a new status reaches the schema by itself.
ApplicationStatus = Status
strawberry.enum(ApplicationStatus, name="ApplicationStatus", description="Where an application stands.")


@strawberry.enum(description="Who wrote a timeline entry.")
class TimelineAuthor(Enum):
    SYSTEM = "SYSTEM"
    CITIZEN = "CITIZEN"
    DEPARTMENT = "DEPARTMENT"


StepState = strawberry.enum(engine.StepState, name="StepState", description="Progress of one step of an application.")


@strawberry.type(description="One input of the current step, with its constraints and current value.")
class FormField:
    spec: strawberry.Private[FieldSpec]
    view: strawberry.Private[ApplicationView | None]
    # The request's language, given by the step that lists the field: its texts then resolve without an ``info``.
    lang: strawberry.Private[Lang]

    @field()
    def id(self) -> str:
        return self.spec.id

    @field(description="text, number, date, boolean, choice, multiChoice, email, phone, hkid, address or group.")
    def type(self) -> str:
        return self.spec.type

    @field()
    def label(self) -> str:
        return localized(self.spec.label, self.lang) or self.spec.id

    @field()
    def help(self) -> str | None:
        return localized(self.spec.help, self.lang)

    @field()
    def required(self) -> bool:
        return self.spec.required

    @field(description="Shown only when this CEL condition holds (null when always shown).")
    def condition(self) -> str | None:
        return self.spec.when

    @field()
    def options(self) -> list[FieldOption]:
        return [FieldOption(value=o.value, label=localized(o.label, self.lang) or o.value) for o in self.spec.options]

    @field(description="The current answer, or the prefilled value when the citizen consented to prefill.")
    def value(self) -> JSON | None:
        if self.view is None:
            return None
        if self.spec.id in self.view.answers:
            return self.view.answers[self.spec.id]  # type: ignore[no-any-return]
        prefilled = self.view.prefilled.get(self.spec.id)
        return None if prefilled is None else prefilled.value

    @field(description="True when the value came from government records (e-ME or a department).")
    def prefilled(self) -> bool:
        return self.view is not None and self.spec.id in self.view.prefilled

    @field(description="Where a prefilled value came from.")
    def source(self) -> str | None:
        if self.view is None or self.spec.id not in self.view.prefilled:
            return None
        return self.view.prefilled[self.spec.id].source

    @field(description="True when the field holds a prefilled value the citizen cannot change (a verified record's "
                       "value, unless the service allows editing); a different answer is refused.")
    def read_only(self) -> bool:
        prefilled = None if self.view is None else self.view.prefilled.get(self.spec.id)
        return prefilled is not None and not editable(self.spec, prefilled)

    @field(description="Smallest number, or minimum length for text.")
    def min(self) -> float | None:
        return self.spec.minimum if self.spec.type == "number" else (
            float(self.spec.min_length) if self.spec.min_length is not None else None)

    @field(description="Largest number, or maximum length for text.")
    def max(self) -> float | None:
        return self.spec.maximum if self.spec.type == "number" else (
            float(self.spec.max_length) if self.spec.max_length is not None else None)

    @field()
    def pattern(self) -> str | None:
        return self.spec.pattern

    @field(description="Date bounds: ISO date, 'today' or an offset like -P18Y.")
    def after(self) -> str | None:
        return self.spec.after

    @field()
    def before(self) -> str | None:
        return self.spec.before

    @field()
    def min_items(self) -> int | None:
        return self.spec.min_items

    @field()
    def max_items(self) -> int | None:
        return self.spec.max_items

    @field(description="A file field: the media types accepted, checked by the file's content.")
    def accept(self) -> list[str] | None:
        return [engine.DOCUMENT_KINDS[kind] for kind in self.spec.accept] if self.spec.type == "file" else None

    @field(description="A file field: the largest file, in bytes.")
    def max_bytes(self) -> int | None:
        return self.spec.max_bytes

    @field(description="A file field: whether the answer is a list of document ids.")
    def multiple(self) -> bool:
        return self.spec.multiple

    @field(description="The fields of each entry of a repeatable group.")
    def fields(self) -> list[FormField]:
        return [FormField(spec=f, view=None, lang=self.lang) for f in self.spec.fields]


@strawberry.type(description="A fact a prefill step confirms from an official record, sharing only yes or no.")
class PrefillPredicate:
    spec: strawberry.Private[PredicateSpec]

    @field(description="Names the answer: the field that shows it has `prefill: <id>`.")
    def id(self) -> str:
        return self.spec.id

    @field(description="The record checked (provider.item); it is read by the platform and not shared.")
    def item(self) -> str:
        return self.spec.over

    @field(description="The CEL check over the record, e.g. `age >= 65`.")
    def check(self) -> str:
        return self.spec.check

    @field(description="What the consent screen says, e.g. 'We will confirm you are 65 or over. Your date of "
                       "birth is not shared.'")
    def statement(self, info: Info_) -> str:
        return localized(self.spec.statement, info.context.lang) or self.spec.check


@strawberry.type(description="The step the citizen is on, ready to render.")
class CurrentStep:
    spec: strawberry.Private[StepSpec]
    view: strawberry.Private[ApplicationView]
    # The request's language: the step's texts and its fields' resolve without an ``info`` each.
    lang: strawberry.Private[Lang]

    @field()
    def id(self) -> str:
        return self.spec.id

    @field()
    def type(self) -> StepKind:
        return StepKind(self.spec.type)

    @field()
    def title(self) -> str:
        return localized(self.spec.title, self.lang) or self.spec.id

    @field(description="Form description, prefill purpose, consent statement or exit message.")
    def description(self) -> str | None:
        match self.spec:
            case ExitSpec(message=text):
                # With its computed values filled in ("Your assets of HK$500,000 are above ...").
                return localized(self.view.exit_message or text, self.lang)
            case (FormSpec(description=text) | PrefillSpec(purpose=text) | ConsentSpec(statement=text)
                  | AppointmentSpec(description=text) | PaymentSpec(description=text)):
                return localized(text, self.lang)
            case _:
                return None

    @field()
    def fields(self) -> list[FormField]:
        return [FormField(spec=f, view=self.view, lang=self.lang) for f in fields_of(self.spec)]

    @field(description="Prefill and consent steps: the data items (provider.item) the citizen is asked to share.")
    def items(self) -> list[str]:
        return list(self.spec.items) if isinstance(self.spec, PrefillSpec | ConsentSpec) else []

    @field(description="Prefill and consent steps: the data items asked for, each with its description in the "
                       "request's language.")
    def data_items(self) -> list[ConsentItem]:
        return [split_item(reference) for reference in self.items()]

    @field(description="Prefill and consent steps: whose data is fetched or shared: you, or the person you act for "
                       "(with their name). Null for other steps.")
    async def data_subject(self, info: Info_) -> ApplicationParty | None:
        if not isinstance(self.spec, PrefillSpec | ConsentSpec):
            return None
        actor, subject = await application_parties(info, self.view.application_id)
        return actor if isinstance(self.spec, PrefillSpec) and self.spec.of_actor else subject

    @field(description="Prefill and consent steps, acting for someone else: on what right their data is fetched "
                       "(as their parent, under their mandate, as their appointed guardian). Null for yourself.")
    async def acting_basis(self, info: Info_) -> str | None:
        if not isinstance(self.spec, PrefillSpec | ConsentSpec) or (
                isinstance(self.spec, PrefillSpec) and self.spec.of_actor):
            return None
        return await acting_basis(info, self.view.application_id)

    @field(description="Consent steps: the departments the consent is given to, with their names.")
    def recipients(self, info: Info_) -> list[Department]:
        known = info.context.snapshot.catalogue.departments
        return [Department(model=known[code]) for code in self.departments() if code in known]

    @field(description="Consent steps: the departments the consent is given to; each gets a revocable consent "
                       "record listed in viewer.consents. Empty for a statement the citizen only acknowledges.")
    def departments(self) -> list[str]:
        return list(self.spec.departments) if isinstance(self.spec, ConsentSpec) else []

    @field(description="Consent steps: why the data is shared, when the definition states it apart from the "
                       "statement.")
    def purpose(self) -> str | None:
        if isinstance(self.spec, ConsentSpec) and self.spec.purpose is not None:
            return localized(self.spec.purpose, self.lang)
        return None

    @field(description=(
        "Prefill steps: yes/no facts checked against an official record; only the answer is shared, never the "
        "record. Show each one's statement on the consent screen."))
    def predicates(self) -> list[PrefillPredicate]:
        return [PrefillPredicate(spec=p) for p in self.spec.predicates] if isinstance(self.spec, PrefillSpec) else []

    @field(description="Consent steps: declining blocks progress.")
    def consent_required(self) -> bool:
        return isinstance(self.spec, ConsentSpec) and self.spec.consent_required

    @field(description="Step-up steps: the assurance level id needed.")
    def assurance(self) -> str | None:
        return self.spec.assurance if isinstance(self.spec, StepUpSpec) else None

    @field(description="Step-up steps: how recent the sign-in must be, in seconds.")
    def max_age(self) -> int | None:
        return self.spec.max_age_seconds if isinstance(self.spec, StepUpSpec) else None

    @field(description="Payment steps: the fee due in the currency's units (HK dollars), computed from the "
                       "answers; null for other steps.")
    def amount(self) -> float | None:
        cents = self.view.amount_due_cents if isinstance(self.spec, PaymentSpec) else None
        return None if cents is None else cents / 100

    @field(description="Payment steps: the fee as shown to people, e.g. HK$900.")
    def amount_text(self) -> str | None:
        cents = self.view.amount_due_cents if isinstance(self.spec, PaymentSpec) else None
        return None if cents is None else dollars(cents)

    @field(description="Payment steps: the currency (HKD).")
    def currency(self) -> str | None:
        return self.spec.currency if isinstance(self.spec, PaymentSpec) else None

    @field(description="Appointment steps: the offices and their free slots; book with bookAppointment.")
    def appointment(self) -> AppointmentStepDetails | None:
        if not isinstance(self.spec, AppointmentSpec):
            return None
        return AppointmentStepDetails(spec=self.spec, service_id=self.view.service_id)


@strawberry.type(description="A value the service computes from the answers (e.g. total assets).")
class ComputedValue:
    name: str
    value: JSON | None = strawberry.field(description="The value as computed: a number, text, boolean or list.")
    text: str = strawberry.field(description="The value as messages show it.")


@strawberry.type
class ApplicationStep:
    id: str
    type: StepKind
    title: str
    state: engine.StepState


@strawberry.type(description="Where one answer came from.")
class AnswerProvenance:
    field: str = strawberry.field(description="The field id.")
    source: str = strawberry.field(description=(
        "The department whose record prefilled the field (e.g. IMMD), or `citizen` when the citizen typed it."))
    verified: bool = strawberry.field(description="The answer is an authoritative record's value, unchanged.")
    prefilled: bool
    changed: bool = strawberry.field(description="The citizen replaced the prefilled value.")
    original: JSON | None = strawberry.field(description="The prefilled value, kept when the citizen changed it.")

    @classmethod
    def of(cls, entry: FieldProvenance) -> AnswerProvenance:
        return cls(field=entry.field, source=entry.source, verified=entry.verified, prefilled=entry.prefilled,
                   changed=entry.changed, original=entry.original)


@strawberry.type
class TimelineEvent:
    at: datetime
    status: ApplicationStatus
    message: str | None
    author: TimelineAuthor


@strawberry.type(description="A citizen's application for a service.")
class Application(Node):
    # A list entry starts from its application index entry and loads the rest on demand.
    summary: strawberry.Private[IndexEntry | ApplicationView]
    # Fetches the full state (a workflow query) the first time a field needs more than the summary.
    load: strawberry.Private[Callable[[], Awaitable[ApplicationView]] | None] = None
    _loading: strawberry.Private[asyncio.Task[ApplicationView] | None] = None

    @classmethod
    def of(cls, view: ApplicationView, load: Callable[[], Awaitable[ApplicationView]] | None = None) -> Application:
        """``load`` fetches the whole view for the fields a partial one (an action's brief answer) leaves out."""
        return cls(summary=view, load=load)

    async def view(self) -> ApplicationView:
        if isinstance(self.summary, ApplicationView) and not self.summary.partial:
            return self.summary
        if self._loading is None:
            assert self.load is not None, "an Application from a summary needs a loader"
            self._loading = asyncio.ensure_future(self.load())
        return await self._loading

    @field(description="Opaque global id.")
    def id(self) -> strawberry.ID:
        return strawberry.ID(to_global_id("Application", self.summary.application_id))

    @field(description="The service as currently published (the application itself runs definitionVersion).")
    def service(self, info: Info_) -> Service | None:
        model = info.context.snapshot.catalogue.service(self.summary.service_id)
        return None if model is None else Service(model=model)

    @field()
    def service_slug(self) -> str:
        return self.summary.service_id

    @field(description="Who acts on the application: the applicant, or a parent or mandate holder for the subject.")
    async def actor(self, info: Info_) -> ApplicationParty:
        return (await application_parties(info, self.summary.application_id))[0]

    @field(description="Whom the application is about: the applicant themself, or the person acted for.")
    async def subject(self, info: Info_) -> ApplicationParty:
        return (await application_parties(info, self.summary.application_id))[1]

    @field()
    def status(self) -> ApplicationStatus:
        return ApplicationStatus(self.summary.status)

    @field()
    def reference_number(self) -> str | None:
        return self.summary.reference_number

    async def screen(self) -> ApplicationView:
        """The view for what an action's answer holds whole (even partial): step, outline, status, version."""
        return self.summary if isinstance(self.summary, ApplicationView) else await self.view()

    @field(description="The emails and SMS sent to the applicant about it, oldest first (its owner only; empty "
                       "for staff and anonymous applicants).")
    async def notices(self, info: Info_) -> list[NoticeType]:
        principal = await info.context.principal()
        if principal is None or principal.kind != "citizen":
            return []
        engine = info.context.engine
        citizen_ref = await engine.applicants.ref_of(principal)
        if citizen_ref != self.summary.citizen_ref:
            return []
        return [NoticeType.of(n) for n in await engine.notices.for_application(self.summary.application_id,
                                                                             citizen_ref)]

    @field(description="The service version this application started with and keeps.")
    async def definition_version(self) -> int:
        return (await self.screen()).service_version

    @field()
    async def definition_hash(self) -> str:
        return (await self.screen()).content_hash

    @field()
    def department(self) -> str:
        return self.summary.department

    # ``current_step`` and ``steps`` answer at once from an action's view (not coroutines): graphql-core runs two or
    # more coroutine fields of an object as tasks under a gather, on every answer. Loading a list entry's view, they
    # return a coroutine, which graphql-core awaits the same way.
    @field()
    def current_step(self, info: Info_) -> CurrentStep | None:
        lang = info.context.lang
        if isinstance(self.summary, ApplicationView):
            return _current_step(self.summary, lang)
        return cast(CurrentStep | None, self._loaded(lambda view: _current_step(view, lang)))

    async def _loaded(self, render: Callable[[ApplicationView], T]) -> T:
        return render(await self.view())

    @field(description="The files uploaded for this application (POST /documents) and not removed or deleted "
                        "yet, each with its virus scan status.")
    async def documents(self, info: Info_) -> list[Document]:
        found = await info.context.engine.documents.for_application(self.summary.application_id)
        return [Document(model=d) for d in found]

    @field()
    def steps(self, info: Info_) -> list[ApplicationStep]:
        lang = info.context.lang
        if isinstance(self.summary, ApplicationView):
            return _steps(self.summary, lang)
        return cast(list[ApplicationStep], self._loaded(lambda view: _steps(view, lang)))

    @field(description="Answers so far, by field id.")
    async def answers(self) -> JSON:
        return cast(JSON, dict((await self.view()).answers))

    @field(description="The service's computed values over the answers so far (those that can be computed yet), "
                       "as the review step shows them and the department receives them.")
    async def computed(self) -> list[ComputedValue]:
        return [ComputedValue(name=name, value=cast(JSON, value), text=display(value))
                for name, value in (await self.view()).computed.items()]

    @field(description="Where each answer came from, in the form's order: what the department relies on.")
    async def provenance(self) -> list[AnswerProvenance]:
        return [AnswerProvenance.of(p) for p in (await self.view()).provenance]

    @field(description="Appointments booked by the application's appointment steps (held, or confirmed once "
                       "submitted), each with its .ics calendar file.")
    async def appointments(self) -> list[Appointment]:
        view = await self.view()
        return [Appointment(booking=b, service_id=view.service_id, reference=view.reference_number)
                for b in view.bookings]

    @field()
    async def timeline(self) -> list[TimelineEvent]:
        return [TimelineEvent(at=t.at, status=t.status, message=t.message,
                              author=_author(t.actor)) for t in (await self.view()).timeline]

    @field(description="Why the application ended as not eligible.")
    async def exit_message(self, info: Info_) -> str | None:
        return localized((await self.screen()).exit_message, info.context.lang)

    @field(description="Every payment attempt of the application's payment steps, oldest first: status, amount, "
                       "provider reference and signed receipt (for the citizen and the department alike).")
    async def payments(self) -> list[Payment]:
        view = await self.view()
        return payments_of(view.application_id, view.payments)

    @field(description="The latest payment attempt, or null when the application has none.")
    async def payment(self) -> Payment | None:
        view = await self.view()
        return payments_of(view.application_id, view.payments[-1:])[0] if view.payments else None

    @field()
    async def delivered(self) -> bool:
        return (await self.view()).delivered

    @field()
    async def created_at(self) -> datetime:
        return (await self._dated()).created_at

    @field()
    async def updated_at(self) -> datetime:
        return (await self._dated()).updated_at

    async def _dated(self) -> IndexEntry | ApplicationView:
        # A partial view's times are placeholders.
        partial = isinstance(self.summary, ApplicationView) and self.summary.partial
        return await self.view() if partial else self.summary


def _current_step(view: ApplicationView, lang: Lang) -> CurrentStep | None:
    spec = view.current_step
    return None if spec is None else CurrentStep(spec=spec, view=view, lang=lang)


# The steps of the outlines a snapshot shares among its brief answers (``SnapshotStore``), by outline and language:
# the same few lists of steps answer every action. Each entry keeps its outline alive, so its id stays its own.
_STEPS: dict[tuple[int, Lang], tuple[object, list[ApplicationStep]]] = {}
_STEPS_KEPT = 4_096


def _steps(view: ApplicationView, lang: Lang) -> list[ApplicationStep]:
    outline = view.outline
    key = (id(outline), lang)
    found = _STEPS.get(key) if view.partial else None
    if found is not None and found[0] is outline:
        return found[1]
    steps = [ApplicationStep(id=s.id, type=s.type, title=localized(s.title, lang) or s.id, state=s.state)
             for s in outline]
    if view.partial:
        if len(_STEPS) >= _STEPS_KEPT:
            _STEPS.clear()
        _STEPS[key] = (outline, steps)
    return steps


def _author(actor: str | None) -> TimelineAuthor:
    if actor is None:
        return TimelineAuthor.SYSTEM
    return TimelineAuthor.CITIZEN if actor == CITIZEN_ACTOR else TimelineAuthor.DEPARTMENT
