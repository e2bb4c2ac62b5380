"""Answers shown back in words: labels from the service's outline, provenance and computed values from the API.

The API keeps answers by field id; the service's outline (``Service.steps.fields``) names each field in the
page's language, so "Check your answers" and the console never show an id where a label exists.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from onestop.web import forms

ASKING = ("FORM", "REVIEW")


def fields_by_id(outline: Mapping[str, Any] | None) -> dict[str, tuple[str, Mapping[str, Any]]]:
    """Field id -> (step id, the field as the outline describes it), for every asking step."""
    found: dict[str, tuple[str, Mapping[str, Any]]] = {}
    for step in (outline or {}).get("steps") or []:
        for spec in step.get("fields") or []:
            found.setdefault(spec["id"], (step["id"], spec))
    return found


def _value(value: Any, spec: Mapping[str, Any] | None, yes: str, no: str) -> str:
    if spec is not None and spec.get("type") == "group" and isinstance(value, list):
        subs = {s["id"]: s for s in spec.get("fields") or []}
        return "; ".join(", ".join(_value(v, subs.get(k), yes, no) for k, v in entry.items())
                         for entry in value if isinstance(entry, dict))
    return forms.display(value, spec, yes, no)


def summary(application: Mapping[str, Any], outline: Mapping[str, Any] | None, *, yes: str, no: str,
            other: str, change: bool) -> list[dict[str, Any]]:
    """Sections of answered steps, each row with its label, value in words and where it came from."""
    known = fields_by_id(outline)
    answers: Mapping[str, Any] = application.get("answers") or {}
    origin = {p["field"]: p for p in application.get("provenance") or []}
    sections = []

    def row(field_id: str, label: str, spec: Mapping[str, Any] | None) -> dict[str, Any]:
        came = origin.get(field_id) or {}
        return {"id": field_id, "label": label, "value": _value(answers[field_id], spec, yes, no),
                "source": came.get("source") if came.get("prefilled") else None,
                "verified": bool(came.get("verified")), "changed": bool(came.get("changed"))}

    for step in application.get("steps") or []:
        if step["state"] != "DONE" or step["type"] not in ASKING:
            continue
        rows = [row(field_id, spec["label"], spec) for field_id, (step_id, spec) in known.items()
                if step_id == step["id"] and field_id in answers]
        if rows:
            sections.append({"id": step["id"], "title": step["title"], "rows": rows, "change": change})
    # Answers the current outline does not name (a field since removed): still all shown, by id.
    rest = [row(key, key, None) for key in answers if key not in known]
    if rest:
        sections.append({"id": "", "title": other, "rows": rest, "change": False})
    return sections
