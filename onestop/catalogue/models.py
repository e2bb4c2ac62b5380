"""The base of every definitions model, and the small value types they share."""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Mapping
from typing import Annotated, Any, Self, TypeVar, cast

import isodate
import orjson
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    SerializationInfo,
    SerializerFunctionWrapHandler,
    WrapSerializer,
)
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

# The names of the keys each model instance was given, one shared set per distinct combination. pydantic keeps a
# set per instance (216 bytes at the least), more than a loaded service's texts take: a tenth of a 10,000-service
# catalogue's memory went to copies of a few dozen sets. The models are frozen, so nothing adds to a shared set
# (``model_copy`` adds its updates to a copy of it, then shares the result).
_FIELDS_SETS: dict[frozenset[str], set[str]] = {}


def share_fields_set(model: BaseModel) -> None:
    """Swap the model's set of given keys for the shared equal one."""
    given = model.__pydantic_fields_set__
    object.__setattr__(model, "__pydantic_fields_set__", _FIELDS_SETS.setdefault(frozenset(given), given))


class DefinitionModel(BaseModel):
    """Frozen, strict about unknown keys, camelCase in YAML and JSON, snake_case in Python."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True, alias_generator=to_camel,
                              serialize_by_alias=True)

    def model_post_init(self, context: Any, /) -> None:
        share_fields_set(self)

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        copied = super().model_copy(update=update, deep=deep)
        share_fields_set(copied)
        return copied


@functools.lru_cache(maxsize=1024)
def _is_duration(value: str) -> bool:
    # Services repeat a handful of durations (P30D, PT15M): parsed once each.
    try:
        isodate.parse_duration(value)
    except (isodate.ISO8601Error, ValueError):
        return False
    return True


# Models validated from plain data, by class and the data's JSON (see ``validated_once``).
_VALIDATED: dict[tuple[type[BaseModel], bytes], BaseModel] = {}
_VALIDATED_LIMIT = 1 << 15
M = TypeVar("M", bound=BaseModel)


def validated_once(cls: type[M], data: Any, handler: ModelWrapValidatorHandler[M]) -> M:
    """``handler(data)``, or the equal model validated before from the same data (a model's wrap validator).

    The same fields recur across services (name, HKID, phone, address; fragments; clones of one template), the
    models are frozen and their validation is a function of the data alone, so one instance serves them all.
    Only successes are kept: bad data reports its errors every time. JSON keeps apart what validation tells apart
    (1, 1.0 and true; key order) except None and NaN, which are both null: data with a null is not kept."""
    if type(data) is not dict:
        return handler(data)
    try:
        written = orjson.dumps(data)
    except TypeError:  # a key that is not a text, a value that is not plain data
        return handler(data)
    key = (cls, written)
    found = _VALIDATED.get(key)
    if found is not None:
        return cast(M, found)
    made = handler(data)
    if b"null" not in written:
        if len(_VALIDATED) >= _VALIDATED_LIMIT:
            _VALIDATED.clear()
        _VALIDATED[key] = made
    return made


def _duration(value: str) -> str:
    if not _is_duration(value):
        raise PydanticCustomError(
            "bad_duration", "'{value}' is not an ISO-8601 duration (e.g. P30D, PT5M, P1Y)", {"value": value})
    return value


def _pattern(value: str) -> str:
    try:
        re.compile(value)
    except re.error as exc:
        raise PydanticCustomError(
            "bad_pattern", "'{value}' is not a valid regular expression: {reason}", {"value": value, "reason": str(exc)}
        ) from exc
    return value


Slug = Annotated[str, Field(pattern=r"^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$", max_length=80)]
Duration = Annotated[str, AfterValidator(_duration), Field(json_schema_extra={"format": "duration"})]
Pattern = Annotated[str, AfterValidator(_pattern), Field(json_schema_extra={"format": "regex"})]
DataRef = Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]*\.[A-Za-z][A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]+)*$")]
# A field's prefill: a data item (provider.item[.path]) or the id of a predicate of an earlier prefill step.
PrefillRef = Annotated[str, Field(
    pattern=r"^(?:[a-z][a-z0-9-]*\.[A-Za-z][A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]+)*|[a-z][A-Za-z0-9]*)$")]


CANONICAL = {"canonical": True}
"""The serialisation context of ``canonical_data``."""
_WHOLE_LIMIT = 2**53 - 1


def _number(value: float, handler: SerializerFunctionWrapHandler, info: SerializationInfo) -> Any:
    # JCS writes a whole float as the integer (5.0 as 5): given as one, canonical_json's fast path can write it.
    if info.context is CANONICAL and value.is_integer() and -_WHOLE_LIMIT <= value <= _WHOLE_LIMIT:
        return int(value)
    return handler(value)


Number = Annotated[float, WrapSerializer(_number, when_used="json")]
"""A float field: ``canonical_data`` gives whole values as integers (the RFC 8785 bytes are the same)."""


def duration(value: str) -> dt.timedelta:
    """An ISO-8601 duration as a timedelta (years count 365 days and months 30: for expiry, not calendars)."""
    parsed = isodate.parse_duration(value)
    if isinstance(parsed, dt.timedelta):
        return parsed
    days = float(parsed.years) * 365 + float(parsed.months) * 30
    rest: dt.timedelta = parsed.tdelta
    return dt.timedelta(days=days) + rest


def shift_date(day: dt.date, value: str) -> dt.date:
    """``day`` moved by an ISO-8601 duration with calendar years and months (``-P18Y``: 18 years earlier)."""
    result = day + isodate.parse_duration(value)
    return result if isinstance(result, dt.date) else day


def dump_data(model: BaseModel) -> Any:
    """A model as plain JSON data with YAML's key names, omitting unset optional keys."""
    return model.model_dump(mode="json", by_alias=True, exclude_none=True)


def canonical_data(model: BaseModel) -> Any:
    """``dump_data`` with whole floats as integers: what ``canonical_json`` hashes fastest, to the same bytes."""
    return model.model_dump(mode="json", by_alias=True, exclude_none=True, context=CANONICAL)
