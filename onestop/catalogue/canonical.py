"""RFC 8785 (JCS) canonical JSON, the bytes every content hash is taken over.

Most values are written by orjson with sorted keys (see ``canonical_json``), checked on its output to hold nothing
it writes differently from JCS; the rest take the path below. The ``rfc8785`` package is the reference but writes
one value at a time in Python. Definitions are made of texts, whole numbers, booleans and nulls, and for those the
C ``json`` encoder with sorted keys and no spaces writes the
very same bytes: it escapes exactly what JCS escapes, and sorting by code point equals JCS's UTF-16 order while
every key stays inside the Basic Multilingual Plane. A float with a whole value (``max: 5`` read as 5.0) is
written by JCS as the integer, so it is encoded as one. Anything else (fractions and huge floats, whose ECMAScript
spelling differs from Python's, integers beyond 2**53, non-text keys, keys outside the BMP) goes to ``rfc8785``, so
the hash of a definition never depends on which path wrote it.
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson
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


# orjson refuses (and canonical_json then hands to the paths below) integers beyond 2**53 - 1, keys that are not
# texts, texts with lone surrogates, and subclasses, dataclasses and dates (which rfc8785 refuses too).
_ORJSON = (orjson.OPT_SORT_KEYS | orjson.OPT_STRICT_INTEGER | orjson.OPT_PASSTHROUGH_SUBCLASS
           | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_DATETIME)
# The shape of orjson's output, one byte for one: digits become "0", signs "+", "." and "e" stay, the first byte of
# a character beyond the Basic Multilingual Plane becomes "!", everything else a space. Every float orjson writes
# ("5.0", "0.5", "1e-7", "1e+16", "1e16") then shows as one of ``_FLOATS``, and an astral character as "!".
_SHAPE = bytes(ord("0") if 0x30 <= byte <= 0x39 else ord("+") if byte in b"+-" else byte if byte in b".e"
               else ord("!") if byte >= 0xF0 else ord(" ") for byte in range(256))
_FLOATS = (b"0.0", b"0e0", b"0e+")
# A float where a value starts (first, or after ":", "[" or ","): what the shape's hint is narrowed to before the
# slow way is taken, so that texts such as "x <= 23.0" in a condition do not send their service there.
_FLOAT = re.compile(rb"(?:^|[:\[,])-?[0-9]+(?:\.[0-9]|e)")


def canonical_json(value: Any) -> bytes:
    """The RFC 8785 serialisation of ``value`` (JSON data: dicts with text keys, lists, texts, numbers, null).

    orjson writes texts, integers, booleans, lists and sorted mappings the way JCS does: the same escapes (``\\n``,
    ``\\u001f``, nothing else escaped), UTF-8, no spaces. Where it would differ, the value goes the slower way:
    floats (Python spells them differently from ECMAScript), keys beyond the BMP (UTF-8 order is not JCS's UTF-16
    order there), and nulls (orjson writes NaN and infinities as null, where JCS refuses them). Those are found on
    the output: digits around a "." or "e" where a value starts (every float, and the odd text like "a,1.5",
    which merely goes the slow way),
    a 4-byte UTF-8 sequence, or ``null``. ``tests/catalogue/test_canonical.py`` checks the bytes against rfc8785.
    """
    try:
        written = orjson.dumps(value, option=_ORJSON)
    except TypeError:  # orjson.JSONEncodeError: anything above
        return _canonical_json(value)
    shape = written.translate(_SHAPE)
    if b"!" in shape or b"null" in written:
        return _canonical_json(value)
    if any(pattern in shape for pattern in _FLOATS) and _FLOAT.search(written):
        return _canonical_json(value)
    return written


def _canonical_json(value: Any) -> bytes:
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
