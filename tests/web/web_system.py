"""The whole product for web tests: seed definitions plus a test service with every field type, the real
engine and worker on the session's Temporal server, and ``serve``'s app (API + web) on a real port."""

from __future__ import annotations

import asyncio
import shutil
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import uvicorn
from running import dev_settings, running_engine
from temporalio.testing import WorkflowEnvironment

from onestop.engine.container import Engine
from onestop.runtime import embedded_app

STANDARD = "urn:onestop:acr:standard"
FACE = "urn:onestop:acr:face"
EVERY_FIELD = "web-every-field"

EVERY_FIELD_YAML = f"""\
id: {EVERY_FIELD}
version: 1
department: EPD
title: {{en: Every field test form, tc: 所有欄位測試表格, sc: 所有栏位测试表格}}
summary: {{en: A form with every field type., tc: 含所有欄位類別的表格。}}
keywords: {{en: [every field], tc: [測試]}}
themes: [environment]
ageGroups: [adult]
login: none
draftExpiry: P3D
steps:
  - id: everything
    type: form
    title: {{en: Tell us everything, tc: 請告訴我們}}
    fields:
      - {{id: name, type: text, label: {{en: Your name, tc: 姓名}}, required: true, maxLength: 80}}
      - {{id: count, type: number, label: {{en: How many, tc: 數量}}, required: true, min: 1, max: 9, integer: true}}
      - {{id: seenOn, type: date, label: {{en: When, tc: 日期}}, required: true, after: -P30D, before: P1D}}
      - {{id: subscribe, type: boolean, label: {{en: Send me updates, tc: 接收更新}}}}
      - id: colour
        type: choice
        label: {{en: Colour, tc: 顏色}}
        required: true
        options:
          - {{value: red, label: {{en: Red, tc: 紅}}}}
          - {{value: blue, label: {{en: Blue, tc: 藍}}}}
      - id: kinds
        type: multiChoice
        label: {{en: Kinds, tc: 類別}}
        required: true
        minItems: 1
        options:
          - {{value: noise, label: {{en: Noise, tc: 噪音}}}}
          - {{value: air, label: {{en: Air, tc: 空氣}}}}
      - {{id: email, type: email, label: {{en: Email, tc: 電郵}}, required: true}}
      - {{id: phone, type: phone, label: {{en: Phone, tc: 電話}}, required: true}}
      - {{id: hkid, type: hkid, label: {{en: HKID, tc: 身份證}}, required: true}}
      - {{id: where, type: address, label: {{en: Address, tc: 地址}}, required: true}}
      - id: people
        type: group
        label: {{en: People, tc: 人士}}
        minItems: 1
        maxItems: 3
        fields:
          - {{id: personName, type: text, label: {{en: Person name, tc: 姓名}}, required: true}}
          - {{id: personAge, type: number, label: {{en: Person age, tc: 年齡}}, required: true, integer: true}}
      - {{id: agree, type: boolean, label: {{en: This is true, tc: 資料屬實}}, required: true}}
  - id: send
    type: submit
    title: {{en: Send, tc: 發送}}
"""

# A service with what the API decides and the pages must show: prefill provenance (verified and read-only),
# a yes/no predicate, a field condition, a step that does not apply, a computed value and a structured consent.
API_FEATURES = "web-api-features"
API_FEATURES_YAML = f"""\
id: {API_FEATURES}
version: 1
department: TD
title: {{en: API features test service, tc: 介面功能測試服務, sc: 接口功能测试服务}}
summary: {{en: Shows what the API decides., tc: 顯示介面決定的內容。}}
keywords: {{en: [api features], tc: [介面功能]}}
themes: [transport]
ageGroups: [adult]
assurance: standard
draftExpiry: P3D
compute:
  doubledSavings: "answers.savings * 2.0"
steps:
  - id: records
    type: prefill
    title: {{en: Your records, tc: 你的記錄, sc: 你的记录}}
    purpose: {{en: To fill in your name., tc: 用以填寫你的姓名。, sc: 用以填写你的姓名。}}
    items: [eme.nameEn, eme.hkid]
    predicates:
      - {{id: adult, over: immd-records.date-of-birth, check: age >= 18}}
  - id: about
    type: form
    title: {{en: About you, tc: 關於你, sc: 关于你}}
    fields:
      - {{id: applicantName, type: text, label: {{en: Your full name, tc: 你的全名, sc: 你的全名}}, required: true,
         prefill: eme.nameEn}}
      - {{id: applicantHkid, type: hkid, label: {{en: Your identity card, tc: 你的身份證, sc: 你的身份证}},
         required: true, prefill: eme.hkid}}
      - {{id: adult, type: boolean, label: {{en: Aged 18 or over, tc: 年滿18歲, sc: 年满18岁}}, required: true,
         prefill: adult}}
      - {{id: savings, type: number, label: {{en: Your savings, tc: 你的儲蓄, sc: 你的储蓄}}, required: true, min: 0}}
      - {{id: married, type: choice, label: {{en: Are you married, tc: 你是否已婚, sc: 你是否已婚}}, required: true,
         optionList: yes-no}}
      - {{id: spouseName, type: text, label: {{en: Spouse name, tc: 配偶姓名, sc: 配偶姓名}}, required: true,
         when: 'answers.married == "yes"'}}
  - id: centenarian
    type: form
    when: citizen.age >= 100
    title: {{en: Over one hundred, tc: 百歲以上, sc: 百岁以上}}
    fields:
      - {{id: telegram, type: boolean, label: {{en: Send a telegram, tc: 發送電報}}}}
  - id: share
    type: consent
    title: {{en: Sharing your tax records, tc: 分享你的稅務記錄, sc: 分享你的税务记录}}
    statement: {{en: I agree to the check., tc: 本人同意核實。, sc: 本人同意核实。}}
    departments: [IRD]
    items: [ird-tax.employer-returns]
    purpose: {{en: To check your income is as you say., tc: 用以核實你的入息。, sc: 用以核实你的入息。}}
    required: true
  - id: send
    type: submit
    title: {{en: Send, tc: 發送, sc: 发送}}
"""

# Applied for by the citizen, a parent for a child, or a mandate holder: "Who is this for?" and the pages that name
# the person it is for.
ACTING = "web-acting"
ACTING_YAML = f"""\
id: {ACTING}
version: 1
department: TD
title: {{en: Acting test service, tc: 代辦測試服務, sc: 代办测试服务}}
summary: {{en: Applied for by yourself or someone acting for you., tc: 由本人或代辦人申請。}}
keywords: {{en: [acting test], tc: [代辦測試]}}
themes: [family]
ageGroups: [children, adult]
assurance: standard
applicant: either
actingAs: [parent, mandate]
draftExpiry: P3D
steps:
  - id: about
    type: form
    title: {{en: About the application, tc: 申請資料, sc: 申请资料}}
    fields:
      - {{id: note, type: text, label: {{en: A note, tc: 備註, sc: 备注}}, required: true}}
  - id: send
    type: submit
    title: {{en: Send, tc: 發送, sc: 发送}}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def definitions_with_test_service(seed: Path, target: Path) -> Path:
    shutil.copytree(seed, target)
    (target / "services" / "web-tests").mkdir()
    (target / "services" / "web-tests" / f"{EVERY_FIELD}.yaml").write_text(EVERY_FIELD_YAML, encoding="utf-8")
    (target / "services" / "web-tests" / f"{API_FEATURES}.yaml").write_text(API_FEATURES_YAML, encoding="utf-8")
    (target / "services" / "web-tests" / f"{ACTING}.yaml").write_text(ACTING_YAML, encoding="utf-8")
    return target


@dataclass
class WebSystem:
    base_url: str
    engine: Engine

    def client(self) -> httpx.AsyncClient:
        """A cookie-keeping browser stand-in that does not follow redirects (tests look at each hop)."""
        return httpx.AsyncClient(base_url=self.base_url, timeout=60)


@asynccontextmanager
async def web_system(temporal: WorkflowEnvironment, seed: Path, work: Path) -> AsyncIterator[WebSystem]:
    port = free_port()
    definitions = definitions_with_test_service(seed, work / "definitions")
    settings = dev_settings(definitions, work / "data", port=port)
    async with running_engine(temporal, settings, http_timeout=30) as (engine, _client):
        server = uvicorn.Server(uvicorn.Config(embedded_app(settings, engine), host="127.0.0.1", port=port,
                                               log_level="warning", lifespan="off"))
        task = asyncio.create_task(server.serve())
        while not server.started:  # noqa: ASYNC110 - uvicorn exposes only a flag
            await asyncio.sleep(0.05)
        try:
            yield WebSystem(f"http://127.0.0.1:{port}", engine)
        finally:
            server.should_exit = True
            await task


def csrf_of(html: str) -> str:
    marker = 'name="csrf" value="'
    start = html.index(marker) + len(marker)
    return html[start:html.index('"', start)]


async def sign_in(client: httpx.AsyncClient, *, next_path: str = "/", citizen: str | None = None,
                  staff: str | None = None, acr: str = STANDARD, selfie: str | None = None,
                  start: httpx.Response | None = None) -> httpx.Response:
    """Follow the sign-in redirects as a browser would, picking who signs in on the dev IdP's page."""
    response = start or await client.get("/sign-in", params={"next": next_path})
    assert response.status_code == 303, response.text
    authorize = urlsplit(response.headers["location"])
    params: dict[str, Any] = dict(parse_qsl(authorize.query))
    login = {k: params.get(k, "") for k in ("client_id", "redirect_uri", "state", "code_challenge", "binding")}
    login |= {"staff": staff} if staff else {"citizen": citizen, "acr": acr}
    if selfie:
        login["selfie"] = selfie
    back = await client.post(authorize.path, data=login)
    assert back.status_code == 303, back.text
    callback = urlsplit(back.headers["location"])
    return await client.get(f"{callback.path}?{callback.query}")


async def selfie_of(client: httpx.AsyncClient, citizen: str) -> str:
    listing = (await client.get("/dev-idp/citizens")).json()["citizens"]
    match: str = next(c for c in listing if c["id"] == citizen)["faceSamples"]["match"]
    return match


class _Forms(HTMLParser):
    """The forms of a page as a browser would submit them: every successful control, by form."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, Any]] = []
        self._select: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append({"action": a.get("action", ""), "fields": [], "buttons": []})
        elif not self.forms:
            return
        elif tag == "input":
            kind = a.get("type", "text")
            if kind in ("radio", "checkbox") and "checked" not in a:
                return
            if kind != "submit":
                self.forms[-1]["fields"].append((a.get("name", ""), a.get("value", "")))
        elif tag == "button" and a.get("name"):
            self.forms[-1]["buttons"].append((a["name"], a.get("value", "")))
        elif tag == "select":
            self._select = a.get("name", "")
        elif tag == "option" and self._select is not None and "selected" in a:
            self.forms[-1]["fields"].append((self._select, a.get("value", "")))

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None


def form_fields(html: str, button: tuple[str, str]) -> list[tuple[str, str]]:
    """The fields of the form holding ``button`` (name, value), plus the button itself."""
    parser = _Forms()
    parser.feed(html)
    for form in parser.forms:
        if button in form["buttons"]:
            return [*form["fields"], button]
    raise AssertionError(f"no form with button {button} in the page")


def replace(fields: list[tuple[str, str]], **values: str) -> list[tuple[str, str]]:
    """Set fields by name (``f_x_y`` stands for ``f.x.y``); other fields keep what the page had."""
    names = {key.replace("_", "."): value for key, value in values.items()}
    kept = [(k, v) for k, v in fields if k not in names]
    return [*kept, *names.items()]
