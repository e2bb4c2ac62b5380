"""Pure step logic shared by the workflow and its update validators: no I/O, no clock, no randomness.

Everything takes ``today`` from the caller (the workflow's deterministic clock) so replay gives the same answer.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from functools import lru_cache
from typing import Any

import cel
import isodate

from onestop.catalogue.expressions import typed_number
from onestop.catalogue.functions import CUSTOM, execute
from onestop.catalogue.functions import interpolate as interpolate
from onestop.workflows import values
from onestop.workflows.snapshot import ComputedSpec, FieldSpec, ServiceSnapshot, StepSpec, Text, fields_of


@dataclass(frozen=True)
class FieldError:
    """One problem with one answer; ``path`` points into the submitted answers (``["children", "0", "name"]``)."""

    path: list[str]
    code: str
    message: Text


@dataclass(frozen=True)
class Applicant:
    age: int | None = None
    age_group: str | None = None
    assurance: str = "basic"
    logged_in: bool = True
    # Acting for someone (``citizen`` is then the subject): who acts and how; CEL reads them as ``actor.*``.
    acting_as: str = "self"
    actor_age: int | None = None
    actor_age_group: str | None = None


@dataclass(frozen=True)
class Prefilled:
    value: Any
    source: str
    # From an authoritative record: read-only unless the field says `prefillEditable: true`.
    verified: bool = False


@dataclass
class Progress:
    """What the citizen has done so far; the workflow owns one and replaces it after each action."""

    completed: list[str] = field(default_factory=list)
    answers: dict[str, Any] = field(default_factory=dict)
    prefilled: dict[str, Prefilled] = field(default_factory=dict)


Checked = tuple[Any, list[FieldError]]
"""A normalised value and no errors, or None and why."""


def _t(en: str, tc: str) -> Text:
    return {"en": en, "tc": tc}


@lru_cache(maxsize=512)
def _program(source: str) -> Any:
    return cel.compile(source)


class DefinitionFault(Exception):
    """An expression of the pinned definition failed at run time: a fault of the definition, not of the citizen.

    A type error, an overflow, a division by zero or a non-boolean result is never read as "false": the citizen
    would silently take the wrong path (skip an exit, pass a means test).
    """

    def __init__(self, expression: str, detail: str) -> None:
        super().__init__(f"cannot evaluate {expression!r}: {detail}")
        self.expression = expression
        self.detail = detail


_UNDEFINED = re.compile(r"^Undefined variable or function: '([A-Za-z_]\w*)'")


def _absent(exc: Exception, context: Mapping[str, Any]) -> bool:
    """Whether ``exc`` is the library's report of a variable missing from ``context``: a computed value whose
    inputs are not all answered yet (every other name is checked at load time), so "not yet", like a missing key."""
    match = _UNDEFINED.match(str(exc)) if isinstance(exc, RuntimeError) else None
    return match is not None and match.group(1) not in context and match.group(1) not in CUSTOM


def evaluate(source: str, context: Mapping[str, Any], *, strict: bool = True) -> bool:
    """A CEL condition. Reading an unanswered field (a missing key) is false: the condition does not apply yet.

    Any other failure raises ``DefinitionFault``; ``strict=False`` keeps the old reading (every failure is false)
    for applications recorded before it.
    """
    try:
        result = execute(_program(source), dict(context))
    except KeyError:
        return False
    except Exception as exc:  # the library raises TypeError, OverflowError, ZeroDivisionError, RuntimeError, ...
        if not strict or _absent(exc, context):
            return False
        raise DefinitionFault(source, str(exc).split(". ")[0]) from exc
    if strict and not isinstance(result, bool):
        raise DefinitionFault(source, f"it gave {result!r}, not true or false")
    return result is True


NumberTypes = Mapping[str, bool]
"""The ``number`` fields of a service (group members included): field id -> whether it is ``integer``."""


def number_types(snapshot: ServiceSnapshot) -> NumberTypes:
    return snapshot.number_types


def _typed(value: Any, numbers: NumberTypes, key: str) -> Any:
    if key in numbers:
        return typed_number(value, numbers[key])
    if isinstance(value, list) and all(isinstance(item, Mapping) for item in value):
        return [_typed_entry(item, numbers) for item in value]
    return value


def _typed_entry(entry: Mapping[str, Any], numbers: NumberTypes) -> dict[str, Any]:
    return {k: _typed(v, numbers, k) for k, v in entry.items() if v is not None}


def context(citizen: Applicant, answers: Mapping[str, Any], today: date, numbers: NumberTypes | None = None,
            entry: Mapping[str, Any] | None = None, computed: Sequence[ComputedSpec] = ()) -> dict[str, Any]:
    """The CEL variables. With ``numbers``, a number answer is an int for an ``integer`` field and a double
    otherwise, whatever JSON it was typed as: CEL does not mix int and double in arithmetic, so ``100000``
    and ``100000.5`` must reach an expression as the same type. ``computed`` values join as variables of their
    own names; one whose inputs are not all answered yet is absent, like an unanswered field."""
    typed = numbers if numbers is not None else {}
    subject = {
        "age": citizen.age if citizen.age is not None else -1,
        "ageGroup": citizen.age_group or "",
        "assurance": citizen.assurance,
        "loggedIn": citizen.logged_in,
    }
    actor = {**subject, "relationship": citizen.acting_as} if citizen.acting_as == "self" else {
        **subject, "relationship": citizen.acting_as, "ageGroup": citizen.actor_age_group or "",
        "age": citizen.actor_age if citizen.actor_age is not None else -1}
    ctx = {
        "citizen": subject,
        "subject": subject,
        "actor": actor,
        "answers": _typed_entry(answers, typed) if numbers is not None else
        {k: v for k, v in answers.items() if v is not None},
        "today": today.isoformat(),
    }
    for spec in computed:
        try:
            ctx[spec.name] = execute(_program(spec.expression), dict(ctx))
        except KeyError:
            continue
        except Exception as exc:  # as in evaluate(): a fault of the definition, never a silent default
            if _absent(exc, ctx):
                continue
            raise DefinitionFault(spec.expression, str(exc).split(". ")[0]) from exc
    if entry is not None:
        ctx["entry"] = _typed_entry(entry, typed)
    return ctx


def computed_values(snapshot: ServiceSnapshot, progress: Progress, citizen: Applicant, today: date) -> dict[str, Any]:
    """The computed values over the answers so far, by name (those not computable yet left out)."""
    if not snapshot.computed:
        return {}
    ctx = context(citizen, progress.answers, today, number_types(snapshot), computed=snapshot.computed)
    return {spec.name: ctx[spec.name] for spec in snapshot.computed if spec.name in ctx}


def _numbers(snapshot: ServiceSnapshot, strict: bool) -> NumberTypes | None:
    return number_types(snapshot) if strict else None


def _context(snapshot: ServiceSnapshot, citizen: Applicant, answers: Mapping[str, Any], today: date,
             strict: bool) -> dict[str, Any]:
    return context(citizen, answers, today, _numbers(snapshot, strict), computed=snapshot.computed)


def applies(when: str | None, ctx: Mapping[str, Any], *, strict: bool = True) -> bool:
    return when is None or evaluate(when, ctx, strict=strict)


def eligibility_error(snapshot: ServiceSnapshot, citizen: Applicant, today: date, *,
                      strict: bool = True) -> FieldError | None:
    if snapshot.eligibility_when is None:
        return None
    if evaluate(snapshot.eligibility_when, context(citizen, {}, today), strict=strict):
        return None
    message = snapshot.eligibility_message or _t("You are not eligible for this service.", "你不符合申請資格。")
    return FieldError([], "NOT_ELIGIBLE", message)


def current_step(snapshot: ServiceSnapshot, progress: Progress, citizen: Applicant, today: date, *,
                 strict: bool = True) -> StepSpec | None:
    """The first applicable step not yet completed; None when every step is done."""
    ctx = _context(snapshot, citizen, progress.answers, today, strict)
    for step in snapshot.steps:
        if step.id in progress.completed or not applies(step.when, ctx, strict=strict):
            continue
        return step
    return None


def applicable_steps(snapshot: ServiceSnapshot, progress: Progress, citizen: Applicant, today: date, *,
                     strict: bool = True) -> list[StepSpec]:
    ctx = _context(snapshot, citizen, progress.answers, today, strict)
    return [s for s in snapshot.steps if applies(s.when, ctx, strict=strict)]


def go_back(snapshot: ServiceSnapshot, progress: Progress, step_id: str) -> Progress | FieldError:
    """Reopen a completed step: it and every later step become not completed; answers stay as drafts."""
    if step_id not in progress.completed:
        return FieldError(["stepId"], "STEP_NOT_COMPLETED", _t(
            f"Step {step_id!r} has not been completed, so you cannot go back to it.",
            f"尚未完成步驟 {step_id!r}，無法返回。"))
    order = [s.id for s in snapshot.steps]
    cut = order.index(step_id)
    later = set(order[cut:])
    return Progress(
        completed=[s for s in progress.completed if s not in later],
        answers=dict(progress.answers),
        prefilled=dict(progress.prefilled),
    )


def prune(snapshot: ServiceSnapshot, progress: Progress, citizen: Applicant, today: date, *,
          strict: bool = True) -> Progress:
    """Drop answers of steps and fields that no longer apply (after going back and changing an answer)."""
    numbers = _numbers(snapshot, strict)
    answers = dict(progress.answers)
    completed = list(progress.completed)
    for _ in range(len(snapshot.steps) + 1):  # conditions can cascade; iterate to a fixed point
        ctx = context(citizen, answers, today, numbers, computed=snapshot.computed)
        keep: dict[str, Any] = {}
        keep_steps: list[str] = []
        for step in snapshot.steps:
            if not applies(step.when, ctx, strict=strict):
                continue
            if step.id in completed:
                keep_steps.append(step.id)
            step_ctx_answers: dict[str, Any] = dict(answers)
            # The context of the step's answers so far: ``ctx`` itself (the same answers) until one is dropped.
            field_ctx: dict[str, Any] | None = ctx
            for spec in fields_of(step):
                if spec.id in answers:
                    if field_ctx is None:
                        field_ctx = context(citizen, step_ctx_answers, today, numbers, computed=snapshot.computed)
                    if applies(spec.when, field_ctx, strict=strict):
                        keep[spec.id] = answers[spec.id]
                        continue
                if spec.id in step_ctx_answers:
                    del step_ctx_answers[spec.id]
                    field_ctx = None
        if keep == answers and keep_steps == completed:
            break
        answers, completed = keep, keep_steps
    return Progress(completed=completed, answers=answers, prefilled=dict(progress.prefilled))


TEXT_MAX_CHARS = 500
LONG_TEXT_MAX_CHARS = 5_000
ADDRESS_PART_MAX_CHARS = 200
GROUP_MAX_ENTRIES = 100
NUMBER_MAX = 2**53  # beyond it a JSON number loses integer precision in most clients
MAX_ERRORS = 50
ANSWERS_MAX_BYTES = 256 * 1024
"""Bounds every answer meets unless its definition says otherwise, so no citizen's input can grow an application
past Temporal's payload and history limits."""


def validate_step(
    snapshot: ServiceSnapshot,
    step: StepSpec,
    submitted: Any,
    progress: Progress,
    citizen: Applicant,
    today: date,
    *,
    bounded: bool = True,
    strict: bool = True,
) -> tuple[dict[str, Any], list[FieldError]]:
    """Check one step's answers; returns the normalised answers to store and the errors found.

    ``bounded`` applies the default size bounds and caps the errors at ``MAX_ERRORS``. Update validators check
    with bounds; the update handler re-reads answers the validator already accepted, and replays of histories
    recorded before the bounds existed must read them as they were then. ``strict`` is the reading of answers
    and expressions since "trustworthy answers" (typed numbers, blank text, entry scope, definition faults);
    histories recorded before it replay with ``strict=False``.
    """
    if not isinstance(submitted, Mapping):
        return {}, [FieldError([], "WRONG_TYPE", _t("Answers must be an object keyed by field id.",
                                                    "答案必須是以欄位識別碼為鍵的物件。"))]
    fields = fields_of(step)
    known = {f.id for f in fields}
    errors = [
        FieldError([_printable(key)], "UNKNOWN_FIELD", _t(f"This step has no field {key!r}.",
                                                          f"此步驟沒有欄位 {key!r}。"))
        for key in submitted
        if key not in known
    ]
    merged = dict(progress.answers)
    out: dict[str, Any] = {}
    scope = _Scope()
    at = _At([], citizen, merged, today, bounded, strict, _numbers(snapshot, strict), computed=snapshot.computed,
             scope=scope)
    for spec in fields:
        if not applies(spec.when, at.context(), strict=strict):
            merged.pop(spec.id, None)
            scope.changed()
            continue
        raw = submitted.get(spec.id)
        if raw is None and spec.id in progress.prefilled:
            raw = progress.prefilled[spec.id].value
        value, field_errors = _check_field(spec, raw, replace(at, path=[spec.id]))
        errors += field_errors
        if value is not None and not field_errors:
            out[spec.id] = value
            merged[spec.id] = value
            scope.changed()
        if bounded and len(errors) > MAX_ERRORS:
            break
    if bounded:
        errors = _capped(errors)
        if not errors and _json_size(merged) > ANSWERS_MAX_BYTES:
            errors = [FieldError([], "APPLICATION_FULL", _t(
                "Your answers have reached the size this application can hold; shorten some of them.",
                "你的答案已達此申請可容納的上限，請縮短部分答案。"))]
    return out, errors


def _capped(errors: list[FieldError]) -> list[FieldError]:
    if len(errors) <= MAX_ERRORS:
        return errors
    return [*errors[:MAX_ERRORS], FieldError([], "TOO_MANY_ERRORS", _t(
        f"More problems were found than can be listed; correct these {MAX_ERRORS} and submit again.",
        f"發現的問題太多，未能全部列出；請先更正這 {MAX_ERRORS} 項再提交。"))]


def _json_size(value: Any) -> int:
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str).encode())


def _printable(key: Any) -> str:
    # A key that is not valid Unicode (a lone surrogate) must not make the error itself unencodable.
    return str(key).encode("utf-8", "backslashreplace").decode("utf-8")


# Characters that render as nothing: a text made only of them (and white space) is blank.
_FILLERS = frozenset("\u115f\u1160\u3164\uffa0\u2800\u034f")


def _invisible(char: str) -> bool:
    return char.isspace() or unicodedata.category(char) == "Cf" or char in _FILLERS


def trimmed(text: str) -> str:
    """``text`` without white space or invisible characters (zero-width spaces, joiners, BOM, ...) at either end."""
    start, end = 0, len(text)
    while start < end and _invisible(text[start]):
        start += 1
    while end > start and _invisible(text[end - 1]):
        end -= 1
    return text[start:end]


def _empty(raw: Any, strict: bool = False) -> bool:
    if strict and isinstance(raw, str):
        return trimmed(raw) == ""
    return raw is None or raw == "" or raw == [] or raw == {}


def _check_field(spec: FieldSpec, raw: Any, at: _At) -> Checked:
    path = at.path
    if at.strict and isinstance(raw, str) and _has_surrogate(raw):
        return at.refuse("INVALID_CHARACTERS", "Remove the characters that are not valid text.",
                         "請刪除無效的字元。")
    if _empty(raw, at.strict) or (spec.type == "boolean" and raw is False and spec.required):
        if spec.required:
            if spec.type == "boolean":
                return None, [FieldError(path, "REQUIRED", _t("Please confirm this declaration.", "請確認此聲明。"))]
            return None, [FieldError(path, "REQUIRED", _t("This field is required.", "此欄位必須填寫。"))]
        return (False if raw is False else None), []
    check = _CHECKS.get(spec.type)
    if check is None:
        return at.refuse("UNSUPPORTED_FIELD", f"Field type {spec.type!r} is not supported.",
                         f"不支援欄位類型 {spec.type!r}。")
    value, errors = check(spec, raw, at)
    if errors:
        return None, errors
    rule_ctx = at.context()
    for rule in spec.rules:
        rule_ctx["value"] = typed_number(value, spec.integer) if at.strict and spec.type == "number" else value
        if not evaluate(rule.check, rule_ctx, strict=at.strict):
            shown = {spec.name: rule_ctx[spec.name] for spec in at.computed if spec.name in rule_ctx}
            errors.append(FieldError(path, "RULE", interpolate(rule.message, shown)))
    return (None if errors else value), errors


def _has_surrogate(text: str) -> bool:
    return any("\ud800" <= char <= "\udfff" for char in text)


def _limit(spec_value: str, today: date) -> date:
    if spec_value == "today":
        return today
    if spec_value.startswith(("P", "-P", "+P")):
        sign = -1 if spec_value.startswith("-") else 1
        duration = isodate.parse_duration(spec_value.lstrip("+-"))
        result: date = today + duration * sign if sign > 0 else today - duration
        return result
    return date.fromisoformat(spec_value)


class _Scope:
    """The context of a step's answers as they stand, built once until an answer is added or dropped (each field's
    condition and rules read the same answers: building it per read cost more than the checks)."""

    def __init__(self) -> None:
        self.context: dict[str, Any] | None = None

    def changed(self) -> None:
        self.context = None


@dataclass(frozen=True)
class _At:
    """Where a value is being checked: its path, and what its rules, conditions and date bounds see."""

    path: list[str]
    citizen: Applicant
    answers: Mapping[str, Any]
    today: date
    bounded: bool = True
    strict: bool = False
    numbers: NumberTypes | None = None
    entry: Mapping[str, Any] | None = None
    """Inside a group entry: the entry's values so far, which its fields' conditions and rules read as ``entry``."""
    computed: Sequence[ComputedSpec] = ()
    scope: _Scope | None = None
    """The answers' context as they stand, shared by the step's fields (outside group entries, which have their own)."""

    def refuse(self, code: str, en: str, tc: str) -> Checked:
        return None, [FieldError(self.path, code, _t(en, tc))]

    def context(self) -> dict[str, Any]:
        """A new dict each time (a rule adds ``value`` to its own); the same variables until the answers change."""
        if self.scope is None or self.entry is not None:
            return context(self.citizen, self.answers, self.today, self.numbers, self.entry, self.computed)
        if self.scope.context is None:
            self.scope.context = context(self.citizen, self.answers, self.today, self.numbers, None, self.computed)
        return dict(self.scope.context)


def _wrong_text(at: _At) -> Checked:
    return at.refuse("WRONG_TYPE", "Enter text.", "請輸入文字。")


def _text_value(spec: FieldSpec, raw: str, at: _At) -> tuple[str, Checked | None]:
    """The text to store, or a refusal: trimmed, and (strictly) free of control characters."""
    if not at.strict:
        return raw.strip(), None
    value = trimmed(raw)
    allowed = "\n\r" if spec.multiline else ""
    if any(unicodedata.category(char) == "Cc" and char not in allowed for char in value):
        where = "" if spec.multiline else " or line breaks"
        return value, at.refuse("INVALID_CHARACTERS", f"Remove control characters{where} from this text.",
                                "請刪除文字中的控制字元。" if spec.multiline else "請刪除文字中的控制字元或換行。")
    return value, None


def _check_text(spec: FieldSpec, raw: Any, at: _At) -> Checked:
    if not isinstance(raw, str):
        return _wrong_text(at)
    value, refused = _text_value(spec, raw, at)
    if refused is not None:
        return refused
    if spec.min_length is not None and len(value) < spec.min_length:
        return at.refuse("TOO_SHORT", f"Enter at least {spec.min_length} characters.",
                         f"最少輸入 {spec.min_length} 個字元。")
    longest = spec.max_length
    if longest is None and at.bounded:
        longest = LONG_TEXT_MAX_CHARS if spec.multiline else TEXT_MAX_CHARS
    if longest is not None and len(value) > longest:
        return at.refuse("TOO_LONG", f"Enter at most {longest} characters.", f"最多輸入 {longest} 個字元。")
    if spec.pattern is not None and re.fullmatch(spec.pattern, value) is None:
        return at.refuse("PATTERN", "The format is not valid.", "格式不正確。")
    return value, []


def _formatted(valid: Callable[[str], bool], normal: Callable[[str], str], code: str, en: str,
               tc: str) -> Callable[[FieldSpec, Any, _At], Checked]:
    """A checker for a text with a known format (email, phone, HKID): cleaned as text, then checked and normalised."""

    def check(spec: FieldSpec, raw: Any, at: _At) -> Checked:
        if not isinstance(raw, str):
            return _wrong_text(at)
        value, refused = _text_value(spec, raw, at)
        if refused is not None:
            return refused
        return (normal(value), []) if valid(value) else at.refuse(code, en, tc)

    return check


_check_email = _formatted(values.is_valid_email, str, "INVALID_EMAIL",
                          "Enter an email address like name@example.com.", "請輸入有效的電郵地址。")
_check_phone = _formatted(values.is_valid_hk_phone, values.normalize_hk_phone, "INVALID_PHONE",
                          "Enter a Hong Kong phone number of 8 digits starting with 2, 3, 5, 6, 7, 8 or 9.",
                          "請輸入以2、3、5、6、7、8或9開頭的8位香港電話號碼。")
_check_hkid = _formatted(values.is_valid_hkid, values.normalize_hkid, "INVALID_HKID",
                         "Enter a valid HKID number, e.g. A123456(3); check the digit in brackets.",
                         "請輸入有效的香港身份證號碼，例如 A123456(3)；請檢查括號內的數字。")


def _check_number(spec: FieldSpec, raw: Any, at: _At) -> Checked:
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        return at.refuse("WRONG_TYPE", "Enter a number.", "請輸入數字。")
    if at.bounded and (not math.isfinite(raw) or abs(raw) > NUMBER_MAX):
        return at.refuse("NUMBER_OUT_OF_RANGE", f"Enter a number between -{NUMBER_MAX} and {NUMBER_MAX}.",
                         f"請輸入介乎 -{NUMBER_MAX} 至 {NUMBER_MAX} 之間的數字。")
    if spec.integer and not float(raw).is_integer():
        return at.refuse("NOT_INTEGER", "Enter a whole number.", "請輸入整數。")
    if spec.minimum is not None and raw < spec.minimum:
        return at.refuse("TOO_SMALL", f"Enter {spec.minimum:g} or more.", f"請輸入不少於 {spec.minimum:g} 的數字。")
    if spec.maximum is not None and raw > spec.maximum:
        return at.refuse("TOO_LARGE", f"Enter {spec.maximum:g} or less.", f"請輸入不多於 {spec.maximum:g} 的數字。")
    return (int(raw) if spec.integer else raw), []


def _check_date(spec: FieldSpec, raw: Any, at: _At) -> Checked:
    try:
        day = date.fromisoformat(raw) if isinstance(raw, str) and len(raw) == 10 else None
    except ValueError:
        day = None
    if day is None:
        return at.refuse("INVALID_DATE", "Enter a date as YYYY-MM-DD.", "請以 YYYY-MM-DD 格式輸入日期。")
    if spec.after is not None and not day > _limit(spec.after, at.today):
        limit = _limit(spec.after, at.today).isoformat()
        return at.refuse("DATE_TOO_EARLY", f"Enter a date after {limit}.", f"請輸入 {limit} 之後的日期。")
    if spec.before is not None and not day < _limit(spec.before, at.today):
        limit = _limit(spec.before, at.today).isoformat()
        return at.refuse("DATE_TOO_LATE", f"Enter a date before {limit}.", f"請輸入 {limit} 之前的日期。")
    return day.isoformat(), []


def _check_boolean(spec: FieldSpec, raw: Any, at: _At) -> Checked:
    if not isinstance(raw, bool):
        return at.refuse("WRONG_TYPE", "Answer yes or no (true or false).", "請回答是或否。")
    return raw, []


def _check_choice(spec: FieldSpec, raw: Any, at: _At) -> Checked:
    allowed = {o.value for o in spec.options}
    if not isinstance(raw, str) or raw not in allowed:
        return at.refuse("INVALID_OPTION", f"Choose one of: {', '.join(sorted(allowed))}.", "請從選項中選擇。")
    return raw, []


def _check_multi_choice(spec: FieldSpec, raw: Any, at: _At) -> Checked:
    allowed = {o.value for o in spec.options}
    if not isinstance(raw, list) or not all(isinstance(v, str) and v in allowed for v in raw):
        return at.refuse("INVALID_OPTION", f"Choose from: {', '.join(sorted(allowed))}.", "請從選項中選擇。")
    if len(set(raw)) != len(raw):
        return at.refuse("DUPLICATE_OPTION", "Choose each option once.", "每個選項只可選擇一次。")
    return _count(spec, list(raw), at.path)


def _check_group(spec: FieldSpec, raw: Any, at: _At) -> Checked:
    if not isinstance(raw, list) or not all(isinstance(item, Mapping) for item in raw):
        return at.refuse("WRONG_TYPE", "Enter a list of entries.", "請輸入項目列表。")
    if at.bounded:
        # Before the entries themselves: ten thousand empty entries must not become thirty thousand errors.
        most = spec.max_items if spec.max_items is not None else GROUP_MAX_ENTRIES
        if len(raw) > most:
            return at.refuse("TOO_MANY", f"Give at most {most}.", f"最多提供 {most} 項。")
    items: list[dict[str, Any]] = []
    errors: list[FieldError] = []
    sub_ids = {f.id for f in spec.fields}
    for index, item in enumerate(raw):
        entry: dict[str, Any] = {}
        errors += [FieldError([*at.path, str(index), _printable(key)], "UNKNOWN_FIELD",
                              _t(f"This entry has no field {key!r}.", f"此項目沒有欄位 {key!r}。"))
                   for key in item if key not in sub_ids]
        for sub in spec.fields:
            sub_at = replace(at, path=[*at.path, str(index), sub.id], entry=entry if at.strict else None)
            # Each entry is its own scope: a member's condition reads that member's earlier answers.
            if at.strict and not applies(sub.when, sub_at.context()):
                continue
            sub_value, sub_errors = _check_field(sub, item.get(sub.id), sub_at)
            errors += sub_errors
            if sub_value is not None:
                entry[sub.id] = sub_value
        items.append(entry)
    if errors:
        return None, errors
    return _count(spec, items, at.path)


def _count(spec: FieldSpec, items: list[Any], path: list[str]) -> Checked:
    if spec.min_items is not None and len(items) < spec.min_items:
        message = _t(f"Give at least {spec.min_items}.", f"最少提供 {spec.min_items} 項。")
        return None, [FieldError(path, "TOO_FEW", message)]
    if spec.max_items is not None and len(items) > spec.max_items:
        message = _t(f"Give at most {spec.max_items}.", f"最多提供 {spec.max_items} 項。")
        return None, [FieldError(path, "TOO_MANY", message)]
    return items, []


_ADDRESS_KEYS = ("flat", "floor", "block", "building", "street", "district", "region")


def _check_address(spec: FieldSpec, raw: Any, at: _At) -> Checked:
    path = at.path
    if not isinstance(raw, Mapping):
        return None, [FieldError(path, "WRONG_TYPE", _t("Enter an address.", "請輸入地址。"))]
    errors = [
        FieldError([*path, _printable(key)], "UNKNOWN_FIELD",
                   _t(f"An address has no part {key!r}.", f"地址沒有 {key!r} 部分。"))
        for key in raw
        if key not in _ADDRESS_KEYS
    ]
    for key in _ADDRESS_KEYS:
        if key in raw and raw[key] is not None and not isinstance(raw[key], str):
            errors.append(FieldError([*path, key], "WRONG_TYPE", _t("Enter text.", "請輸入文字。")))
        elif at.strict and isinstance(raw.get(key), str) and (
                _has_surrogate(raw[key]) or any(unicodedata.category(c) == "Cc" for c in raw[key])):
            errors.append(FieldError([*path, key], "INVALID_CHARACTERS", _t(
                "Remove control characters or line breaks from this part of the address.",
                "請刪除地址此部分中的控制字元或換行。")))
        elif at.bounded and isinstance(raw.get(key), str) and len(raw[key].strip()) > ADDRESS_PART_MAX_CHARS:
            errors.append(FieldError([*path, key], "TOO_LONG", _t(
                f"Enter at most {ADDRESS_PART_MAX_CHARS} characters.", f"最多輸入 {ADDRESS_PART_MAX_CHARS} 個字元。")))
    if errors:
        return None, errors
    clean = trimmed if at.strict else str.strip
    address = {k: clean(raw[k]) for k in _ADDRESS_KEYS if isinstance(raw.get(k), str) and clean(raw[k])}
    if address.get("region") not in ("HK", "KLN", "NT"):
        errors.append(FieldError([*path, "region"], "INVALID_OPTION",
                                 _t("Choose a region: HK, KLN or NT.", "請選擇區域：HK、KLN 或 NT。")))
    districts = {o.value for o in spec.options}
    if districts and address.get("district") not in districts:
        errors.append(FieldError([*path, "district"], "INVALID_OPTION", _t("Choose a district.", "請選擇地區。")))
    if "building" not in address and "street" not in address:
        errors.append(FieldError([*path, "building"], "REQUIRED",
                                 _t("Enter a building or a street.", "請輸入大廈或街道。")))
    return (None, errors) if errors else (address, [])


DOCUMENT_ID = re.compile(r"^doc-[0-9a-f]{32}$")
"""The id ``POST /documents`` gives an uploaded file; a file field's answer is one (or a list of them). The engine
checks, before the answer reaches the workflow, that each belongs to this citizen, application and field."""


def _check_file(spec: FieldSpec, raw: Any, at: _At) -> Checked:
    ids = raw if spec.multiple and isinstance(raw, list) else [raw]
    if (spec.multiple and not isinstance(raw, list)) or not all(
            isinstance(item, str) and DOCUMENT_ID.match(item) for item in ids):
        return at.refuse("WRONG_TYPE", "Upload the file first, then give the document id the upload returned"
                         + (" (a list of them)." if spec.multiple else "."),
                         "請先上載檔案，然後提供上載後取得的文件編號。")
    if len(set(ids)) != len(ids):
        return at.refuse("DUPLICATE_OPTION", "Attach each file once.", "每個檔案只可附上一次。")
    if not spec.multiple:
        return raw, []
    return _count(spec, list(ids), at.path)


_CHECKS: dict[str, Callable[[FieldSpec, Any, _At], Checked]] = {
    "text": _check_text,
    "email": _check_email,
    "phone": _check_phone,
    "hkid": _check_hkid,
    "number": _check_number,
    "date": _check_date,
    "boolean": _check_boolean,
    "choice": _check_choice,
    "multiChoice": _check_multi_choice,
    "address": _check_address,
    "group": _check_group,
    "file": _check_file,
}
"""One checker per field type: each refuses a wrong value with a specific code, or returns it normalised."""

