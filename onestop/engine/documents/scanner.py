"""Malware scanning: a ClamAV daemon over its ``INSTREAM`` protocol, or none (documents are then "not scanned").

The clamd protocol: send ``zINSTREAM\0``, then chunks each prefixed by its length as 4 bytes big-endian, then a
zero length; the daemon answers ``stream: OK\0`` or ``stream: <signature> FOUND\0``.
"""

from __future__ import annotations

import asyncio
import struct
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from onestop.engine.errors import EngineError


class ScanStatus(StrEnum):
    CLEAN = "CLEAN"
    NOT_SCANNED = "NOT_SCANNED"
    INFECTED = "INFECTED"


@dataclass(frozen=True)
class ScanResult:
    status: ScanStatus
    signature: str | None = None


class ScannerUnavailable(EngineError):
    """The scanner could not be reached or answered nonsense: the upload is refused, never stored unscanned."""

    code = "SCANNER_UNAVAILABLE"


class Scanner(Protocol):
    name: str

    async def scan(self, content: bytes) -> ScanResult: ...


class NoScanner:
    """No scanner configured: every document is stored as NOT_SCANNED, and staff see that."""

    name = "none"

    async def scan(self, content: bytes) -> ScanResult:
        return ScanResult(ScanStatus.NOT_SCANNED)


_CHUNK = 64 * 1024


class ClamdScanner:
    """A ``clamd`` at ``unix:/path/to/clamd.ctl`` or ``tcp://host:3310``."""

    name = "clamd"

    def __init__(self, address: str, *, timeout: float = 30.0) -> None:
        if not address.startswith(("unix:", "tcp://")):
            raise ValueError(f"clamd address {address!r}: use unix:/path/to/socket or tcp://host:port")
        self.address = address
        self.timeout = timeout

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self.address.startswith("unix:"):
            return await asyncio.open_unix_connection(self.address.removeprefix("unix:"))
        host, _, port = self.address.removeprefix("tcp://").rpartition(":")
        return await asyncio.open_connection(host, int(port))

    async def scan(self, content: bytes) -> ScanResult:
        try:
            answer = await asyncio.wait_for(self._instream(content), self.timeout)
        except (OSError, TimeoutError, asyncio.IncompleteReadError) as exc:
            raise ScannerUnavailable(
                None, f"the virus scanner could not be reached ({type(exc).__name__}); try again later"
            ) from exc
        return _parse(answer)

    async def ping(self) -> bool:
        try:
            reader, writer = await asyncio.wait_for(self._connect(), self.timeout)
        except (OSError, TimeoutError):
            return False
        try:
            writer.write(b"zPING\0")
            await writer.drain()
            return (await asyncio.wait_for(reader.readuntil(b"\0"), self.timeout)) == b"PONG\0"
        except (OSError, TimeoutError, asyncio.IncompleteReadError):
            return False
        finally:
            writer.close()

    async def _instream(self, content: bytes) -> str:
        reader, writer = await self._connect()
        try:
            writer.write(b"zINSTREAM\0")
            for start in range(0, len(content), _CHUNK):
                chunk = content[start : start + _CHUNK]
                writer.write(struct.pack(">I", len(chunk)) + chunk)
                await writer.drain()
            writer.write(struct.pack(">I", 0))
            await writer.drain()
            return (await reader.readuntil(b"\0")).rstrip(b"\0").decode(errors="replace")
        finally:
            writer.close()


def _parse(answer: str) -> ScanResult:
    # "stream: OK", "stream: Eicar-Test-Signature FOUND", "INSTREAM size limit exceeded. ERROR"
    body = answer.partition(": ")[2] if ": " in answer else answer
    if body == "OK":
        return ScanResult(ScanStatus.CLEAN)
    if body.endswith(" FOUND"):
        return ScanResult(ScanStatus.INFECTED, body.removesuffix(" FOUND"))
    raise ScannerUnavailable(None, f"the virus scanner could not scan the file ({body[:80]}); try again later")
