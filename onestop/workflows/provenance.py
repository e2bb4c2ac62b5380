"""Where each answer came from: typed by the citizen, or prefilled from a record (verified or not, changed or not).

Pure and deterministic: the workflow computes it for its view and for the signed submission.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from onestop.workflows import interpreter as interp
from onestop.workflows.interpreter import Applicant, FieldError, Prefilled, Progress
from onestop.workflows.snapshot import FieldSpec, ServiceSnapshot, StepSpec, Text, fields_of

CITIZEN_SOURCE = "citizen"
"""The source of an answer the citizen typed (a prefilled value's source is the department holding the record)."""


@dataclass(frozen=True)
class FieldProvenance:
    field: str
    # The department whose record prefilled the field, or "citizen" when the citizen typed it.
    source: str
    verified: bool = False
    prefilled: bool = False
    changed: bool = False
    # The prefilled value the citizen replaced; kept only when they changed it.
    original: Any = None

    def as_json(self) -> dict[str, Any]:
        return {"field": self.field, "source": self.source, "verified": self.verified, "prefilled": self.prefilled,
                "changed": self.changed, "original": self.original}


def editable(spec: FieldSpec, prefilled: Prefilled) -> bool:
    """Whether the citizen may change a prefilled value: as the definition says, else only unverified values."""
    return spec.prefill_editable if spec.prefill_editable is not None else not prefilled.verified


def _original(spec: FieldSpec, prefilled: Prefilled, citizen: Applicant, today: date) -> Any:
    # Normalised as an answer would be (an HKID's brackets, a phone's +852), so only a real change counts.
    value = interp.validate_step(_one(spec), _form(spec), {spec.id: prefilled.value}, Progress(), citizen, today,
                                 bounded=False)[0].get(spec.id)
    return prefilled.value if value is None else value


def read_only_errors(step: StepSpec, answers: dict[str, Any], progress: Progress, citizen: Applicant,
                     today: date) -> list[FieldError]:
    """A read-only prefilled field answered with another value."""
    errors = []
    for spec in fields_of(step):
        prefilled = progress.prefilled.get(spec.id)
        if prefilled is None or spec.id not in answers or editable(spec, prefilled):
            continue
        if answers[spec.id] != _original(spec, prefilled, citizen, today):
            errors.append(FieldError([spec.id], "PREFILL_READ_ONLY", _text(
                "This value comes from an official record and cannot be changed here; keep it, or contact the "
                "department that holds the record.",
                "此資料來自官方紀錄，不能在此更改；請保留原值，或聯絡持有紀錄的部門。")))
    return errors


def provenance(snapshot: ServiceSnapshot, progress: Progress, citizen: Applicant, today: date
               ) -> list[FieldProvenance]:
    """One entry per answered field, in the definition's order."""
    found = []
    for step in snapshot.steps:
        for spec in fields_of(step):
            if spec.id not in progress.answers:
                continue
            prefilled = progress.prefilled.get(spec.id)
            if prefilled is None:
                found.append(FieldProvenance(spec.id, CITIZEN_SOURCE))
                continue
            original = _original(spec, prefilled, citizen, today)
            changed = progress.answers[spec.id] != original
            # The source stays the record's; a changed value is no longer verified, and the original is kept.
            found.append(FieldProvenance(spec.id, prefilled.source, verified=prefilled.verified and not changed,
                                         prefilled=True,
                                         changed=changed, original=original if changed else None))
    return found


def _one(spec: FieldSpec) -> ServiceSnapshot:
    return ServiceSnapshot(id="", version=1, content_hash="", department="", title={}, steps=[_form(spec)])


def _form(spec: FieldSpec) -> StepSpec:
    from onestop.workflows.snapshot import FormSpec

    return FormSpec(id="check", title={}, fields=[spec])


def _text(en: str, tc: str) -> Text:
    return {"en": en, "tc": tc}
