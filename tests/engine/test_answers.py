"""The API decodes a workflow's answer to a citizen action (a brief ActionResult or the whole ApplicationView) through
the engine's data converter, telling the two apart by their keys."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from onestop.catalogue import load_catalogue
from onestop.engine.applications.service import _ANSWER_TYPE
from onestop.engine.crypto.codec import data_converter
from onestop.workflows.compile import snapshot_from_service
from onestop.workflows.contracts import ActionResult, ApplicationView, Status
from onestop.workflows.interpreter import Applicant, Prefilled
from onestop.workflows.opening import opening_view


@pytest.fixture(scope="module")
def view(definitions_dir: Path) -> ApplicationView:
    catalogue = load_catalogue(definitions_dir)
    for service in catalogue.services.values():
        snapshot = snapshot_from_service(service)
        opened = opening_view("app-1", snapshot, "citizen-1", Applicant(), datetime(2026, 11, 29, tzinfo=UTC))
        if opened.status is Status.DRAFT and opened.current_step_id:
            return opened
    raise AssertionError("no service opens a draft")


BRIEF = ActionResult(Status.DRAFT, "applicant", "ccaaa", {"applicantName": "Chan Tai Man"},
                     {"hkid": Prefilled("A123456(3)", "eme", True)}, None, {"en": "Welcome", "tc": "歡迎"})


@pytest.mark.parametrize("which", ["brief", "view"])
async def test_an_answer_decodes_to_its_own_class(which: str, view: ApplicationView) -> None:
    answer: Any = BRIEF if which == "brief" else view
    converter = data_converter(os.urandom(32))
    payloads = await converter.encode([answer])
    [decoded] = await converter.decode(payloads, [_ANSWER_TYPE])
    assert type(decoded) is type(answer)
    assert decoded == answer
