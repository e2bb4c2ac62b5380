"""Between HTML forms and answers: field names, reading a posted step, and showing answers back.

Every field posts under ``f.<id>``; a repeatable group's entries under ``f.<group>.<n>.<sub>`` with the entry
count in ``f.<group>.count``, so adding and removing entries works as plain form posts without JavaScript.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Protocol

ADDRESS_PARTS = ("flat", "floor", "block", "building", "street", "district", "region")


class FormData(Protocol):
    def get(self, key: str, default: Any = None) -> Any: ...

    def getlist(self, key: str) -> list[Any]: ...


@dataclass
class Parsed:
    """Answers read from a post, problems found before asking the API, and raw date parts to show again."""

    answers: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    raw: dict[str, str] = field(default_factory=dict)


def html_id(key: str) -> str:
    """The element id of a field key (``members.0.name``): the target of error-summary links."""
    return "f-" + key.replace(".", "-")


def error_key(path: Sequence[str] | None) -> str | None:
    """A userError's ``field`` path (``["input", "answers", "members", "0", "name"]``) as a field key."""
    parts = list(path or [])
    if "answers" in parts:
        rest = parts[parts.index("answers") + 1:]
        return ".".join(rest) if rest else None
    return None


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def read_field(spec: Mapping[str, Any], form: FormData, key: str, parsed: Parsed) -> tuple[bool, Any]:
    """(present, value) of one field posted under ``f.<key>``; local problems go to ``parsed.errors``."""
    name = f"f.{key}"
    kind = spec["type"]
    if kind == "date":
        parts = {part: _text(form, f"{name}.{part}") for part in ("day", "month", "year")}
        for part, value in parts.items():
            parsed.raw[f"{key}.{part}"] = value
        if not any(parts.values()):
            return False, None
        try:
            return True, date(int(parts["year"]), int(parts["month"]), int(parts["day"])).isoformat()
        except ValueError:
            parsed.errors[key] = "invalid_date"
            return False, None
    if kind == "number":
        text = _text(form, name)
        if not text:
            return False, None
        try:
            number = float(text.replace(",", ""))
        except ValueError:
            parsed.errors[key] = "invalid_number"
            parsed.raw[key] = text
            return False, None
        return True, int(number) if number.is_integer() else number
    if kind == "boolean":
        value = _text(form, name)
        if spec.get("required"):
            return True, value == "true"
        return (True, value == "true") if value in ("true", "false") else (False, None)
    if kind == "multiChoice":
        return True, [v for v in form.getlist(name) if isinstance(v, str) and v]
    if kind == "file":
        # The files kept from earlier uploads; new ones are uploaded by the page (``apply.py``) and added there.
        kept = [v for v in form.getlist(f"{name}.keep") if isinstance(v, str) and v]
        if spec.get("multiple"):
            return True, kept
        return (True, kept[-1]) if kept else (False, None)
    if kind == "address":
        address = {part: _text(form, f"{name}.{part}") for part in ADDRESS_PARTS}
        if not any(v for p, v in address.items() if p != "region"):
            return False, None
        return True, {p: v for p, v in address.items() if v}
    if kind == "group":
        count = entry_count(form, key)
        entries = []
        for index in range(count):
            entry: dict[str, Any] = {}
            for sub in spec.get("fields") or []:
                present, value = read_field(sub, form, f"{key}.{index}.{sub['id']}", parsed)
                if present:
                    entry[sub["id"]] = value
            entries.append(entry)
        return True, entries
    text = _text(form, name)
    return (True, text) if text else (False, None)


def entry_count(form: FormData, key: str) -> int:
    try:
        return max(0, min(int(_text(form, f"f.{key}.count") or 0), 100))
    except ValueError:
        return 0


def read_step(fields: Sequence[Mapping[str, Any]], form: FormData) -> Parsed:
    parsed = Parsed()
    for spec in fields:
        present, value = read_field(spec, form, spec["id"], parsed)
        if present:
            parsed.answers[spec["id"]] = value
    return parsed


def regroup(answers: dict[str, Any], action: str, fields: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Apply an ``add:<group>`` or ``remove:<group>:<n>`` button to the answers being edited."""
    verb, _, rest = action.partition(":")
    group, _, index = rest.partition(":")
    if not any(f["id"] == group and f["type"] == "group" for f in fields):
        return answers
    entries = list(answers.get(group) or [])
    if verb == "add":
        entries.append({})
    elif verb == "remove" and index.isdigit() and int(index) < len(entries):
        entries.pop(int(index))
    return {**answers, group: entries}


def display(value: Any, spec: Mapping[str, Any] | None, yes: str, no: str) -> str:
    """An answer as the citizen reads it on "Check your answers" and in the console."""
    options = {o["value"]: o["label"] for o in (spec or {}).get("options") or []}
    if isinstance(value, bool):
        return yes if value else no
    if isinstance(value, dict):
        return ", ".join(str(options.get(v, v)) for p in ADDRESS_PARTS if (v := value.get(p)))
    if isinstance(value, list):
        if value and isinstance(value[0], dict):
            return "; ".join(", ".join(str(v) for v in entry.values()) for entry in value)
        return ", ".join(str(options.get(v, v)) for v in value)
    if value is None:
        return ""
    return str(options.get(value, value)) if isinstance(value, str) else str(value)


def date_parts(value: Any) -> dict[str, str]:
    if isinstance(value, str) and len(value) == 10:
        year, month, day = value.split("-")
        return {"year": year, "month": str(int(month)), "day": str(int(day))}
    return {"year": "", "month": "", "day": ""}


def words(name: str) -> str:
    """A camelCase or snake_case name as words (``totalAssets`` -> ``Total assets``), for computed values."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", name).replace("_", " ").strip()
    return spaced[:1].upper() + spaced[1:].lower()
