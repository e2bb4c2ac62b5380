"""Public pages over real HTTP: home, listings, search across scripts and typos, a service, languages."""

from __future__ import annotations

import secrets

import httpx
import pytest
from web_system import WebSystem

from onestop.web import WebConfig, create_web_app


async def test_home_shows_public_information_themes_and_age_groups(system: WebSystem) -> None:
    async with system.client() as client:
        page = await client.get("/")
    assert page.status_code == 200
    for text in ("Weather", "Traffic news", "Food safety alerts", "Announcements", 'href="/themes/transport"',
                 'href="/age-groups/elderly"', 'action="/search"'):
        assert text in page.text


@pytest.mark.parametrize("query", ["drivng licence", "駕駛執照", "驾驶执照"])
async def test_search_finds_the_driving_licence_across_typos_and_scripts(system: WebSystem, query: str) -> None:
    async with system.client() as client:
        page = await client.get("/search", params={"q": query})
    assert page.status_code == 200
    assert 'href="/services/renew-driving-licence"' in page.text


async def test_a_theme_listing_pages_through_its_services(system: WebSystem) -> None:
    async with system.client() as client:
        first = await client.get("/age-groups/adult")
        assert first.status_code == 200
        assert 'First page' not in first.text
        cursor = first.text.split('href="/age-groups/adult?after=')[1].split('"')[0]
        second = await client.get(f"/age-groups/adult?after={cursor}")
    assert second.status_code == 200
    assert "First page" in second.text
    titles = [chunk.split('"')[0] for chunk in first.text.split('href="/services/')[1:]]
    assert titles
    assert not set(titles) & {c.split('"')[0] for c in second.text.split('href="/services/')[1:]}


async def test_an_unknown_theme_and_an_unknown_service_are_not_found(system: WebSystem) -> None:
    async with system.client() as client:
        assert (await client.get("/themes/nope")).status_code == 404
        assert (await client.get("/services/nope")).status_code == 404


async def test_the_service_page_says_who_it_is_for_and_what_is_prefilled(system: WebSystem) -> None:
    async with system.client() as client:
        page = await client.get("/services/renew-driving-licence")
    assert "You must be 18 or over" in page.text
    assert "we fill in what government already holds" in page.text
    assert "Start now" in page.text


@pytest.mark.parametrize(("code", "heading"), [("zh-HK", "按主題劃分的服務"), ("zh-CN", "按主题划分的服务"),
                                               ("en", "Services by topic")])
async def test_the_language_choice_persists_in_a_cookie(system: WebSystem, code: str, heading: str) -> None:
    async with system.client() as client:
        switched = await client.get(f"/language/{code}", params={"next": "/"})
        assert switched.status_code == 303
        assert switched.headers['location'] == '/'
        page = await client.get("/")
    assert f'<html lang="{code}"' in page.text
    assert heading in page.text


async def test_accept_language_picks_the_language_until_one_is_chosen(system: WebSystem) -> None:
    async with system.client() as client:
        page = await client.get("/services/renew-driving-licence", headers={"Accept-Language": "zh-HK"})
    assert '<html lang="zh-HK"' in page.text
    assert '續領正式駕駛執照' in page.text


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/", "/\\evil.example"])
async def test_next_never_leaves_the_app(system: WebSystem, target: str) -> None:
    async with system.client() as client:
        response = await client.get("/language/en", params={"next": target})
    assert response.headers["location"] == "/"


async def test_every_page_sends_a_strict_csp_and_no_framing(system: WebSystem) -> None:
    async with system.client() as client:
        page = await client.get("/")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self';" in csp
    assert "style-src 'self';" in csp
    assert "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp
    assert '<script>' not in page.text
    assert ' style=' not in page.text


async def test_the_assets_are_served_by_the_app(system: WebSystem) -> None:
    async with system.client() as client:
        for path in ("/static/uswds/css/uswds.min.css", "/static/uswds/js/uswds.min.js", "/static/onestop.css"):
            assert (await client.get(path)).status_code == 200, path


async def test_the_web_app_alone_calls_a_remote_api_over_http(system: WebSystem) -> None:
    """``onestop web --api-url``: the same pages, with the API reached over the network instead of in process."""
    config = WebConfig(api_url=system.base_url, issuer=f"{system.base_url}/dev-idp",
                       session_key=secrets.token_bytes(32), secure_cookies=True)
    app = create_web_app(config)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://web.example") as client:
        page = await client.get("/search", params={"q": "駕駛執照"})
        sign_in = await client.get("/sign-in")
    await app.state.services.aclose()
    assert 'href="/services/renew-driving-licence"' in page.text
    assert "Secure" in page.headers["set-cookie"]
    assert sign_in.headers["location"].startswith(f"{system.base_url}/dev-idp/authorize?")
