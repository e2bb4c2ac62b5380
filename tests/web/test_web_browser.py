"""The web app in a real browser (Debian's chromium through Playwright): a citizen's whole journey in Chinese,
the approver's decision, a `login: none` form with every field type and JavaScript off, axe-core on every page,
and screenshots at 1280 px and 375 px under tests/artifacts/."""

from __future__ import annotations

import datetime
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright, expect
from web_system import EVERY_FIELD, FACE, STANDARD, WebSystem

from onestop.web.assets import AXE

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
CITIZEN = "wong-ka-fai"


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield launched
        await launched.close()


class Visit:
    """One browser context: checks every page it lands on (axe, CSP) and keeps screenshots of it."""

    def __init__(self, context: BrowserContext, page: Page, artifacts: Path, name: str, *, axe: bool) -> None:
        self.context = context
        self.page = page
        self.artifacts = artifacts
        self.name = name
        self.axe = axe
        self.csp_violations: list[str] = []
        page.on("console", lambda message: self._console(message.text))
        self.count = 0

    def _console(self, text: str) -> None:
        if "Content Security Policy" in text:
            self.csp_violations.append(text)

    async def check(self, label: str) -> None:
        """axe-core finds nothing; screenshots at desktop and phone widths."""
        self.count += 1
        if self.axe:
            await self.page.evaluate(AXE.read_text(encoding="utf-8"))
            result: dict[str, Any] = await self.page.evaluate(
                "axe.run(document, {resultTypes: ['violations']})")
            violations = [(v["id"], [n["target"] for n in v["nodes"]][:3]) for v in result["violations"]]
            assert violations == [], f"{label}: {violations}"
        for width, height in ((1280, 900), (375, 800)):
            await self.page.set_viewport_size({"width": width, "height": height})
            await self.page.screenshot(path=self.artifacts / f"{self.name}-{self.count:02d}-{label}-{width}.png",
                                       full_page=True)
        await self.page.set_viewport_size({"width": 1280, "height": 900})
        assert self.csp_violations == []


async def _visit(browser: Browser, system: WebSystem, artifacts: Path, name: str, *, javascript: bool = True
                 ) -> Visit:
    context = await browser.new_context(base_url=system.base_url, java_script_enabled=javascript,
                                        viewport={"width": 1280, "height": 900})
    return Visit(context, await context.new_page(), artifacts, name, axe=javascript)


async def _tick(page: Page, label: str) -> None:
    """USWDS draws its own radios and checkboxes over visually hidden inputs: people click the label."""
    await page.locator(f'label:text-is("{label}")').click()


async def _idp_pick(page: Page, *, citizen: str | None = None, staff: str | None = None, acr: str = STANDARD,
                    label: str | None = None) -> None:
    await expect(page.locator("h1")).to_have_text("Development sign-in")
    if staff:
        form = page.locator("form").filter(has=page.locator(f'input[name="staff"][value="{staff}"]'))
    else:
        form = (page.locator("form").filter(has=page.locator(f'input[name="citizen"][value="{citizen}"]'))
                .filter(has=page.locator(f'input[name="acr"][value="{acr}"]')))
    if label:
        form = form.filter(has_text=label)
    await form.locator("button").click()


async def test_a_citizen_renews_in_chinese_and_the_approver_approves(browser: Browser, system: WebSystem,
                                                                     artifacts: Path) -> None:
    visit = await _visit(browser, system, artifacts, "citizen")
    page = visit.page
    await page.goto("/")
    await visit.check("home")
    await page.get_by_role("link", name="繁體中文").click()
    await expect(page.locator("html")).to_have_attribute("lang", "zh-HK")
    await page.get_by_label("搜尋服務").fill("駕駛執照")
    await page.get_by_role("button", name="搜尋").click()
    await expect(page.locator("h1")).to_have_text("搜尋結果")
    await visit.check("search")
    await page.get_by_role("link", name="續領正式駕駛執照").click()
    await expect(page.locator("h1")).to_have_text("續領正式駕駛執照")
    await visit.check("service")
    await page.get_by_role("button", name="立即開始").click()
    await _idp_pick(page, citizen=CITIZEN)
    await expect(page.locator("h1")).to_have_text("使用政府已有的資料")
    await visit.check("prefill")
    await page.get_by_role("button", name="同意，代我填寫").click()
    await expect(page.locator("h1")).to_have_text("你的執照")
    await expect(page.get_by_label("駕駛執照號碼")).to_have_value("K305518(3)")
    await visit.check("form")
    await _tick(page, "十年")
    await page.get_by_role("button", name="繼續").click()
    await expect(page.locator("h1")).to_have_text("與警方共用資料")
    await visit.check("consent")
    await page.get_by_role("button", name="我同意").click()
    await expect(page.locator("h1")).to_have_text("確認你的身份")
    await visit.check("step-up")
    await page.get_by_role("button", name="核實我的身份").click()
    await _idp_pick(page, citizen=CITIZEN, acr=FACE, label="face ✓")
    await expect(page.locator("h1")).to_have_text("核對你的答案")
    await visit.check("review")
    await page.locator(".usa-checkbox__label").click()
    await page.get_by_role("button", name="繼續").click()
    await expect(page.locator("h1")).to_have_text("繳付執照費用")
    await expect(page.locator(".onestop-fee")).to_contain_text("HK$900")
    await visit.check("payment")
    await page.get_by_role("button", name="付款").click()
    await expect(page.locator("h1")).to_have_text("Development payment page")  # the provider's hosted page
    await visit.check("hosted-payment")
    await page.get_by_role("button", name="Pay", exact=True).click()
    # Back on the service; the page refreshes itself until the provider's confirmation is in.
    await expect(page.locator("h1")).to_have_text("遞交前請核對你的答案", timeout=20000)
    await visit.check("check-answers")
    await page.get_by_role("button", name="確認並遞交").click()
    reference = (await page.locator(".onestop-reference").text_content() or "").strip()
    assert re.fullmatch(r"[A-Z0-9-]{6,}", reference), reference
    await visit.check("confirmation")

    staff = await _visit(browser, system, artifacts, "approver")
    await staff.page.goto("/console")
    await _idp_pick(staff.page, staff="td-supervisor")
    await expect(staff.page.locator("h1")).to_contain_text("Inbox")
    await staff.check("inbox")
    await staff.page.get_by_role("link", name=reference).click()
    await expect(staff.page.locator("h1")).to_contain_text(reference)
    await staff.check("case")
    await _tick(staff.page, "APPROVED")
    await staff.page.get_by_role("button", name="Update status").click()
    await expect(staff.page.locator(".onestop-status")).to_have_text("APPROVED")

    await page.goto("/my/applications")
    row = page.locator("tr").filter(has_text=reference)
    await expect(row.locator(".onestop-status")).to_have_text("APPROVED")
    await visit.check("my-applications")
    await page.get_by_role("link", name="English").click()
    await expect(page.locator("html")).to_have_attribute("lang", "en")
    await page.goto("/my/data")
    await expect(page.locator("h1")).to_have_text("My data")
    await expect(page.locator("main")).to_contain_text("Who read your data")
    await visit.check("my-data")
    await staff.context.close()
    await visit.context.close()


async def test_every_field_type_works_without_javascript(browser: Browser, system: WebSystem,
                                                          artifacts: Path) -> None:
    visit = await _visit(browser, system, artifacts, "no-js", javascript=False)
    page = visit.page
    await page.goto(f"/services/{EVERY_FIELD}")
    await page.get_by_role("button", name="Start now").click()
    await expect(page.locator("h1")).to_have_text("Tell us everything")
    await page.get_by_label("Your name").fill("Chan Tai Man")
    await page.get_by_label("How many").fill("3")
    today = datetime.date.today()
    await page.get_by_label("Day").fill(str(today.day))
    await page.get_by_label("Month").fill(str(today.month))
    await page.get_by_label("Year").fill(str(today.year))
    await page.get_by_role("group", name="Send me updates").locator('label:text-is("Yes")').click()
    await _tick(page, "Blue")
    await _tick(page, "Air")
    await page.get_by_label("Email").fill("chan@example.org")
    await page.get_by_label("Phone").fill("91234567")
    await page.get_by_label("HKID").fill("A123456(4)")
    await page.get_by_label("Building").fill("Test Court")
    await page.get_by_label("District").select_option("wan-chai")
    await page.get_by_label("Region").select_option("HK")
    await expect(page.get_by_label("Person name")).to_have_count(1)  # the one entry the group needs
    await page.get_by_role("button", name="Add another").click()
    await expect(page.get_by_label("Person name")).to_have_count(2)
    await page.get_by_label("Person name").nth(0).fill("Ann")
    await page.get_by_label("Person age").nth(0).fill("7")
    await page.get_by_label("Person name").nth(1).fill("Bob")
    await page.get_by_role("button", name="Remove Entry 2").click()
    await expect(page.get_by_label("Person name")).to_have_count(1)
    await expect(page.get_by_label("Your name")).to_have_value("Chan Tai Man")  # nothing typed is lost
    await _tick(page, "This is true")
    await visit.check("form")
    await page.get_by_role("button", name="Continue").click()
    summary = page.locator("#error-summary")
    await expect(summary).to_be_visible()
    await visit.check("errors")
    await summary.get_by_role("link").first.click()
    assert page.url.endswith("#f-hkid")
    await page.get_by_label("HKID").fill("A123456(3)")
    await page.get_by_role("button", name="Continue").click()
    await expect(page.locator("h1")).to_have_text("Check your answers before sending")
    await expect(page.locator("main")).to_contain_text("Ann, 7")
    await visit.check("check-answers")
    await page.get_by_role("button", name="Accept and send").click()
    await expect(page.locator(".onestop-reference")).to_have_text(re.compile(r"\S+"))
    await visit.check("confirmation")
    await visit.context.close()


async def test_every_field_type_passes_axe(browser: Browser, system: WebSystem, artifacts: Path) -> None:
    visit = await _visit(browser, system, artifacts, "fields")
    await visit.page.goto(f"/services/{EVERY_FIELD}")
    await visit.page.get_by_role("button", name="Start now").click()
    await visit.page.get_by_role("button", name="Add another").click()
    await expect(visit.page.get_by_label("Person name")).to_have_count(2)
    await visit.check("every-field")
    await visit.page.get_by_role("button", name="Continue").click()
    await expect(visit.page.locator("#error-summary")).to_be_focused()
    await visit.check("every-field-errors")
    await visit.context.close()


async def test_a_form_is_usable_with_the_keyboard_alone(browser: Browser, system: WebSystem,
                                                         artifacts: Path) -> None:
    visit = await _visit(browser, system, artifacts, "keyboard")
    page = visit.page
    await page.goto(f"/services/{EVERY_FIELD}")
    start = page.get_by_role("button", name="Start now")
    for _ in range(40):  # Tab from the top of the page until "Start now" has focus, then press Enter
        await page.keyboard.press("Tab")
        if await start.evaluate("element => element === document.activeElement"):
            break
    await page.keyboard.press("Enter")
    await expect(page.locator("h1")).to_have_text("Tell us everything")
    reached: list[str] = []
    for _ in range(80):
        await page.keyboard.press("Tab")
        focused = await page.evaluate("document.activeElement.id || document.activeElement.textContent.trim()")
        reached.append(focused)
        if focused == "Continue":
            break
    controls = await page.locator("main form input:not([type=hidden]), main form select").evaluate_all(
        "elements => elements.map(e => e.id)")
    first_of_each = list(dict.fromkeys(c for c in controls if not c.split("-")[-1].isdigit()))
    assert [c for c in reached if c in first_of_each] == first_of_each  # every field, in reading order
    await page.keyboard.press("Enter")  # "Continue", from the keyboard
    await expect(page.locator("#error-summary")).to_be_focused()
    await visit.context.close()


async def test_the_operator_view_passes_axe(browser: Browser, system: WebSystem, artifacts: Path) -> None:
    visit = await _visit(browser, system, artifacts, "operator")
    await visit.page.goto("/console/alerts")
    await _idp_pick(visit.page, staff="dpo-operator")
    await expect(visit.page.locator("h1")).to_contain_text("Security alerts")
    await expect(visit.page.locator("main")).to_contain_text("System health")
    await visit.check("operator-alerts")
    await visit.context.close()
