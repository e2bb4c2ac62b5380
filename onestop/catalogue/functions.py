"""The functions expressions may call beyond standard CEL: what means tests and messages need.

The ``cel`` package accepts Python callables through ``cel.Context``; these are pure and deterministic (no clock:
dates are ISO texts, ``today`` comes from the workflow), so a replay computes the same values. Each raises
``ValueError`` or ``TypeError`` on a wrong argument, which reaches authors as a type error at load time.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import cel


def _numbers(values: Any) -> list[int | float]:
    if not isinstance(values, list):
        raise TypeError(f"expected a list of numbers, got {type(values).__name__}")
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        raise TypeError("expected a list of numbers")
    return values


def _same_kind(values: Sequence[int | float]) -> None:
    # CEL keeps int and double apart; a sum that silently mixed them would hide the type error CEL would raise.
    if any(isinstance(v, float) for v in values) and any(isinstance(v, int) for v in values):
        raise TypeError("the list mixes int and double; convert with double() first")


def cel_sum(values: Any) -> int | float:
    """``sum(list)``: 0 for an empty list (an int; compare it, or give double() a non-empty list)."""
    numbers = _numbers(values)
    _same_kind(numbers)
    return sum(numbers)


def cel_min(values: Any) -> int | float:
    numbers = _numbers(values)
    if not numbers:
        raise ValueError("min of an empty list")
    _same_kind(numbers)
    return min(numbers)


def cel_max(values: Any) -> int | float:
    numbers = _numbers(values)
    if not numbers:
        raise ValueError("max of an empty list")
    _same_kind(numbers)
    return max(numbers)


def cel_count(values: Any) -> int:
    """``count(list)``: how many entries are true (a list of booleans, e.g. ``xs.map(x, x.age < 18)``)."""
    if not isinstance(values, list) or not all(isinstance(v, bool) for v in values):
        raise TypeError("count takes a list of booleans, e.g. count(answers.children.map(c, c.age < 18))")
    return sum(1 for v in values if v)


def _day(value: Any) -> date:
    if not isinstance(value, str):
        raise TypeError(f"expected a date as YYYY-MM-DD text, got {type(value).__name__}")
    return date.fromisoformat(value)


def age_on(birth: Any, on: Any) -> int:
    """``age_on(dateOfBirth, day)``: whole years between the two dates (a birthday on 29 February counts on 1 March
    in other years)."""
    born, day = _day(birth), _day(on)
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


def days_between(start: Any, end: Any) -> int:
    """``days_between(a, b)``: days from ``a`` to ``b``, negative when ``b`` is earlier."""
    return (_day(end) - _day(start)).days


def cel_round(value: Any, digits: Any = 0) -> float:
    """``round(x)`` or ``round(x, digits)``: half away from zero, as people round money (not Python's banker's)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError("round takes a number")
    if isinstance(digits, bool) or not isinstance(digits, int) or not 0 <= digits <= 6:
        raise TypeError("round's digits must be an int from 0 to 6")
    return float(Decimal(str(value)).quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP))


def hkd(value: Any) -> str:
    """``hkd(x)``: ``HK$1,234.50`` (whole dollars without cents: ``HK$422,000``)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError("hkd takes a number")
    amount = Decimal(str(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    sign = "-" if amount < 0 else ""
    text = f"{abs(amount):,.2f}"
    return f"{sign}HK${text.removesuffix('.00')}"


CUSTOM: dict[str, Callable[..., Any]] = {
    "sum": cel_sum, "min": cel_min, "max": cel_max, "count": cel_count, "age_on": age_on,
    "days_between": days_between, "round": cel_round, "hkd": hkd,
}
"""Name -> implementation, registered with every evaluation (load-time checks and the workflow alike)."""


def execute(program: Any, variables: dict[str, Any]) -> Any:
    """Run a compiled program over ``variables`` with the custom functions available."""
    return program.execute(cel.Context(variables, CUSTOM))


PLACEHOLDER = re.compile(r"\{([A-Za-z_]\w*)\}")
"""``{name}`` in a message: the computed value ``name``."""


def display(value: Any) -> str:
    """A computed value as a message shows it; money reads best through ``hkd()`` in the expression itself."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.2f}".removesuffix(".00")
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


def interpolate(text: Mapping[str, str], values: Mapping[str, Any]) -> dict[str, str]:
    """``{name}`` replaced by the computed value ``name``; other braces are left as written."""
    if not values:
        return dict(text)

    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        return display(values[name]) if name in values else match.group(0)

    return {lang: PLACEHOLDER.sub(one, message) for lang, message in text.items()}
