"""Providers upload definitions to their own sandbox through GraphQL: validated by the same loader as
`onestop validate`, problems at file:line:col with a hint, a valid upload a new version of the sandbox's catalogue
only. Limits, path traversal, zip bombs and YAML bombs are refused clearly, and nothing is written outside."""

from __future__ import annotations

import base64
import io
import zipfile
from pathlib import Path
from typing import Any

import pytest
from client import STANDARD, Api, codes_of

from onestop.engine.sandbox import Sandbox

from .conftest import approve

UPLOAD = """mutation($filename: String!, $content: String!) {
  uploadSandboxDefinitions(input: {filename: $filename, content: $content}) {
    version { version contentHash serviceSlugs }
    problems { location file line col code message hint }
    userErrors { field code message } } }"""
MINE = "{ mySandbox { providerId namespace clientId redirectUris versions { version serviceSlugs } } }"
PUBLIC = """query($slug: String!) { service(slug: $slug) { slug } }"""


def service_yaml(slug: str, namespace: str, *, extra_step: str = "") -> str:
    return f"""id: {slug}
version: 1
department: {namespace}
title: {{en: Parking permit {slug}, tc: 泊車許可證, sc: 泊车许可证}}
summary: {{en: Apply for a parking permit., tc: 申請泊車許可證。}}
themes: [transport]
ageGroups: [adult]
steps:
  - id: car
    type: form
    title: {{en: Your car, tc: 你的車輛}}
    fields:
      - id: plate
        type: text
        label: {{en: Registration mark, tc: 車輛登記號碼}}
        required: true
{extra_step}  - id: send
    type: submit
    title: {{en: Send, tc: 遞交}}
"""


def b64(data: bytes | str) -> str:
    return base64.b64encode(data.encode() if isinstance(data, str) else data).decode()


def zipped(files: dict[str, str | bytes], *, method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _listing(folder: Path) -> list[str]:
    return sorted(str(p) for p in folder.rglob("*"))


@pytest.fixture(scope="module")
async def sandbox(api: Api) -> Sandbox:
    return (await approve(api, "wong-ka-fai", "Uploads Ltd"))[1]


@pytest.fixture(scope="module")
async def other(api: Api) -> Sandbox:
    return (await approve(api, "lee-mei-ling", "Other Provider Ltd"))[1]


async def _upload(api: Api, sandbox: Sandbox, filename: str, content: bytes | str) -> dict[str, Any]:
    headers = await api.token({"staff": sandbox.staff[0].login})
    result = await api.post(UPLOAD, {"filename": filename, "content": b64(content)}, headers)
    assert "errors" not in result, result
    payload: dict[str, Any] = result["data"]["uploadSandboxDefinitions"]
    return payload


async def test_a_valid_service_becomes_a_sandbox_version_and_never_public(api: Api, sandbox: Sandbox) -> None:
    payload = await _upload(api, sandbox, "permit.yaml", service_yaml("sbx-permit", sandbox.namespace))
    assert payload["problems"] == []
    assert payload["userErrors"] == []
    assert payload["version"]["serviceSlugs"] == ["sbx-permit"]
    mine = (await api.data(MINE, None, await api.token({"staff": sandbox.staff[1].login})))["mySandbox"]
    assert mine["namespace"] == sandbox.namespace
    assert mine["clientId"] == sandbox.client_id
    assert [v["serviceSlugs"] for v in mine["versions"]][-1] == ["sbx-permit"]
    assert (await api.data(PUBLIC, {"slug": "sbx-permit"}))["service"] is None
    engine = api.engine
    assert "sbx-permit" not in engine.catalogue.catalogue.services
    catalogue = await engine.sandbox.catalogues.catalogue(sandbox.provider_id)
    assert catalogue is not None
    assert "sbx-permit" in catalogue.services


async def test_problems_are_shown_at_file_line_col_with_the_hint(api: Api, sandbox: Sandbox) -> None:
    broken = service_yaml("sbx-broken", sandbox.namespace).replace("type: text", "type: txet")
    payload = await _upload(api, sandbox, "broken.yaml", broken)
    assert payload["version"] is None
    problem = payload["problems"][0]
    line = broken.splitlines().index("        type: txet") + 1
    assert problem["location"] == f"services/broken.yaml:{line}:15"
    assert problem["hint"]
    assert "text" in problem["hint"] or "text" in problem["message"]


async def test_a_service_of_another_department_is_refused(api: Api, sandbox: Sandbox) -> None:
    payload = await _upload(api, sandbox, "td.yaml", service_yaml("sbx-td", "TD"))
    assert [(p["code"], p["location"]) for p in payload["problems"]] == [("UNKNOWN_DEPARTMENT", "services/td.yaml:3:1")]
    assert payload["version"] is None


async def test_a_zip_with_fragments_and_option_lists(api: Api, sandbox: Sandbox) -> None:
    fragment = """steps:
  - id: agree
    type: review
    title: {en: Agree, tc: 同意}
    fields:
      - {id: agreed, type: boolean, required: true, label: {en: I agree, tc: 本人同意}}
"""
    lists = "car-kinds:\n  - {value: private, label: {en: Private car, tc: 私家車}}\n"
    step = "  - include: fragments/sbx-agree.yaml\n"
    service = service_yaml("sbx-zipped", sandbox.namespace, extra_step=step)
    payload = await _upload(api, sandbox, "bundle.zip", zipped({
        "services/transport/sbx-zipped.yaml": service, "fragments/sbx-agree.yaml": fragment,
        "option-lists.yaml": lists}))
    assert payload["problems"] == [], payload
    assert sorted(payload["version"]["serviceSlugs"]) == ["sbx-permit", "sbx-zipped"]


@pytest.mark.parametrize("name", ["../escape.yaml", "services/../../escape.yaml", "/etc/escape.yaml",
                                  "services\\..\\escape.yaml"])
async def test_a_zip_with_path_traversal_is_refused_and_nothing_is_written(
        api: Api, sandbox: Sandbox, name: str) -> None:
    data_dir: Path = api.engine.settings.data_dir
    before = _listing(data_dir)
    payload = await _upload(api, sandbox, "evil.zip", zipped({name: service_yaml("sbx-evil", sandbox.namespace)}))
    assert [e["code"] for e in payload["userErrors"]] == ["UNSAFE_ARCHIVE"]
    assert payload["version"] is None
    assert _listing(data_dir) == before
    assert not (data_dir.parent / "escape.yaml").exists()


async def test_a_zip_bomb_is_refused(api: Api, sandbox: Sandbox) -> None:
    bomb = zipped({"services/bomb.yaml": "#" + " " * 50_000_000})
    assert len(bomb) < 128 * 1024
    payload = await _upload(api, sandbox, "bomb.zip", bomb)
    assert [e["code"] for e in payload["userErrors"]] == ["UNSAFE_ARCHIVE"]
    assert "zip bomb" in payload["userErrors"][0]["message"]


async def test_a_billion_laughs_yaml_is_refused(api: Api, sandbox: Sandbox) -> None:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"{chr(98 + n)}: &{chr(98 + n)} [{','.join(['*' + chr(97 + n)] * 9)}]" for n in range(8)]
    payload = await _upload(api, sandbox, "laughs.yaml", "\n".join(lines) + "\n")
    assert [(p["code"], p["location"]) for p in payload["problems"]] == [("YAML_ALIAS", "services/laughs.yaml:1:4")]
    assert payload["version"] is None


async def test_deep_nesting_is_refused(api: Api, sandbox: Sandbox) -> None:
    payload = await _upload(api, sandbox, "deep.yaml", "a: " + "[" * 500 + "]" * 500 + "\n")
    assert [p["code"] for p in payload["problems"]] == ["YAML_TOO_DEEP"]


async def test_an_upload_over_the_size_limit_is_refused(api: Api, sandbox: Sandbox) -> None:
    payload = await _upload(api, sandbox, "big.yaml", "# " + "x" * (130 * 1024))
    assert [e["code"] for e in payload["userErrors"]] == ["UPLOAD_TOO_LARGE"]


async def test_more_services_than_the_sandbox_may_hold_are_refused(api: Api, other: Sandbox) -> None:
    limit = api.engine.settings.sandbox_max_services
    files = {f"services/s{n}.yaml": service_yaml(f"sbx-many-{n}", other.namespace) for n in range(limit + 1)}
    payload = await _upload(api, other, "many.zip", zipped(files))
    assert [e["code"] for e in payload["userErrors"]] == ["SANDBOX_LIMIT"]
    assert f"at most {limit}" in payload["userErrors"][0]["message"]


async def test_not_base64_is_a_user_error(api: Api, sandbox: Sandbox) -> None:
    headers = await api.token({"staff": sandbox.staff[0].login})
    result = await api.post(UPLOAD, {"filename": "x.yaml", "content": "%%%"}, headers)
    assert [e["code"] for e in result["data"]["uploadSandboxDefinitions"]["userErrors"]] == ["NOT_BASE64"]


@pytest.mark.parametrize("who", [{"citizen": "wong-ka-fai", "acr": STANDARD}, {"staff": "platform-officer"},
                                 {"staff": "td-supervisor"}, None])
async def test_only_a_sandboxs_own_staff_upload(api: Api, sandbox: Sandbox, who: dict[str, str] | None) -> None:
    headers = await api.token(who) if who else None
    result = await api.post(UPLOAD, {"filename": "x.yaml", "content": b64("id: x")}, headers)
    assert codes_of(result) == ["FORBIDDEN"]


async def test_each_provider_uploads_into_its_own_sandbox_only(api: Api, sandbox: Sandbox, other: Sandbox) -> None:
    payload = await _upload(api, other, "theirs.yaml", service_yaml("sbx-theirs", other.namespace))
    assert payload["version"]["serviceSlugs"] == ["sbx-theirs"]
    # Writing the other sandbox's namespace into a service does not move it there.
    refused = await _upload(api, sandbox, "sneaky.yaml", service_yaml("sbx-sneaky", other.namespace))
    assert [p["code"] for p in refused["problems"]] == ["UNKNOWN_DEPARTMENT"]
    engine = api.engine
    mine = await engine.sandbox.catalogues.catalogue(sandbox.provider_id)
    theirs = await engine.sandbox.catalogues.catalogue(other.provider_id)
    assert "sbx-theirs" not in mine.services
    assert set(theirs.services) == {"sbx-theirs"}
