"""FeedService: local files, and HTTP sources against a real local server that fails and recovers."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from onestop.catalogue.feeds import FeedKind, FeedsConfig, TrafficNews, WeatherReport
from onestop.catalogue.text import Lang
from onestop.engine.feeds import FeedService


@dataclass
class Publisher:
    """What the fake publisher answers next: status, body, extra headers, delay."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    requests: int = 0


@pytest.fixture
def publisher() -> Iterator[tuple[Publisher, str]]:
    state = Publisher()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.requests += 1
            if state.delay:
                time.sleep(state.delay)
            self.send_response(state.status)
            for name, value in state.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(state.body)))
            self.end_headers()
            self.wfile.write(state.body)

        def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state, f"http://127.0.0.1:{server.server_address[1]}/weather.php?dataType=rhrread&lang=en"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, minutes: int) -> datetime:
        self.now += timedelta(minutes=minutes)
        return self.now


def _http_config(url: str, refresh: str = "PT10M", timeout: str = "PT5S") -> FeedsConfig:
    return FeedsConfig.model_validate({"feeds": [{
        "id": "weather", "kind": "weather", "format": "hko-rhrread",
        "source": {"url": url, "refresh": refresh, "timeout": timeout},
    }]})


def _with_temperature(data: bytes, value: int) -> bytes:
    decoded = json.loads(data)
    decoded["temperature"]["data"][0]["value"] = value
    return json.dumps(decoded).encode()


@pytest.fixture
def hko_en(definitions_dir: Path) -> bytes:
    return (definitions_dir / "feeds" / "hko-rhrread-en.json").read_bytes()


@pytest.fixture
async def local_feeds(definitions_dir: Path) -> AsyncIterator[FeedService]:
    service = await FeedService.from_definitions(definitions_dir)
    yield service
    await service.close()


# --- local files (the embedded default) --------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(FeedKind))
@pytest.mark.parametrize("lang", list(Lang))
async def test_every_feed_is_served_in_every_language(local_feeds: FeedService, kind: FeedKind, lang: Lang) -> None:
    state = local_feeds.state(kind, lang)

    assert state is not None
    assert state.value is not None
    assert state.value.kind is kind
    assert state.value.language is lang
    assert not state.stale
    assert state.error is None


@pytest.mark.parametrize(
    ("lang", "warnings"),
    [(Lang.EN, ()), (Lang.TC, ("酷熱天氣警告現正生效，市民應慎防中暑，多補充水分。",)),
     (Lang.SC, ("酷热天气警告现正生效，市民应慎防中暑，多补充水分。",))],
)
async def test_weather_languages_come_from_their_own_files(local_feeds: FeedService, lang: Lang,
                                                           warnings: tuple[str, ...]) -> None:
    value = local_feeds.value("weather", lang)

    assert isinstance(value, WeatherReport)
    assert value.warnings == warnings


async def test_a_bilingual_source_is_read_once_for_all_languages(local_feeds: FeedService) -> None:
    english, chinese = local_feeds.value("traffic-news", Lang.EN), local_feeds.value("trafficNews", Lang.TC)

    assert isinstance(english, TrafficNews)
    assert isinstance(chinese, TrafficNews)
    assert [item.id for item in english.items] == [item.id for item in chinese.items]
    assert english.items[0].headline != chinese.items[0].headline


async def test_unknown_feed_has_no_state(local_feeds: FeedService) -> None:
    assert local_feeds.state("horoscope", Lang.EN) is None
    assert local_feeds.value("horoscope", Lang.EN) is None


async def test_a_damaged_local_file_is_recorded_and_the_last_good_value_kept(tmp_path: Path, hko_en: bytes) -> None:
    (tmp_path / "w.json").write_bytes(hko_en)
    config = FeedsConfig.model_validate({"feeds": [{
        "id": "weather", "kind": "weather", "format": "hko-rhrread", "source": {"file": "w.json"}}]})
    service = await FeedService.start(config, tmp_path, background=False)
    try:
        (tmp_path / "w.json").write_bytes(b'{"updateTime": ')
        await service.refresh()
        state = service.state(FeedKind.WEATHER, Lang.EN)
        assert state is not None
        assert state.stale
        assert state.error is not None
        assert state.error.code == "FEED_FORMAT"
        assert isinstance(state.value, WeatherReport)
        assert state.value.temperature_at("King's Park") == 30

        (tmp_path / "w.json").unlink()
        await service.refresh()
        state = service.state(FeedKind.WEATHER, Lang.EN)
        assert state is not None
        assert state.error is not None
        assert state.error.code == "FEED_FILE_UNREADABLE"
        assert state.value is not None
    finally:
        await service.close()


# --- HTTP sources against a real server --------------------------------------------------------------------


async def test_http_feed_keeps_the_last_good_value_through_failures_then_refreshes(
        publisher: tuple[Publisher, str], hko_en: bytes) -> None:
    server, url = publisher
    clock = Clock()
    server.body = hko_en
    service = await FeedService.start(_http_config(url), Path("."), clock=clock, background=False)
    try:
        first = service.state("weather", Lang.EN)
        assert first is not None
        assert not first.stale
        assert isinstance(first.value, WeatherReport)
        assert first.value.temperature_at("King's Park") == 30
        assert first.fetched_at == clock.now

        failures = [
            (503, b"Service Unavailable", "FEED_HTTP_STATUS", "HTTP 503"),
            (200, b"<html>maintenance</html>", "FEED_FORMAT", "not JSON"),
        ]
        for status, body, code, fragment in failures:
            server.status, server.body = status, body
            failed_at = clock.advance(10)
            await service.refresh()
            state = service.state("weather", Lang.EN)
            assert state is not None
            assert state.stale
            assert state.error is not None
            assert state.error.code == code
            assert fragment in state.error.message
            assert state.error.at == failed_at
            assert state.checked_at == failed_at
            assert state.value == first.value  # the last good value is still served
            assert state.fetched_at == first.fetched_at

        server.status, server.body = 200, _with_temperature(hko_en, 33)
        recovered_at = clock.advance(10)
        await service.refresh()
        state = service.state("weather", Lang.EN)
        assert state is not None
        assert not state.stale
        assert state.error is None
        assert isinstance(state.value, WeatherReport)
        assert state.value.temperature_at("King's Park") == 33
        assert state.fetched_at == recovered_at
        assert server.requests == 4
    finally:
        await service.close()


async def test_redirects_are_not_followed(publisher: tuple[Publisher, str]) -> None:
    server, url = publisher
    server.status, server.headers = 302, {"Location": "http://127.0.0.1:1/elsewhere"}
    service = await FeedService.start(_http_config(url), Path("."), background=False)
    try:
        state = service.state("weather", Lang.EN)
        assert state is not None
        assert state.value is None
        assert state.stale
        assert state.error is not None
        assert state.error.code == "FEED_REDIRECT"
        assert "http://127.0.0.1:1/elsewhere" in state.error.message
    finally:
        await service.close()


async def test_a_slow_publisher_times_out(publisher: tuple[Publisher, str], hko_en: bytes) -> None:
    server, url = publisher
    server.body, server.delay = hko_en, 1.5
    service = await FeedService.start(_http_config(url, timeout="PT0.3S"), Path("."), background=False)
    try:
        state = service.state("weather", Lang.EN)
        assert state is not None
        assert state.error is not None
        assert state.error.code == "FEED_TIMEOUT"
    finally:
        await service.close()


async def test_an_unreachable_publisher_is_recorded() -> None:
    service = await FeedService.start(_http_config("http://127.0.0.1:9/weather"), Path("."), background=False)
    try:
        state = service.state("weather", Lang.EN)
        assert state is not None
        assert state.value is None
        assert state.error is not None
        assert state.error.code == "FEED_UNREACHABLE"
    finally:
        await service.close()


async def test_background_start_does_not_wait_for_a_slow_publisher(publisher: tuple[Publisher, str],
                                                                   hko_en: bytes) -> None:
    server, url = publisher
    server.body, server.delay = hko_en, 1.0
    began = time.perf_counter()
    service = await FeedService.start(_http_config(url), Path("."))
    try:
        assert time.perf_counter() - began < 0.5
        assert service.value("weather", Lang.EN) is None  # not fetched yet
        for _ in range(60):
            if service.value("weather", Lang.EN) is not None:
                break
            await asyncio.sleep(0.05)
        assert isinstance(service.value("weather", Lang.EN), WeatherReport)
    finally:
        await service.close()


async def test_background_refresh_picks_up_new_data(publisher: tuple[Publisher, str], hko_en: bytes) -> None:
    server, url = publisher
    server.body = hko_en
    config = _http_config(url)
    # Production intervals are minutes (validated at load); shorten this one for the test only.
    source = config.feeds[0].source.model_copy(update={"refresh": "PT0.2S"})
    config = FeedsConfig(feeds=(config.feeds[0].model_copy(update={"source": source}),))
    service = await FeedService.start(config, Path("."))
    try:
        server.body = _with_temperature(hko_en, 35)
        for _ in range(50):
            value = service.value("weather", Lang.EN)
            if isinstance(value, WeatherReport) and value.temperature_at("King's Park") == 35:
                break
            await asyncio.sleep(0.05)
        value = service.value("weather", Lang.EN)
        assert isinstance(value, WeatherReport)
        assert value.temperature_at("King's Park") == 35
    finally:
        await service.close()
    requests = server.requests
    await asyncio.sleep(0.5)
    assert server.requests == requests  # closed: no more polling
