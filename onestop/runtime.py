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
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

import httpx
from temporalio.client import Client

from onestop.catalogue import CatalogueError
from onestop.config import EventLoop, Settings
from onestop.engine import Engine, build_engine, heap, tracing
from onestop.engine.logs import configure_logging
from onestop.engine.temporal import (
    TemporalSetupError,
    build_worker,
    connect_for,
    dev_server_args,
    ensure_search_attributes,
    temporal_binary,
)

if TYPE_CHECKING:
    from onestop.engine.db import Database

log = logging.getLogger("onestop")
T = TypeVar("T")


class StartupError(Exception):
    """A setting or the host stops start-up (bad or missing setting, busy port); the message names what to change."""

    code = "STARTUP"


def loop_factory(choice: EventLoop) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop for ``auto`` (when installed) and ``uvloop``; None is asyncio's own loop."""
    if choice is EventLoop.ASYNCIO:
        return None
    try:
        import uvloop
    except ImportError:
        if choice is EventLoop.UVLOOP:
            raise StartupError("ONESTOP_EVENT_LOOP is uvloop but uvloop is not installed (pip install uvloop, "
                               "or set ONESTOP_EVENT_LOOP=asyncio)") from None
        return None
    return uvloop.new_event_loop


def run_on_loop(main: Callable[[], Coroutine[Any, Any, T]], choice: EventLoop) -> T:
    """``asyncio.run(main())`` on the chosen event loop (uvloop's ``Loop`` serves temporalio's thread-safe
    callbacks, aiosqlite's threads, subprocesses and signal handlers as asyncio's own loop does)."""
    factory = loop_factory(choice)  # before main() exists: a refused choice leaves no coroutine un-awaited
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(main())


def running_loop_name() -> str:
    """``uvloop`` or ``asyncio``: the loop this coroutine runs on."""
    return "uvloop" if type(asyncio.get_running_loop()).__module__.startswith("uvloop") else "asyncio"


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
        # _prepare_database has migrated (serve) or refused an old schema (api, worker) before this.
        engine = await build_engine(settings, client, migrate=False)
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


def web_config(settings: Settings, *, transport: httpx.AsyncBaseTransport | None = None) -> Any:
    """How the web app reaches the API: in process through ``transport``, or at ``settings.api_url``."""
    from onestop.web import WebConfig

    api_url = (settings.api_url or settings.base_url).rstrip("/")
    # The development IdP lives beside the API; production names its issuer.
    issuer = settings.oidc_issuer or (f"{settings.base_url.rstrip('/')}/dev-idp" if transport is not None
                                      else f"{api_url}/dev-idp")
    return WebConfig(api_url=api_url, issuer=issuer, session_key=settings.key_bytes("session_key"),
                     secure_cookies=not settings.development, transport=transport,
                     development=settings.development)


def embedded_app(settings: Settings, engine: Engine) -> Any:
    """The API with the web app at ``/``; the web app calls the API in process, over HTTP semantics."""
    from onestop.graphql.app import create_app
    from onestop.web import create_web_app

    # The web app is one trusted caller for every visitor: its own calls are not rate limited as one client
    # (an anonymous visitor's calls would otherwise all share the in-process "client IP").
    internal = create_app(settings.model_copy(update={"rate_limit_per_minute": 0}), engine)
    try:
        config = web_config(settings, transport=httpx.ASGITransport(app=internal))
    except ValueError as exc:  # a missing or bad ONESTOP_SESSION_KEY, named in the message
        raise StartupError(str(exc)) from exc
    from onestop.engine.websessions import SqlSessionRows

    # On PostgreSQL (shared by replicas) sessions live in the database, so every `serve` replica serves any
    # browser; a SQLite file belongs to this one process, where memory is as good and a read cheaper.
    web = create_web_app(config, SqlSessionRows(engine.database) if engine.database.shared else None)
    return create_app(settings, engine, web=web)


async def _serve_http(settings: Settings, engine: Engine, stop: asyncio.Event, urls: list[str], *,
                      web: bool) -> None:
    from onestop.graphql.app import create_app
    from onestop.serving import api_config

    _QuietServer = _quiet_server_class()
    app = embedded_app(settings, engine) if web else create_app(settings, engine)
    server = _QuietServer(api_config(app, host=settings.host, port=settings.port))

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
        web_line = [f"Web             {base}/"] if web else []
        for line in [*web_line, f"GraphQL API     {base}/graphql", *urls, f"Health          {base}/healthz"]:
            print(line, flush=True)
        if settings.development:
            print(f"Dev identity    {base}/dev-idp/", flush=True)
            print(f"Dev mailbox     {base}/dev-mail/", flush=True)
            if engine.payment_simulator is not None:
                print(f"Dev payments    {base}/dev-pay/ (hosted page simulator; webhooks signed)", flush=True)
    await asyncio.wait([task, asyncio.create_task(stop.wait())], return_when=asyncio.FIRST_COMPLETED)
    server.should_exit = True
    await task


async def _prepare_database(settings: Settings, *, migrate: bool) -> None:
    """``serve`` migrates; replicas (``api``, ``worker``) never change the schema, they refuse an old one."""
    from onestop.engine.db import Database
    from onestop.engine.errors import SchemaNotCurrent, SchemaUnversioned

    database = Database.from_settings(settings)
    try:
        if migrate:
            from onestop.engine.legacy import encrypt_clear_rows, settings_cipher

            await database.migrate()
            await encrypt_clear_rows(database, settings_cipher(settings))
        else:
            await database.check_schema()
    except (SchemaNotCurrent, SchemaUnversioned) as exc:
        raise StartupError(exc.message) from exc
    finally:
        await database.close()


@contextlib.asynccontextmanager
async def _registered(settings: Settings, database: Database, role: str) -> AsyncIterator[None]:
    """This process's heartbeat row for as long as it runs; an API warns when its peers' public URL differs."""
    from onestop.engine.processes import API_ROLES, ProcessRegistry, public_url_warning

    registry = ProcessRegistry(database, role=role, public_url=settings.public_url)
    peers = await registry.join()
    warning = public_url_warning(settings.public_url, peers) if role in API_ROLES else None
    if warning:
        log.warning(warning)
    registry.start()
    try:
        yield
    finally:
        try:
            await registry.leave()
        except Exception:  # the row expires by itself when its heartbeat stops; keep shutting down
            log.warning("could not remove this process's heartbeat row", exc_info=True)


async def _run(settings: Settings, *, api: bool, worker: bool, migrate: bool,
               process: subprocess.Popen[bytes] | None, ui_port: int | None, web: bool = False) -> int:
    assert settings.temporal_address is not None
    stop = _stop_event()
    # Before Temporal: a database that is not ready is the operator's first thing to fix.
    await _prepare_database(settings, migrate=migrate)
    client = await _wait_ready(settings.temporal_address, process, settings)
    added = await ensure_search_attributes(client, settings.temporal_namespace)
    if added:
        print(f"Registered search attributes: {', '.join(added)}", flush=True)
    urls = [f"Temporal        {settings.temporal_address} (namespace {settings.temporal_namespace})"]
    if ui_port:
        urls.append(f"Temporal UI     http://127.0.0.1:{ui_port}")
    urls.append(f"Event loop      {running_loop_name()}")
    role = "serve" if api and worker else "api" if api else "worker"
    async with (_engine(settings, client) as engine, _registered(settings, engine.database, role),
                contextlib.AsyncExitStack() as stack, _worker_metrics(settings, listen=worker and not api)):
        running: list[Any] = []
        if worker:
            from onestop.engine.applications.activities import activities_for
            from onestop.engine.applications.delivery import DeliveryClient
            from onestop.engine.security import ensure_schedules

            # The departments' endpoints, for the delivery activity (a worker's alone).
            http = await stack.enter_async_context(DeliveryClient(timeout=30, tracer_provider=tracing.provider()))
            w = build_worker(client, settings.temporal_task_queue,
                             [*activities_for(engine, http).all(), *engine.security.activities().all(),
                              *engine.appointments.activities().all(),
                              *engine.sandbox_activities()])
            running.append(asyncio.create_task(w.run()))
            # The notice outbox's relay: sends what a worker that died left unsent.
            relay = asyncio.create_task(engine.notices.relay())
            print(f"Worker          task queue {settings.temporal_task_queue}", flush=True)
            from onestop.engine.sandbox.workers import sandbox_workers

            # Each provisioned sandbox's own queue: found now, when this process provisions one, and by polling.
            sandboxes = sandbox_workers(engine, client, http)
            await sandboxes.start()
            print(f"Sandbox workers {len(sandboxes.queues)} sandbox task queue(s), sandbox-<provider id>", flush=True)
            created = await ensure_schedules(client, settings)
            from onestop.engine.documents.schedules import ensure_document_schedule, schedule_id

            if await ensure_document_schedule(client, settings.temporal_task_queue):
                created.append(schedule_id(settings.temporal_task_queue))
            if created:
                print(f"Registered schedules: {', '.join(created)}", flush=True)
        try:
            heap.settle()  # start-up is done: what it built is never walked by the cycle collector again
            if api:
                await _serve_http(settings, engine, stop, urls, web=web)
            else:
                for line in urls:
                    print(line, flush=True)
                await stop.wait()
        finally:
            if worker:
                relay.cancel()
                await asyncio.wait({relay})  # its database session is back in the pool before the engine closes
                await sandboxes.close()
                await w.shutdown()
            for task in running:
                with contextlib.suppress(Exception):
                    await task
    return 0


@contextlib.asynccontextmanager
async def _worker_metrics(settings: Settings, *, listen: bool) -> AsyncIterator[None]:
    """A worker has no HTTP server of its own: ``ONESTOP_METRICS_PORT`` gives it one for ``/metrics``."""
    if not listen or settings.metrics_port is None:
        yield
        return
    from prometheus_client import start_http_server

    try:
        server, thread = start_http_server(settings.metrics_port, addr=settings.host)
    except OSError as exc:
        raise StartupError(f"the worker cannot serve metrics on {settings.host}:{settings.metrics_port} ({exc}); "
                           "choose another ONESTOP_METRICS_PORT") from exc
    print(f"Metrics         http://{settings.host}:{server.server_port}/metrics", flush=True)
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _main(settings: Settings, *, api: bool, worker: bool, embedded: bool) -> int:
    configure_logging(settings)
    tracing.configure(settings, "onestop" if api and worker else "onestop-api" if api else "onestop-worker")
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)  # a line per plugin at every start
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
        loop_factory(settings.event_loop)  # a refused loop choice stops start-up before anything has started
        if embedded and settings.temporal_address is None:
            process, address, ui_port = start_dev_server(settings)
            settings = settings.model_copy(update={"temporal_address": address})
            print(f"Temporal state  {(settings.data_dir / 'temporal.db').resolve()}", flush=True)
        elif settings.temporal_address is None:
            settings = settings.model_copy(update={"temporal_address": "127.0.0.1:7233"})
        return run_on_loop(lambda: _run(settings, api=api, worker=worker, migrate=embedded, process=process,
                                        ui_port=ui_port, web=embedded), settings.event_loop)
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
        tracing.shutdown()
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()


def serve(settings: Settings) -> int:
    """Embedded Temporal dev server + worker + API in one process; Ctrl-C or SIGTERM stops all of it."""
    return _main(settings, api=True, worker=True, embedded=True)


def run_web(settings: Settings) -> int:
    """The web app alone, calling the API at ``--api-url``; its sessions live in the database (``--database-url``,
    the API's), so any number of web replicas behind a load balancer serve any browser."""
    import uvicorn

    from onestop.engine.db import Database
    from onestop.engine.websessions import SqlSessionRows
    from onestop.web import create_web_app

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not settings.api_url:
        print("error: onestop web needs --api-url / ONESTOP_API_URL (the API's base URL)", file=sys.stderr)
        return 2
    try:
        config = web_config(settings)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        # The web app never changes the schema: `onestop migrate` (or `serve`) has created its table.
        run_on_loop(lambda: _prepare_database(settings, migrate=False), settings.event_loop)
        loop = "asyncio" if loop_factory(settings.event_loop) is None else "uvloop"
    except StartupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    database = Database.from_settings(settings)
    print(f"Web             http://{settings.host}:{settings.port}/ (API {config.api_url})", flush=True)
    # The app's lifespan closes the database on shutdown, in the loop that opened its connections.
    uvicorn.run(create_web_app(config, SqlSessionRows(database, owned=True)), host=settings.host,
                port=settings.port, log_level="warning", loop=loop)
    return 0


def run_api(settings: Settings) -> int:
    """The GraphQL API against ``--temporal-address`` (default 127.0.0.1:7233)."""
    return _main(settings, api=True, worker=False, embedded=False)


def run_worker(settings: Settings) -> int:
    """A Temporal worker against ``--temporal-address`` (default 127.0.0.1:7233)."""
    return _main(settings, api=False, worker=True, embedded=False)


def give_acting_terms(settings: Settings) -> int:
    """Tell every open application acted for someone when the actor's right ends (``onestop acting-terms``)."""
    configure_logging(settings)

    async def run() -> int:
        await _prepare_database(settings, migrate=False)
        client = await connect_for(settings, settings.temporal_address or "127.0.0.1:7233")
        async with _engine(settings, client) as engine:
            told = await engine.relationships.give_terms()
        print(f"told {told} open application(s) acted for someone when acting for them ends", flush=True)
        return 0

    try:
        return run_on_loop(run, settings.event_loop)
    except (TemporalSetupError, StartupError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


__all__ = ["embedded_app", "give_acting_terms", "loop_factory", "run_api", "run_on_loop", "run_web", "run_worker",
           "running_loop_name", "serve", "start_dev_server", "web_config"]
