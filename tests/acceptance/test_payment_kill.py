"""Issue 12, fees: a worker killed (SIGKILL) between the payment's webhook and its receipt, and a new worker
completes the application exactly once.

Real parts only: `onestop worker` processes on the session's Temporal server and a shared SQLite or PostgreSQL
database, the API in this process, and the development payment simulator (its state a file under the shared data
dir, so the worker that opens the page and the API that takes the citizen's click see the same payments).

The worst moment is held deterministically from outside the worker: before the citizen pays, the test takes the
lock that the receipt's write needs (the payments row, ``FOR UPDATE``, on PostgreSQL; the database's write lock on
SQLite). The signed webhook reaches the workflow (its signal is in the history), the worker starts the receipt
activity, which waits on that lock, and the worker is killed there. Only then is the lock given back, and a second
worker takes the activity over.
"""

from __future__ import annotations

import asyncio
import collections
import signal
import sqlite3
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from client import STANDARD, Api
from paying import SUBMIT, begin, delivered, get, pay, payment_id_of, simulated, to_fee_step_of_birth_certificate, until
from sqlalchemy import text
from temporalio.api.enums.v1 import EventType, PendingActivityState
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from onestop.engine.container import Engine
from onestop.graphql.app import create_app
from onestop.graphql.relay import from_global_id
from onestop.workflows.payments import SIGNAL_PAYMENT_RESULT, PaymentActivity

from .conftest import api_beside_workers
from .test_api_worker import _spawn, _stop, _wait_for

pytestmark = pytest.mark.slow

PUBLIC_URL = "http://onestop.test"  # the simulator's page and the return URL the tests use (paying.RETURN_URL)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@asynccontextmanager
async def receipt_held(engine: Engine, payment_id: str) -> AsyncIterator[None]:
    """Until the block ends, the receipt of ``payment_id`` cannot be written: whoever tries waits on a lock."""
    if engine.database.engine.dialect.name == "postgresql":
        async with engine.database.engine.connect() as conn:
            await conn.execute(
                text("SELECT payment_id FROM payments WHERE payment_id = :id FOR UPDATE"), {"id": payment_id}
            )
            try:
                yield
            finally:
                await conn.rollback()
        return
    path = engine.database.engine.url.database
    assert path is not None
    conn = sqlite3.connect(path, timeout=60, isolation_level=None, check_same_thread=False)
    try:
        # The write lock: readers go on, every writer waits (30 s busy timeout). Taken off the event loop, which
        # may have to finish another writer's transaction (the API's, in this process) before the lock is free.
        await asyncio.to_thread(conn.execute, "BEGIN IMMEDIATE")
        try:
            yield
        finally:
            conn.execute("ROLLBACK")
    finally:
        conn.close()


async def idle(handle: WorkflowHandle[object, object], within: float = 30) -> None:
    """The application waits for the citizen: its last workflow task completed and nothing is pending, so none of
    its writes (an index entry, a notice) is under way when the lock is taken."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        described = (await handle.describe()).raw_description
        # A local activity (the index entry, the notices) runs inside a workflow task.
        if not described.pending_activities and not described.HasField("pending_workflow_task"):
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"the application was still busy after {within:.0f} s")
        await asyncio.sleep(0.1)


async def receipt_waiting(handle: WorkflowHandle[object, object], within: float = 20) -> None:
    """The webhook's signal is in the history and the receipt activity is running (not yet recorded)."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        described = await handle.describe()
        running = [
            a
            for a in described.raw_description.pending_activities
            if a.activity_type.name == PaymentActivity.RECEIPT
            and a.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED
        ]
        if running:
            signals = [
                e
                async for e in handle.fetch_history_events()
                if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
                and e.workflow_execution_signaled_event_attributes.signal_name == SIGNAL_PAYMENT_RESULT
            ]
            assert len(signals) == 1
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"the receipt activity did not start within {within:.0f} s: {described}")
        await asyncio.sleep(0.1)


async def test_a_worker_killed_between_the_webhook_and_the_receipt_completes_the_application_once(
    temporal: WorkflowEnvironment, tmp_path: Path, database_url: str
) -> None:
    queue = f"payment-kill-{uuid.uuid4()}"
    # The API only in this process: the workflows run in the workers.
    async with api_beside_workers(temporal, tmp_path, database_url, queue, public_url=PUBLIC_URL) as (
        env,
        settings,
        client,
        engine,
    ):
        logs = [tmp_path / "worker-1.log", tmp_path / "worker-2.log"]
        first = _spawn(["worker"], env, logs[0])
        second = None
        try:
            await asyncio.to_thread(_wait_for, logs[0], "Worker", first)
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=create_app(settings, engine)), base_url=PUBLIC_URL, timeout=60
            ) as http:
                api = Api(http, engine=engine)
                citizen = await api.token({"citizen": "lee-mei-ling", "acr": STANDARD})
                app = await to_fee_step_of_birth_certificate(api, citizen)
                key = from_global_id(app["id"])
                assert key is not None
                url = (await begin(api, app["id"], citizen))["paymentUrl"]
                payment_id = payment_id_of(url)
                handle = client.get_workflow_handle(key[1])
                await idle(handle)
                async with receipt_held(engine, payment_id):
                    paying = asyncio.create_task(pay(api, url))  # the citizen pays; the simulator sends the webhook
                    await receipt_waiting(handle)
                    first.send_signal(signal.SIGKILL)
                    await asyncio.to_thread(first.wait, 10)
                assert (await paying).status_code == 303
                [record] = await engine.payments.for_application(key[1])
                assert (record.status, record.receipt_id, record.receipt) == ("PENDING", None, None)

                second = _spawn(["worker"], env, logs[1])
                await asyncio.to_thread(_wait_for, logs[1], "Worker", second)

                async def moved_on() -> bool:
                    return (await get(api, app["id"], citizen))["currentStep"]["id"] == "send"

                await until(moved_on, within=60)
                done = (await api.data(SUBMIT, {"id": app["id"], "step": "send", "answers": {}}, citizen))["submitStep"]
                assert done["userErrors"] == []
                assert done["application"]["status"] == "SUBMITTED"
                await until(lambda: delivered(api, app["id"], citizen), within=60)
                current = await get(api, app["id"], citizen)
                provider = await simulated(api, payment_id)
                records = await engine.payments.for_application(key[1])
                async with engine.database.session() as session:
                    query = text("SELECT event, channel FROM notices_sent WHERE application_id = :app")
                    notices = (await session.execute(query, {"app": key[1]})).all()
        finally:
            codes = [_stop(process) for process in (second, first) if process is not None]
    assert first.returncode == -signal.SIGKILL
    assert codes[0] in (0, -signal.SIGTERM), logs[1].read_text(errors="replace")

    # One payment, paid once, with one receipt; nothing charged twice, nothing refunded.
    assert [p["status"] for p in current["payments"]] == ["PAID"]
    assert [(r.payment_id, r.status, r.receipt_id) for r in records] == [
        (payment_id, "PAID", current["payment"]["receiptId"])
    ]
    assert records[0].receipt is not None
    assert len([t for t in current["timeline"] if (t["message"] or "").startswith("Payment of")]) == 1
    assert (provider["status"], provider["refunds"]) == ("succeeded", [])
    # The citizen is told once per channel that the fee was received.
    received = collections.Counter(channel for event, channel in notices if event == "paymentReceived")
    assert received, notices
    assert set(received.values()) == {1}, notices
