"""The baseline of bench/applications.py: a bare Temporal workflow with one update per citizen action and one
activity per application, as a team would write it without onestop.

It is a module of its own, small, importing only the standard library and temporalio, because that is what a
bare-Temporal worker runs: the workflow sandbox re-imports a workflow's module for every workflow it starts, so
this module's size and its bytecode cache are part of the baseline's CPU (the bench makes sure the cache is
used; see its docstring).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from temporalio import activity, workflow

# One citizen action per entry, in order; each is one GraphQL mutation and one workflow update.
ACTIONS = ("start", "prefill", "applicant", "preferences", "consent", "stepUp", "review", "submit")



@dataclass(frozen=True)
class BaselineInput:
    citizen: str


@dataclass(frozen=True)
class BaselineAction:
    step: str
    answers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class BaselineState:
    completed: int
    current: str | None


@activity.defn(name="bench.baseline_fetch")
async def baseline_fetch(citizen: str) -> dict[str, str]:
    return {"applicantName": citizen, "hkid": "A123456(3)"}


@workflow.defn(name="BenchBaselineWorkflow")
class BaselineWorkflow:
    def __init__(self) -> None:
        self._completed: list[str] = []
        self._answers: dict[str, str] = {}
        self._citizen = ""

    @workflow.run
    async def run(self, params: BaselineInput) -> int:
        self._citizen = params.citizen
        await workflow.wait_condition(lambda: len(self._completed) == len(ACTIONS) - 1)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return len(self._completed)

    def _state(self) -> BaselineState:
        done = len(self._completed) + 1
        return BaselineState(len(self._completed), ACTIONS[done] if done < len(ACTIONS) else None)

    @workflow.update(name="open")
    def open(self, action: BaselineAction) -> BaselineState:
        return self._state()

    @workflow.update(name="act")
    async def act(self, action: BaselineAction) -> BaselineState:
        if action.step == "prefill":
            fetched = await workflow.execute_activity(baseline_fetch, self._citizen,
                                                      start_to_close_timeout=timedelta(seconds=30))
            self._answers.update(fetched)
        self._answers.update(action.answers)
        self._completed.append(action.step)
        return self._state()

    @act.validator
    def _validate_act(self, action: BaselineAction) -> None:
        expected = self._state().current
        if action.step != expected:
            raise ValueError(f"step {action.step!r} is not the current step {expected!r}")
