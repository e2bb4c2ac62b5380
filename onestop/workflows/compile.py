"""Turn a catalogue ``Service`` into the self-contained snapshot a running application interprets."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from onestop.catalogue import (
    AddressField,
    AppointmentStep,
    ChoiceField,
    ConsentStep,
    DateField,
    ExitStep,
    Expression,
    Field,
    FileField,
    FormStep,
    GroupField,
    LocalizedText,
    MultiChoiceField,
    NumberField,
    Option,
    PaymentStep,
    PrefillStep,
    ReviewStep,
    Service,
    Step,
    StepUpStep,
    SubmitStep,
    TextField,
    computations,
    duration,
)
from onestop.catalogue.notices import NoticeEvent, notice_for
from onestop.workflows.snapshot import (
    AppointmentSpec,
    ComputedSpec,
    ConsentSpec,
    ExitSpec,
    FieldSpec,
    FormSpec,
    NoticeSpec,
    OptionSpec,
    PaymentSpec,
    PredicateSpec,
    PrefillSpec,
    ReviewSpec,
    RuleSpec,
    ServiceSnapshot,
    StepSpec,
    StepUpSpec,
    SubmitSpec,
    Text,
)

_DRAFT_EXPIRY_SECONDS = 30 * 24 * 3600


def _text(value: LocalizedText) -> Text:
    return {"en": value.en, "tc": value.tc, "sc": value.sc}


def _source(expression: Expression | None) -> str | None:
    return None if expression is None else expression.source


def _seconds(value: str | None) -> int | None:
    return None if value is None else int(duration(value).total_seconds())


def _options(options: Sequence[Option] | None) -> list[OptionSpec]:
    # The catalogue has already copied option lists and districts into the fields (resolve_options).
    return [OptionSpec(o.value, _text(o.label)) for o in options or ()]


def _field(field: Field) -> FieldSpec:
    spec = FieldSpec(
        id=field.id, type=field.type, label=_text(field.label), required=field.required, when=_source(field.when),
        help=_text(field.help) if field.help else None, prefill=field.prefill,
        rules=[RuleSpec(r.check.source, _text(r.message)) for r in field.rules],
        prefill_editable=field.prefill_editable,
    )
    match field:
        case TextField():
            return replace(spec, min_length=field.min_length, max_length=field.max_length, pattern=field.pattern,
                           multiline=field.multiline)
        case NumberField():
            return replace(spec, minimum=field.min, maximum=field.max, integer=field.integer)
        case DateField():
            return replace(spec, after=field.after, before=field.before)
        case MultiChoiceField():
            return replace(spec, options=_options(field.options), min_items=field.min_items,
                           max_items=field.max_items)
        case ChoiceField():
            return replace(spec, options=_options(field.options))
        case AddressField():
            return replace(spec, options=_options(field.districts))
        case FileField():
            return replace(spec, accept=list(field.accept), max_bytes=field.max_bytes, multiple=field.multiple,
                           min_items=field.min_items, max_items=field.max_items,
                           delete_after_decision_days=field.retention.delete_after_decision_days
                           if field.retention else None)
        case GroupField():
            return replace(spec, fields=[_field(f) for f in field.fields], min_items=field.min_items,
                           max_items=field.max_items)
        case _:
            return spec


def _step(step: Step, reminder: str = "P1D") -> StepSpec:
    """``reminder``: the appointment reminder's lead time where an appointment step declares none."""
    title, when = _text(step.title), _source(step.when)
    match step:
        case FormStep():
            description = _text(step.description) if step.description is not None else None
            return FormSpec(id=step.id, title=title, when=when, description=description,
                            fields=[_field(f) for f in step.fields])
        case PrefillStep():
            return PrefillSpec(id=step.id, title=title, when=when, purpose=_text(step.purpose),
                               items=list(step.items), lawful_basis=step.lawful_basis, mode=step.mode,
                               valid_for_seconds=_seconds(step.valid_for),
                               predicates=[PredicateSpec(p.id, p.over, p.check.source,
                                                         _text(p.statement) if p.statement else {})
                                           for p in step.predicates])
        case ConsentStep():
            return ConsentSpec(id=step.id, title=title, when=when, statement=_text(step.statement),
                               consent_required=step.required, departments=list(step.departments or ()),
                               items=list(step.items or ()),
                               purpose=_text(step.purpose) if step.purpose is not None else None)
        case StepUpStep():
            return StepUpSpec(id=step.id, title=title, when=when, assurance=step.assurance,
                              max_age_seconds=_seconds(step.max_age))
        case ReviewStep():
            return ReviewSpec(id=step.id, title=title, when=when, fields=[_field(f) for f in step.fields])
        case SubmitStep():
            return SubmitSpec(id=step.id, title=title, when=when, department=step.department,
                              endpoint=step.endpoint)
        case ExitStep():
            return ExitSpec(id=step.id, title=title, when=when, message=_text(step.message))
        case PaymentStep():
            return PaymentSpec(id=step.id, title=title, when=when, description=_text(step.description),
                               amount=step.amount.source, currency=step.currency, refundable=step.refundable)
        case AppointmentStep():
            return AppointmentSpec(
                id=step.id, title=title, when=when,
                description=_text(step.description) if step.description is not None else None,
                offices=_options(step.office_options), hours=[[list(p) for p in day] for day in step.hours.periods()],
                slot_minutes=step.slot_minutes, capacity=step.capacity, closed=list(step.closed_dates or ()),
                hold_seconds=_seconds(step.hold) or 0, book_ahead_seconds=_seconds(step.book_ahead) or 0,
                min_notice_seconds=_seconds(step.min_notice) or 0,
                reminder_seconds=_seconds(step.reminder.before if step.reminder is not None else reminder) or 0,
            )


def _appointment_reminder(service: Service) -> str:
    """The lead time of appointment reminders the service's steps do not set: its appointmentReminder notice's."""
    return notice_for(service.notices, NoticeEvent.APPOINTMENT_REMINDER).before or "P1D"


def _notices(service: Service) -> list[NoticeSpec]:
    specs = []
    for event in NoticeEvent:
        notice = notice_for(service.notices, event)
        specs.append(NoticeSpec(event.value, _text(notice.subject), _text(notice.body),
                                _text(notice.sms or notice.subject), _seconds(notice.before)))
    return specs


def _notice_contact(service: Service) -> dict[str, str]:
    contact = service.notices.contact if service.notices is not None else None
    if contact is None:
        return {}
    return {key: value for key, value in (("email", contact.email), ("phone", contact.phone)) if value}


def snapshot_from_service(
    service: Service,
    *,
    assurance_levels: Sequence[str] = ("basic", "standard", "face"),
    submission_url: str | None = None,
) -> ServiceSnapshot:
    """The pinned definition: every text, rule and option copied in, so later YAML changes cannot reach it."""
    eligibility = service.eligibility
    return ServiceSnapshot(
        id=service.id, version=service.version, content_hash=service.content_hash, department=service.department,
        title=_text(service.title), steps=[_step(s, _appointment_reminder(service)) for s in service.steps],
        assurance=service.assurance,
        assurance_levels=list(assurance_levels),
        eligibility_when=_source(eligibility.when) if eligibility else None,
        eligibility_message=_text(eligibility.message) if eligibility else None,
        draft_expiry_seconds=_seconds(service.draft_expiry) or _DRAFT_EXPIRY_SECONDS,
        submission_url=submission_url,
        computed=[ComputedSpec(name, expression.source, step) for name, expression, step in computations(service)],
        fees={name: fee.amount for name, fee in (service.fees or {}).items()},
        notices=_notices(service),
        notice_contact=_notice_contact(service),
    )
