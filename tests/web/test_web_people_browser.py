"""Acting for others in a real browser (Debian's chromium): a parent chooses a child at "Who is this for?" and sees
the child's name on the step page; a grandfather grants a mandate from "People I act for" after confirming his face
at the identity provider, then revokes it; the page in Traditional Chinese. axe-core on every page, screenshots at
1280 px and 375 px under tests/artifacts/."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

from playwright.async_api import Browser, expect
from test_web_browser import _idp_pick, _tick, _visit, browser
from web_system import ACTING, FACE, WebSystem

__all__ = ["browser"]  # the module's chromium, shared with these tests


async def test_a_parent_chooses_the_child_and_each_step_names_them(browser: Browser, system: WebSystem,
                                                                   artifacts: Path) -> None:
    visit = await _visit(browser, system, artifacts, "acting-parent")
    page = visit.page
    await page.goto(f"/services/{ACTING}")
    await page.get_by_role("button", name="Start now").click()
    await _idp_pick(page, citizen="tsang-chi-keung")
    await expect(page.locator("h1")).to_have_text("Who is this application for?")
    await visit.check("who-for")
    await page.get_by_role("button", name="Continue").click()  # nobody chosen: said so, on the same page
    await expect(page.locator(".usa-error-message")).to_have_text("Choose who the application is for.")
    await visit.check("who-for-error")
    await page.locator('label:has-text("TSANG, Ho Yin")').click()
    await page.get_by_role("button", name="Continue").click()
    await expect(page.locator("h1")).to_have_text("About the application")
    await expect(page.locator(".onestop-acting-for")).to_contain_text("You are applying for TSANG, Ho Yin")
    await visit.check("step-for-a-child")
    await visit.context.close()


async def test_a_grandfather_grants_a_mandate_with_his_face_and_revokes_it(browser: Browser, system: WebSystem,
                                                                           artifacts: Path) -> None:
    visit = await _visit(browser, system, artifacts, "acting-mandate")
    page = visit.page
    await page.goto("/my/people")
    await _idp_pick(page, citizen="tsang-kam-po")
    await expect(page.locator("h1")).to_have_text("People I act for")
    await visit.check("people")
    await page.get_by_label("Their HKID number").fill("P562019(1)")
    await page.get_by_label("Their name, as on their identity card").fill("YIP, Suk Fan")
    await _tick(page, "Apply for a Senior Citizen Card")
    await page.get_by_label("Last day of the mandate").fill((date.today() + timedelta(days=200)).isoformat())
    await page.get_by_role("button", name="Grant the mandate").click()
    await _idp_pick(page, citizen="tsang-kam-po", acr=FACE, label="face ✓")
    await expect(page.locator("h1")).to_have_text("People I act for")
    await expect(page.locator('[role="status"]')).to_have_text("The mandate is granted.")
    granted = page.locator("#mandates-granted tr").filter(has_text="YIP, Suk Fan").filter(has_text="ACTIVE")
    await expect(granted).to_contain_text("Senior Citizen Card")
    await visit.check("mandate-granted")
    await granted.get_by_role("button", name="Revoke").click()
    await expect(page.locator('[role="status"]')).to_contain_text("The mandate is revoked.")
    await expect(page.locator("#mandates-granted tr").filter(has_text="YIP, Suk Fan").first).to_contain_text(
        "REVOKED")

    await page.get_by_role("link", name="繁體中文").click()
    await expect(page.locator("h1")).to_have_text("我代為辦理的人士")
    await expect(page.locator("h2").filter(has_text="授權他人代你辦理")).to_be_visible()
    await visit.check("people-zh-hk")
    await page.get_by_role("link", name="简体中文").click()
    await expect(page.locator("h1")).to_have_text("我代为办理的人士")
    await visit.check("people-zh-cn")
    await visit.context.close()
