"""Raw HTTP/1.1 over a socket, for the tests that compare answers byte for byte."""

from __future__ import annotations

import asyncio


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
