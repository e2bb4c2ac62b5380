"""YAML files read into plain data plus the line and column of every key and value."""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from sys import intern
from typing import Any

import yaml

from onestop.catalogue.problems import Problem

Loc = tuple[str | int, ...]


# libyaml parses ~10x faster than pure Python and keeps the same marks; fall back when it is not compiled in.
_Base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_Base):  # type: ignore[misc]
    """Safe loader that keeps dates as strings: definitions compare them as ISO text, not datetime objects."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}

_STR = "tag:yaml.org,2002:str"
# A plain scalar can only be a number, boolean or null when it starts with one of these characters.
_TYPED_START = frozenset(_Loader.yaml_implicit_resolvers)


_COLLECTION_TAGS: dict[type[yaml.Node], str] = {
    yaml.MappingNode: "tag:yaml.org,2002:map", yaml.SequenceNode: "tag:yaml.org,2002:seq",
}


def _resolve(self: Any, kind: type[yaml.Node], value: str, implicit: tuple[bool, bool]) -> str:
    # libyaml calls back into Python to tag every node. Most scalars are texts that start with a letter no
    # implicit type starts with, so they are answered before the regular expressions run. The tags are PyYAML's:
    # this loader has no path resolvers, which are all its resolve does besides the implicit types.
    if kind is not yaml.ScalarNode:
        return _COLLECTION_TAGS[kind]
    if implicit[0] and (not value or value[0] in _TYPED_START):
        return str(_Base.resolve(self, kind, value, implicit))
    return _STR


def _no_path_resolvers(self: Any, *_: Any) -> None:
    """PyYAML's descend/ascend bookkeeping does nothing without path resolvers; libyaml calls it per node."""


_Loader.resolve = _resolve
_Loader.descend_resolver = _no_path_resolvers
_Loader.ascend_resolver = _no_path_resolvers


@dataclass(frozen=True)
class Mark:
    line: int
    col: int
    style: str | None = None  # the scalar style: None (plain), "'", '"', "|", ">"


@dataclass(frozen=True)
class Source:
    """A parsed file: ``data`` and where each key (``keys``) and value (``values``) starts, by path.

    The positions are found on first use, by parsing ``text`` again: only files with problems need them, and a
    map of every key and value of every file is most of the memory and a third of the time of a clean load.
    """

    path: str
    data: Any
    text: str | bytes = field(default="", repr=False)  # bytes: UTF-8, once packed

    @property
    def plain_text(self) -> str:
        return self.text.decode("utf-8") if isinstance(self.text, bytes) else self.text

    def packed(self) -> Source:
        """This source without its data, its text kept as UTF-8: a file that validated is read again only to place
        a cross-check's problem, and most definitions mix Chinese into ASCII, which a str keeps at two bytes a
        character."""
        text = self.text.encode("utf-8") if isinstance(self.text, str) else self.text
        return replace(self, data=None, text=text)

    @functools.cached_property
    def _positions(self) -> tuple[dict[Loc, Mark], dict[Loc, Mark]]:
        loader = _Loader(self.plain_text)
        try:
            node = loader.get_single_node()
            builder = _Builder(loader, self.path)
            if node is not None:
                builder.build(node, ())
        finally:
            loader.dispose()
        return builder.keys, builder.values

    @property
    def keys(self) -> dict[Loc, Mark]:
        return self._positions[0]

    @property
    def values(self) -> dict[Loc, Mark]:
        return self._positions[1]

    def resolve(self, loc: Sequence[str | int]) -> Loc:
        """The data path a validator's ``loc`` points at: parts that are not data keys (union tags) dropped."""
        current, path = self.data, []
        for part in loc:
            in_list = isinstance(current, list) and isinstance(part, int) and 0 <= part < len(current)
            if (isinstance(current, dict) and part in current) or in_list:
                current = current[part]
                path.append(part)
        return tuple(path)

    def origin(self, loc: Loc) -> tuple[Source, Loc, str | None]:
        """The file and path ``loc`` is written at, and the include that brought it in (see ``fragments``)."""
        return self, loc, None

    def value_mark(self, loc: Sequence[str | int]) -> Mark:
        """Where the value at ``loc`` starts, or its nearest ancestor's."""
        path = tuple(loc)
        while path and path not in self.values:
            path = path[:-1]
        return self.values.get(path, Mark(1, 1))

    def key_mark(self, loc: Sequence[str | int]) -> Mark:
        """Where the key at ``loc`` is written (the value's mark for list items and the root)."""
        return self.keys.get(tuple(loc)) or self.value_mark(loc)

    def problem(self, loc: Sequence[str | int], code: str, message: str, hint: str | None = None,
                *, at_key: bool = False) -> Problem:
        """A problem placed at the key (``at_key``) or value at ``loc``."""
        mark = self.key_mark(loc) if at_key else self.value_mark(loc)
        return Problem(self.path, mark.line, mark.col, code, message, hint)


def _mark(node: yaml.Node) -> Mark:
    style = (node.style or None) if isinstance(node, yaml.ScalarNode) else None
    return Mark(node.start_mark.line + 1, node.start_mark.column + 1, style)


class _Unusual(Exception):
    """Something ``_plain_data`` leaves to the composer: anchors, aliases, explicit tags, a repeated or complex
    key, several documents, no document, or an error (reported at the same place by the composer)."""


# Where a node's properties (an &anchor or a !tag) or an *alias can start: after the text's start, a line break
# or an indicator (``-``, ``?``, ``:``, ``[``, ``{``, ``,``), and blanks. CEL's ``&&``, ``!=`` and ``*`` after a
# letter or a blank are not such places.
_PROPERTY_START = re.compile(r"[&*!]")
_BLANKS = " \t\ufeff"
_BEFORE_PROPERTY = frozenset("\n\r\x85\u2028\u2029-?:[{,")


def _may_hold_properties(text: str) -> bool:
    """False when ``text`` has no anchor, alias or tag, so its events need not be checked one by one."""
    if "&" not in text and "*" not in text and "!" not in text:
        return False
    for match in _PROPERTY_START.finditer(text):
        at = match.start() - 1
        while at >= 0 and text[at] in _BLANKS:
            at -= 1
        if at < 0 or text[at] in _BEFORE_PROPERTY:
            return True
    return False


def _checked(get_event: Any) -> Any:
    """``get_event`` raising ``_Unusual`` at an anchor, an alias or an explicit tag (left to the composer)."""
    alias = yaml.AliasEvent

    def checked_event() -> Any:
        event = get_event()
        if (getattr(event, "anchor", None) is not None or getattr(event, "tag", None) is not None
                or type(event) is alias):
            raise _Unusual
        return event

    return checked_event


def _plain_data(loader: _Loader, text: str) -> Any:
    """The document as ``_Builder`` builds it, read straight from libyaml's events for the common case.

    Composing a node tree costs a Python object per node and twice as long as reading the events; definitions
    rarely use what only the composer handles, and for those files ``_Unusual`` sends them down that path."""
    get_event = _checked(loader.get_event) if _may_hold_properties(text) else loader.get_event
    if type(get_event()) is not yaml.StreamStartEvent or type(get_event()) is not yaml.DocumentStartEvent:
        raise _Unusual
    data = _event_value(loader, get_event, get_event())
    if type(get_event()) is not yaml.DocumentEndEvent or type(get_event()) is not yaml.StreamEndEvent:
        raise _Unusual
    return data


_INTERNED_LENGTH = 40
_MISSING = object()
# The value of a plain scalar that starts like a number, boolean or null, by its text. Such scalars are mostly
# short words that recur in every file ("type", "text", "true", "no", "1"), and resolving one runs PyYAML's
# regular expressions. Only short texts are kept, and the values are immutable (str, int, float, bool, None).
_PLAIN: dict[str, Any] = {}
_PLAIN_LIMIT = 1 << 16


def _scalar(loader: _Loader, event: Any) -> Any:
    value: str = event.value
    # The composer asks resolve() for the tag of an untagged scalar: plain ones may be numbers or booleans.
    if event.implicit[0] and (not value or value[0] in _TYPED_START):
        known = _PLAIN.get(value, _MISSING)
        if known is not _MISSING:
            return known
        tag = _Base.resolve(loader, yaml.ScalarNode, value, event.implicit)
        if tag != _STR:
            node = yaml.ScalarNode(tag, value, event.start_mark, event.end_mark, event.style)
            result = loader.construct_object(node, deep=True)
        else:
            result = intern(value) if len(value) <= _INTERNED_LENGTH else value
        if len(value) <= _INTERNED_LENGTH and type(result) in (str, int, float, bool, type(None)):
            if len(_PLAIN) >= _PLAIN_LIMIT:
                _PLAIN.clear()
            _PLAIN[value] = result
        return result
    # Keys and short values (ids, types, references, conditions) recur in every definition: one copy of each
    # stays in memory, and pydantic finds interned keys by identity.
    return intern(value) if len(value) <= _INTERNED_LENGTH else value


# The key a plain scalar's text makes (keys recur in every file: "id", "type", "title", "en", "zh-HK" ...).
_PLAIN_KEYS: dict[str, str | int] = {}


def _plain_key(loader: _Loader, event: Any) -> str | int:
    value = _scalar(loader, event)
    key: str | int = value if isinstance(value, str | int) and not isinstance(value, bool) else str(value)
    if len(event.value) <= _INTERNED_LENGTH:
        if len(_PLAIN_KEYS) >= _PLAIN_LIMIT:
            _PLAIN_KEYS.clear()
        _PLAIN_KEYS[event.value] = key
    return key


_ScalarEvent, _SequenceStartEvent, _SequenceEndEvent = yaml.ScalarEvent, yaml.SequenceStartEvent, yaml.SequenceEndEvent
_MappingStartEvent, _MappingEndEvent = yaml.MappingStartEvent, yaml.MappingEndEvent


def _event_value(loader: _Loader, get_event: Any, event: Any) -> Any:
    # Called for every collection of every file: the common scalar (a text that cannot be a number, boolean or
    # null) is read inline rather than through ``_scalar``, and the collection types are module globals.
    # ``get_event`` has refused anchors, aliases and tags (``_checked``), or the text cannot hold any.
    kind = type(event)
    if kind is _ScalarEvent:
        return _scalar(loader, event)
    if kind is _SequenceStartEvent:
        items: list[Any] = []
        while True:
            item = get_event()
            kind = type(item)
            if kind is _ScalarEvent:
                value = item.value
                if item.implicit[0] and (not value or value[0] in _TYPED_START):
                    items.append(_scalar(loader, item))
                else:
                    items.append(intern(value) if len(value) <= _INTERNED_LENGTH else value)
            elif kind is _SequenceEndEvent:
                return items
            else:
                items.append(_event_value(loader, get_event, item))
    if kind is not _MappingStartEvent:
        raise _Unusual
    result: dict[Any, Any] = {}
    while True:
        key_event = get_event()
        kind = type(key_event)
        if kind is not _ScalarEvent:
            if kind is _MappingEndEvent:
                return result
            raise _Unusual
        key: Any = key_event.value
        if key_event.implicit[0]:
            known = _PLAIN_KEYS.get(key)
            key = _plain_key(loader, key_event) if known is None else known
        elif len(key) <= _INTERNED_LENGTH:
            key = intern(key)
        if key in result:
            raise _Unusual  # a duplicate: the composer's path reports it with both lines
        value_event = get_event()
        if type(value_event) is _ScalarEvent:
            value = value_event.value
            if value_event.implicit[0] and (not value or value[0] in _TYPED_START):
                result[key] = _scalar(loader, value_event)
            else:
                result[key] = intern(value) if len(value) <= _INTERNED_LENGTH else value
        else:
            result[key] = _event_value(loader, get_event, value_event)


class _Builder:
    """Turns a composed node tree into plain data, recording marks and duplicate keys."""

    def __init__(self, loader: _Loader, path: str) -> None:
        self.loader, self.path = loader, path
        self.keys: dict[Loc, Mark] = {}
        self.values: dict[Loc, Mark] = {}
        self.problems: list[Problem] = []

    def build(self, node: yaml.Node, loc: Loc) -> Any:
        self.values[loc] = _mark(node)
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, loc)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*loc, index)) for index, item in enumerate(node.value)]
        return self.loader.construct_object(node, deep=True)

    def _mapping(self, node: yaml.MappingNode, loc: Loc) -> dict[Any, Any]:
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = self.loader.construct_object(key_node, deep=True)
            if not isinstance(key, str | int) or isinstance(key, bool):
                key = str(key)
            mark = _mark(key_node)
            if key in result:
                first = self.keys[(*loc, key)]
                self.problems.append(Problem(
                    self.path, mark.line, mark.col, "DUPLICATE_KEY",
                    f"key '{key}' appears twice in this mapping (first at line {first.line})",
                    "remove one of them; YAML would silently keep only the last",
                ))
                continue
            self.keys[(*loc, key)] = mark
            result[key] = self.build(value_node, (*loc, key))
        return result


_TAB_INDENT = re.compile(r"^[ ]*\t")


def _tab_problems(path: str, text: str) -> list[Problem]:
    if "\t" not in text:
        return []
    problems = []
    for number, line in enumerate(text.splitlines(), start=1):
        match = _TAB_INDENT.match(line)
        if match:
            problems.append(Problem(
                path, number, match.end(), "TAB_INDENT", "tab character used for indentation",
                "YAML indents with spaces only; replace the tab with spaces",
            ))
    return problems


def _decode(path: str, raw: bytes) -> tuple[str | None, list[Problem]]:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        return None, [Problem(
            path, line, col, "NOT_UTF8", f"the file is not UTF-8 (byte 0x{raw[exc.start]:02x} at offset {exc.start})",
            "save the file as UTF-8 (Chinese text in Big5 or GB2312 must be converted)",
        )]
    return text.removeprefix("\ufeff"), []


def _syntax_problem(path: str, exc: yaml.YAMLError) -> Problem:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
    problem = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    message = f"{problem} ({context})" if context else str(problem)
    return Problem(path, line, col, "YAML_SYNTAX", f"YAML syntax error: {message}",
                   "check indentation, colons after keys and matching quotes or brackets")


def parse_text(path: str, text: str) -> tuple[Source | None, list[Problem]]:
    """Parse YAML text; either a Source (with any duplicate-key problems) or only problems."""
    tabs = _tab_problems(path, text)
    if tabs:
        return None, tabs
    loader = _Loader(text)
    try:
        return Source(path, _plain_data(loader, text), text), []
    except (_Unusual, yaml.YAMLError):
        pass
    finally:
        loader.dispose()
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, [Problem(path, 1, 1, "EMPTY_FILE", "the file is empty",
                                  "write the definition or delete the file")]
        builder = _Builder(loader, path)
        data = builder.build(node, ())
    except yaml.YAMLError as exc:
        return None, [_syntax_problem(path, exc)]
    finally:
        loader.dispose()
    return Source(path, data, text), builder.problems


def parse_file(file: Path, display: str | None = None) -> tuple[Source | None, list[Problem]]:
    """Read and parse one file; ``display`` is the path used in problems (default: ``str(file)``)."""
    path = display or str(file)
    try:
        raw = file.read_bytes()
    except OSError as exc:
        return None, [Problem(path, 1, 1, "MISSING_FILE", f"cannot read the file: {exc.strerror}")]
    text, problems = _decode(path, raw)
    if text is None:
        return None, problems
    return parse_text(path, text)
