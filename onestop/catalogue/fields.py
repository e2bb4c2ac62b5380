"""Form fields: one model per ``type``, joined in the ``Field`` discriminated union."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Literal

from pydantic import Field as Key
from pydantic import ModelWrapValidatorHandler, field_validator, model_validator

from onestop.catalogue.expressions import Expression
from onestop.catalogue.models import DefinitionModel, Number, Pattern, PrefillRef, Slug, shift_date, validated_once
from onestop.catalogue.taxonomy import Option
from onestop.catalogue.text import LocalizedText


def _ordered(low: float | None, high: float | None, names: str) -> None:
    if low is not None and high is not None and low > high:
        raise ValueError(f"{names}: the lower bound {low:g} is above the upper bound {high:g}")


FieldId = Annotated[str, Key(pattern=r"^[a-zA-Z][a-zA-Z0-9_]*$", max_length=64)]
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_OFFSET = re.compile(r"^[+-]?P(?:\d+Y)?(?:\d+M)?(?:\d+W)?(?:\d+D)?$")


def _date_bound(value: str) -> str:
    if value == "today" or (_OFFSET.match(value) and value.lstrip("+-") != "P"):
        return value
    if _DATE.match(value):
        try:
            dt.date.fromisoformat(value)
            return value
        except ValueError:
            pass
    raise ValueError(f"'{value}' is not a date bound: use YYYY-MM-DD, 'today', or an offset like -P18Y")


DateBound = Annotated[str, Key(description="YYYY-MM-DD, 'today', or a duration from today like -P18Y")]


def resolve_date_bound(bound: str, today: dt.date) -> dt.date:
    """The date a bound means on ``today``."""
    if bound == "today":
        return today
    if _DATE.match(bound):
        return dt.date.fromisoformat(bound)
    return shift_date(today, bound)


class Rule(DefinitionModel):
    check: Expression = Key(description="CEL that must be true; `value` is the field's value")
    message: LocalizedText


class FieldBase(DefinitionModel):
    id: FieldId
    label: LocalizedText
    help: LocalizedText | None = None
    required: bool = False
    when: Expression | None = None
    prefill: PrefillRef | None = Key(default=None, description=(
        "provider.item or provider.item.path, or the id of a predicate of an earlier prefill step"))
    prefill_editable: bool | None = Key(default=None, description=(
        "whether the citizen may change the prefilled value; by default a verified (authoritative) value is "
        "read-only and any other prefilled value editable"))
    rules: tuple[Rule, ...] = ()

    @model_validator(mode="wrap")
    @classmethod
    def _validated_once(cls, data: Any, handler: ModelWrapValidatorHandler[FieldBase]) -> FieldBase:
        return validated_once(cls, data, handler)


class TextField(FieldBase):
    type: Literal["text"]
    min_length: int | None = Key(default=None, ge=0)
    max_length: int | None = Key(default=None, ge=1)
    pattern: Pattern | None = None
    multiline: bool = False

    @model_validator(mode="after")
    def _lengths(self) -> TextField:
        _ordered(self.min_length, self.max_length, "minLength/maxLength")
        return self


class NumberField(FieldBase):
    type: Literal["number"]
    min: Number | None = None
    max: Number | None = None
    integer: bool = False

    @model_validator(mode="after")
    def _range(self) -> NumberField:
        _ordered(self.min, self.max, "min/max")
        return self


class DateField(FieldBase):
    type: Literal["date"]
    after: DateBound | None = None
    before: DateBound | None = None

    @field_validator("after", "before")
    @classmethod
    def _bound(cls, value: str | None) -> str | None:
        return None if value is None else _date_bound(value)


class BooleanField(FieldBase):
    type: Literal["boolean"]


class ChoiceField(FieldBase):
    type: Literal["choice"]
    options: tuple[Option, ...] | None = Key(default=None, min_length=1)
    option_list: Slug | None = None

    @model_validator(mode="after")
    def _has_options(self) -> ChoiceField:
        if self.options is None and self.option_list is None:
            raise ValueError("a choice needs `options` or `optionList`")
        return self

    def option_values(self) -> tuple[str, ...]:
        return tuple(option.value for option in self.options or ())


class MultiChoiceField(ChoiceField):
    type: Literal["multiChoice"]  # type: ignore[assignment]
    min_items: int | None = Key(default=None, ge=0)
    max_items: int | None = Key(default=None, ge=1)

    @model_validator(mode="after")
    def _counts(self) -> MultiChoiceField:
        _ordered(self.min_items, self.max_items, "minItems/maxItems")
        return self


class EmailField(FieldBase):
    type: Literal["email"]


class PhoneField(FieldBase):
    type: Literal["phone"]


class HkidField(FieldBase):
    type: Literal["hkid"]


class AddressField(FieldBase):
    type: Literal["address"]
    districts: tuple[Option, ...] | None = Key(
        default=None, description="filled from the `districts` option list at load; leave it out")


DOCUMENT_KINDS: dict[str, str] = {
    "pdf": "application/pdf", "jpeg": "image/jpeg", "png": "image/png", "heic": "image/heic",
    "webp": "image/webp", "tiff": "image/tiff", "gif": "image/gif",
}
"""The kinds of document a file field may accept, by the media type their content (magic bytes) shows."""
DocumentKind = Literal["pdf", "jpeg", "png", "heic", "webp", "tiff", "gif"]
_SIZE = re.compile(r"^([1-9][0-9]*)\s*(KB|MB)$")
DOCUMENT_MAX_BYTES = 50 * 1024 * 1024
"""The largest ``maxSize`` a file field may declare."""


def size_in_bytes(value: str) -> int:
    """``"5MB"`` -> 5242880 (units of 1024)."""
    match = _SIZE.match(value)
    if match is None:
        raise ValueError(f"'{value}' is not a size: write a whole number of KB or MB, like 500KB or 5MB")
    return int(match.group(1)) * (1024 if match.group(2) == "KB" else 1024 * 1024)


class Retention(DefinitionModel):
    delete_after_decision_days: int = Key(ge=1, le=36_500, description=(
        "days after the department's decision (approved or rejected) or a withdrawal at which the uploaded "
        "files are deleted; the signed submission keeps their SHA-256"))


class FileField(FieldBase):
    type: Literal["file"]
    accept: tuple[DocumentKind, ...] = Key(min_length=1, description=(
        "the kinds of file accepted, checked by their content (magic bytes), not by their name"))
    max_size: str = Key(description="the largest file, e.g. 500KB or 5MB (at most 50MB)",
                        pattern=r"^[1-9][0-9]*\s*(KB|MB)$")
    multiple: bool = Key(default=False, description="the answer is a list of files (see minItems, maxItems)")
    min_items: int | None = Key(default=None, ge=0)
    max_items: int | None = Key(default=None, ge=1, le=20)
    retention: Retention | None = None

    @field_validator("max_size")
    @classmethod
    def _size(cls, value: str) -> str:
        if size_in_bytes(value) > DOCUMENT_MAX_BYTES:
            raise ValueError(f"maxSize {value} is above the largest allowed, 50MB")
        return value

    @model_validator(mode="after")
    def _shape(self) -> FileField:
        if (self.min_items is not None or self.max_items is not None) and not self.multiple:
            raise ValueError("minItems/maxItems apply to a list of files: add `multiple: true` or drop them")
        if self.prefill is not None:
            raise ValueError("a file field cannot be prefilled: the citizen uploads the file")
        _ordered(self.min_items, self.max_items, "minItems/maxItems")
        return self

    @property
    def max_bytes(self) -> int:
        return size_in_bytes(self.max_size)


class GroupField(FieldBase):
    type: Literal["group"]
    fields: tuple[Field, ...] = Key(min_length=1)
    min_items: int | None = Key(default=None, ge=0)
    max_items: int | None = Key(default=None, ge=1)

    @model_validator(mode="after")
    def _counts(self) -> GroupField:
        _ordered(self.min_items, self.max_items, "minItems/maxItems")
        if any(isinstance(member, FileField) for member in self.fields):
            raise ValueError("a group cannot hold a file field: put the file field on the step, with "
                             "`multiple: true` for several files")
        return self


Field = Annotated[
    TextField | NumberField | DateField | BooleanField | ChoiceField | MultiChoiceField | EmailField | PhoneField
    | HkidField | AddressField | GroupField | FileField,
    Key(discriminator="type"),
]
GroupField.model_rebuild()

FIELD_TYPES = ("text", "number", "date", "boolean", "choice", "multiChoice", "email", "phone", "hkid", "address",
               "group", "file")
