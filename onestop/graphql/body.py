"""Strict JSON for request bodies: what a browser's ``JSON.stringify`` can send, and nothing that crashes later.

Python's ``json`` accepts more than RFC 8259 and JavaScript do: ``NaN``/``Infinity``, integers of any size (and
raises ValueError past 4,300 digits), lone surrogates from ``\\ud800`` escapes (which no UTF-8 encoder, SQLite or
Temporal payload can then store), and nesting until the interpreter's recursion limit. Each of those got past
the HTTP layer and failed deep inside as a 500; here they are refused with a reason before GraphQL runs.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, NoReturn

import orjson

# JavaScript's Number.MAX_SAFE_INTEGER: a larger integer does not survive a round trip through a browser.
MAX_SAFE_INTEGER = 2**53 - 1
_SURROGATE = re.compile("[\ud800-\udfff]")


class MalformedJSON(json.JSONDecodeError):
    """The body is not JSON we accept; ``reason`` says what to change.

    A JSONDecodeError, so strawberry treats it like any unparsable message (the WebSocket transport too).
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason, "", 0)
        self.reason = reason


def _refuse_constant(name: str) -> NoReturn:
    raise MalformedJSON(f"{name} is not JSON: send numbers as finite decimal values.")


def _integer(text: str) -> int:
    # Check the length first: int() of a 5,000-digit string raises ValueError, and slowly.
    if len(text.lstrip("-")) > len(str(MAX_SAFE_INTEGER)) or abs(value := int(text)) > MAX_SAFE_INTEGER:
        raise MalformedJSON(f"The integer {text[:20]}{'...' if len(text) > 20 else ''} is too large: "
                            f"integers must be within ±{MAX_SAFE_INTEGER} (2^53 - 1); send larger values as strings.")
    return value


def _number(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise MalformedJSON(f"The number {text[:20]} is too large to be a finite value.")
    return value


def decode(data: str | bytes, *, max_depth: int) -> Any:
    """The JSON value of ``data`` (UTF-8), or MalformedJSON for anything a strict reader refuses."""
    # orjson reads the common body several times faster; whatever it refuses, and any number it may have read
    # differently (beyond 2^53, where a huge integer becomes a float), is read again below, which decides.
    try:
        value = orjson.loads(data)
        _check_read(value, max_depth)
    except (orjson.JSONDecodeError, _Unsure):
        pass
    else:
        return value
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise MalformedJSON("The request body is not valid JSON text: encode it as UTF-8.") from None
    else:
        text = data
    try:
        if text.startswith("\ufeff"):  # as json.loads, which refuses a byte order mark before decoding
            raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", text, 0)
        value = _DECODER.decode(text)
    except RecursionError:
        raise _too_deep(max_depth) from None
    _check(value, max_depth)
    return value


# json.loads with these hooks would build this decoder again for every body.
_DECODER = json.JSONDecoder(parse_constant=_refuse_constant, parse_int=_integer, parse_float=_number)


def _too_deep(max_depth: int) -> MalformedJSON:
    return MalformedJSON(f"The JSON is nested too deeply: at most {max_depth} levels of arrays and objects.")


class _Unsure(Exception):
    """A number orjson read that ``json`` with our hooks might read otherwise (or refuse)."""


def _check(value: Any, max_depth: int, *, numbers: bool = False) -> None:
    # Iterative, so the check itself cannot run out of stack on what json.loads accepted.
    pending: list[tuple[Any, int]] = [(value, 0)]
    while pending:
        item, depth = pending.pop()
        if numbers and isinstance(item, int | float) and not -MAX_SAFE_INTEGER <= item <= MAX_SAFE_INTEGER:
            raise _Unsure  # NaN fails the comparison too
        if isinstance(item, str):
            if _SURROGATE.search(item):
                raise MalformedJSON("A string contains an unpaired UTF-16 surrogate (\\ud800-\\udfff), "
                                    "which is not text; send valid Unicode.")
        elif isinstance(item, dict | list):
            if depth >= max_depth:
                raise _too_deep(max_depth)
            if isinstance(item, dict):
                pending.extend((key, depth) for key in item)
                pending.extend((child, depth + 1) for child in item.values())
            else:
                pending.extend((child, depth + 1) for child in item)


def _check_read(value: Any, max_depth: int) -> None:
    """``_check`` with ``numbers`` of what orjson read, less its strings: orjson refuses unpaired surrogates (escaped
    or not, in keys and values alike), so only depth and numbers are left; the rest is visited in the same order."""
    pending: list[tuple[Any, int]] = [(value, 0)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict | list):
            if depth >= max_depth:
                raise _too_deep(max_depth)
            pending.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item)
                           if not isinstance(child, str))
        elif isinstance(item, int | float) and not -MAX_SAFE_INTEGER <= item <= MAX_SAFE_INTEGER:
            raise _Unsure  # NaN fails the comparison too


_PASSTHROUGH = orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_DATETIME


def encode(data: Any) -> str:
    """A response or WebSocket message: compact JSON, written by orjson (faster than ``json.dumps``).

    The same JSON value ``json.dumps`` writes, only spelled more compactly (characters rather than ``\\u`` escapes);
    what orjson refuses (an integer beyond 64 bits, a key that is not a string), or would write where ``json``
    refuses (a dataclass, a date or time: passed through, so they fail as before), is left to ``json``. One
    difference: a float that is not finite (a JSON scalar's NaN) is written as null, where ``json`` wrote ``NaN``,
    which is not JSON and broke clients' parsers. A string, as strawberry's WebSocket transport sends it as a text
    frame.
    """
    try:
        return orjson.dumps(data, option=_PASSTHROUGH).decode()
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return json.dumps(data, separators=(",", ":"))


def encode_bytes(data: Any) -> bytes:
    """``encode`` as the UTF-8 bytes an HTTP answer carries, without a round trip through ``str``."""
    try:
        return orjson.dumps(data, option=_PASSTHROUGH)
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return json.dumps(data, separators=(",", ":")).encode()
