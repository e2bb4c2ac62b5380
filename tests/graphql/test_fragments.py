"""A fragment shared by two services, changed while an application runs, through GraphQL.

Real pieces: a definitions tree with two services including one fragment, a real Temporal dev server with a
worker, the Starlette app and a SQLite database; the catalogue is reloaded from disk as in production.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from client import Api
from graphql_api import write_tree
from running import dev_settings, running_engine
from temporalio.testing import WorkflowEnvironment

from onestop.engine.container import Engine
from onestop.graphql.app import create_app

CONTACT = """\
fields:
  - id: email
    type: email
    label: {en: Email, tc: 電郵}
    required: true
"""


def service(slug: str) -> str:
    return f"""\
id: {slug}
version: 1
department: DH
title: {{en: {slug}, tc: {slug}}}
summary: {{en: A service, tc: 一項服務}}
themes: [health]
ageGroups: [adult]
login: none
steps:
  - id: about
    type: form
    title: {{en: About you, tc: 關於你}}
    fields:
      - {{id: name, type: text, label: {{en: Name, tc: 姓名}}, required: true}}
      - include: fragments/contact.yaml
  - id: send
    type: submit
    title: {{en: Submit, tc: 遞交}}
"""


START = """mutation($slug: String!) { startApplication(input: {serviceSlug: $slug}) {
  application { id definitionHash currentStep { id fields { id label } } } resumeToken userErrors { code } } }"""
SUBMIT = """mutation($id: ID!, $answers: JSON!) {
  submitStep(input: {applicationId: $id, stepId: "about", answers: $answers}) {
    application { status answers } userErrors { field code } } }"""
STATUS = "{ catalogueStatus { problems { path line column code includedFrom } } }"


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = write_tree(tmp_path_factory.mktemp("fragment-definitions"))
    (root / "fragments").mkdir()
    (root / "fragments" / "contact.yaml").write_text(CONTACT, encoding="utf-8")
    for slug in ("first", "second"):
        (root / "services" / f"{slug}.yaml").write_text(service(slug), encoding="utf-8")
    return root


@pytest.fixture(scope="module")
async def engine(temporal_env: WorkflowEnvironment, tree: Path, tmp_path_factory: pytest.TempPathFactory
                 ) -> AsyncIterator[Engine]:
    settings = dev_settings(tree, tmp_path_factory.mktemp("fragment-data"), anonymous_starts_per_hour_per_ip=0)
    async with running_engine(temporal_env, settings) as (built, _client):
        yield built


@pytest.fixture(scope="module")
def api(engine: Engine) -> Api:
    return Api.isolated(create_app(engine.settings, engine), engine)


async def start(api: Api, slug: str) -> tuple[dict[str, Any], dict[str, str]]:
    payload = (await api.data(START, {"slug": slug}))["startApplication"]
    assert payload["userErrors"] == []
    return payload["application"], {"X-Resume-Token": payload["resumeToken"]}


def labels(application: dict[str, Any]) -> dict[str, str]:
    return {field["id"]: field["label"] for field in application["currentStep"]["fields"]}


async def test_a_running_application_keeps_the_fragment_it_started_with(api: Api, engine: Engine, tree: Path
                                                                        ) -> None:
    running, headers = await start(api, "first")
    assert labels(running) == {"name": "Name", "email": "Email"}

    (tree / "fragments" / "contact.yaml").write_text(
        CONTACT.replace("    required: true\n", "    required: true\n  - id: phone\n    type: phone\n"
                        "    label: {en: Mobile, tc: 手機}\n    required: true\n")
        .replace("{en: Email, tc: 電郵}", "{en: Email address, tc: 電郵地址}"), encoding="utf-8")
    assert await engine.catalogue.reload() is True

    # Both services that include the fragment are new versions; new applications get the new fields.
    for slug in ("first", "second"):
        fresh, _ = await start(api, slug)
        assert labels(fresh) == {"name": "Name", "email": "Email address", "phone": "Mobile"}
        assert fresh["definitionHash"] != running["definitionHash"]

    # The running one still asks (and checks) what it started with: no phone is required of it.
    got = await api.data(SUBMIT, {"id": running["id"], "answers": {"name": "Chan", "email": "chan@example.org"}},
                         headers)
    assert got["submitStep"]["userErrors"] == []
    assert got["submitStep"]["application"]["answers"] == {"name": "Chan", "email": "chan@example.org"}


async def test_a_broken_fragment_is_reported_in_the_fragment_and_at_each_include(api: Api, engine: Engine,
                                                                                 tree: Path) -> None:
    path = tree / "fragments" / "contact.yaml"
    good = path.read_text(encoding="utf-8")
    path.write_text(good.replace("type: email", "type: emial"), encoding="utf-8")
    try:
        assert await engine.catalogue.reload() is False
        problems = (await api.data(STATUS))["catalogueStatus"]["problems"]
        assert sorted(problems, key=lambda p: p["includedFrom"]) == [
            {"path": "fragments/contact.yaml", "line": 3, "column": 11, "code": "INVALID_VALUE",
             "includedFrom": f"services/{slug}.yaml:15:9"} for slug in ("first", "second")
        ]
    finally:
        path.write_text(good, encoding="utf-8")
        assert await engine.catalogue.reload() is True
