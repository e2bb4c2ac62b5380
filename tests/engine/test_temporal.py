"""Temporal wiring: missing search attributes are registered on the namespace a process uses."""

from __future__ import annotations

import pytest
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.testing import WorkflowEnvironment

from onestop.engine.applications.service import application_id_for
from onestop.engine.temporal import SEARCH_ATTRIBUTES, ensure_search_attributes, temporal_binary


@pytest.mark.slow
async def test_missing_search_attributes_are_registered_once() -> None:
    env = await WorkflowEnvironment.start_local(dev_server_existing_path=str(temporal_binary()),
                                                dev_server_log_level="error")
    try:
        added = await ensure_search_attributes(env.client, "default")
        assert sorted(added) == sorted(key.name for key in SEARCH_ATTRIBUTES)
        listed = await env.client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace="default"))
        assert {key.name for key in SEARCH_ATTRIBUTES} <= set(listed.custom_attributes)
        assert await ensure_search_attributes(env.client, "default") == []
    finally:
        await env.shutdown()


def test_application_ids_reveal_neither_the_citizen_nor_the_client_ids() -> None:
    first = application_id_for("ref-chan", "renew-driving-licence", "cmid-1")
    assert first == application_id_for("ref-chan", "renew-driving-licence", "cmid-1")
    assert first != application_id_for("ref-lee", "renew-driving-licence", "cmid-1")
    assert "ref-chan" not in first
    assert "cmid-1" not in first
    assert application_id_for("ref-chan", "s", None) != application_id_for("ref-chan", "s", None)
