"""Predicate prefill through GraphQL: the department learns a fact from the official record, never the record.

Real pieces: the seed catalogue (the Senior Citizen Card and the elderly health care voucher ask ImmD whether the
applicant is 65 or over) and test citizens, dev IdP tokens, SQLite, a Temporal dev server and a worker.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from client import STANDARD, Api
from running import running_seed
from temporalio.api.common.v1 import Payload
from temporalio.client import Client

from onestop.engine.applications.delivery import inbox as inbox_items
from onestop.engine.container import Engine
from onestop.engine.db import InboxRow
from onestop.graphql.relay import from_global_id

BORN = "1946-08-30"  # lam-yuk-lan's date of birth in ImmD's record (definitions/dev/citizens.yaml)

APPLICATION = """
fragment A on Application {
  id status answers
  currentStep { id type items predicates { id item check statement }
                fields { id value prefilled source readOnly } }
}
"""
START = APPLICATION + """mutation($slug: String!) {
  startApplication(input: {serviceSlug: $slug}) { application { ...A } userErrors { field message code } } }"""
GRANT = APPLICATION + """mutation($id: ID!, $step: String!) {
  grantConsent(input: {applicationId: $id, stepId: $step}) { application { ...A } userErrors { field code } } }"""
SUBMIT = APPLICATION + """mutation($id: ID!, $step: String!, $answers: JSON!) {
  submitStep(input: {applicationId: $id, stepId: $step, answers: $answers}) {
    application { ...A } userErrors { field message code } } }"""
READS = """query($after: String) { viewer { dataAccessLog(first: 100, after: $after) {
  edges { node { applicationId provider outcome items { provider item check } } } } } }"""
STAFF_VIEW = "query($id: ID!) { application(id: $id) { answers provenance { field source verified prefilled } } }"


running, engine, api = running_seed("predicate-data")


async def act(api: Api, query: str, name: str, token: dict[str, str], **variables: Any) -> dict[str, Any]:
    payload: dict[str, Any] = (await api.data(query, variables, token))[name]
    assert payload["userErrors"] == [], payload
    application: dict[str, Any] = payload["application"]
    return application


async def history_text(client: Client, workflow_id: str) -> str:
    """Every payload of the application's workflow history, decrypted: what Temporal holds about it."""
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    codec = client.data_converter.payload_codec
    assert codec is not None
    payloads: list[Payload] = []
    for event in history.events:
        for attributes in (event.workflow_execution_started_event_attributes.input,
                           event.activity_task_scheduled_event_attributes.input,
                           event.activity_task_completed_event_attributes.result,
                           event.workflow_execution_update_completed_event_attributes.outcome.success,
                           event.workflow_execution_update_accepted_event_attributes.accepted_request.input.args):
            payloads.extend(attributes.payloads)
    return "\n".join(payload.data.decode("utf-8", "replace") for payload in await codec.decode(payloads))


@pytest.mark.slow
@pytest.mark.parametrize(("slug", "form", "statement"), [
    ("senior-citizen-card", "card",
     "We will confirm you are 65 or over. Your date of birth as registered is not shared."),
    ("elderly-health-care-voucher", "account",
     "We will confirm with the Immigration Department that you are 65 or over. Your date of birth is not shared."),
])
async def test_a_predicate_shares_only_the_verified_boolean_and_the_log_shows_the_predicate(
        api: Api, running: tuple[Engine, Client], slug: str, form: str, statement: str) -> None:
    engine, client = running
    citizen = await api.token({"citizen": "lam-yuk-lan", "acr": STANDARD})
    app = await act(api, START, "startApplication", citizen, slug=slug)
    app_id, step = app["id"], app["currentStep"]
    assert step["id"] == "records"
    assert "eme.dateOfBirth" not in step["items"]
    assert step["predicates"] == [{"id": "aged65OrOver", "item": "immd-records.date-of-birth", "check": "age >= 65",
                                   "statement": statement}]

    app = await act(api, GRANT, "grantConsent", citizen, id=app_id, step="records")
    fields = {f["id"]: f for f in app["currentStep"]["fields"]}
    assert app["currentStep"]["id"] == form
    assert fields["aged65OrOver"] | {"id": None} == {"id": None, "value": True, "prefilled": True, "source": "IMMD",
                                                     "readOnly": True}

    answers = {f["id"]: f["value"] for f in fields.values() if f["value"] is not None}
    answers |= {"replacement": "no"} if slug == "senior-citizen-card" else {"preferredLanguage": "en"}
    app = await act(api, SUBMIT, "submitStep", citizen, id=app_id, step=form, answers=answers)
    if slug == "elderly-health-care-voucher":
        app = await act(api, GRANT, "grantConsent", citizen, id=app_id, step="ehrss")
    for step_id, given in [("check", {"declaration": True}), ("send", {})]:
        app = await act(api, SUBMIT, "submitStep", citizen, id=app_id, step=step_id, answers=given)
    assert app["status"] == "SUBMITTED"
    assert app["answers"]["aged65OrOver"] is True

    # The department relies on a verified "yes" from ImmD...
    officer = await api.token({"staff": "swd-officer" if slug == "senior-citizen-card" else "dh-officer"})
    seen = (await api.data(STAFF_VIEW, {"id": app_id}, officer))["application"]
    assert {"field": "aged65OrOver", "source": "IMMD", "verified": True, "prefilled": True} in seen["provenance"]

    # ...and nothing it receives, nor anything the workflow holds, carries the date of birth.
    parsed = from_global_id(app_id)
    assert parsed is not None
    for _ in range(50):  # the inbox is written by an activity just after the submit returns
        async with engine.database.session() as session:
            row = await session.get(InboxRow, parsed[1])
        if row is not None:
            break
        await asyncio.sleep(0.1)
    assert row is not None
    delivered = next(item for item in await inbox_items(engine.database, engine.data.cipher, row.department)
                     if item.application_id == parsed[1])
    signed = engine.data.signer.verify_submission(delivered.jws)
    assert signed["answers"]["aged65OrOver"] is True
    history = await history_text(client, parsed[1])
    assert '"aged65OrOver"' in history  # the history was read, decrypted
    for text in (json.dumps(signed), json.dumps(seen), json.dumps(app), history):
        assert BORN not in text
        assert "1946" not in text

    # The citizen's access log names the predicate, not only the item.
    reads = (await api.data(READS, {"after": None}, citizen))["viewer"]["dataAccessLog"]["edges"]
    mine = [r["node"] for r in reads if r["node"]["applicationId"] == parsed[1] and r["node"]["provider"] ==
            "immd-records"]
    assert mine == [{"applicationId": parsed[1], "provider": "immd-records", "outcome": "allowed",
                     "items": [{"provider": "immd-records", "item": "date-of-birth", "check": "age >= 65"}]}]
