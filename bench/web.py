"""Web app benchmark: server-side render time over HTTP for the home page, a search and a step page, the page
weights, and the compressed CSS+JS every page loads, against the budgets (HTML <= 60 KB, CSS+JS <= 150 KB).

Run: ``.venv/bin/python bench/web.py [--requests N]`` (default 200 per page). Everything is started here and
stopped at the end: a real Temporal dev server, the engine and a worker over the seed definitions in a fresh
data dir, and ``serve``'s app (API + web) under uvicorn on 127.0.0.1. The baseline is ``GET /healthz`` on the
same server in the same run, so the ratio says what rendering a page costs over the server's own floor.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

HTML_BUDGET = 60 * 1024
ASSET_BUDGET = 150 * 1024
ASSETS = ("/static/uswds/css/uswds.min.css", "/static/onestop.css", "/static/uswds/js/uswds-init.min.js",
          "/static/uswds/js/uswds.min.js", "/static/onestop.js")
NO_LOGIN_SERVICE = "report-environmental-nuisance"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


async def _measure(client: object, path: str, requests: int) -> tuple[list[float], int]:
    import httpx

    assert isinstance(client, httpx.AsyncClient)
    timings: list[float] = []
    size = 0
    for _ in range(requests):
        started = time.perf_counter()
        response = await client.get(path)
        timings.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (path, response.status_code)
        size = len(response.content)
    return timings, size


async def run(requests: int) -> int:
    import uvicorn
    from temporalio.client import Client
    from temporalio.testing import WorkflowEnvironment

    from onestop.config import Environment, Settings
    from onestop.engine.applications.activities import activities_for
    from onestop.engine.applications.delivery import DeliveryClient
    from onestop.engine.container import build_engine
    from onestop.engine.crypto.codec import data_converter
    from onestop.engine.temporal import SEARCH_ATTRIBUTES, build_worker, temporal_binary
    from onestop.runtime import embedded_app
    from onestop.web.assets import install

    install()
    port = _free_port()
    with tempfile.TemporaryDirectory() as data:
        settings = Settings(env=Environment.DEVELOPMENT, definitions=ROOT / "definitions", data_dir=Path(data),
                            port=port, temporal_task_queue=f"bench-web-{uuid.uuid4()}")
        env = await WorkflowEnvironment.start_local(dev_server_existing_path=str(temporal_binary()),
                                                    search_attributes=SEARCH_ATTRIBUTES,
                                                    dev_server_log_level="error")
        try:
            config = env.client.config()
            config["data_converter"] = data_converter(settings.key_bytes("codec_key"))
            client = Client(**config)
            engine = await build_engine(settings, client)
            try:
                async with DeliveryClient(timeout=30) as http:
                    worker = build_worker(client, settings.temporal_task_queue,
                                          activities_for(engine, http).all())
                    async with worker:
                        server = uvicorn.Server(uvicorn.Config(embedded_app(settings, engine), host="127.0.0.1",
                                                               port=port, log_level="warning", lifespan="off"))
                        task = asyncio.create_task(server.serve())
                        while not server.started:  # noqa: ASYNC110 - uvicorn exposes only a flag
                            await asyncio.sleep(0.05)
                        try:
                            return await _report(f"http://127.0.0.1:{port}", requests)
                        finally:
                            server.should_exit = True
                            await task
            finally:
                await engine.close()
        finally:
            await env.shutdown()


async def _report(base: str, requests: int) -> int:
    import httpx

    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        service = await client.get(f"/services/{NO_LOGIN_SERVICE}")
        marker = 'name="csrf" value="'
        csrf = service.text.split(marker, 1)[1].split('"', 1)[0]
        started = await client.post(f"/services/{NO_LOGIN_SERVICE}/start", data={"csrf": csrf})
        step = started.headers["location"]
        pages = {"baseline /healthz": "/healthz", "home": "/", "search": "/search?q=drivng+licence",
                 "step page": step}
        for path in pages.values():  # warm caches and connections before measuring
            await _measure(client, path, 5)
        results = {name: await _measure(client, path, requests) for name, path in pages.items()}
        compressed = 0
        for asset in ASSETS:
            async with client.stream("GET", asset, headers={"Accept-Encoding": "gzip"}) as response:
                assert response.status_code == 200, asset
                # The bytes on the wire, as the server sent them (compressed or not).
                compressed += sum([len(chunk) async for chunk in response.aiter_raw()])
    baseline_p95 = _percentile(results["baseline /healthz"][0], 0.95)
    over = 0
    print(f"{requests} requests per page, server on 127.0.0.1 (times in ms)")
    for name, (timings, size) in results.items():
        p95 = _percentile(timings, 0.95)
        line = (f"{name:18s} p50 {statistics.median(timings):6.2f}  p95 {p95:6.2f}  "
                f"ratio p95/baseline {p95 / baseline_p95:5.1f}  html {size / 1024:5.1f} KB")
        if name != "baseline /healthz" and size > HTML_BUDGET:
            line += "  OVER the 60 KB budget"
            over += 1
        print(line)
    verdict = "ok" if compressed <= ASSET_BUDGET else "OVER the 150 KB budget"
    over += compressed > ASSET_BUDGET
    print(f"css+js compressed: {compressed / 1024:.1f} KB ({verdict})")
    return 1 if over else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    sys.exit(asyncio.run(run(args.requests)))


if __name__ == "__main__":
    main()
