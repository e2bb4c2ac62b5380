"""Computed values in the pure interpreter: conditions, rule messages, values not computable yet, faults."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from onestop.workflows import interpreter as interp
from onestop.workflows.interpreter import Applicant, Progress
from onestop.workflows.snapshot import ComputedSpec, ExitSpec, FieldSpec, FormSpec, RuleSpec, ServiceSnapshot

TODAY = date(2026, 11, 27)
ADULT = Applicant(age=40, age_group="adult")


def t(en: str) -> dict[str, str]:
    return {"en": en, "tc": en}


ASSETS = FieldSpec("assets", "group", t("Assets"), fields=[FieldSpec("amount", "number", t("Amount"))])
HOUSEHOLD = FieldSpec("household", "number", t("People"), integer=True, rules=[
    RuleSpec("total / double(value) <= 80000.0", t("Assets of {total} for {perHead} are above {limit}"))])
SNAPSHOT = ServiceSnapshot(
    id="s", version=1, content_hash="h", department="SWD", title=t("S"),
    steps=[FormSpec(id="means", title=t("Means"), fields=[ASSETS]),
           ExitSpec(id="over", title=t("Over"), when="total > limit", message=t("Your {total} is over {limit}")),
           FormSpec(id="people", title=t("People"), fields=[HOUSEHOLD])],
    computed=[ComputedSpec("total", "sum(answers.assets.map(a, a.amount))"),
              ComputedSpec("limit", "hkd(422000.0)"),
              ComputedSpec("perHead", "hkd(round(total / double(answers.household), 2))")],
)


def test_a_value_whose_inputs_are_not_answered_is_absent_and_its_condition_false() -> None:
    assert interp.computed_values(SNAPSHOT, Progress(), ADULT, TODAY) == {"limit": "HK$422,000"}
    assert interp.current_step(SNAPSHOT, Progress(completed=["means"]), ADULT, TODAY) is not None


def test_a_condition_compares_computed_values() -> None:
    snapshot = replace(SNAPSHOT, steps=[*SNAPSHOT.steps[:1],
                                         replace(SNAPSHOT.steps[1], when="total > 422000.0"), *SNAPSHOT.steps[2:]])
    over = Progress(completed=["means"], answers={"assets": [{"amount": 400000.0}, {"amount": 30000.0}]})
    step = interp.current_step(snapshot, over, ADULT, TODAY)
    assert step is not None
    assert step.id == "over"
    assert interp.computed_values(snapshot, over, ADULT, TODAY)["total"] == 430000.0
    under = Progress(completed=["means"], answers={"assets": [{"amount": 400000.0}]})
    step = interp.current_step(snapshot, under, ADULT, TODAY)
    assert step is not None
    assert step.id == "people"


def test_a_rule_message_shows_computed_values() -> None:
    # perHead reads the field being checked, so it is not computable yet and stays as written.
    snapshot = replace(SNAPSHOT, steps=[SNAPSHOT.steps[0], SNAPSHOT.steps[2]])
    progress = Progress(completed=["means"], answers={"assets": [{"amount": 300000.0}]})
    _, errors = interp.validate_step(snapshot, snapshot.steps[1], {"household": 2}, progress, ADULT, TODAY)
    assert [e.message["en"] for e in errors] == ["Assets of 300,000 for {perHead} are above HK$422,000"]


def test_a_computed_value_failing_for_another_reason_is_a_definition_fault() -> None:
    broken = replace(SNAPSHOT, computed=[ComputedSpec("total", "sum(answers.assets.map(a, a.amount)) + 1")])
    progress = Progress(answers={"assets": [{"amount": 1.5}]})
    with pytest.raises(interp.DefinitionFault):
        interp.computed_values(broken, progress, ADULT, TODAY)


def test_a_snapshot_without_computed_values_shows_braces_as_written() -> None:
    assert interp.interpolate({"en": "{total}"}, {}) == {"en": "{total}"}
