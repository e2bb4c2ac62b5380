"""The pure step interpreter: every field type's checks, conditions, going back and pruning."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from onestop.workflows import interpreter as interp
from onestop.workflows.interpreter import Applicant, Progress
from onestop.workflows.snapshot import FieldSpec, FormSpec, OptionSpec, ReviewSpec, RuleSpec, ServiceSnapshot, StepSpec

TODAY = date(2026, 11, 27)
ADULT = Applicant(age=40, age_group="adult")


def t(en: str) -> dict[str, str]:
    return {"en": en, "tc": en}


def service(*fields: FieldSpec, steps: list[StepSpec] | None = None) -> ServiceSnapshot:
    return ServiceSnapshot(id="s", version=1, content_hash="h", department="TD", title=t("S"),
                           steps=steps or [FormSpec(id="form", title=t("F"), fields=list(fields))])


def check(spec: FieldSpec, value: Any) -> tuple[Any, list[str]]:
    snap = service(spec)
    answers, errors = interp.validate_step(snap, snap.steps[0], {spec.id: value}, Progress(), ADULT, TODAY)
    return answers.get(spec.id), [e.code for e in errors]


@pytest.mark.parametrize(("spec", "value", "codes"), [
    (FieldSpec("n", "number", t("N"), minimum=1, maximum=5), 6, ["TOO_LARGE"]),
    (FieldSpec("n", "number", t("N"), minimum=1, maximum=5), 0, ["TOO_SMALL"]),
    (FieldSpec("n", "number", t("N"), integer=True), 2.5, ["NOT_INTEGER"]),
    (FieldSpec("n", "number", t("N")), True, ["WRONG_TYPE"]),
    (FieldSpec("s", "text", t("S"), min_length=3), "ab", ["TOO_SHORT"]),
    (FieldSpec("s", "text", t("S"), max_length=3), "abcd", ["TOO_LONG"]),
    (FieldSpec("s", "text", t("S"), pattern=r"M\d{5}"), "M1234", ["PATTERN"]),
    (FieldSpec("d", "date", t("D"), after="today"), "2026-11-27", ["DATE_TOO_EARLY"]),
    (FieldSpec("d", "date", t("D"), before="-P18Y"), "2010-01-01", ["DATE_TOO_LATE"]),
    (FieldSpec("d", "date", t("D")), "27/11/2026", ["INVALID_DATE"]),
    (FieldSpec("e", "email", t("E")), "not-an-email", ["INVALID_EMAIL"]),
    (FieldSpec("p", "phone", t("P")), "41234567", ["INVALID_PHONE"]),
    (FieldSpec("h", "hkid", t("H")), "A123456(4)", ["INVALID_HKID"]),
    (FieldSpec("c", "choice", t("C"), options=[OptionSpec("a", t("A"))]), "b", ["INVALID_OPTION"]),
    (FieldSpec("m", "multiChoice", t("M"), options=[OptionSpec("a", t("A"))]), ["a", "a"], ["DUPLICATE_OPTION"]),
    (FieldSpec("m", "multiChoice", t("M"), options=[OptionSpec("a", t("A")), OptionSpec("b", t("B"))],
               max_items=1), ["a", "b"], ["TOO_MANY"]),
    (FieldSpec("b", "boolean", t("B"), required=True), False, ["REQUIRED"]),
    (FieldSpec("a", "address", t("A")), {"building": "X", "region": "MARS"}, ["INVALID_OPTION"]),
    (FieldSpec("a", "address", t("A")), {"region": "HK"}, ["REQUIRED"]),
    (FieldSpec("a", "address", t("A")), {"street": "1 Road", "region": "HK", "planet": "Earth"},
     ["UNKNOWN_FIELD"]),
])
def test_invalid_values_are_refused_with_a_specific_code(spec: FieldSpec, value: Any, codes: list[str]) -> None:
    assert check(spec, value) == (None, codes)


@pytest.mark.parametrize(("spec", "value", "stored"), [
    (FieldSpec("p", "phone", t("P")), "9123 4567", "+85291234567"),
    (FieldSpec("h", "hkid", t("H")), "a1234563", "A123456(3)"),
    (FieldSpec("n", "number", t("N"), integer=True), 3.0, 3),
    (FieldSpec("d", "date", t("D"), after="-P1Y", before="P1Y"), "2026-12-01", "2026-12-01"),
    (FieldSpec("a", "address", t("A"), options=[OptionSpec("wan-chai", t("W"))]),
     {"building": " Tower ", "district": "wan-chai", "region": "HK"},
     {"building": "Tower", "district": "wan-chai", "region": "HK"}),
    (FieldSpec("s", "text", t("S")), "  padded ", "padded"),
])
def test_valid_values_are_stored_normalised(spec: FieldSpec, value: Any, stored: Any) -> None:
    assert check(spec, value) == (stored, [])


def test_a_custom_rule_sees_the_value_and_the_citizen() -> None:
    spec = FieldSpec("period", "choice", t("P"), options=[OptionSpec("10", t("10")), OptionSpec("3", t("3"))],
                     rules=[RuleSpec('value == "10" || citizen.age >= 70', {"en": "Under 70: 10 years", "tc": "十年"})])
    assert check(spec, "3")[1] == ["RULE"]
    assert check(spec, "10") == ("10", [])


def test_a_conditional_field_is_ignored_unless_its_condition_holds() -> None:
    snap = service(FieldSpec("kind", "choice", t("K"), options=[OptionSpec("a", t("A")), OptionSpec("b", t("B"))]),
                   FieldSpec("extra", "text", t("E"), required=True, when="answers.kind == 'b'"))
    step = snap.steps[0]
    answers, errors = interp.validate_step(snap, step, {"kind": "a", "extra": "x"}, Progress(), ADULT, TODAY)
    assert (answers, errors) == ({"kind": "a"}, [])
    _, errors = interp.validate_step(snap, step, {"kind": "b"}, Progress(), ADULT, TODAY)
    assert [(e.path, e.code) for e in errors] == [(["extra"], "REQUIRED")]


def test_answers_must_be_an_object() -> None:
    snap = service(FieldSpec("x", "text", t("X")))
    _, errors = interp.validate_step(snap, snap.steps[0], ["x"], Progress(), ADULT, TODAY)
    assert [e.code for e in errors] == ["WRONG_TYPE"]


def test_a_prefilled_value_is_used_when_the_citizen_leaves_it_unchanged() -> None:
    snap = service(FieldSpec("hkid", "hkid", t("H"), required=True, prefill="eme.hkid"))
    progress = Progress(prefilled={"hkid": interp.Prefilled("A123456(3)", "e-ME")})
    answers, errors = interp.validate_step(snap, snap.steps[0], {}, progress, ADULT, TODAY)
    assert (answers, errors) == ({"hkid": "A123456(3)"}, [])


def steps() -> list[StepSpec]:
    return [
        FormSpec(id="one", title=t("1"), fields=[FieldSpec("kind", "text", t("K"))]),
        FormSpec(id="two", title=t("2"), when="answers.kind == 'b'", fields=[FieldSpec("b", "text", t("B"))]),
        FormSpec(id="three", title=t("3"), when="has(answers.b)", fields=[FieldSpec("c", "text", t("C"))]),
        ReviewSpec(id="four", title=t("4")),
    ]


def test_the_current_step_skips_steps_whose_condition_is_false() -> None:
    snap = service(steps=steps())
    progress = Progress(completed=["one"], answers={"kind": "a"})
    current = interp.current_step(snap, progress, ADULT, TODAY)
    assert current is not None
    assert current.id == "four"


def test_pruning_cascades_through_dependent_conditions() -> None:
    snap = service(steps=steps())
    progress = Progress(completed=["one", "two", "three"], answers={"kind": "a", "b": "x", "c": "y"})
    pruned = interp.prune(snap, progress, ADULT, TODAY)
    assert pruned.answers == {"kind": "a"}
    assert pruned.completed == ["one"]


def test_going_back_reopens_that_step_and_the_ones_after_it() -> None:
    snap = service(steps=steps())
    progress = Progress(completed=["one", "two"], answers={"kind": "b", "b": "x"})
    back = interp.go_back(snap, progress, "one")
    assert isinstance(back, Progress)
    assert back.completed == []
    assert back.answers == progress.answers
    refused = interp.go_back(snap, progress, "four")
    assert isinstance(refused, interp.FieldError)
    assert refused.code == "STEP_NOT_COMPLETED"


def test_eligibility_is_a_cel_condition_over_the_citizen() -> None:
    snap = ServiceSnapshot(id="s", version=1, content_hash="h", department="TD", title=t("S"), steps=steps(),
                           eligibility_when="citizen.age >= 65", eligibility_message=t("65 or over"))
    assert interp.eligibility_error(snap, ADULT, TODAY) is not None
    assert interp.eligibility_error(snap, Applicant(age=70), TODAY) is None


def test_an_unanswered_field_makes_a_condition_false_but_a_type_error_is_a_definition_fault() -> None:
    ctx = interp.context(ADULT, {"cash": 100000}, TODAY, {"cash": False, "shares": False})
    assert interp.evaluate("answers.shares > 1.0", ctx) is False
    assert interp.evaluate("answers.cash + 0.5 > 100000.0", ctx) is True  # 100000 reaches CEL as a double
    with pytest.raises(interp.DefinitionFault) as fault:
        interp.evaluate("answers.cash + 1 > 0", ctx)
    assert fault.value.expression == "answers.cash + 1 > 0"
    assert interp.evaluate("answers.cash + 1 > 0", ctx, strict=False) is False  # how old histories read it


@pytest.mark.parametrize("text", ["\ud800", "ok\udfff"])
def test_a_lone_surrogate_is_a_user_error_not_a_crash(text: str) -> None:
    assert check(FieldSpec("s", "text", t("S"), required=True), text) == (None, ["INVALID_CHARACTERS"])
    snap = service(FieldSpec("s", "text", t("S")))
    _, errors = interp.validate_step(snap, snap.steps[0], {text: "x"}, Progress(), ADULT, TODAY)
    assert [e.code for e in errors] == ["UNKNOWN_FIELD"]
    errors[0].path[0].encode("utf-8")  # the path can be sent back as JSON


def test_the_number_fields_are_walked_once_per_snapshot_and_never_serialised() -> None:
    from onestop.engine.crypto.codec import PayloadConverter

    snap = service(FieldSpec("n", "number", t("N"), integer=True), FieldSpec("x", "number", t("X")))
    assert interp.number_types(snap) == {"n": True, "x": False}
    assert interp.number_types(snap) is interp.number_types(snap)
    [payload] = PayloadConverter().to_payloads([snap])
    assert b"number_types" not in payload.data
    assert PayloadConverter().from_payloads([payload], [ServiceSnapshot])[0] == snap


def _counting_contexts(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    built: list[int] = []
    original = interp.context

    def counted(*args: Any, **kwargs: Any) -> dict[str, Any]:
        built.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(interp, "context", counted)
    return built


def test_checking_and_pruning_build_the_answers_context_once_until_an_answer_changes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every condition and rule of a step reads the same answers until one is added or dropped."""
    ruled = FieldSpec("c", "number", t("C"), rules=[RuleSpec("value > answers.a", t("more than a"))])
    snap = service(FieldSpec("a", "number", t("A")), FieldSpec("b", "text", t("B")), ruled)
    built = _counting_contexts(monkeypatch)
    answers, errors = interp.validate_step(snap, snap.steps[0], {"a": 1, "b": "x", "c": 2}, Progress(), ADULT, TODAY)
    assert (answers, errors) == ({"a": 1, "b": "x", "c": 2}, [])
    assert len(built) == 3  # one per answer as it stands; the rule saw "a" (it passed), and its own value
    built.clear()
    pruned = interp.prune(snap, Progress(["form"], answers), ADULT, TODAY)
    assert pruned == Progress(["form"], answers)
    assert len(built) == 1
    _, errors = interp.validate_step(snap, snap.steps[0], {"a": 5, "b": "x", "c": 2}, Progress(), ADULT, TODAY)
    assert [e.code for e in errors] == ["RULE"]


def test_pruning_still_drops_a_field_whose_condition_reads_an_answer_dropped_before_it() -> None:
    snap = service(FieldSpec("a", "boolean", t("A")),
                   FieldSpec("b", "text", t("B"), when="answers.a == true"),
                   FieldSpec("c", "text", t("C"), when="has(answers.b)"))
    progress = Progress(["form"], {"a": False, "b": "kept?", "c": "kept?"})
    assert interp.prune(snap, progress, ADULT, TODAY).answers == {"a": False}
