"""RFC 8785 (JCS) canonical JSON, the bytes every content hash is taken over.

The ``rfc8785`` package is the reference but writes one value at a time in Python. Definitions are made of texts,
whole numbers, booleans and nulls, and for those the C ``json`` encoder with sorted keys and no spaces writes the
very same bytes: it escapes exactly what JCS escapes, and sorting by code point equals JCS's UTF-16 order while
every key stays inside the Basic Multilingual Plane. A float with a whole value (``max: 5`` read as 5.0) is
written by JCS as the integer, so it is encoded as one. Anything else (fractions and huge floats, whose ECMAScript
spelling differs from Python's, integers beyond 2**53, non-text keys, keys outside the BMP) goes to ``rfc8785``, so
the hash of a definition never depends on which path wrote it.
"""

from __future__ import annotations

import json
from typing import Any

import rfc8785

_INT_LIMIT = 2**53 - 1  # JCS numbers are IEEE doubles: larger integers are refused, as rfc8785 does
_BMP_END = "\uffff"

_encoder = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False,
                            check_circular=False)

_Slot = tuple[Any, Any, float]  # (list or dict, index or key, the float found there)


def _whole_floats(value: Any) -> list[_Slot] | None:
    """Where ``value`` holds whole-valued floats, or None when it holds anything the json encoder would write
    differently from JCS."""
    slots: list[_Slot] = []
    stack = [value]
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind is str or kind is bool or item is None:
            continue
        if kind is int:
            if not -_INT_LIMIT <= item <= _INT_LIMIT:
                return None
        elif kind is dict:
            for key, member in item.items():
                if type(key) is not str or (key and max(key) > _BMP_END):
                    return None
                if type(member) is float:
                    slots.append((item, key, member))
                else:
                    stack.append(member)
        elif kind is list:
            for index, member in enumerate(item):
                if type(member) is float:
                    slots.append((item, index, member))
                else:
                    stack.append(member)
        elif kind is tuple:
            if any(type(member) is float for member in item):
                return None
            stack.extend(item)
        else:
            return None
    if any(not number.is_integer() or abs(number) > _INT_LIMIT for _, _, number in slots):
        return None
    return slots


def canonical_json(value: Any) -> bytes:
    """The RFC 8785 serialisation of ``value`` (JSON data: dicts with text keys, lists, texts, numbers, null)."""
    if type(value) is float:
        return rfc8785.dumps(value)
    slots = _whole_floats(value)
    if slots is None:
        return rfc8785.dumps(value)
    try:
        for container, key, number in slots:
            container[key] = int(number)
        return _encoder.encode(value).encode("utf-8")
    except UnicodeEncodeError:
        return rfc8785.dumps(value)  # a lone surrogate: rfc8785 raises its own error for it
    finally:
        for container, key, number in slots:  # the caller's data is left as it was given
            container[key] = number
