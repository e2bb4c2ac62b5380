"""Two `onestop web` processes behind a (test) load balancer that alternates between them, sharing one database:
a browser signs in, fills a form and signs out with every request landing on the other replica."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from web_system import STANDARD, WebSystem, csrf_of, free_port

from onestop.engine.db import Database

BALANCER = "http://localhost:1"  # the dev IdP redirects only to localhost; nothing listens here


class Balancer(httpx.AsyncBaseTransport):
    """Round robin over the replicas; the Host header stays the balancer's, as behind a real one."""

    def __init__(self, ports: list[int]) -> None:
        self.ports = ports
        self.served: list[int] = []
        self.inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        port = self.ports[len(self.served) % len(self.ports)]
        self.served.append(port)
        # A copy to the replica: the browser's request keeps the balancer's URL, so cookies stay the balancer's.
        forwarded = httpx.Request(request.method, request.url.copy_with(scheme="http", host="127.0.0.1", port=port),
                                  headers=request.headers, stream=request.stream, extensions=request.extensions)
        return await self.inner.handle_async_request(forwarded)

    async def aclose(self) -> None:
        await self.inner.aclose()


def _web_process(system: WebSystem, database_url: str, data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    """``onestop web`` as production runs it; both replicas share the data dir for the development session key."""
    with (data_dir / f"web-{port}.log").open("wb") as log:
        return subprocess.Popen(  # noqa: S603 - our own CLI with fixed arguments
            [sys.executable, "-m", "onestop.cli", "web", "--api-url", system.base_url, "--database-url",
             database_url, "--data-dir", str(data_dir), "--port", str(port), "--env", "development"],
            env=dict(os.environ), stdout=log, stderr=subprocess.STDOUT)


@pytest.fixture
async def replicas(system: WebSystem, tmp_path: Path) -> AsyncIterator[list[int]]:
    url = f"sqlite+aiosqlite:///{tmp_path}/web.db"
    database = Database(url)
    await database.migrate()
    await database.close()
    ports = [free_port(), free_port()]
    processes = [_web_process(system, url, tmp_path, port) for port in ports]
    try:
        async with httpx.AsyncClient() as probe:
            for port, process in zip(ports, processes, strict=True):
                for _ in range(200):
                    assert process.poll() is None, (tmp_path / f"web-{port}.log").read_text()
                    try:
                        await probe.get(f"http://127.0.0.1:{port}/")
                        break
                    except httpx.TransportError:
                        await asyncio.sleep(0.1)
        yield ports
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()


async def test_two_web_replicas_sharing_the_database_serve_one_browser(system: WebSystem,
                                                                      replicas: list[int]) -> None:
    balancer = Balancer(replicas)
    async with httpx.AsyncClient(base_url=BALANCER, transport=balancer, timeout=60) as browser, \
            httpx.AsyncClient(timeout=60) as idp:
        home = await browser.get("/")
        assert home.status_code == 200
        start = await browser.get("/sign-in", params={"next": "/my/data"})  # replica 2: PKCE state saved
        assert start.status_code == 303
        authorize = urlsplit(start.headers["location"])
        assert authorize.geturl().startswith(system.base_url)
        params = dict(parse_qsl(authorize.query))
        login = {k: params.get(k, "") for k in ("client_id", "redirect_uri", "state", "code_challenge")}
        assert login["redirect_uri"] == f"{BALANCER}/auth/callback"
        back = await idp.post(f"{system.base_url}{authorize.path}",
                              data={**login, "citizen": "wong-ka-fai", "acr": STANDARD})
        assert back.status_code == 303, back.text
        callback = urlsplit(back.headers["location"])
        signed = await browser.get(f"{callback.path}?{callback.query}")  # replica 1 finds the PKCE verifier
        assert signed.status_code == 303, signed.text
        assert signed.headers["location"] == "/my/data"
        data = await browser.get("/my/data")  # replica 2 knows who this is
        assert data.status_code == 200
        assert "Who read your data" in data.text
        saved = await browser.post("/my/data/profile", data={  # replica 1 accepts replica 2's CSRF token
            "csrf": csrf_of(data.text), "phone": "61234567", "email": "kafai.wong@example.com"})
        assert saved.status_code == 303, saved.text
        shown = await browser.get("/my/data")  # replica 2 shows the flash replica 1 set
        assert "Saved." in shown.text
        session_id = browser.cookies["onestop_session"]
        out = await browser.post("/sign-out", data={"csrf": csrf_of(shown.text)})  # replica 1
        assert out.status_code == 303
        browser.cookies.set("onestop_session", session_id)  # the old cookie, replayed
        after = await browser.get("/my/data")  # replica 2: the session is gone everywhere
        assert after.status_code == 303
        assert after.headers["location"].startswith("/sign-in")
    assert set(balancer.served) == set(replicas)
    assert all(a != b for a, b in zip(balancer.served, balancer.served[1:], strict=False))
