"""Preview renders any step of a sandbox draft version in all three languages, before anyone applies; and what a
provider puts in its sandbox is seen by that provider's staff only: never by another provider, a citizen, other
staff, or the public catalogue, whichever id-taking field they try."""

from __future__ import annotations

from typing import Any

import pytest
from client import STANDARD, Api, codes_of

from onestop.engine.sandbox import Sandbox
from onestop.graphql.relay import to_global_id

from .conftest import approve
from .test_uploads import MINE, UPLOAD, b64, service_yaml

PREVIEW = """query($slug: String!, $step: String, $version: Int) {
  sandboxPreview(serviceSlug: $slug, stepId: $step, version: $version) {
    serviceSlug version contentHash
    steps { id type renderings { language title description fields { id type label required
      options { value label } } } } } }"""
CHOICE_STEP = """  - id: kind
    type: form
    title: {en: Kind of car, tc: 車輛類別}
    description: {en: Tell us what you drive., tc: 請告訴我們你駕駛的車輛。}
    fields:
      - id: kind
        type: choice
        label: {en: Kind, tc: 類別}
        required: true
        options:
          - {value: private, label: {en: Private car, tc: 私家車}}
          - {value: goods, label: {en: Goods vehicle, tc: 貨車}}
"""
PUBLIC_SERVICES = """query($search: String) { services(first: 100, search: $search) { edges { node { slug } } } }"""
NODE = "query($id: ID!) { node(id: $id) { id } }"


@pytest.fixture(scope="module")
async def providers(api: Api) -> tuple[Sandbox, Sandbox]:
    first = (await approve(api, "wong-ka-fai", "Preview Alpha Ltd"))[1]
    second = (await approve(api, "lee-mei-ling", "Preview Beta Ltd"))[1]
    for sandbox, slug in ((first, "sbx-alpha"), (second, "sbx-beta")):
        headers = await api.token({"staff": sandbox.staff[0].login})
        payload = (await api.data(UPLOAD, {"filename": f"{slug}.yaml", "content": b64(
            service_yaml(slug, sandbox.namespace, extra_step=CHOICE_STEP))}, headers))["uploadSandboxDefinitions"]
        assert payload["problems"] == [], payload
    return first, second


async def _as_staff(api: Api, sandbox: Sandbox) -> dict[str, str]:
    return await api.token({"staff": sandbox.staff[0].login})


async def test_a_step_is_previewed_in_all_three_languages(api: Api, providers: tuple[Sandbox, Sandbox]) -> None:
    alpha, _ = providers
    preview = (await api.data(PREVIEW, {"slug": "sbx-alpha", "step": "kind"}, await _as_staff(api, alpha))
               )["sandboxPreview"]
    assert preview["version"] >= 1
    assert [step["id"] for step in preview["steps"]] == ["kind"]
    renderings = {r["language"]: r for r in preview["steps"][0]["renderings"]}
    assert renderings["en"]["title"] == "Kind of car"
    assert renderings["tc"]["title"] == "車輛類別"
    assert renderings["sc"]["title"] == "车辆类别"  # derived from tc
    assert renderings["tc"]["description"] == "請告訴我們你駕駛的車輛。"
    assert [o["label"] for o in renderings["sc"]["fields"][0]["options"]] == ["私家车", "货车"]
    assert renderings["en"]["fields"][0]["required"] is True


async def test_every_step_is_previewed_without_starting_anything(api: Api,
                                                                 providers: tuple[Sandbox, Sandbox]) -> None:
    alpha, _ = providers
    preview = (await api.data(PREVIEW, {"slug": "sbx-alpha"}, await _as_staff(api, alpha)))["sandboxPreview"]
    assert [(s["id"], s["type"]) for s in preview["steps"]] == [("car", "FORM"), ("kind", "FORM"), ("send", "SUBMIT")]
    assert all(len(s["renderings"]) == 3 for s in preview["steps"])
    officer = await api.token({"staff": alpha.staff[0].login})
    inbox = await api.post("{ departmentInbox(first: 10) { totalCount } }", None, officer)
    assert inbox["data"]["departmentInbox"]["totalCount"] == 0


@pytest.mark.parametrize(("variables", "code"), [
    ({"slug": "sbx-nope"}, "NOT_FOUND"), ({"slug": "sbx-alpha", "step": "nope"}, "NOT_FOUND"),
    ({"slug": "sbx-alpha", "version": 999}, "NOT_FOUND")])
async def test_unknown_previews_are_not_found(api: Api, providers: tuple[Sandbox, Sandbox],
                                              variables: dict[str, Any], code: str) -> None:
    alpha, _ = providers
    assert codes_of(await api.post(PREVIEW, variables, await _as_staff(api, alpha))) == [code]


async def test_a_provider_sees_nothing_of_another_providers_sandbox(api: Api,
                                                                    providers: tuple[Sandbox, Sandbox]) -> None:
    alpha, beta = providers
    alpha_staff = await _as_staff(api, alpha)
    # Beta's service through every field that takes a slug, step or version: as if it did not exist.
    for variables in ({"slug": "sbx-beta"}, {"slug": "sbx-beta", "step": "kind"},
                      {"slug": "sbx-beta", "version": 1}):
        result = await api.post(PREVIEW, variables, alpha_staff)
        assert codes_of(result) == ["NOT_FOUND"], result
        assert "Preview Beta" not in str(result)
    mine = (await api.data(MINE, None, alpha_staff))["mySandbox"]
    assert mine["providerId"] == alpha.provider_id
    assert "sbx-beta" not in str(mine)
    assert beta.client_id not in str(mine)


@pytest.mark.parametrize("who", [{"citizen": "wong-ka-fai", "acr": STANDARD}, {"staff": "platform-officer"},
                                 {"staff": "td-supervisor"}, None])
async def test_nobody_but_the_providers_staff_reads_a_sandbox(api: Api, providers: tuple[Sandbox, Sandbox],
                                                              who: dict[str, str] | None) -> None:
    headers = await api.token(who) if who else None
    assert codes_of(await api.post(PREVIEW, {"slug": "sbx-alpha"}, headers)) == ["FORBIDDEN"]
    assert codes_of(await api.post(MINE, None, headers)) == ["FORBIDDEN"]


async def test_the_public_catalogue_shows_no_sandbox_service(api: Api, providers: tuple[Sandbox, Sandbox]) -> None:
    alpha, beta = providers
    # The same queries find a public service and department (so a null below means "not there").
    assert (await api.data(NODE, {"id": to_global_id("Service", "library-card")}))["node"] is not None
    assert (await api.data(NODE, {"id": to_global_id("Department", "TD")}))["node"] is not None
    for headers in (None, await api.token({"citizen": "wong-ka-fai", "acr": STANDARD}), await _as_staff(api, alpha)):
        for slug in ("sbx-alpha", "sbx-beta"):
            assert (await api.data("query($s: String!) { service(slug: $s) { slug } }", {"s": slug}, headers)
                    )["service"] is None
            assert (await api.data(NODE, {"id": to_global_id("Service", slug)}, headers))["node"] is None
        for search in (None, "parking", "sbx"):
            slugs = [e["node"]["slug"] for e in (await api.data(PUBLIC_SERVICES, {"search": search}, headers)
                                                 )["services"]["edges"]]
            assert not [s for s in slugs if s.startswith("sbx-")], slugs
    for namespace in (alpha.namespace, beta.namespace):
        department = await api.data("query($id: ID!) { node(id: $id) { id } }",
                                    {"id": to_global_id("Department", namespace)})
        assert department["node"] is None
