"""ONESTOP_EVENT_LOOP: the long-running commands run on uvloop when it is installed, on asyncio's loop when told to,
and what they rely on the loop for (thread-safe callbacks, worker threads, subprocesses, signal handlers, sockets)
works on both. ``onestop serve`` itself on each loop: tests/acceptance/test_serve.py, tests/engine/test_embedded.py."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import threading
from pathlib import Path

import aiosqlite
import pytest

from onestop.config import EventLoop, Settings
from onestop.runtime import StartupError, loop_factory, run_on_loop, running_loop_name


def test_the_default_is_auto_and_the_variable_chooses() -> None:
    assert Settings().event_loop is EventLoop.AUTO
    assert Settings(event_loop="asyncio").event_loop is EventLoop.ASYNCIO
    with pytest.raises(ValueError, match="event_loop"):
        Settings(event_loop="tokio")


async def _uses_the_loop(tmp: Path) -> dict[str, object]:
    """What temporalio (call_soon_threadsafe from its core's threads), aiosqlite (a thread per connection), the
    catalogue's reload child (an asyncio subprocess), the stop signals and uvicorn/aiosmtpd (servers) need."""
    loop = asyncio.get_running_loop()
    seen: dict[str, object] = {"loop": running_loop_name()}
    future: asyncio.Future[str] = loop.create_future()
    threading.Thread(target=lambda: loop.call_soon_threadsafe(future.set_result, "from a thread")).start()
    seen["threadsafe"] = await asyncio.wait_for(future, 5)
    async with aiosqlite.connect(tmp / "x.db") as db, db.execute("select 40 + 2") as cursor:
        seen["sqlite"] = (await cursor.fetchone())[0]  # type: ignore[index]
    child = await asyncio.create_subprocess_exec(sys.executable, "-c", "print('child')",
                                                 stdout=asyncio.subprocess.PIPE)
    out, _ = await child.communicate()
    seen["subprocess"] = (out.decode().strip(), child.returncode)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGUSR1, stop.set)
    try:
        os.kill(os.getpid(), signal.SIGUSR1)
        await asyncio.wait_for(stop.wait(), 5)
    finally:
        loop.remove_signal_handler(signal.SIGUSR1)
    seen["signal"] = stop.is_set()

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(await reader.readline())
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    async with server:
        reader, writer = await asyncio.open_connection(*server.sockets[0].getsockname()[:2])
        writer.write(b"ping\n")
        seen["server"] = (await reader.readline()).decode().strip()
        writer.close()
        await writer.wait_closed()
    return seen


@pytest.mark.parametrize(("choice", "expected"), [(EventLoop.AUTO, "uvloop"), (EventLoop.UVLOOP, "uvloop"),
                                                  (EventLoop.ASYNCIO, "asyncio")])
def test_each_choice_runs_on_its_loop_and_everything_the_engine_needs_works(
        choice: EventLoop, expected: str, tmp_path: Path) -> None:
    seen = run_on_loop(lambda: _uses_the_loop(tmp_path), choice)
    assert seen == {"loop": expected, "threadsafe": "from a thread", "sqlite": 42, "subprocess": ("child", 0),
                    "signal": True, "server": "ping"}


def test_without_uvloop_auto_falls_back_and_uvloop_is_a_clear_startup_error(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # as on a platform without it: the import fails
    assert loop_factory(EventLoop.AUTO) is None
    assert loop_factory(EventLoop.ASYNCIO) is None
    with pytest.raises(StartupError, match="ONESTOP_EVENT_LOOP is uvloop but uvloop is not installed"):
        loop_factory(EventLoop.UVLOOP)
    assert run_on_loop(lambda: asyncio.sleep(0, "ran"), EventLoop.AUTO) == "ran"
