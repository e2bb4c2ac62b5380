"""Issue 12, notices: exactly one email per event although the worker sending it is killed (SIGKILL) mid-send.

Real parts only: `onestop worker` processes on the session's Temporal server and a shared SQLite database, the API
in this process over HTTP semantics, and an aiosmtpd server (the development mailbox) as the relay. The relay
stores the receipt and then holds its "250" answer; the worker waiting for that answer is killed. The second
worker's outbox relay finds the row the first left "sending" and, once its lease has passed, sends the same message
again (same Message-ID, from the outbox row written before the first attempt); the mailbox holds it once. The next
event goes out once, with no kill.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import signal
import uuid
from collections.abc import AsyncIterator
from email.message import EmailMessage
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
from client import Api
from sqlalchemy import text
from temporalio.testing import WorkflowEnvironment

from onestop.config import SmtpSecurity
from onestop.engine.dev.mail import DevMailbox
from onestop.graphql.app import create_app

from .conftest import DECIDE, api_beside_workers
from .test_api_worker import _spawn, _stop, _wait_for
from .test_every_service import _complete

pytestmark = pytest.mark.slow

class HoldingRelay:
    """The first message is stored, then its 250 is held until ``release``: the sender is mid-send."""

    def __init__(self) -> None:
        self.held = asyncio.Event()
        self.release = asyncio.Event()
        self.deliveries: collections.Counter[str] = collections.Counter()

    async def __call__(self, message: EmailMessage) -> None:
        self.deliveries[str(message["Message-ID"])] += 1
        if not self.held.is_set():
            self.held.set()
            await self.release.wait()


@pytest.fixture
async def relay(tmp_path: Path) -> AsyncIterator[tuple[DevMailbox, HoldingRelay, int]]:
    holding = HoldingRelay()
    mailbox = DevMailbox(tmp_path / "relay", on_message=holding)
    _, port = await mailbox.start()
    try:
        yield mailbox, holding, port
    finally:
        holding.release.set()
        await mailbox.close()


async def test_exactly_one_email_per_event_after_a_worker_is_killed_mid_send(
        temporal: WorkflowEnvironment, tmp_path: Path, relay: tuple[DevMailbox, HoldingRelay, int]) -> None:
    mailbox, holding, port = relay
    queue = f"notices-kill-{uuid.uuid4()}"
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}"
    smtp = {"smtp_host": "127.0.0.1", "smtp_port": port, "smtp_security": SmtpSecurity.NONE}
    # The API only in this process: the workflows run in the workers.
    async with api_beside_workers(temporal, tmp_path, database_url, queue, **smtp) as (env, settings, _, engine):
        logs = [tmp_path / "worker-1.log", tmp_path / "worker-2.log"]
        first = _spawn(["worker"], env, logs[0])
        second = None
        try:
            await asyncio.to_thread(_wait_for, logs[0], "Worker", first)
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(settings, engine)),
                                         base_url="http://onestop.test", timeout=60) as http:
                api = Api(http)
                _, run, _ = await _complete(SimpleNamespace(api=api), "old-age-living-allowance")  # type: ignore[arg-type]
                node_id, reference = run.application["id"], run.application["referenceNumber"]
                app = base64.b64decode(node_id).decode().partition(":")[2]  # the Relay id names the application

                await asyncio.wait_for(holding.held.wait(), timeout=30)  # the receipt is stored, its 250 held
                first.send_signal(signal.SIGKILL)
                first.wait(timeout=10)
                holding.release.set()
                second = _spawn(["worker"], env, logs[1])
                await asyncio.to_thread(_wait_for, logs[1], "Worker", second)
                await until_sent(engine.database, app, 1)

                approver = await api.token({"staff": "swd-supervisor"})
                decided = (await api.data(DECIDE, {"id": node_id, "status": "APPROVED"}, approver)
                           )["updateApplicationStatus"]
                assert decided["userErrors"] == []
                await until_sent(engine.database, app, 2)
                async with engine.database.session() as session:
                    rows = (await session.execute(text(
                        "SELECT event, status, attempts FROM notices_sent WHERE application_id = :app "
                        "ORDER BY created_at"), {"app": app})).all()
        finally:
            codes = [_stop(process) for process in (second, first) if process is not None]
    assert codes[0] in (0, -signal.SIGTERM), logs[1].read_text(errors="replace")

    mails = [mail for mail in mailbox.mails() if reference in mail["subject"]]
    assert [mail["subject"].split(" / ")[0] for mail in mails] == [
        f"Old Age Living Allowance: application {reference} received",
        f"Old Age Living Allowance {reference}: approved"]
    receipt_id = mails[0]["id"]
    # The receipt crossed the wire twice (the killed attempt's and the retry's), as one message.
    assert holding.deliveries[receipt_id] == 2, holding.deliveries
    assert holding.deliveries[mails[1]["id"]] == 1
    assert [tuple(row) for row in rows] == [("submitted", "sent", 2), ("statusChanged", "sent", 1)]
    print(f"\nkilled mid-send: receipt delivered {holding.deliveries[receipt_id]} times on the wire, stored once; "
          f"{len(mails)} emails for 2 events")


async def until_sent(database: object, app: str, count: int, within: float = 60) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while True:
        async with database.session() as session:  # type: ignore[attr-defined]
            sent = (await session.execute(text(
                "SELECT count(*) FROM notices_sent WHERE application_id = :app AND status = 'sent'"),
                {"app": app})).scalar_one()
        if sent >= count:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{sent} of {count} notices sent within {within:.0f} s")
        await asyncio.sleep(0.2)
