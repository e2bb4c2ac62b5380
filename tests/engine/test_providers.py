from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from onestop.catalogue import load_catalogue
from onestop.engine.data.gateway import DataServices
from onestop.engine.data.profiles import Citizen
from onestop.engine.data.providers import HttpProvider, ProviderSpec, SqlRegistryProvider, specs_from_catalogue
from onestop.engine.errors import ProviderUnavailable, UnknownProvider

CITIZEN = Citizen(id="internal-id", sub="pairwise-sub", ref="pseudonymous-ref")


@dataclass
class Department:
    """A real HTTP server on 127.0.0.1 standing in for a department's data endpoint."""

    url: str
    requests: list[dict[str, Any]] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)


Responder = Callable[[int, dict[str, Any]], tuple[int, dict[str, str], bytes]]


@pytest.fixture
def department() -> Iterator[Callable[[Responder], Department]]:
    servers: list[ThreadingHTTPServer] = []

    def start(respond: Responder) -> Department:
        state = Department(url="")

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                state.requests.append(body)
                state.paths.append(self.path)
                status, headers, payload = respond(len(state.requests), body)
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        servers.append(server)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
        state.url = f"http://127.0.0.1:{server.server_address[1]}/records"
        return state

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def _ok(items: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
    body = {"items": {k: {"value": v, "updatedAt": "2026-10-01T08:00:00+08:00"} for k, v in items.items()}}
    return 200, {"Content-Type": "application/json"}, json.dumps(body).encode()


def _spec(url: str, timeout: float = 2.0) -> ProviderSpec:
    return ProviderSpec("td-http", "TD", "http", ("driving-licence", "driving-offence-points"), url, timeout)


async def test_http_provider_posts_the_pseudonymous_ref_and_parses_provenance(department: Any) -> None:
    server = department(lambda n, body: _ok({"driving-licence": {"number": "123"}}))
    values = await HttpProvider(_spec(server.url)).fetch(CITIZEN, ["driving-licence"])
    assert server.requests == [{"subject": "pseudonymous-ref", "items": ["driving-licence"], "consent": None}]
    value = values["driving-licence"]
    assert value.value == {"number": "123"}
    assert value.source_department == "TD"
    assert value.updated_at == datetime(2026, 10, 1, 0, tzinfo=UTC)


async def test_http_provider_retries_5xx_then_succeeds(department: Any) -> None:
    server = department(lambda n, body: (503, {}, b"busy") if n < 3 else _ok({"driving-licence": 1}))
    values = await HttpProvider(_spec(server.url), retries=2, backoff=0.01).fetch(CITIZEN, ["driving-licence"])
    assert values["driving-licence"].value == 1
    assert len(server.requests) == 3


async def test_http_provider_gives_up_after_bounded_retries(department: Any) -> None:
    server = department(lambda n, body: (500, {}, b"broken"))
    with pytest.raises(ProviderUnavailable, match="HTTP 500, after 3 attempts"):
        await HttpProvider(_spec(server.url), retries=2, backoff=0.01).fetch(CITIZEN, ["driving-licence"])
    assert len(server.requests) == 3


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_http_provider_that_is_down_is_unavailable_after_bounded_retries() -> None:
    url = f"http://127.0.0.1:{_free_port()}/records"
    started = time.monotonic()
    with pytest.raises(ProviderUnavailable, match=r"connection failed.*after 3 attempts") as caught:
        await HttpProvider(_spec(url), retries=2, backoff=0.01).fetch(CITIZEN, ["driving-licence"])
    assert caught.value.provider_id == "td-http"
    assert time.monotonic() - started < 2


async def test_http_provider_never_follows_redirects(department: Any) -> None:
    elsewhere = department(lambda n, body: _ok({"driving-licence": "leaked"}))
    server = department(lambda n, body: (307, {"Location": elsewhere.url}, b""))
    with pytest.raises(ProviderUnavailable, match="HTTP 307"):
        await HttpProvider(_spec(server.url), retries=2, backoff=0.01).fetch(CITIZEN, ["driving-licence"])
    assert elsewhere.requests == []
    assert len(server.requests) == 1


async def test_http_provider_times_out(department: Any) -> None:
    def slow(n: int, body: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
        time.sleep(0.5)
        return _ok({})

    server = department(slow)
    with pytest.raises(ProviderUnavailable, match="timed out"):
        await HttpProvider(_spec(server.url, timeout=0.1), retries=1, backoff=0.01).fetch(CITIZEN, ["x"])


@pytest.mark.parametrize("payload", [b"not json", b"[]", b'{"items": 3}'])
async def test_http_provider_rejects_malformed_responses(department: Any, payload: bytes) -> None:
    server = department(lambda n, body: (200, {"Content-Type": "application/json"}, payload))
    with pytest.raises(ProviderUnavailable):
        await HttpProvider(_spec(server.url), retries=0).fetch(CITIZEN, ["driving-licence"])


async def test_sql_registry_returns_only_asked_items_with_provenance(data_services: DataServices) -> None:
    citizen = await data_services.citizens.ensure("sub-a")
    registry = data_services.providers.get("td-licensing")
    assert isinstance(registry, SqlRegistryProvider)
    when = datetime(2026, 10, 1, tzinfo=UTC)
    assert await registry.put(citizen.id, "driving-licence", {"number": "1"}, when)
    assert not await registry.put(citizen.id, "driving-licence", {"number": "1"}, when)
    await registry.put(citizen.id, "driving-offence-points", 3, when)
    values = await registry.fetch(citizen, ["driving-licence"])
    assert set(values) == {"driving-licence"}
    assert values["driving-licence"].updated_at == when
    assert values["driving-licence"].source_department == "TD"


async def test_eme_provider_reads_the_profile(data_services: DataServices) -> None:
    await data_services.profiles.update("sub-a", {"nameEn": "CHAN, Tai Man", "phone": "91234567"})
    citizen = await data_services.citizens.ensure("sub-a")
    values = await data_services.providers.get("eme").fetch(citizen, ["nameEn", "hkid"])
    assert values["nameEn"].value == "CHAN, Tai Man"
    assert values["nameEn"].source_department == "DPO"
    assert "hkid" not in values


async def test_unknown_provider_is_a_clear_error(data_services: DataServices) -> None:
    with pytest.raises(UnknownProvider, match="department YAML"):
        data_services.providers.get("nowhere")


def test_specs_come_from_the_catalogue(definitions_dir: Path) -> None:
    specs = specs_from_catalogue(load_catalogue(definitions_dir))
    assert specs["eme"].department == "DPO"
    assert "hkid" in specs["eme"].items
    assert specs["td-licensing"].department == "TD"
    assert specs["td-licensing"].kind == "sql"
    assert "driving-licence" in specs["td-licensing"].items


async def test_http_provider_refuses_an_oversized_response(department: Any) -> None:
    server = department(lambda n, body: _ok({"driving-licence": "x" * 5000}))
    with pytest.raises(ProviderUnavailable, match="larger than 1000 bytes"):
        await HttpProvider(_spec(server.url), retries=0, max_bytes=1000).fetch(CITIZEN, ["driving-licence"])


async def test_http_provider_uses_a_shared_client(department: Any) -> None:
    server = department(lambda n, body: _ok({"driving-licence": 1}))
    async with httpx.AsyncClient(trust_env=False) as client:
        provider = HttpProvider(_spec(server.url), client=client)
        assert (await provider.fetch(CITIZEN, ["driving-licence"]))["driving-licence"].value == 1


def test_http_provider_specs_come_from_department_yaml(definitions_dir: Path, tmp_path: Path) -> None:
    import shutil

    from onestop.catalogue import load_catalogue

    tree = tmp_path / "definitions"
    shutil.copytree(definitions_dir, tree)
    td = tree / "departments" / "td.yaml"
    td.write_text(td.read_text(encoding="utf-8") + """\
  - id: td-remote
    name: {en: Remote register, tc: 遠端登記冊}
    source: {kind: http, url: "http://127.0.0.1:9/records", timeout: PT2.5S}
    items:
      - {id: permit, type: object, description: {en: Permit, tc: 許可證}}
""", encoding="utf-8")
    spec = specs_from_catalogue(load_catalogue(tree))["td-remote"]
    assert (spec.kind, spec.url, spec.timeout, spec.department) == ("http", "http://127.0.0.1:9/records", 2.5, "TD")
