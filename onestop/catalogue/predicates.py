"""Predicate prefill: a yes/no fact checked against an authoritative record, shared instead of the record.

``predicates: [{id: aged65OrOver, over: immd-records.date-of-birth, check: age >= 65}]`` on a prefill step asks
the gateway to read the record, evaluate ``check`` and hand on only the boolean; a field with
``prefill: aged65OrOver`` shows it. The consent artefact and the access log name the predicate (``ref``), so the
citizen sees what was asked, never the value.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import Field as Key

from onestop.catalogue.expressions import Expression, ExpressionError
from onestop.catalogue.models import DataRef, DefinitionModel
from onestop.catalogue.text import LocalizedText

PredicateId = Annotated[str, Key(pattern=r"^[a-z][A-Za-z0-9]*$", max_length=64)]
# What a check may read: the record's value, and for a date (of birth) the whole years since it.
VARIABLES = ("value", "age")
SEPARATOR = "?"


class Predicate(DefinitionModel):
    id: PredicateId = Key(description="names the boolean; a field with `prefill: <id>` shows it")
    over: DataRef = Key(description="the authoritative provider.item the check reads, e.g. immd-records.date-of-birth")
    check: Expression = Key(description="CEL over `value` (the record) and, for a date, `age` (whole years)")
    statement: LocalizedText | None = Key(default=None, description=(
        "what the consent screen says, e.g. 'We will confirm you are 65 or over. Your date of birth is not "
        "shared.'; generated from the check and the item's description when left out"))

    @property
    def ref(self) -> str:
        return predicate_ref(self.over, self.check.source)


def predicate_ref(over: str, check: str) -> str:
    """How consents and the access log name a predicate: the item, then the check (``item?check``)."""
    return f"{over}{SEPARATOR}{' '.join(check.split())}"


def split_ref(ref: str) -> tuple[str, str | None]:
    """``provider.item`` and the check of a predicate ref (None for a plain item)."""
    item, separator, check = ref.partition(SEPARATOR)
    return item, (check if separator else None)


def age_on(born: str, today: dt.date) -> int:
    """Whole years from an ISO date to ``today`` (a ``date``)."""
    year, month, day = (int(part) for part in born[:10].split("-"))
    return today.year - year - ((today.month, today.day) < (month, day))


def evaluate(check: str, value: Any, today: dt.date) -> bool:
    """The check over a record's value; raises ``ExpressionError`` when it cannot give true or false."""
    context: dict[str, Any] = {"value": value}
    if isinstance(value, str) and re.match(r"^\d{4}-\d{2}-\d{2}", value):
        context["age"] = age_on(value, today)
    return Expression(check).evaluate(context)


_AGE = re.compile(r"^\s*age\s*(>=|>|<=|<)\s*(\d+)\s*$")


def generated_statement(check: str, description: Mapping[str, str]) -> dict[str, str]:
    """A consent sentence for ``check`` over an item described by ``description``: what is confirmed, and that
    the record itself is not shared."""
    item = {lang: text[:1].lower() + text[1:] for lang, text in description.items()}
    match = _AGE.match(check)
    if match:
        op, years = match.group(1), int(match.group(2))
        threshold = {">=": years, ">": years + 1, "<=": years, "<": years - 1}[op]
        older = op in (">=", ">")
        en = f"We will confirm you are {threshold} or {'over' if older else 'under'}."
        tc = f"我們只會確認你{'年滿' if older else '未滿'}{threshold if older else threshold + 1}歲。"
        sc = f"我们只会确认你{'年满' if older else '未满'}{threshold if older else threshold + 1}岁。"
    else:
        en = f"We will confirm only whether this holds for your record: {check}."
        tc = f"我們只會確認你的紀錄是否符合：{check}。"
        sc = f"我们只会确认你的纪录是否符合：{check}。"
    return {
        "en": f"{en} Your {item.get('en', '')} is not shared.",
        "tc": f"{tc}{item.get('tc', '')}不會被分享。",
        "sc": f"{sc}{item.get('sc', item.get('tc', ''))}不会被分享。",
    }


def sample_issue(check: Expression, item_type: str) -> str | None:
    """Why ``check`` cannot be a predicate over an item of ``item_type``, or None when it can."""
    unknown = sorted(check.variables() - set(VARIABLES))
    if unknown:
        return f"'{unknown[0]}' is not known here: a predicate reads `value`, and `age` for a date"
    if "age" in check.variables() and item_type != "date":
        return "`age` is only known for a date item (such as a date of birth)"
    sample = {"date": "1950-01-01", "number": 1, "boolean": True}.get(item_type, "x")
    try:
        evaluate(check.source, sample, dt.date(2026, 1, 1))
    except ExpressionError as exc:
        return exc.problems[0].message
    return None
