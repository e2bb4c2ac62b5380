"""Files to models: find the definition files, parse them, and turn validation errors into Problems."""

from __future__ import annotations

import difflib
import inspect
import os
import re
import types
import typing
from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, cast

from pydantic import BaseModel, RootModel, ValidationError
from pydantic_core import ErrorDetails

from onestop.catalogue.fragments import Fragments
from onestop.catalogue.problems import Problem
from onestop.catalogue.text import LocalizedList, LocalizedText
from onestop.catalogue.yamlsource import Loc, Source, parse_file

M = TypeVar("M", bound=BaseModel)

_TYPE_NAMES = {
    "string_type": "a text", "int_type": "a whole number", "int_parsing": "a whole number",
    "int_from_float": "a whole number", "float_type": "a number", "float_parsing": "a number",
    "bool_type": "true or false", "bool_parsing": "true or false", "list_type": "a list", "tuple_type": "a list",
    "dict_type": "a mapping", "model_type": "a mapping", "model_attributes_type": "a mapping",
}
_CUSTOM = {"missing_translation", "bad_duration", "bad_pattern", "cel_syntax", "cel_too_long"}


@dataclass
class Files:
    """The definition files of a tree, by role."""

    root: Path
    taxonomy: Path
    option_lists: Path | None
    departments: list[Path] = field(default_factory=list)
    services: list[Path] = field(default_factory=list)
    feeds: Path | None = None


def find_files(root: Path) -> Files:
    """Every definition file under ``root`` (only departments/ and services/ are scanned: dev/, feeds/ and
    schema/ hold other things)."""
    steps = find_files_steps(root)
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return cast(Files, done.value)


def find_files_steps(root: Path) -> Generator[None, None, Files]:
    """``find_files`` a folder at a time (see ``catalogue.load_steps``)."""
    def yaml_files(folder: Path) -> Generator[None, None, list[Path]]:
        found: list[Path] = []
        if not folder.is_dir():
            return found
        # As Path.rglob: subfolders that are symbolic links are not entered.
        for dirpath, _dirs, names in os.walk(folder):
            found += [Path(dirpath, name) for name in names if name.endswith((".yaml", ".yml"))]
            yield
        return sorted(found)

    option_lists = root / "option-lists.yaml"
    feeds = root / "feeds.yaml"
    departments = yield from yaml_files(root / "departments")
    services = yield from yaml_files(root / "services")
    return Files(root, root / "taxonomy.yaml", option_lists if option_lists.exists() else None,
                 departments, services, feeds if feeds.exists() else None)


def _yaml_type(value: Any) -> str:
    if isinstance(value, bool):
        return "true/false"
    return {str: "a text", int: "a number", float: "a number", list: "a list", dict: "a mapping",
            type(None): "empty"}.get(type(value), type(value).__name__)


def _unwrap(tp: Any) -> Any:
    while True:
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            tp = typing.get_args(tp)[0]
        elif origin in (typing.Union, types.UnionType):
            members = [arg for arg in typing.get_args(tp) if arg is not type(None)]
            if len(members) != 1:
                return tp
            tp = members[0]
        else:
            return tp


def _descend(tp: Any, part: str | int) -> tuple[Any, bool]:
    """The type one loc part further in, and whether the part was consumed (union tags consume; keys too)."""
    tp = _unwrap(tp)
    if inspect.isclass(tp) and issubclass(tp, RootModel):
        tp = _unwrap(tp.model_fields["root"].annotation)
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        for member in typing.get_args(tp):
            literal = getattr(member, "model_fields", {})
            tags = [typing.get_args(info.annotation) for info in literal.values()
                    if typing.get_origin(info.annotation) is typing.Literal]
            if any(part in values for values in tags):
                return member, True
        return None, True
    if origin in (tuple, list) and isinstance(part, int):
        return typing.get_args(tp)[0], True
    if origin is dict:
        return typing.get_args(tp)[1], True
    if inspect.isclass(tp) and issubclass(tp, BaseModel) and isinstance(part, str):
        for name, info in tp.model_fields.items():
            if part in (name, info.alias):
                return info.annotation, True
    return None, True


def _union_choices(root: type[BaseModel], loc: Loc, tag: str) -> tuple[list[str], set[str]]:
    """The tag values of the discriminated union at ``loc`` and every key its members allow."""
    tp: Any = root
    for part in loc:
        tp, _ = _descend(tp, part)
        if tp is None:
            return [], set()
    tp = _unwrap(tp)
    if typing.get_origin(tp) not in (typing.Union, types.UnionType):
        return [], set()
    tags: list[str] = []
    keys: set[str] = set()
    for member in typing.get_args(tp):
        if inspect.isclass(member) and issubclass(member, BaseModel):
            keys.update(allowed_keys(member))
            info = next((i for n, i in member.model_fields.items() if tag in (n, i.alias)), None)
            if info is not None:
                tags.extend(str(value) for value in typing.get_args(info.annotation))
    return tags, keys


def model_at(root: type[BaseModel], loc: tuple[str | int, ...]) -> type[BaseModel] | None:
    """The model class a validation-error loc points into, following union tags."""
    tp: Any = root
    for part in loc:
        tp, _ = _descend(tp, part)
        if tp is None:
            return None
    tp = _unwrap(tp)
    if inspect.isclass(tp) and issubclass(tp, BaseModel):
        return tp
    return None


def allowed_keys(model: type[BaseModel]) -> list[str]:
    return [info.alias or name for name, info in model.model_fields.items()]


def did_you_mean(word: str, candidates: typing.Iterable[str]) -> str | None:
    """A ``did you mean 'x'?`` hint for the closest candidate, if one is close."""
    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else None


def _key_name(loc: Loc) -> str:
    return next((str(part) for part in reversed(loc) if isinstance(part, str)), "this value")


def _cel_mark(source: Source, data_loc: Loc, ctx: dict[str, Any]) -> tuple[int, int]:
    mark = source.value_mark(data_loc)
    line, column = int(ctx.get("line", 1)), int(ctx.get("column", 1))
    if mark.style in (None, "'", '"') and line == 1:
        return mark.line, mark.col + column - 1 + (1 if mark.style else 0)
    if mark.style in ("|", ">"):
        return mark.line + line, column
    return mark.line, mark.col


def _problem(source: Source, root: type[BaseModel], error: ErrorDetails) -> Problem:
    loc, kind = tuple(error["loc"]), error["type"]
    data_loc = source.resolve(loc)
    ctx = dict(error.get("ctx") or {})
    key = _key_name(loc)
    if kind == "extra_forbidden":
        model = model_at(root, loc[:-1])
        hint = did_you_mean(key, allowed_keys(model)) if model else None
        if model and not hint:
            hint = f"allowed keys here: {', '.join(allowed_keys(model))}"
        return source.problem(data_loc, "UNKNOWN_KEY", f"unknown key '{key}'", hint, at_key=True)
    if kind == "missing":
        return source.problem(data_loc, "MISSING_KEY", f"missing key '{key}'")
    if kind == "union_tag_not_found":
        tag = str(ctx.get("discriminator", "type")).strip("'")
        tags, keys = _union_choices(root, loc, tag)
        given = error["input"] if isinstance(error["input"], dict) else {}
        # A misspelt discriminator ("typ: form") is the likely cause: name the key the author wrote.
        misspelt = next((str(k) for k in given if str(k) not in keys and did_you_mean(str(k), [tag])), None)
        if misspelt is not None:
            return source.problem((*data_loc, misspelt), "UNKNOWN_KEY", f"unknown key '{misspelt}'",
                                  f"did you mean '{tag}'?", at_key=True)
        return source.problem(data_loc, "MISSING_KEY", f"missing key '{tag}'",
                              f"{tag} is one of: {', '.join(tags)}" if tags else None)
    if kind == "union_tag_invalid":
        tag_key = str(ctx.get("discriminator", "'type'")).strip("'")
        expected = [tag.strip(" '") for tag in str(ctx.get("expected_tags", "")).split(",")]
        value = str(ctx.get("tag", ""))
        hint = did_you_mean(value, expected) or f"use one of: {', '.join(expected)}"
        return source.problem((*data_loc, tag_key), "INVALID_VALUE", f"unknown {tag_key} '{value}'", hint)
    if kind in ("cel_syntax", "cel_too_long"):
        written, written_loc, site = source.origin(data_loc)
        line, col = _cel_mark(written, written_loc, ctx)
        return Problem(written.path, line, col, kind.upper(), error["msg"],
                       "CEL uses && || ! == and double-quoted strings, e.g. citizen.age >= 18",
                       site)
    if kind in _CUSTOM:
        return source.problem(data_loc, kind.upper(), error["msg"])
    if kind in _TYPE_NAMES:
        model = model_at(root, loc)
        hint = "write it as {en: ..., tc: ...}" if model in (LocalizedText, LocalizedList) else None
        return source.problem(data_loc, "WRONG_TYPE",
                              f"'{key}' should be {_TYPE_NAMES[kind]}, not {_yaml_type(error['input'])}", hint)
    if kind == "literal_error":
        expected = re.findall(r"'([^']*)'", str(ctx.get("expected", "")))
        hint = did_you_mean(str(error["input"]), expected) or f"use one of: {', '.join(expected)}"
        return source.problem(data_loc, "INVALID_VALUE", f"'{key}' cannot be '{error['input']}'", hint)
    message = error["msg"].removeprefix("Value error, ")
    # Errors of a whole mapping (a model validator) end in a union tag, not a key: name no key then.
    prefix = f"'{key}': " if loc and data_loc and loc[-1] == data_loc[-1] and isinstance(loc[-1], str) else ""
    return source.problem(data_loc, "INVALID_VALUE", f"{prefix}{message}")


def validate_source(source: Source, model: type[M]) -> tuple[M | None, list[Problem]]:
    """The model for a parsed file, or every problem pydantic found, placed at the offending key."""
    try:
        return model.model_validate(source.data), []
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        # A list whose items failed also reports "too short after validation": noise beside the real cause.
        errors = [error for error in errors if not (error["type"] == "too_short" and any(
            other is not error and other["loc"][:len(error["loc"])] == error["loc"] for other in errors))]
        return None, [_problem(source, model, error) for error in errors]


def load_file(file: Path, model: type[M], fragments: Fragments | None = None,
              ) -> tuple[M | None, Source | None, list[Problem]]:
    """Parse and validate one file; once the file validates, its source keeps the text but not the data.

    With ``fragments``, ``- include:`` items are resolved first (services only)."""
    steps = load_file_steps(file, model, fragments)
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return cast(tuple[M | None, Source | None, list[Problem]], done.value)


def load_file_steps(file: Path, model: type[M], fragments: Fragments | None = None,
                    ) -> Generator[None, None, tuple[M | None, Source | None, list[Problem]]]:
    """``load_file`` in two steps, parsing then validating (see ``catalogue.load_steps``)."""
    source, problems = parse_file(file)
    if source is None:
        return None, None, problems
    if not isinstance(source.data, dict):
        message = f"the file should be a mapping of keys, not {_yaml_type(source.data)}"
        return None, source, [*problems, source.problem((), "WRONG_TYPE", message)]
    yield
    if fragments is not None:
        source, included = fragments.compose(source)
        if included:
            # A failed include leaves a hole the model would report again, less precisely: stop here.
            return None, source, problems + included
    result, more = validate_source(source, model)
    if result is not None:
        # The model holds what it needs; the parsed tree would stay alive with the source until every file is
        # cross-checked, and cross-checks place their problems from the text alone.
        source = source.packed()
    return result, source, problems + more
