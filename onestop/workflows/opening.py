"""The state of an application nobody has answered yet, computed without a workflow.

An anonymous draft costs no workflow until its citizen first acts (see ``engine/applications/drafts.py``); until
then the engine answers from this function what ``ServiceApplicationWorkflow`` answers on ``open``. It mirrors
the workflow's first view for runs started with ``LEAN_BEHAVIOUR`` (strict expressions), and a test compares the
two for every service of the seed catalogue.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from onestop.catalogue import StepKind
from onestop.workflows import interpreter as interp
from onestop.workflows import provenance as prov
from onestop.workflows.contracts import ApplicationView, Carried, Status, StepOutline, StepState, TimelineEntry
from onestop.workflows.interpreter import Applicant, Progress
from onestop.workflows.snapshot import ExitSpec, ServiceSnapshot, Text


def opening_view(application_id: str, snapshot: ServiceSnapshot, citizen_ref: str, citizen: Applicant,
                 created_at: datetime) -> ApplicationView:
    """The view the workflow would answer right after it started at ``created_at``.

    Raises ``interp.DefinitionFault`` where the workflow would refuse to open (a fault in the definition).
    """
    today = created_at.date()
    progress = Progress()
    problem = interp.eligibility_error(snapshot, citizen, today, strict=True)
    status = Status.DRAFT if problem is None else Status.NOT_ELIGIBLE
    step = interp.current_step(snapshot, progress, citizen, today, strict=True) if problem is None else None
    computed = _computed(snapshot, progress, citizen, created_at)
    exit_message: Text | None
    if isinstance(step, ExitSpec):
        exit_message = interp.interpolate(step.message, computed)
    else:
        exit_message = problem.message if problem is not None else None
    applicable = {s.id for s in interp.applicable_steps(snapshot, progress, citizen, today, strict=True)}

    def state(step_id: str) -> StepState:
        if step is not None and step_id == step.id:
            return StepState.CURRENT
        return StepState.TODO if step_id in applicable else StepState.SKIPPED

    return ApplicationView(
        application_id=application_id, service_id=snapshot.id, service_version=snapshot.version,
        content_hash=snapshot.content_hash, department=snapshot.department, citizen_ref=citizen_ref,
        status=status, current_step_id=step.id if step is not None else None, completed=[], answers={},
        prefilled={}, consents={},
        timeline=[TimelineEntry(created_at, status, problem.message.get("en") if problem is not None else None)],
        reference_number=None, delivered=False, created_at=created_at, updated_at=created_at,
        exit_message=exit_message, current_step=None,
        outline=[StepOutline(s.id, StepKind(s.type), {}, state(s.id)) for s in snapshot.steps
                 if not isinstance(s, ExitSpec) or (step is not None and s.id == step.id)],
        assurance=snapshot.assurance, provenance=prov.provenance(snapshot, progress, citizen, today),
        computed=computed,
    )


def expired_view(opened: ApplicationView, expired_at: datetime) -> ApplicationView:
    """The opening view of a draft nobody answered, closed at ``expired_at`` by its service's ``draftExpiry`` as
    the workflow closes it: not eligible when it stands on an exit page (the outcome the citizen saw), else
    expired; no current step, and the status change on the timeline."""
    status = Status.NOT_ELIGIBLE if opened.exit_message is not None else Status.EXPIRED
    message = opened.exit_message.get("en") if status is Status.NOT_ELIGIBLE and opened.exit_message else None
    outline = [replace(s, state=StepState.TODO) if s.state is StepState.CURRENT else s for s in opened.outline
               if s.type is not StepKind.EXIT]
    return replace(opened, status=status, current_step_id=None, outline=outline,
                   timeline=[*opened.timeline, TimelineEntry(expired_at, status, message)])


def opening_carried(view: ApplicationView) -> Carried:
    """What a workflow started later for this draft carries, so it goes on exactly where the draft stands: its
    creation time, its timeline, and no second eligibility check (as after a continue-as-new)."""
    return Carried(status=view.status, completed=[], answers={}, prefilled={}, consents={},
                   timeline=list(view.timeline), reference_number=None, delivered=False, mutations=[],
                   created_at=view.created_at)


def _computed(snapshot: ServiceSnapshot, progress: Progress, citizen: Applicant, now: datetime) -> dict[str, Any]:
    if not snapshot.computed:
        return {}
    try:
        return interp.computed_values(snapshot, progress, citizen, now.date())
    except interp.DefinitionFault:
        return {}  # the workflow renders its view without them too
