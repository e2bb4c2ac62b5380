"""Raw HTTP/1.1 over a socket, for the tests that compare answers byte for byte."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import uvicorn

from onestop.serving import api_config


@asynccontextmanager
async def listening(app: Any, *, ours: bool, http: Any = None) -> AsyncIterator[int]:
    """``app`` under uvicorn on 127.0.0.1 (its port): as ``serve`` runs it (``ours``), or under uvicorn's own httptools
    protocol otherwise; ``http`` replaces the protocol class."""
    config = api_config(app, host="127.0.0.1", port=0) if ours else uvicorn.Config(
        app, host="127.0.0.1", port=0, log_level="warning", lifespan="off", proxy_headers=False, http="httptools")
    if http is not None:
        config.http = http
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn exposes only a flag
        await asyncio.sleep(0.02)
    try:
        yield server.servers[0].sockets[0].getsockname()[1]
    finally:
        server.should_exit = True
        await task


async def exchange(port: int, *parts: bytes) -> bytes:
    """Everything the server sends on one connection to ``parts`` (each sent after the answer so far paused, so an
    ``Expect: 100-continue`` body follows its interim answer), until it closes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    received = b""
    try:
        for part in parts:
            writer.write(part)
            await writer.drain()
            received += await _until_quiet(reader)
        received += await asyncio.wait_for(reader.read(), 5)
    finally:
        writer.close()
    return received


async def _until_quiet(reader: asyncio.StreamReader) -> bytes:
    got = b""
    while True:
        try:
            chunk = await asyncio.wait_for(reader.read(65536), 0.2)
        except TimeoutError:
            return got
        if not chunk:
            return got
        got += chunk
