"""Fragments: shared steps or fields in ``fragments/*.yaml``, spliced into a service where it says ``- include:``.

Resolution happens on the parsed data, before the service is validated, so the model, the cross-checks and the
content hash all see the service as if the fragment had been written inline: a changed fragment is a new version
of every service that includes it, and running applications keep the snapshot they started with.

Positions survive the splice: a ``ComposedSource`` maps each item of a spliced list back to the file and path it
was written at, so a problem inside an included item is placed in the fragment, with a note naming the include.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from onestop.catalogue.problems import Problem
from onestop.catalogue.yamlsource import Loc, Mark, Source, parse_file

FOLDER = "fragments"
INCLUDE = "include"
# The lists a fragment may be spliced into; a fragment file holds exactly one of them.
LISTS = ("steps", "fields")


@dataclass(frozen=True)
class IncludeSite:
    """The ``- include:`` item at ``loc`` in ``source``. Its line and column are looked up only when a problem
    names it: finding them parses the service again, which a clean load never needs."""

    source: Source
    loc: Loc

    def __str__(self) -> str:
        mark = self.source.value_mark(self.loc)
        return f"{self.source.path}:{mark.line}:{mark.col}"


@dataclass(frozen=True)
class Origin:
    """Where a spliced list item is written: its file, its path there, and the include that brought it in."""

    source: Source
    loc: Loc
    site: IncludeSite | None = None  # the `include:` for items from a fragment


@dataclass(frozen=True)
class ComposedSource(Source):
    """A service with its fragments spliced in; positions are translated back to the file each item came from."""

    base: Source | None = field(default=None, repr=False)
    origins: Mapping[Loc, Origin] = field(default_factory=dict, repr=False)

    def origin(self, loc: Loc) -> tuple[Source, Loc, str | None]:
        for length in range(len(loc), 0, -1):
            found = self.origins.get(tuple(loc[:length]))
            if found is not None:
                return found.source, (*found.loc, *loc[length:]), None if found.site is None else str(found.site)
        return self.base or self, tuple(loc), None

    def packed(self) -> Source:
        text = self.text.encode("utf-8") if isinstance(self.text, str) else self.text
        return replace(self, data=None, text=text, base=self.base.packed() if self.base is not None else None)

    def value_mark(self, loc: Any) -> Mark:
        source, translated, _ = self.origin(tuple(loc))
        return Source.value_mark(source, translated)

    def key_mark(self, loc: Any) -> Mark:
        source, translated, _ = self.origin(tuple(loc))
        return Source.key_mark(source, translated)

    def problem(self, loc: Any, code: str, message: str, hint: str | None = None,
                *, at_key: bool = False) -> Problem:
        source, translated, site = self.origin(tuple(loc))
        found = Source.problem(source, translated, code, message, hint, at_key=at_key)
        return found if site is None else _noted(found, site)


def _noted(problem: Problem, site: str | IncludeSite) -> Problem:
    return Problem(problem.path, problem.line, problem.col, problem.code, problem.message, problem.hint,
                   str(site))


class Fragments:
    """The fragment files of one definitions tree, each parsed once per load."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._parsed: dict[str, tuple[Source | None, list[Problem]]] = {}

    def load(self, name: str) -> tuple[Source | None, list[Problem]]:
        """The parsed fragment ``name`` (relative to the definitions root) and its parse problems."""
        if name not in self._parsed:
            display = str(self.root / name)
            self._parsed[name] = parse_file(self.root / name, display)
        return self._parsed[name]

    def compose(self, source: Source) -> tuple[Source, list[Problem]]:
        """``source`` with every include resolved, and the problems of the includes (bad paths, broken files)."""
        if f"{INCLUDE}:" not in source.plain_text:
            return source, []
        composer = _Composer(self, source)
        data = composer.walk(source.data, (), source, ())
        if not composer.origins:
            return source, composer.problems
        return ComposedSource(source.path, data, source.text, base=source, origins=composer.origins), \
            composer.problems


class _Composer:
    def __init__(self, fragments: Fragments, source: Source) -> None:
        self.fragments, self.source = fragments, source
        self.origins: dict[Loc, Origin] = {}
        self.problems: list[Problem] = []

    def walk(self, data: Any, loc: Loc, source: Source, at: Loc, site: IncludeSite | None = None) -> Any:
        """``data`` (at ``loc`` in the result, ``at`` in ``source``) with includes spliced into its lists."""
        if isinstance(data, dict):
            result = {}
            for key, value in data.items():
                if key in LISTS and isinstance(value, list):
                    result[key] = self._list(key, value, (*loc, key), source, (*at, key), site)
                else:
                    result[key] = self.walk(value, (*loc, key), source, (*at, key), site)
            return result
        if isinstance(data, list):
            return [self.walk(item, (*loc, index), source, (*at, index), site) for index, item in enumerate(data)]
        return data

    def _list(self, kind: str, items: list[Any], loc: Loc, source: Source, at: Loc,
              site: IncludeSite | None) -> list[Any]:
        spliced: list[tuple[Any, Source, Loc, IncludeSite | None]] = []
        for index, item in enumerate(items):
            if not (isinstance(item, dict) and INCLUDE in item):
                spliced.append((item, source, (*at, index), site))
                continue
            problem = self._check_include(item, source, (*at, index), site)
            if problem is not None:
                self.problems.append(problem)
                continue
            name = str(item[INCLUDE])
            here = IncludeSite(source, (*at, index))
            fragment, found = self.fragments.load(name)
            # Parse problems (syntax, a repeated key) belong to the fragment; name the include that hit them.
            self.problems += [_noted(problem, here) for problem in found]
            if fragment is None:
                continue
            body = fragment.data.get(kind) if isinstance(fragment.data, dict) else None
            if not isinstance(body, list):
                other = [key for key in LISTS if isinstance(fragment.data, dict) and key in fragment.data]
                hint = (f"it holds {other[0]}; include it in a `{other[0]}:` list" if other
                        else f"write the fragment as `{kind}:` followed by a list")
                self.problems.append(_noted(fragment.problem((), "WRONG_FRAGMENT",
                                                             f"this fragment has no `{kind}:` list", hint), here))
                continue
            for number, part in enumerate(body):
                if isinstance(part, dict) and INCLUDE in part:
                    self.problems.append(_noted(fragment.problem(
                        (kind, number, INCLUDE), "NESTED_INCLUDE", "a fragment cannot include another fragment",
                        "copy the items in, or include both fragments from the service"), here))
                else:
                    spliced.append((part, fragment, (kind, number), here))
        result = []
        for index, (item, origin, origin_at, origin_site) in enumerate(spliced):
            self.origins[(*loc, index)] = Origin(origin, origin_at, origin_site)
            result.append(self.walk(item, (*loc, index), origin, origin_at, origin_site))
        return result

    def _check_include(self, item: dict[Any, Any], source: Source, at: Loc,
                       site: IncludeSite | None) -> Problem | None:
        def problem(loc: Loc, code: str, message: str, hint: str) -> Problem:
            found = source.problem(loc, code, message, hint, at_key=loc[-1] != INCLUDE)
            return found if site is None else _noted(found, site)

        if site is not None:
            return problem((*at, INCLUDE), "NESTED_INCLUDE", "a fragment cannot include another fragment",
                           "copy the items in, or include both fragments from the service")
        extra = [key for key in item if key != INCLUDE]
        if extra:
            return problem((*at, extra[0]), "UNKNOWN_KEY", f"unknown key '{extra[0]}' beside `include:`",
                           "an include item has only `include: fragments/<name>.yaml`")
        name = item[INCLUDE]
        parts = Path(str(name)).parts
        if not isinstance(name, str) or len(parts) < 2 or parts[0] != FOLDER or ".." in parts \
                or not name.endswith((".yaml", ".yml")):
            return problem((*at, INCLUDE), "INVALID_VALUE", f"'{name}' is not a fragment file",
                           "name a file under fragments/, relative to the definitions folder, "
                           "e.g. fragments/contact-details.yaml")
        if not (self.fragments.root / name).is_file():
            candidates = sorted(str(path.relative_to(self.fragments.root))
                                for path in (self.fragments.root / FOLDER).glob("*.y*ml"))
            hint = f"fragments here: {', '.join(candidates)}" if candidates else "create the file under fragments/"
            return problem((*at, INCLUDE), "UNKNOWN_FRAGMENT", f"no fragment '{name}'", hint)
        return None
