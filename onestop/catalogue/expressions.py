"""CEL conditions (``when``, eligibility, rules): compiled once, checked at load, evaluated at run time."""

from __future__ import annotations

import functools
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import cel
import orjson
from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema

from onestop.catalogue.functions import CUSTOM, execute
from onestop.catalogue.problems import CatalogueError, Problem

MAX_LENGTH = 500
VARIABLES = frozenset({"citizen", "subject", "actor", "answers", "value", "today", "entry"})
PERSON_ATTRIBUTES = ("age", "ageGroup", "assurance", "loggedIn")
"""What ``citizen`` (the person the application is about; ``subject`` is the same) and ``actor`` offer."""
ACTOR_ATTRIBUTES = (*PERSON_ATTRIBUTES, "relationship")
"""``actor``: the person acting (a parent, carer or guardian, or the citizen themself) and how they act."""
_PERSON = re.compile(r"(?<![.\w])(citizen|subject|actor)\s*\.\s*([A-Za-z_]\w*)")
# Standard CEL functions and macros; anything else (including the library's non-deterministic now()) is refused.
FUNCTIONS = frozenset({
    "size", "has", "matches", "startsWith", "endsWith", "contains", "int", "uint", "double", "string", "bool",
    "bytes", "timestamp", "duration", "type", "dyn", "all", "exists", "exists_one", "map", "filter",
    "getFullYear", "getMonth", "getDate", "getDayOfMonth", "getDayOfWeek", "getDayOfYear", "getHours",
    "getMinutes", "getSeconds", "getMilliseconds",
}) | frozenset(CUSTOM)
_FUNCTIONS_HINT = f"standard CEL functions (size, matches, ...) and {', '.join(sorted(CUSTOM))} are available"
_COMPREHENSION = re.compile(r"\.\s*(?:all|exists|exists_one|map|filter)\s*\(\s*([A-Za-z_]\w*)\s*,")
_ANSWER = re.compile(r"\banswers\s*(?:\.\s*([A-Za-z_]\w*)|\[\s*[\"']([^\"']+)[\"']\s*\])")
_ENTRY = re.compile(r"\bentry\s*(?:\.\s*([A-Za-z_]\w*)|\[\s*[\"']([^\"']+)[\"']\s*\])")
_PARSE_ERROR = re.compile(r"<input>:(\d+):(\d+): (?:Syntax error: )?([^\n]*)")


def typed_number(value: Any, integer: bool) -> Any:
    """A ``number`` answer as expressions see it: an int for an ``integer`` field, a double otherwise.

    JSON does not tell ``100000`` from ``100000.0``, and CEL refuses ``int + double``: without one type per
    field, whether a means test works would depend on how the citizen typed the amount.
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        return value
    return int(value) if integer else float(value)


@dataclass(frozen=True)
class ExpressionIssue:
    """A problem inside one expression; ``line``/``column`` are 1-based within the expression text."""

    code: str
    message: str
    line: int = 1
    column: int = 1
    hint: str | None = None


class ExpressionError(CatalogueError):
    """An expression failed to compile or evaluate; ``code`` says how."""

    def __init__(self, code: str, message: str, source: str = "", line: int = 1, column: int = 1) -> None:
        self.code = code
        self.source = source
        self.line, self.column = line, column
        super().__init__([Problem("<expression>", 1, 1, code, message)])


@functools.lru_cache(maxsize=4096)
def _compile(source: str) -> Any:
    return cel.compile(source)


@functools.lru_cache(maxsize=4096)
def _names(source: str) -> tuple[frozenset[str], frozenset[str]]:
    """The top-level variables (comprehension variables excluded) and the named functions of an expression."""
    program = _compile(source)
    bound = set(_COMPREHENSION.findall(source))
    return (frozenset(name for name in program.variables() if name not in bound),
            frozenset(name for name in program.functions() if re.fullmatch(r"[A-Za-z_]\w*", name)))


# What an expression gave over a sample context at load time: a result, or the type and message of the error it
# raised. The same expressions meet the same samples in service after service (shared conditions, rules and
# fragments), and the CEL call with its context conversion is most of a cross-check's time. Only the synthetic
# samples of load-time checks are kept here, never a citizen's answers (``evaluate`` is not cached).
_Outcome = tuple[Any, type[Exception] | None, str]
_OUTCOMES: dict[tuple[str, bytes], _Outcome] = {}
_OUTCOMES_LIMIT = 1 << 15
_CAUGHT = (KeyError, RuntimeError, TypeError, ValueError, ZeroDivisionError, OverflowError)
_IMMUTABLE = (bool, int, float, str, type(None))


def _sample_outcome(program: Any, source: str, sample: Mapping[str, Any]) -> _Outcome:
    """``execute`` over a sample, remembered by the expression's text and the sample's JSON."""
    try:
        # JSON keeps what CEL tells apart (1 and 1.0, true and 1, key order); None and NaN would both be null.
        written = orjson.dumps(sample)
    except TypeError:
        written = b"null"
    key = (source, written)
    found = _OUTCOMES.get(key)
    if found is not None:
        return found
    try:
        outcome: _Outcome = (execute(program, dict(sample)), None, "")
    except _CAUGHT as exc:
        # Kept as the caught class it belongs to, which the checks tell apart and which takes just a message.
        outcome = (None, next(kind for kind in _CAUGHT if isinstance(exc, kind)), str(exc))
    if b"null" not in written and type(outcome[0]) in _IMMUTABLE:
        if len(_OUTCOMES) >= _OUTCOMES_LIMIT:
            _OUTCOMES.clear()
        _OUTCOMES[key] = outcome
    return outcome


def _syntax_issue(source: str, exc: Exception) -> ExpressionIssue:
    match = _PARSE_ERROR.search(str(exc))
    if match is None:
        return ExpressionIssue("CEL_SYNTAX", f"CEL syntax error: {str(exc).splitlines()[0]}")
    line, column, detail = int(match.group(1)), int(match.group(2)), match.group(3)
    return ExpressionIssue("CEL_SYNTAX", f"CEL syntax error: {detail}", line, column,
                           "CEL uses && || ! == and double-quoted strings, e.g. citizen.age >= 18")


class Expression:
    """A compiled CEL expression; ``source`` is its text."""

    __slots__ = ("_program", "source")

    def __init__(self, source: str) -> None:
        if len(source) > MAX_LENGTH:
            raise ExpressionError("CEL_TOO_LONG", f"expression is {len(source)} characters; the limit is {MAX_LENGTH}",
                                  source)
        try:
            program = _compile(source)
        except ValueError as exc:
            issue = _syntax_issue(source, exc)
            raise ExpressionError(issue.code, issue.message, source, issue.line, issue.column) from exc
        self.source = source
        self._program = program

    def __repr__(self) -> str:
        return f"Expression({self.source!r})"

    def __reduce__(self) -> tuple[type[Expression], tuple[str]]:
        # The compiled program is native and cannot be pickled; its text compiles again (cached by text).
        return (Expression, (self.source,))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Expression) and other.source == self.source

    def __hash__(self) -> int:
        return hash(self.source)

    def variables(self) -> set[str]:
        """Top-level names referenced, comprehension variables excluded."""
        return set(_names(self.source)[0])

    def functions(self) -> set[str]:
        """Named functions called (operators excluded)."""
        return set(_names(self.source)[1])

    def answer_references(self) -> list[str]:
        """Field ids read through ``answers.X`` or ``answers["X"]``, in order of appearance."""
        return [dotted or indexed for dotted, indexed in _ANSWER.findall(self.source)]

    def entry_references(self) -> list[str]:
        """Field ids read through ``entry.X`` or ``entry["X"]`` (inside a group entry)."""
        return [dotted or indexed for dotted, indexed in _ENTRY.findall(self.source)]

    def evaluate(self, context: Mapping[str, Any]) -> bool:
        """The boolean result over ``context``; raises ExpressionError when it is not a boolean or fails."""
        try:
            result = execute(self._program, dict(context))
        except (KeyError, RuntimeError, TypeError, ValueError, ZeroDivisionError) as exc:
            raise ExpressionError("CEL_EVALUATION", f"cannot evaluate '{self.source}': {exc}", self.source) from exc
        if not isinstance(result, bool):
            raise ExpressionError("CEL_NOT_BOOLEAN", f"'{self.source}' gave {result!r}, not true or false",
                                  self.source)
        return result

    def check(self, samples: Sequence[Mapping[str, Any]], known_fields: Collection[str], *,
              allow_value: bool = False, entry_fields: Collection[str] | None = None,
              entry_of: Mapping[str, str] | None = None, computed: Collection[str] = (),
              boolean: bool = True) -> list[ExpressionIssue]:
        """Load-time checks against sample contexts: names, functions, and a boolean result for every sample.

        ``entry_fields`` are the fields an expression inside a group entry may read as ``entry.X`` (None outside
        a group, where ``entry`` does not exist); ``entry_of`` maps a group member's id to its group, for hints.
        ``computed`` are the names of computed values in scope; ``boolean=False`` checks a computed value, which may
        be of any type.
        """
        allowed = set(VARIABLES if allow_value else VARIABLES - {"value"}) | set(computed)
        if entry_fields is None:
            allowed.discard("entry")
        issues = [ExpressionIssue("UNKNOWN_REFERENCE", f"unknown variable '{name}' in '{self.source}'",
                                  hint=_variable_hint(name, allowed))
                  for name in sorted(self.variables() - allowed)]
        issues += [ExpressionIssue("UNKNOWN_REFERENCE", f"unknown function '{name}' in '{self.source}'",
                                                   hint=_FUNCTIONS_HINT)
                   for name in sorted(self.functions() - FUNCTIONS)]
        for person, attribute in dict.fromkeys(_PERSON.findall(self.source)):
            offered = ACTOR_ATTRIBUTES if person == "actor" else PERSON_ATTRIBUTES
            if attribute not in offered:
                issues.append(ExpressionIssue(
                    "UNKNOWN_REFERENCE", f"{person}.{attribute} does not exist in '{self.source}'",
                    hint=f"{person} offers {', '.join(offered)}"))
        for field_id in dict.fromkeys(self.answer_references()):
            if field_id not in known_fields:
                group = (entry_of or {}).get(field_id)
                hint = (f"'{field_id}' is a field of each entry of group '{group}': inside the group write "
                        f"entry.{field_id}; outside it, read answers.{group}") if group else \
                    _known_hint(field_id, known_fields)
                issues.append(ExpressionIssue(
                    "UNKNOWN_REFERENCE", f"answers.{field_id} is not a field defined before this expression",
                    hint=hint))
        if entry_fields is not None:
            for field_id in dict.fromkeys(self.entry_references()):
                if field_id not in entry_fields:
                    issues.append(ExpressionIssue(
                        "UNKNOWN_REFERENCE", f"entry.{field_id} is not a field defined before this one in the entry",
                        hint=_known_hint(field_id, entry_fields, "entry")))
        if issues:
            return issues
        for sample in samples:
            found = self._check_result(sample, boolean)
            if found:
                return found
        return []

    def sample_result(self, sample: Mapping[str, Any]) -> Any:
        """The value over one sample context, or None when it cannot be computed from it."""
        result, error, _ = _sample_outcome(self._program, self.source, sample)
        return None if error is not None else result

    def _check_result(self, sample: Mapping[str, Any], boolean: bool = True) -> list[ExpressionIssue]:
        try:
            result, error, message = _sample_outcome(self._program, self.source, sample)
            if error is not None:
                raise error(message)
        except TypeError as exc:
            return [_type_issue(self.source, str(exc))]
        except RuntimeError as exc:
            # A custom function refusing its argument types arrives wrapped in a RuntimeError.
            if "TypeError" in str(exc):
                return [_type_issue(self.source, str(exc).split("TypeError: ")[-1])]
            return []
        except (KeyError, ValueError, ZeroDivisionError, OverflowError):
            return []  # depends on real answers (a missing optional answer, a zero divisor): not an authoring error
        if not boolean:
            return []
        if not isinstance(result, bool):
            return [ExpressionIssue("CEL_NOT_BOOLEAN", f"'{self.source}' yields {type(result).__name__}, not a boolean",
                                    hint="compare the value, e.g. size(answers.children) > 0")]
        return []

    @classmethod
    def __get_pydantic_core_schema__(cls, source: type[Any], handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(
            _from_yaml, serialization=core_schema.plain_serializer_function_ser_schema(lambda expr: expr.source),
        )

    @classmethod
    def __get_pydantic_json_schema__(cls, schema: core_schema.CoreSchema,
                                     handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        return {"type": "string", "maxLength": MAX_LENGTH, "description": "a CEL expression yielding a boolean"}


def _type_issue(source: str, detail: str) -> ExpressionIssue:
    return ExpressionIssue("CEL_TYPE_ERROR", f"'{source}' mixes types: {detail.split('. ')[0]}",
                           hint="number fields are doubles unless `integer: true`; convert explicitly "
                                "with int(), double() or string()")


def _known_hint(field_id: str, known: Collection[str], variable: str = "answers") -> str:
    import difflib

    close = difflib.get_close_matches(field_id, list(known), n=1)
    if close:
        return f"did you mean {variable}.{close[0]}?"
    if variable == "entry":
        return "an entry's fields can read the fields listed before them in the same group"
    return "only fields of earlier steps, or earlier fields of the same step, can be referenced"


def _variable_hint(name: str, allowed: Collection[str]) -> str:
    if name == "entry":
        return "`entry` exists only in the fields of a group (each entry's own values)"
    return f"expressions see {', '.join(sorted(allowed))}"


def _from_yaml(source: object) -> Expression:
    if isinstance(source, Expression):
        return source
    if isinstance(source, bool):
        source = "true" if source else "false"  # YAML reads `when: false` as a boolean; it is a fine condition
    if not isinstance(source, str):
        raise PydanticCustomError("string_type", "a CEL expression must be a text")
    try:
        return Expression(source)
    except ExpressionError as exc:
        raise PydanticCustomError(exc.code.lower(), "{message}", {
            "message": exc.problems[0].message, "line": exc.line, "column": exc.column,
        }) from exc
