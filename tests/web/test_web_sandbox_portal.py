"""The sandbox portal over HTTP against the real engine: who may see which page, my sandbox, uploads with
problems at file:line:col, the preview in three languages, a test citizen's application, the platform team's
inbox, the generated references and the programme's news as a page and as an Atom feed."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import feedparser
import httpx
import pytest
from client import Api
from sandbox.conftest import approve
from sandbox.test_uploads import service_yaml as uploaded_service
from test_web_apply import _follow, _heading
from web_system import WebSystem, csrf_of, sign_in

from onestop.engine.sandbox import Sandbox

PROVIDER_CITIZEN = "cheung-kwok-wing"


def service_yaml(namespace: str, *, broken: bool = False, slug: str = "portal-permit", extra_step: str = "") -> str:
    """The sandbox upload tests' service; ``broken`` misspells a key on line 14, column 9."""
    text = uploaded_service(slug, namespace, extra_step=extra_step)
    return text.replace("        type: text", "        tpye: text") if broken else text


@pytest.fixture(scope="module")
async def sandbox(system: WebSystem) -> AsyncIterator[Sandbox]:
    async with httpx.AsyncClient(base_url=system.base_url, timeout=60) as http:
        yield (await approve(Api(http, engine=system.engine), PROVIDER_CITIZEN, "Portal Test Ltd"))[1]


async def _upload(client: httpx.AsyncClient, name: str, content: str) -> httpx.Response:
    form = await client.get("/sandbox/upload")
    assert form.status_code == 200, form.text
    return await client.post("/sandbox/upload", data={"csrf": csrf_of(form.text)},
                             files={"definitions": (name, content.encode(), "application/yaml")})


async def _provider(client: httpx.AsyncClient, sandbox: Sandbox) -> None:
    await _follow(client, await sign_in(client, staff=sandbox.staff[0].login, next_path="/sandbox/mine"))


async def test_the_portal_pages_ask_for_the_right_sign_in(system: WebSystem, sandbox: Sandbox) -> None:
    async with system.client() as anonymous, system.client() as citizen, system.client() as td:
        home = await anonymous.get("/sandbox")
        assert home.status_code == 200
        assert 'href="/sandbox/join"' in home.text
        join = await anonymous.get("/sandbox/join")
        assert join.headers["location"] == "/services/join-sandbox-programme"
        assert (await anonymous.get("/sandbox/mine")).headers["location"].startswith("/sign-in?next=")
        await _follow(citizen, await sign_in(citizen, citizen="wong-ka-fai"))
        refused = await citizen.get("/sandbox/mine")
        assert refused.status_code == 403
        assert "This page is for a sandbox provider" in refused.text
        await _follow(td, await sign_in(td, staff="td-supervisor"))
        assert (await td.get("/sandbox/upload")).status_code == 403
        assert (await td.get("/sandbox/inbox")).status_code == 403
        assert (await td.get("/sandbox/services/portal-permit/preview")).status_code == 403


async def test_a_provider_sees_their_sandbox_ids_staff_and_test_citizens(system: WebSystem,
                                                                         sandbox: Sandbox) -> None:
    async with system.client() as client:
        await _provider(client, sandbox)
        mine = await client.get("/sandbox/mine")
        assert mine.status_code == 200, mine.text
        assert sandbox.provider_id in mine.text
        assert sandbox.client_id in mine.text
        assert sandbox.namespace in mine.text
        assert all(c.login in mine.text for c in sandbox.citizens)
        assert all(s.login in mine.text for s in sandbox.staff)
        assert sandbox.client_secret not in mine.text
        assert "onestop-client-secret" not in mine.text


async def test_a_new_client_secret_is_shown_once(system: WebSystem, sandbox: Sandbox) -> None:
    async with system.client() as client:
        await _provider(client, sandbox)
        mine = await client.get("/sandbox/mine")
        rotated = await client.post("/sandbox/mine/secret", data={"csrf": csrf_of(mine.text)})
        assert rotated.status_code == 200, rotated.text
        shown = re.search(r'class="onestop-client-secret">([^<]+)<', rotated.text)
        assert shown
        assert system.engine.sandbox is not None
        stored = await system.engine.sandbox.sandbox_of(sandbox.application_id)
        assert stored is not None
        assert shown.group(1) == stored.client_secret != sandbox.client_secret
        assert rotated.headers["cache-control"] == "no-store"
        assert shown.group(1) not in (await client.get("/sandbox/mine")).text  # once
        refused = await client.post("/sandbox/mine/secret", data={"csrf": "forged"})
        assert refused.status_code == 403


async def test_an_upload_with_an_error_lists_file_line_col_and_a_good_one_is_previewed(system: WebSystem,
                                                                                       sandbox: Sandbox) -> None:
    async with system.client() as client:
        await _provider(client, sandbox)
        bad = await _upload(client, "portal-permit.yaml", service_yaml(sandbox.namespace, broken=True))
        assert bad.status_code == 422
        locations = re.findall(r'class="onestop-location">([^<]+)<', bad.text)
        assert locations == ["services/portal-permit.yaml:14:9"], bad.text
        assert "UNKNOWN_KEY" in bad.text
        assert "onestop-hint" in bad.text
        empty = await client.post("/sandbox/upload", data={"csrf": csrf_of(bad.text)},
                                  files={"definitions": ("", b"", "application/yaml")})
        assert empty.status_code == 400
        good = await _upload(client, "portal-permit.yaml", service_yaml(sandbox.namespace))
        assert good.status_code == 200, good.text
        assert "portal-permit" in good.text
        preview = await client.get("/sandbox/services/portal-permit/preview")
        assert preview.status_code == 200, preview.text
        for lang, title in (("en", "Your car"), ("zh-HK", "你的車輛"), ("zh-CN", "你的车辆")):
            assert re.search(rf'lang="{lang}"[^>]*>\s*<h3>{title}</h3>', preview.text), (lang, preview.text)
        assert "車輛登記號碼" in preview.text
        one = await client.get("/sandbox/services/portal-permit/preview", params={"step": "send"})
        assert "Your car" not in one.text
        assert "遞交" in one.text
        missing = await client.get("/sandbox/services/nobody/preview")
        assert missing.status_code == 404
        mine = await client.get("/sandbox/mine")
        assert "/sandbox/services/portal-permit/preview" in mine.text


async def test_another_provider_cannot_preview_it(system: WebSystem, sandbox: Sandbox) -> None:
    async with httpx.AsyncClient(base_url=system.base_url, timeout=60) as http:
        other = (await approve(Api(http, engine=system.engine), "ng-wing-sze", "Other Portal Ltd"))[1]
    async with system.client() as client:
        await _provider(client, other)
        assert (await client.get("/sandbox/services/portal-permit/preview")).status_code == 404


async def test_a_test_citizen_starts_a_test_application(system: WebSystem, sandbox: Sandbox) -> None:
    async with system.client() as provider:
        await _provider(provider, sandbox)
        await _upload(provider, "portal-permit.yaml", service_yaml(sandbox.namespace))
    async with system.client() as client, system.client() as real:
        page = await client.get("/sandbox/services/portal-permit/test")
        assert "/sign-in?next=" in page.text
        await _follow(client, await sign_in(client, citizen=sandbox.citizens[-1].login,
                                            next_path="/sandbox/services/portal-permit/test"))
        page = await client.get("/sandbox/services/portal-permit/test")
        started = await client.post("/sandbox/services/portal-permit/test", data={"csrf": csrf_of(page.text)})
        assert started.status_code == 303, started.text
        assert started.headers["location"].startswith("/applications/")
        step = await _follow(client, started)
        assert _heading(step) == "Your car"
        await _follow(real, await sign_in(real, citizen="wong-ka-fai"))
        page = await real.get("/sandbox/services/portal-permit/test")
        refused = await real.post("/sandbox/services/portal-permit/test", data={"csrf": csrf_of(page.text)})
        assert refused.status_code in (400, 403)
        assert "test citizens" in refused.text


async def test_the_platform_team_sees_applications_to_join(system: WebSystem, sandbox: Sandbox) -> None:
    async with system.client() as client:
        await _follow(client, await sign_in(client, staff="platform-officer", next_path="/sandbox/inbox"))
        inbox = await client.get("/sandbox/inbox")
        assert inbox.status_code == 200, inbox.text
        assert "APPROVED" in inbox.text
        assert "/console/applications/" in inbox.text


@pytest.mark.parametrize(("lang", "heading", "title"), [
    ("en", "Sandbox programme news", "Preview your services in three languages"),
    ("zh-HK", "沙盒計劃消息", "以三種語言預覽你的服務"),
    ("zh-CN", "沙盒计划消息", "以三种语言预览你的服务"),
])
async def test_the_news_page_and_its_atom_feed(system: WebSystem, lang: str, heading: str, title: str) -> None:
    async with system.client() as client:
        client.cookies.set("onestop_lang", lang)
        page = await client.get("/sandbox/news")
        assert _heading(page) == heading
        assert title in page.text
        assert 'type="application/atom+xml" href="/sandbox/news.atom"' in page.text
        atom = await client.get("/sandbox/news.atom")
        assert atom.headers["content-type"].startswith("application/atom+xml")
    feed = feedparser.parse(atom.content)
    assert not feed.bozo, feed.bozo_exception
    assert feed.version == "atom10"
    assert feed.feed.language == lang
    assert feed.entries[0].title == title
    assert len(feed.entries) == 3
    assert all(entry.link.startswith(system.base_url + "/sandbox/") for entry in feed.entries)
    assert all(entry.updated_parsed is not None and entry.id.startswith("urn:onestop:sandbox:news:")
               for entry in feed.entries)
    assert feed.entries[0].updated_parsed > feed.entries[-1].updated_parsed


@pytest.mark.parametrize(("name", "expected"), [
    ("definitions", ['<h3 id="formstep">FormStep</h3>', 'href="#groupfield"', "days_between",
                     "gives <code>59</code>", "error[UNKNOWN_KEY]"]),
    ("graphql", ["uploadSandboxDefinitions", '<h3 id="providersandbox">ProviderSandbox</h3>',
                 'href="#providersandbox"', "UserErrorCode"]),
])
async def test_the_references_are_served(system: WebSystem, name: str, expected: list[str]) -> None:
    async with system.client() as client:
        page = await client.get(f"/sandbox/reference/{name}")
        assert page.status_code == 200
        assert all(text in page.text for text in expected), [t for t in expected if t not in page.text]
        assert (await client.get("/sandbox/reference/nothing")).status_code == 404


@pytest.mark.parametrize("lang", ["en", "zh-HK", "zh-CN"])
async def test_the_guide_has_six_steps_in_each_language(system: WebSystem, lang: str) -> None:
    async with system.client() as client:
        client.cookies.set("onestop_lang", lang)
        guide = await client.get("/sandbox/guide")
        assert len(re.findall(r'class="usa-process-list__heading"', guide.text)) == 6
        assert f'lang="{lang}"' in guide.text
