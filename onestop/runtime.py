"""Process entry points: ``serve`` (everything in one process, embedded Temporal), ``run_api``, ``run_worker``."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
from temporalio.client import Client

from onestop.catalogue import CatalogueError
from onestop.config import Settings
from onestop.engine import Engine, build_engine
from onestop.engine.temporal import (
    TemporalSetupError,
    build_worker,
    connect_for,
    dev_server_args,
    ensure_search_attributes,
    temporal_binary,
)

log = logging.getLogger("onestop")


class StartupError(Exception):
    """A setting or the host stops start-up (bad or missing setting, busy port); the message names what to change."""

    code = "STARTUP"


def _free_port(preferred: int) -> int:
    for port in (preferred, 0):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            chosen: int = sock.getsockname()[1]
            return chosen
    raise TemporalSetupError("no free local port for the Temporal server")


def start_dev_server(settings: Settings) -> tuple[subprocess.Popen[bytes], str, int]:
    """``temporal server start-dev`` with state in ``<data-dir>/temporal.db``; returns (process, address, ui port)."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    port = _free_port(7233)
    ui_port = _free_port(settings.temporal_ui_port) if settings.temporal_ui_port else _free_port(0)
    args = [
        str(temporal_binary()), "server", "start-dev",
        "--db-filename", str((settings.data_dir / "temporal.db").resolve()),
        "--ip", "127.0.0.1", "--port", str(port), "--ui-port", str(ui_port),
        "--namespace", settings.temporal_namespace, "--log-level", "warn", "--log-format", "pretty",
        *dev_server_args(),
    ]
    log_file = (settings.data_dir / "temporal.log").open("ab")
    process = subprocess.Popen(args, stdout=log_file, stderr=subprocess.STDOUT,  # noqa: S603 - our own binary
                               start_new_session=True)
    return process, f"127.0.0.1:{port}", ui_port


async def _wait_ready(address: str, process: subprocess.Popen[bytes] | None, settings: Settings,
                      within: float = 60.0) -> Client:
    deadline = time.monotonic() + within
    last: Exception | None = None
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise TemporalSetupError(f"the Temporal dev server exited with code {process.returncode}; "
                                     f"see {settings.data_dir / 'temporal.log'}")
        try:
            return await connect_for(settings, address)
        except Exception as exc:  # the server is still starting
            last = exc
            await asyncio.sleep(0.3)
    raise TemporalSetupError(f"Temporal at {address} did not become ready in {within:.0f}s: {last}")


@contextlib.asynccontextmanager
async def _engine(settings: Settings, client: Client) -> AsyncIterator[Engine]:
    try:
        engine = await build_engine(settings, client)
    except ValueError as exc:  # the engine's services refuse a bad or missing setting with a ValueError naming it
        raise StartupError(str(exc)) from exc
    # `kill -HUP` reloads the definitions and re-reads the public information feeds.
    engine.catalogue.install_sighup(asyncio.get_running_loop(), engine.feeds.refresh)
    try:
        yield engine
    finally:
        await engine.close()


def _stop_event() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop


def _quiet_server_class() -> Any:
    import uvicorn

    class QuietServer(uvicorn.Server):
        """uvicorn without its own signal capture: this process owns SIGINT/SIGTERM and stops every part."""

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

    return QuietServer


async def _serve_http(settings: Settings, engine: Engine, stop: asyncio.Event, urls: list[str]) -> None:
    import uvicorn

    from onestop.graphql.app import create_app

    _QuietServer = _quiet_server_class()
    config = uvicorn.Config(create_app(settings, engine), host=settings.host, port=settings.port,
                            log_level="warning", lifespan="off")
    server = _QuietServer(config)

    async def serve() -> None:
        try:
            await server.serve()
        except SystemExit as exc:
            # uvicorn calls sys.exit when it cannot bind; escaping the event loop that way skips our shutdown and
            # hangs the process (worker and Temporal child left running), so fail like any other setup error.
            raise StartupError(f"the API cannot listen on {settings.host}:{settings.port} (address in use or not "
                              f"allowed); choose another --port / ONESTOP_PORT") from exc

    task = asyncio.create_task(serve())
    while not server.started and not task.done():  # noqa: ASYNC110 - uvicorn exposes only a flag
        await asyncio.sleep(0.05)
    if server.started:
        port = server.servers[0].sockets[0].getsockname()[1]
        base = f"http://{settings.host}:{port}"
        for line in [f"GraphQL API     {base}/graphql", *urls, f"Health          {base}/healthz"]:
            print(line, flush=True)
        if settings.development:
            print(f"Dev identity    {base}/dev-idp/", flush=True)
    await asyncio.wait([task, asyncio.create_task(stop.wait())], return_when=asyncio.FIRST_COMPLETED)
    server.should_exit = True
    await task


async def _run(settings: Settings, *, api: bool, worker: bool, process: subprocess.Popen[bytes] | None,
               ui_port: int | None) -> int:
    assert settings.temporal_address is not None
    stop = _stop_event()
    client = await _wait_ready(settings.temporal_address, process, settings)
    added = await ensure_search_attributes(client, settings.temporal_namespace)
    if added:
        print(f"Registered search attributes: {', '.join(added)}", flush=True)
    urls = [f"Temporal        {settings.temporal_address} (namespace {settings.temporal_namespace})"]
    if ui_port:
        urls.append(f"Temporal UI     http://127.0.0.1:{ui_port}")
    async with _engine(settings, client) as engine, httpx.AsyncClient(timeout=30) as http:
        running: list[Any] = []
        if worker:
            from onestop.engine.applications.activities import activities_for
            from onestop.engine.security import ensure_schedules

            w = build_worker(client, settings.temporal_task_queue,
                             [*activities_for(engine, http).all(), *engine.security.activities().all()])
            running.append(asyncio.create_task(w.run()))
            print(f"Worker          task queue {settings.temporal_task_queue}", flush=True)
            created = await ensure_schedules(client, settings)
            if created:
                print(f"Registered schedules: {', '.join(created)}", flush=True)
        try:
            if api:
                await _serve_http(settings, engine, stop, urls)
            else:
                for line in urls:
                    print(line, flush=True)
                await stop.wait()
        finally:
            if worker:
                await w.shutdown()
            for task in running:
                with contextlib.suppress(Exception):
                    await task
    return 0


def _main(settings: Settings, *, api: bool, worker: bool, embedded: bool) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    process: subprocess.Popen[bytes] | None = None
    ui_port: int | None = None
    try:
        for name in ("codec_key", "data_key", "signing_key"):
            settings.key_bytes(name)  # a missing or bad key is a configuration error: say so before starting
            settings.previous_key_bytes(name)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        if embedded and settings.temporal_address is None:
            process, address, ui_port = start_dev_server(settings)
            settings = settings.model_copy(update={"temporal_address": address})
            print(f"Temporal state  {(settings.data_dir / 'temporal.db').resolve()}", flush=True)
        elif settings.temporal_address is None:
            settings = settings.model_copy(update={"temporal_address": "127.0.0.1:7233"})
        return asyncio.run(_run(settings, api=api, worker=worker, process=process, ui_port=ui_port))
    except (TemporalSetupError, StartupError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except CatalogueError as exc:
        print(f"error: the definitions in {settings.definitions} do not load (fix them and start again):",
              file=sys.stderr)
        for problem in exc.problems:
            print(problem.format(), file=sys.stderr)
            if problem.hint:
                print(f"  hint: {problem.hint}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()


def serve(settings: Settings) -> int:
    """Embedded Temporal dev server + worker + API in one process; Ctrl-C or SIGTERM stops all of it."""
    return _main(settings, api=True, worker=True, embedded=True)


def run_api(settings: Settings) -> int:
    """The GraphQL API against ``--temporal-address`` (default 127.0.0.1:7233)."""
    return _main(settings, api=True, worker=False, embedded=False)


def run_worker(settings: Settings) -> int:
    """A Temporal worker against ``--temporal-address`` (default 127.0.0.1:7233)."""
    return _main(settings, api=False, worker=True, embedded=False)


__all__ = ["run_api", "run_worker", "serve", "start_dev_server"]
