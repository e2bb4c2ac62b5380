"""The web app in a real browser (Debian's chromium through Playwright): a citizen's whole journey in Chinese,
the approver's decision, a `login: none` form with every field type and JavaScript off, axe-core on every page,
and screenshots at 1280 px and 375 px under tests/artifacts/."""

from __future__ import annotations

import datetime
import re
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright, expect
from web_system import API_FEATURES, EVERY_FIELD, FACE, STANDARD, WebSystem

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

    def __init__(self, context: BrowserContext, page: Page, artifacts: Path, name: str, *, axe: bool,
                 screenshots: bool = True) -> None:
        self.context = context
        self.page = page
        self.artifacts = artifacts
        self.name = name
        self.axe = axe
        self.screenshots = screenshots
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
        for width, height in ((1280, 900), (375, 800)) if self.screenshots else ():
            await self.page.set_viewport_size({"width": width, "height": height})
            await self.page.screenshot(path=self.artifacts / f"{self.name}-{self.count:02d}-{label}-{width}.png",
                                       full_page=True)
        await self.page.set_viewport_size({"width": 1280, "height": 900})
        assert self.csp_violations == []


async def _visit(browser: Browser, system: WebSystem, artifacts: Path, name: str, *, javascript: bool = True,
                 screenshots: bool = True) -> Visit:
    context = await browser.new_context(base_url=system.base_url, java_script_enabled=javascript,
                                        viewport={"width": 1280, "height": 900})
    return Visit(context, await context.new_page(), artifacts, name, axe=javascript, screenshots=screenshots)


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
    # The prefill read the licence under the consent given on the way: it is in the log, against that consent.
    title = "Renew a full driving licence"
    logged = page.locator("#access-log tbody tr").filter(has_text=title)
    await expect(logged.first).to_contain_text(re.compile("driving licence", re.IGNORECASE))
    revoke = page.locator("#consents tbody tr").filter(has_text=title).get_by_role(
        "button", name=re.compile("^Revoke"))
    active = await revoke.count()  # other tests' applications by the same citizen may hold consents too
    assert active >= 1
    # Newest first: the consent this journey gave.
    await revoke.first.click()
    await expect(page.locator("main")).to_contain_text("Saved.")
    await expect(page.locator("#consents tbody tr").filter(has_text=title).first).to_contain_text("REVOKED")
    await expect(revoke).to_have_count(active - 1)
    await expect(logged.first).to_contain_text("REVOKED")  # the entry names the consent, now revoked
    await visit.check("my-data-revoked")
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


# Texts of each language the sweep below looks for (page chrome from i18n, service text from the definitions).
WORDS = {
    "en": {"search": "Search", "start": "Start now", "agree_prefill": "Yes, fill it in for me",
           "continue": "Continue", "agree": "I agree", "records": "Your records", "about": "About you",
           "married": "Are you married", "no": "No", "check": "Check your answers before sending"},
    "zh-HK": {"search": "搜尋", "start": "立即開始", "agree_prefill": "同意，代我填寫", "continue": "繼續",
              "agree": "我同意", "records": "你的記錄", "about": "關於你", "married": "你是否已婚", "no": "否",
              "check": "遞交前請核對你的答案"},
    "zh-CN": {"search": "搜索", "start": "立即开始", "agree_prefill": "同意，代我填写", "continue": "继续",
              "agree": "我同意", "records": "你的记录", "about": "关于你", "married": "你是否已婚", "no": "否",
              "check": "递交前请核对你的答案"},
}


def _cjk_families() -> set[str]:
    """Font families installed here that cover Chinese (fontconfig's view, as chromium's on Linux)."""
    listed = subprocess.run(["fc-list", ":lang=zh-hk", "family"], capture_output=True, text=True,  # noqa: S607
                            check=True).stdout
    return {name.strip() for line in listed.splitlines() for name in line.split(",") if name.strip()}


async def _assert_no_tofu(page: Page, selector: str) -> None:
    """Every Chinese character of ``selector``'s text is drawn from a font that has it, not as a missing-glyph
    box: chromium reports the fonts it used for a node's glyphs (DevTools ``CSS.getPlatformFontsForNode``)."""
    text = await page.locator(selector).first.inner_text()
    chinese = sum(1 for ch in text if "\u3400" <= ch <= "\u9fff")
    assert chinese > 0, text
    cdp = await page.context.new_cdp_session(page)
    await cdp.send("DOM.enable")
    await cdp.send("CSS.enable")
    root = await cdp.send("DOM.getDocument")
    node = await cdp.send("DOM.querySelector", {"nodeId": root["root"]["nodeId"], "selector": selector})
    used = (await cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node["nodeId"]}))["fonts"]
    await cdp.detach()
    covering = _cjk_families()
    drawn = sum(font["glyphCount"] for font in used if font["familyName"] in covering)
    assert drawn >= chinese, (text, used, sorted(covering)[:5])


@pytest.mark.parametrize("language", ["en", "zh-HK", "zh-CN"])
async def test_key_pages_pass_axe_in_every_language(browser: Browser, system: WebSystem, artifacts: Path,
                                                    language: str) -> None:
    words = WORDS[language]
    visit = await _visit(browser, system, artifacts, f"lang-{language}", screenshots=False)
    page = visit.page
    await page.goto(f"/language/{language}?next=/")
    await expect(page.locator("html")).to_have_attribute("lang", language)
    await visit.check("home")
    await page.goto("/search?q=licence")
    await visit.check("search")
    await page.goto(f"/services/{EVERY_FIELD}")
    await visit.check("service")
    await page.get_by_role("button", name=words["start"]).click()
    await expect(page.locator("#f-name")).to_be_visible()
    await visit.check("step")
    await page.goto(f"/services/{API_FEATURES}")
    await page.get_by_role("button", name=words["start"]).click()
    await _idp_pick(page, citizen=CITIZEN)
    await expect(page.locator("h1")).to_have_text(words["records"])
    if language != "en":
        await _assert_no_tofu(page, "main h1")
    await visit.check("prefill")
    await page.get_by_role("button", name=words["agree_prefill"]).click()
    await expect(page.locator("h1")).to_have_text(words["about"])
    await visit.check("prefilled-form")
    await page.get_by_label(re.compile("^" + {"en": "Your savings", "zh-HK": "你的儲蓄",
                                              "zh-CN": "你的储蓄"}[language])).fill("1000")
    await page.get_by_role("group", name=words["married"]).locator(f'label:text-is("{words["no"]}")').click()
    await page.get_by_role("button", name=words["continue"]).click()
    await expect(page.locator(".onestop-recipients")).to_be_visible()
    await visit.check("consent")
    await page.get_by_role("button", name=words["agree"], exact=True).click()
    await expect(page.locator("h1")).to_have_text(words["check"])
    await expect(page.locator("main dl").first).to_contain_text(words["married"])  # a label, not a field id
    await visit.check("check-answers")
    await page.goto("/my/data")
    await visit.check("my-data")
    await page.goto("/my/applications")
    await visit.check("my-applications")
    await visit.context.close()
