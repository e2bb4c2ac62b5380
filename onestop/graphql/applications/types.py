"""Application types: everything a frontend needs to render the current step without reading YAML."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime
from enum import Enum
from typing import cast

import strawberry
from strawberry.scalars import JSON

from onestop.catalogue.text import Lang
from onestop.engine import CITIZEN_ACTOR, ApplicationView, FieldSpec, IndexEntry, StepSpec, Text
from onestop.graphql.catalogue.types import Service, StepType
from onestop.graphql.context import Info_
from onestop.graphql.fields import field
from onestop.graphql.relay import Node, to_global_id


def localized(text: Text | None, lang: Lang) -> str | None:
    """Pick the request's language, falling back tc<->sc, then en (as LocalizedText.get does)."""
    if not text:
        return None
    order = {Lang.EN: ("en", "tc", "sc"), Lang.TC: ("tc", "sc", "en"), Lang.SC: ("sc", "tc", "en")}[lang]
    return next((text[k] for k in order if text.get(k)), None)


@strawberry.enum(description="Where an application stands.")
class ApplicationStatus(Enum):
    DRAFT = "DRAFT"
    SUBMITTED = "SUBMITTED"
    IN_REVIEW = "IN_REVIEW"
    NEEDS_INFO = "NEEDS_INFO"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"
    WITHDRAWN = "WITHDRAWN"
    EXPIRED = "EXPIRED"
    NOT_ELIGIBLE = "NOT_ELIGIBLE"


@strawberry.enum(description="Who wrote a timeline entry.")
class TimelineAuthor(Enum):
    SYSTEM = "SYSTEM"
    CITIZEN = "CITIZEN"
    DEPARTMENT = "DEPARTMENT"


@strawberry.enum(description="Progress of one step of an application.")
class StepState(Enum):
    DONE = "DONE"
    CURRENT = "CURRENT"
    TODO = "TODO"
    SKIPPED = "SKIPPED"


@strawberry.type
class FieldOption:
    value: str
    label: str


@strawberry.type(description="One input of the current step, with its constraints and current value.")
class FormField:
    spec: strawberry.Private[FieldSpec]
    view: strawberry.Private[ApplicationView | None]

    @field()
    def id(self) -> str:
        return self.spec.id

    @field(description="text, number, date, boolean, choice, multiChoice, email, phone, hkid, address or group.")
    def type(self) -> str:
        return self.spec.type

    @field()
    def label(self, info: Info_) -> str:
        return localized(self.spec.label, info.context.lang) or self.spec.id

    @field()
    def help(self, info: Info_) -> str | None:
        return localized(self.spec.help, info.context.lang)

    @field()
    def required(self) -> bool:
        return self.spec.required

    @field(description="Shown only when this CEL condition holds (null when always shown).")
    def condition(self) -> str | None:
        return self.spec.when

    @field()
    def options(self, info: Info_) -> list[FieldOption]:
        return [FieldOption(value=o.value, label=localized(o.label, info.context.lang) or o.value)
                for o in self.spec.options]

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

    @field(description="The fields of each entry of a repeatable group.")
    def fields(self) -> list[FormField]:
        return [FormField(spec=f, view=None) for f in self.spec.fields]


@strawberry.type(description="The step the citizen is on, ready to render.")
class CurrentStep:
    spec: strawberry.Private[StepSpec]
    view: strawberry.Private[ApplicationView]

    @field()
    def id(self) -> str:
        return self.spec.id

    @field()
    def type(self) -> StepType:
        return StepType(self.spec.type)

    @field()
    def title(self, info: Info_) -> str:
        return localized(self.spec.title, info.context.lang) or self.spec.id

    @field(description="Form description, prefill purpose, consent statement or exit message.")
    def description(self, info: Info_) -> str | None:
        text = self.spec.description or self.spec.purpose or self.spec.statement or self.spec.message
        return localized(text, info.context.lang)

    @field()
    def fields(self) -> list[FormField]:
        return [FormField(spec=f, view=self.view) for f in self.spec.fields]

    @field(description="Prefill steps: the data items (provider.item) the citizen is asked to share.")
    def items(self) -> list[str]:
        return list(self.spec.items)

    @field(description="Consent steps: declining blocks progress.")
    def consent_required(self) -> bool:
        return self.spec.consent_required

    @field(description="Step-up steps: the assurance level id needed.")
    def assurance(self) -> str | None:
        return self.spec.assurance

    @field(description="Step-up steps: how recent the sign-in must be, in seconds.")
    def max_age(self) -> int | None:
        return self.spec.max_age_seconds


@strawberry.type
class ApplicationStep:
    id: str
    type: StepType
    title: str
    state: StepState


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
    def of(cls, view: ApplicationView) -> Application:
        return cls(summary=view)

    async def view(self) -> ApplicationView:
        if isinstance(self.summary, ApplicationView):
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

    @field()
    def status(self) -> ApplicationStatus:
        return ApplicationStatus(self.summary.status)

    @field()
    def reference_number(self) -> str | None:
        return self.summary.reference_number

    @field(description="The service version this application started with and keeps.")
    async def definition_version(self) -> int:
        return (await self.view()).service_version

    @field()
    async def definition_hash(self) -> str:
        return (await self.view()).content_hash

    @field()
    def department(self) -> str:
        return self.summary.department

    @field()
    async def current_step(self) -> CurrentStep | None:
        view = await self.view()
        spec = view.current_step
        return None if spec is None else CurrentStep(spec=spec, view=view)

    @field()
    async def steps(self, info: Info_) -> list[ApplicationStep]:
        return [ApplicationStep(id=s.id, type=StepType(s.type), title=localized(s.title, info.context.lang) or s.id,
                                state=StepState(s.state)) for s in (await self.view()).outline]

    @field(description="Answers so far, by field id.")
    async def answers(self) -> JSON:
        return cast(JSON, dict((await self.view()).answers))

    @field()
    async def timeline(self) -> list[TimelineEvent]:
        return [TimelineEvent(at=t.at, status=ApplicationStatus(t.status), message=t.message,
                              author=_author(t.actor)) for t in (await self.view()).timeline]

    @field(description="Why the application ended as not eligible.")
    async def exit_message(self, info: Info_) -> str | None:
        return localized((await self.view()).exit_message, info.context.lang)

    @field()
    async def delivered(self) -> bool:
        return (await self.view()).delivered

    @field()
    def created_at(self) -> datetime:
        return self.summary.created_at

    @field()
    def updated_at(self) -> datetime:
        return self.summary.updated_at


def _author(actor: str | None) -> TimelineAuthor:
    if actor is None:
        return TimelineAuthor.SYSTEM
    return TimelineAuthor.CITIZEN if actor == CITIZEN_ACTOR else TimelineAuthor.DEPARTMENT
