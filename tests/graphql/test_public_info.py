"""publicInfo: readable without login, in the request's language, honest about stale data."""

from __future__ import annotations

import shutil
from pathlib import Path

from graphql_api import Api, make_api, settings_for

from onestop.config import Environment
from onestop.engine.container import build_engine

PUBLIC = """
{ publicInfo {
    weather { updateTime temperatures { place value unit } humidity { place value unit }
              rainfall { place max min unit maintenance } uvIndex { place value description }
              warnings icons stale fetchedAt }
    trafficNews { items { id headline text reportedAt } stale }
    foodSafetyAlerts { title items { id title summary link publishedAt } stale }
    announcements { title items { title link } stale }
} }
"""


async def test_public_info_needs_no_login(seed_api: Api) -> None:
    info = (await seed_api.data(PUBLIC))["publicInfo"]
    weather = info["weather"]
    assert weather["stale"] is False
    assert weather["fetchedAt"]
    temperatures = {t["place"]: t["value"] for t in weather["temperatures"]}
    assert temperatures["King's Park"] == 30
    assert weather["temperatures"][0]["unit"] == "C"
    assert weather["humidity"]
    assert weather["rainfall"]
    assert weather["uvIndex"]["place"] == "King's Park"
    assert weather["updateTime"].startswith("2020-08-06T10:02:00")
    assert info["trafficNews"]["items"]
    assert info["foodSafetyAlerts"]["items"][0]["title"].startswith("Food Alert")
    assert info["announcements"]["items"]
    for feed in ("trafficNews", "foodSafetyAlerts", "announcements"):
        assert info[feed]["stale"] is False


async def test_public_info_follows_accept_language(seed_api: Api) -> None:
    english = (await seed_api.data(PUBLIC, headers={"Accept-Language": "en"}))["publicInfo"]
    chinese = (await seed_api.data(PUBLIC, headers={"Accept-Language": "zh-HK"}))["publicInfo"]
    assert "京士柏" in {t["place"] for t in chinese["weather"]["temperatures"]}
    assert chinese["weather"]["warnings"] == ["酷熱天氣警告現正生效，市民應慎防中暑，多補充水分。"]
    assert chinese["foodSafetyAlerts"]["title"] != english["foodSafetyAlerts"]["title"]


async def test_a_language_without_its_own_feed_falls_back(seed_api: Api) -> None:
    simplified = (await seed_api.data(PUBLIC, headers={"Accept-Language": "zh-CN"}))["publicInfo"]
    assert simplified["weather"]["temperatures"]


async def test_a_failed_refresh_keeps_the_last_weather_and_marks_it_stale(
        definitions_dir: Path, tree_copy: Path, tmp_path: Path) -> None:
    shutil.copy(definitions_dir / "feeds.yaml", tree_copy / "feeds.yaml")
    shutil.copytree(definitions_dir / "feeds", tree_copy / "feeds")
    engine = await build_engine(settings_for(tree_copy, tmp_path / "data", Environment.DEVELOPMENT))
    api = make_api(engine.settings, engine)
    try:
        query = "{ publicInfo { weather { stale temperatures { place value } } } }"
        fresh = (await api.data(query))["publicInfo"]["weather"]
        assert fresh["stale"] is False
        (tree_copy / "feeds" / "hko-rhrread-en.json").write_text("{ broken", encoding="utf-8")
        assert engine.feeds is not None
        await engine.feeds.refresh("weather")
        after = (await api.data(query, headers={"Accept-Language": "en"}))["publicInfo"]["weather"]
        assert after["stale"] is True
        assert after["temperatures"] == fresh["temperatures"]
    finally:
        await api.client.aclose()
        await engine.close()


async def test_a_tree_without_feeds_answers_null_feeds(api: Api) -> None:
    info = (await api.data(PUBLIC))["publicInfo"]
    assert info == {"weather": None, "trafficNews": None, "foodSafetyAlerts": None, "announcements": None}
