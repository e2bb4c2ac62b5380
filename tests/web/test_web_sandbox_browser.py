"""The sandbox portal in a real browser (Debian's chromium through Playwright), following the getting-started
guide literally: a provider applies to join, the platform team approves from its inbox, the provider's staff
upload a service with an error and see it at file:line:col with its hint, upload the fix, preview it in Chinese,
and one of the sandbox's test citizens completes it, face step-up included, which reaches the sandbox's inbox."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.async_api import Browser, Page, expect
from test_web_browser import _idp_pick, _tick, _visit, browser
from test_web_sandbox_portal import service_yaml
from web_system import FACE, WebSystem

from onestop.web.i18n import translate

__all__ = ["browser"]  # the module-scoped chromium fixture, shared with the other browser tests

APPLICANT = "lam-yuk-lan"
ORGANISATION = "Browser Portal Ltd"
SLUG = "browser-permit"
STEP_UP = """  - id: verify
    type: stepUp
    title: {en: Confirm it is you, tc: 確認你的身份, sc: 确认你的身份}
    assurance: face
    maxAge: PT15M
"""


async def _guide_steps(page: Page) -> list[str]:
    await page.goto("/sandbox")
    await page.get_by_role("link", name="Getting started").first.click()
    await expect(page.locator("h1")).to_have_text("Getting started")
    return [text.strip() for text in await page.locator(".usa-process-list__heading").all_text_contents()]


async def _sandbox_sign_in(page: Page, kind: str, login: str) -> None:
    await expect(page.locator("h1")).to_have_text("Development sign-in")
    await page.get_by_label(f"Sandbox {kind} login").fill(login)
    button = "sign in as sandbox staff" if kind == "staff" else "sign in as test citizen"
    await page.get_by_role("button", name=button).click()


async def test_a_provider_follows_the_getting_started_guide(browser: Browser, system: WebSystem,
                                                            artifacts: Path) -> None:
    applicant = await _visit(browser, system, artifacts, "sandbox-applicant", screenshots=False)
    page = applicant.page
    steps = await _guide_steps(page)
    assert steps == [translate("en", f"guide_{n}_title") for n in range(1, 7)]
    await applicant.check("guide")

    # 1. Apply to join.
    await page.goto("/sandbox")
    await page.get_by_role("link", name="Join the programme").last.click()
    await page.get_by_role("button", name="Start now").click()
    await _idp_pick(page, citizen=APPLICANT)
    await expect(page.locator("h1")).to_have_text("Your organisation")
    await page.get_by_label("Organisation name").fill(ORGANISATION)
    await _tick(page, "Private company")
    await _tick(page, "Hong Kong")
    await page.get_by_role("button", name="Continue").click()
    await expect(page.locator("h1")).to_have_text("Contact person")
    await page.get_by_label("Name").fill("Lam Yuk Lan")
    await page.get_by_label("Email").fill("lam@example.com")
    await page.get_by_label("Phone").fill("91234567")
    await page.get_by_role("button", name="Continue").click()
    await expect(page.locator("h1")).to_have_text("What you plan to offer")
    await page.get_by_label("Service name").fill("Parking permit")
    await page.get_by_label("What citizens can do with it").fill("Apply for a permit.")
    await page.get_by_label("Return address").fill("https://app.example.com/callback")
    await page.get_by_label("Name", exact=True).fill("Lee Siu Ming")
    await page.get_by_label("Email", exact=True).fill("lee@example.com")
    await page.get_by_role("button", name="Continue").click()
    await expect(page.locator("h1")).to_have_text("Check and declare")
    await page.locator("label", has_text="synthetic test citizens").click()
    await page.locator("label", has_text="I am authorised").click()
    await page.get_by_role("button", name="Continue").click()
    await expect(page.locator("h1")).to_have_text("Check your answers before sending")
    await page.get_by_role("button", name="Accept and send").click()
    reference = (await page.locator(".onestop-reference").text_content() or "").strip()
    assert reference
    await applicant.context.close()

    # 2. The platform team approves, from its inbox.
    platform = await _visit(browser, system, artifacts, "sandbox-platform", screenshots=False)
    await platform.page.goto("/sandbox/inbox")
    await _idp_pick(platform.page, staff="platform-officer")
    await expect(platform.page.locator("h1")).to_have_text("Applications to join (platform team)")
    await platform.check("inbox")
    await platform.page.get_by_role("link", name=reference).click()
    await expect(platform.page.locator("h1")).to_contain_text(reference)
    await _tick(platform.page, "APPROVED")
    await platform.page.get_by_role("button", name="Update status").click()
    await expect(platform.page.locator(".onestop-status")).to_have_text("APPROVED")
    await platform.context.close()
    assert system.engine.sandbox is not None
    sandbox = next(s for s in await system.engine.sandbox.sandboxes() if s.organisation == ORGANISATION)

    # 3. Sign in to My sandbox with a staff login.
    provider = await _visit(browser, system, artifacts, "sandbox-provider", screenshots=False)
    page = provider.page
    await page.goto("/sandbox")
    await page.get_by_role("link", name="My sandbox").last.click()
    await _sandbox_sign_in(page, "staff", sandbox.staff[0].login)
    await expect(page.locator("h1")).to_have_text("My sandbox")
    await expect(page.locator(".onestop-provider-id")).to_have_text(sandbox.provider_id)
    await expect(page.locator("main")).to_contain_text(sandbox.citizens[0].login)
    await provider.check("my-sandbox")

    # 4-5. Write the service, upload it, see the problem at file:line:col, fix it and upload again.
    await page.get_by_role("link", name="Upload definitions").last.click()
    await expect(page.locator("h1")).to_have_text("Upload definitions")
    await provider.check("upload")
    await page.locator("input#definitions").set_input_files(
        files=[{"name": f"{SLUG}.yaml", "mimeType": "application/yaml",
                "buffer": service_yaml(sandbox.namespace, broken=True, slug=SLUG).encode()}])
    await page.get_by_role("button", name="Upload", exact=True).click()
    await expect(page.locator(".onestop-location")).to_have_text(f"services/{SLUG}.yaml:14:9")
    await expect(page.locator(".onestop-problems")).to_contain_text("UNKNOWN_KEY")
    await expect(page.locator(".onestop-hint")).to_contain_text(re.compile(r"\S"))
    await provider.check("upload-problems")
    await page.locator("input#definitions").set_input_files(
        files=[{"name": f"{SLUG}.yaml", "mimeType": "application/yaml",
                "buffer": service_yaml(sandbox.namespace, slug=SLUG, extra_step=STEP_UP).encode()}])
    await page.get_by_role("button", name="Upload", exact=True).click()
    await expect(page.locator(".usa-alert--success")).to_contain_text(SLUG)

    # 6. Preview it, in Chinese too.
    await page.get_by_role("link", name=re.compile("^Preview")).first.click()
    await expect(page.locator(".onestop-rendering").first).to_have_attribute("lang", "en")
    await page.get_by_role("link", name="繁體中文").click()
    await expect(page.locator("html")).to_have_attribute("lang", "zh-HK")
    await expect(page.locator("h1")).to_contain_text("預覽")
    first = page.locator(".onestop-rendering").first
    await expect(first).to_have_attribute("lang", "zh-HK")
    await expect(first.locator("h3")).to_have_text("你的車輛")
    await expect(first).to_contain_text("車輛登記號碼")
    await provider.check("preview-tc")

    # ... and a test citizen completes it.
    citizen = await _visit(browser, system, artifacts, "sandbox-citizen", screenshots=False)
    await citizen.page.goto(f"/sandbox/services/{SLUG}/test")
    await citizen.page.get_by_role("link", name="Sign in as a test citizen").click()
    await _sandbox_sign_in(citizen.page, "test citizen", sandbox.citizens[-1].login)
    await expect(citizen.page.locator("h1")).to_contain_text("Start a test application")
    await citizen.page.get_by_role("button", name="Start now").click()
    await expect(citizen.page.locator("h1")).to_have_text("Your car")
    await citizen.page.get_by_label("Registration mark").fill("AB 1234")
    await citizen.page.get_by_role("button", name="Continue").click()
    await expect(citizen.page.locator("h1")).to_have_text("Confirm it is you")
    await citizen.page.get_by_role("button", name=translate("en", "stepup_button")).click()
    # Signed in once, the test citizen is listed on the sign-in page with its test face samples.
    await _idp_pick(citizen.page, citizen=sandbox.citizens[-1].login, acr=FACE, label="face ✓")
    await expect(citizen.page.locator("h1")).to_have_text("Check your answers before sending")
    await citizen.page.get_by_role("button", name="Accept and send").click()
    test_reference = (await citizen.page.locator(".onestop-reference").text_content() or "").strip()
    assert test_reference
    await citizen.context.close()

    # The provider sees it in the sandbox's own inbox.
    await page.goto("/console")
    await expect(page.locator("main")).to_contain_text(test_reference)
    await provider.context.close()
