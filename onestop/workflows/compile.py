"""Turn a catalogue ``Service`` into the self-contained snapshot a running application interprets."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from onestop.catalogue.models import duration
from onestop.workflows.snapshot import FieldSpec, OptionSpec, RuleSpec, ServiceSnapshot, StepSpec, Text


def _text(value: Any) -> Text:
    if value is None:
        return {}
    data = value.model_dump(mode="json") if hasattr(value, "model_dump") else dict(value)
    return {k: v for k, v in data.items() if isinstance(v, str)}


def _source(expression: Any) -> str | None:
    return None if expression is None else str(getattr(expression, "source", expression))


def _seconds(value: str | None) -> int | None:
    return None if value is None else int(duration(value).total_seconds())


def _options(field: Any, option_lists: Mapping[str, Sequence[Any]]) -> list[OptionSpec]:
    options = getattr(field, "options", None)
    if options is None and getattr(field, "option_list", None):
        options = option_lists.get(field.option_list, ())
    if field.type == "address":
        options = option_lists.get("districts", ())
    return [OptionSpec(o.value, _text(o.label)) for o in options or ()]


def _field(field: Any, option_lists: Mapping[str, Sequence[Any]]) -> FieldSpec:
    return FieldSpec(
        id=field.id, type=field.type, label=_text(field.label), required=field.required, when=_source(field.when),
        help=_text(field.help) if field.help else None, prefill=field.prefill,
        rules=[RuleSpec(_source(r.check) or "true", _text(r.message)) for r in field.rules],
        min_length=getattr(field, "min_length", None), max_length=getattr(field, "max_length", None),
        pattern=getattr(field, "pattern", None), multiline=getattr(field, "multiline", False),
        minimum=getattr(field, "min", None), maximum=getattr(field, "max", None),
        integer=getattr(field, "integer", False), after=getattr(field, "after", None),
        before=getattr(field, "before", None), options=_options(field, option_lists),
        min_items=getattr(field, "min_items", None), max_items=getattr(field, "max_items", None),
        fields=[_field(f, option_lists) for f in getattr(field, "fields", ())] if field.type == "group" else [],
    )


def _step(step: Any, option_lists: Mapping[str, Sequence[Any]]) -> StepSpec:
    common: dict[str, Any] = {"id": step.id, "type": step.type, "title": _text(step.title), "when": _source(step.when)}
    kind = step.type
    if kind in ("form", "review"):
        common["fields"] = [_field(f, option_lists) for f in step.fields]
        if kind == "form" and step.description is not None:
            common["description"] = _text(step.description)
    elif kind == "prefill":
        common.update(purpose=_text(step.purpose), items=list(step.items), lawful_basis=step.lawful_basis,
                      mode=step.mode, valid_for_seconds=_seconds(step.valid_for))
    elif kind == "consent":
        common.update(statement=_text(step.statement), consent_required=step.required)
    elif kind == "stepUp":
        common.update(assurance=step.assurance, max_age_seconds=_seconds(step.max_age))
    elif kind == "submit":
        common.update(department=step.department, endpoint=step.endpoint)
    elif kind == "exit":
        common.update(message=_text(step.message))
    return StepSpec(**common)


def snapshot_from_service(
    service: Any,
    *,
    assurance_levels: Sequence[str] = ("basic", "standard", "face"),
    option_lists: Mapping[str, Sequence[Any]] | None = None,
    submission_url: str | None = None,
) -> ServiceSnapshot:
    """The pinned definition: every text, rule and option list copied in, so later YAML changes cannot reach it."""
    lists = option_lists or {}
    eligibility = service.eligibility
    return ServiceSnapshot(
        id=service.id, version=service.version, content_hash=service.content_hash, department=service.department,
        title=_text(service.title), steps=[_step(s, lists) for s in service.steps], assurance=service.assurance,
        assurance_levels=list(assurance_levels),
        eligibility_when=_source(eligibility.when) if eligibility else None,
        eligibility_message=_text(eligibility.message) if eligibility else None,
        draft_expiry_seconds=_seconds(service.draft_expiry) or 30 * 24 * 3600,
        submission_url=submission_url,
    )
