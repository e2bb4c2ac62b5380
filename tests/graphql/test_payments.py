"""Fees through GraphQL: a payment step's hosted page at /dev-pay/, its signed webhook, receipts and refunds.

Real pieces throughout: the seed catalogue (birth-certificate-copy, renew-vehicle-licence), the dev IdP's tokens,
SQLite, a real Temporal dev server with the encrypting codec and a worker running the engine's activities, the
payment simulator's hosted page and acquirer API over HTTP, and the webhook endpoint over HTTP.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from client import STANDARD, Api
from paying import (
    BACK,
    BEGIN,
    DEV_PAY_KEY,
    INBOX,
    RETURN_URL,
    SUBMIT,
    WITHDRAW,
    begin,
    delivered,
    get,
    pay,
    payment_id_of,
    simulated,
    to_fee_step_of_birth_certificate,
    to_fee_step_of_vehicle_licence,
    until,
)
from running import dev_settings
from temporalio import activity
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from onestop.engine.applications import delivery
from onestop.engine.applications.activities import activities_for
from onestop.engine.applications.delivery import DeliveryClient
from onestop.engine.container import Engine, build_engine
from onestop.engine.crypto.codec import data_converter
from onestop.engine.payments import RECEIPT_TYPE, SIGNATURE_HEADER, PaymentActivities, sign
from onestop.engine.temporal import build_worker
from onestop.graphql.app import create_app
from onestop.graphql.relay import from_global_id
from onestop.workflows.payments import PaymentActivity, Receipt, ReceiptRequest


@asynccontextmanager
async def _engine(temporal: WorkflowEnvironment, data_dir: Path, definitions: Path, *, worker: bool = True,
                  ) -> AsyncIterator[tuple[Engine, Client, Api]]:
    # Delivery to a department's HTTP endpoint is on (as in production) with a window of seconds, so an application
    # to TD (whose endpoint does not exist) fails delivery for good quickly; IMMD has only the SQL inbox.
    settings = dev_settings(definitions, data_dir, delivery_retry_hours=0.002, payment_timeout_seconds=60,
                            public_url="http://onestop.test")
    config = temporal.client.config()
    config["data_converter"] = data_converter(settings.key_bytes("codec_key"))
    client = Client(**config)
    engine = await build_engine(settings, client)
    app = create_app(settings, engine)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://onestop.test") as web:
            api = Api(web, engine=engine)
            if not worker:
                yield engine, client, api
                return
            async with DeliveryClient(timeout=2) as http, _worker(engine, client, http):
                yield engine, client, api
    finally:
        await engine.close()


@asynccontextmanager
async def _worker(engine: Engine, client: Client, http: DeliveryClient,
                  *extra: Callable[..., Awaitable[object]]) -> AsyncIterator[Worker]:
    activities = replace(activities_for(engine, http), http_delivery=True)
    replaced = {getattr(a, "__temporal_activity_definition").name for a in extra}
    chosen = [a for a in activities.all() if getattr(a, "__temporal_activity_definition").name not in replaced]
    worker = build_worker(client, engine.settings.temporal_task_queue, [*chosen, *extra])
    async with worker:
        yield worker


@pytest.fixture(scope="module")
async def live(temporal_env: WorkflowEnvironment, definitions_dir: Path,
               tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[tuple[Engine, Client, Api]]:
    async with _engine(temporal_env, tmp_path_factory.mktemp("pay-data"), definitions_dir) as running:
        yield running


@pytest.fixture
def api(live: tuple[Engine, Client, Api]) -> Api:
    return live[2]


async def test_a_citizen_pays_the_computed_fee_gets_a_signed_receipt_and_the_department_sees_it(
        live: tuple[Engine, Client, Api]) -> None:
    engine, _client, api = live
    citizen = await api.token({"citizen": "lee-mei-ling", "acr": STANDARD})
    app = await to_fee_step_of_birth_certificate(api, citizen, copies=2)
    step = app["currentStep"]
    assert (step["type"], step["amount"], step["amountText"], step["currency"]) == ("PAYMENT", 280.0, "HK$280", "HKD")
    assert step["description"] == "Certified copies of a birth entry"
    assert app["payment"] is None

    started = await begin(api, app["id"], citizen, cmid="pay-1")
    url = started["paymentUrl"]
    assert started["payment"]["status"] == "PENDING"
    assert started["payment"]["url"] == url
    # No personal data (nor the application's or citizen's ids) in the URL the browser carries.
    key = from_global_id(app["id"])
    assert key is not None
    for secret in ("R771204", "LEE", "Mei", key[1], "lee-mei-ling"):
        assert secret not in url
    # Asking again (a retried request, or a second click) gives the same page: never a second charge.
    assert (await begin(api, app["id"], citizen, cmid="pay-1"))["paymentUrl"] == url
    assert (await begin(api, app["id"], citizen))["paymentUrl"] == url

    answered = await pay(api, url, "succeeded", "fps")
    assert answered.status_code == 303
    assert answered.headers["location"] == RETURN_URL

    async def paid() -> bool:
        return (await get(api, app["id"], citizen))["currentStep"]["id"] == "send"

    await until(paid)
    app = await get(api, app["id"], citizen)
    payment = app["payment"]
    assert (payment["status"], payment["amount"], payment["method"]) == ("PAID", 280.0, "fps")
    assert payment["reference"].startswith("FPS-")
    assert payment["url"] is None
    receipt = engine.data.signer.verify(payment["receipt"], typ=RECEIPT_TYPE).payload
    assert receipt["amount"] == {"value": 280.0, "currency": "HKD"}
    assert (receipt["paymentId"], receipt["receiptId"]) == (payment["id"], payment["receiptId"])
    assert "R771204(8)" not in json.dumps(receipt)
    assert any(t["message"] == f"Payment of HK$280 received (payment {payment['id']})" and t["author"] == "SYSTEM"
               for t in app["timeline"])

    app = (await api.data(SUBMIT, {"id": app["id"], "step": "send", "answers": {}}, citizen))["submitStep"][
        "application"]
    assert app["status"] == "SUBMITTED"
    officer = await api.token({"staff": "immd-officer"})

    async def in_inbox() -> bool:
        edges = (await api.data(INBOX, headers=officer))["departmentInbox"]["edges"]
        return any(e["node"]["id"] == app["id"] for e in edges)

    await until(in_inbox)
    seen = next(e["node"] for e in (await api.data(INBOX, headers=officer))["departmentInbox"]["edges"]
                if e["node"]["id"] == app["id"])
    assert seen["payment"] == {"status": "PAID", "amount": 280.0, "reference": payment["reference"],
                               "receiptId": payment["receiptId"]}
    await until(lambda: delivered(api, app["id"], citizen))
    items = await delivery.inbox(engine.database, engine.data.cipher, "IMMD")
    signed = next(i for i in items if i.application_id == key[1])
    submission = engine.data.signer.verify_submission(signed.jws)
    assert [(p["paymentId"], p["amount"], p["receiptId"]) for p in submission["payments"]] == [
        (payment["id"], 280.0, payment["receiptId"])]


async def test_a_declined_then_cancelled_payment_can_be_tried_again_and_only_the_last_one_is_paid(api: Api) -> None:
    citizen = await api.token({"citizen": "lee-mei-ling", "acr": STANDARD})
    app = await to_fee_step_of_birth_certificate(api, citizen, copies=1)
    urls = []
    for attempt, outcome, status in ((1, "failed", "FAILED"), (2, "cancelled", "CANCELLED")):
        url = (await begin(api, app["id"], citizen))["paymentUrl"]
        urls.append(url)
        assert (await pay(api, url, outcome, "card")).status_code == 303

        async def settled(expected: str = status) -> bool:
            return (await get(api, app["id"], citizen))["payment"]["status"] == expected

        await until(settled)
        current = await get(api, app["id"], citizen)
        assert current["payment"]["attempt"] == attempt
        assert current["currentStep"]["id"] == "fee"  # still to pay
    closed = await api.request("POST", urlsplit(urls[0]).path, data={"outcome": "succeeded", "method": "fps"})
    assert closed.status_code == 409  # a settled page cannot be paid afterwards
    url = (await begin(api, app["id"], citizen))["paymentUrl"]
    assert url not in urls
    assert (await pay(api, url, "succeeded", "pps")).status_code == 303

    async def moved_on() -> bool:
        return (await get(api, app["id"], citizen))["currentStep"]["id"] == "send"

    await until(moved_on)
    current = await get(api, app["id"], citizen)
    assert [p["status"] for p in current["payments"]] == ["FAILED", "CANCELLED", "PAID"]
    assert current["payment"]["amount"] == 140.0
    assert current["payment"]["reference"].startswith("PPS-")
    # The paid-for answers are fixed now; going back before the fee is refused with a clear message.
    refused = (await api.data(BACK, {"id": app["id"], "step": "entry"}, citizen))["goBack"]
    assert [e["code"] for e in refused["userErrors"]] == ["PAYMENT_MADE"]


async def test_a_payment_page_left_open_times_out_and_a_new_one_can_be_opened(
        live: tuple[Engine, Client, Api]) -> None:
    engine, _client, api = live
    assert engine.applications is not None
    citizen = await api.token({"citizen": "lee-mei-ling", "acr": STANDARD})
    engine.applications.payment_timeout = timedelta(seconds=2)  # fixed per application when it starts
    try:
        app = await to_fee_step_of_birth_certificate(api, citizen)
    finally:
        engine.applications.payment_timeout = timedelta(seconds=60)
    url = (await begin(api, app["id"], citizen))["paymentUrl"]
    # While the page is open, the answers it charges for cannot change.
    refused = (await api.data(BACK, {"id": app["id"], "step": "entry"}, citizen))["goBack"]
    assert [e["code"] for e in refused["userErrors"]] == ["PAYMENT_IN_PROGRESS"]

    async def timed_out() -> bool:
        return (await get(api, app["id"], citizen))["payment"]["status"] == "TIMED_OUT"

    await until(timed_out)
    # The workflow's durable timer cancelled the page at the provider: it can no longer be paid.
    assert (await simulated(api, payment_id_of(url)))["status"] == "expired"
    late = await api.request("POST", urlsplit(url).path, data={"outcome": "succeeded", "method": "fps"})
    assert late.status_code == 409
    again = await begin(api, app["id"], citizen)
    assert again["payment"]["attempt"] == 2
    assert again["paymentUrl"] != url


async def test_a_webhook_delivered_twice_or_forged_changes_nothing(live: tuple[Engine, Client, Api]) -> None:
    engine, _client, api = live
    citizen = await api.token({"citizen": "lee-mei-ling", "acr": STANDARD})
    app = await to_fee_step_of_birth_certificate(api, citizen, copies=3)
    url = (await begin(api, app["id"], citizen))["paymentUrl"]
    await pay(api, url)

    async def receipted() -> bool:
        return (await get(api, app["id"], citizen))["payment"]["receiptId"] is not None

    await until(receipted)
    before = await get(api, app["id"], citizen)
    event = (await simulated(api, payment_id_of(url)))["events"][0]["body"].encode()
    secret = engine.payments.webhook_secret
    for _ in range(2):  # the provider resends the same event, freshly signed, over HTTP
        again = await api.request("POST", "/payments/webhook", content=event,
                                  headers={SIGNATURE_HEADER: sign(event, secret), "Content-Type": "application/json"})
        assert (again.status_code, again.json()) == (200, {"result": "duplicate"})
    resent = await api.request("POST", f"/dev-pay/api/payments/{payment_id_of(url)}/webhook",
                               headers={"Authorization": DEV_PAY_KEY})
    assert resent.json() == {"delivered": 200}
    # The same payment reported again under a new event id reaches the workflow, which ignores it: already settled.
    fresh = json.loads(event) | {"id": f"evt_{uuid.uuid4().hex}"}
    body = json.dumps(fresh).encode()
    accepted = await api.request("POST", "/payments/webhook", content=body,
                                 headers={SIGNATURE_HEADER: sign(body, secret)})
    assert accepted.status_code == 200
    forged = await api.request("POST", "/payments/webhook", content=body,
                               headers={SIGNATURE_HEADER: sign(body, b"not the secret")})
    assert forged.status_code == 400
    stale = await api.request("POST", "/payments/webhook", content=body,
                              headers={SIGNATURE_HEADER: sign(body, secret, timestamp=1_000_000_000)})
    assert stale.status_code == 400
    await asyncio.sleep(1)
    after = await get(api, app["id"], citizen)
    assert after["payments"] == before["payments"] == [{"id": payment_id_of(url), "status": "PAID"}]
    received = [t for t in after["timeline"] if (t["message"] or "").startswith("Payment of")]
    assert len(received) == 1
    assert after["payment"]["receiptId"] == before["payment"]["receiptId"]


async def test_a_fee_is_refunded_once_when_delivery_fails_for_good(live: tuple[Engine, Client, Api]) -> None:
    api = live[2]
    citizen = await api.token({"citizen": "wong-ka-fai", "acr": STANDARD})
    app = await to_fee_step_of_vehicle_licence(api, citizen)
    assert app["currentStep"]["amountText"] == "HK$1,374"
    url = (await begin(api, app["id"], citizen))["paymentUrl"]
    await pay(api, url, "succeeded", "card")

    async def at_submit() -> bool:
        return (await get(api, app["id"], citizen))["currentStep"]["id"] == "send"

    await until(at_submit)
    await api.data(SUBMIT, {"id": app["id"], "step": "send", "answers": {}}, citizen)

    async def refunded() -> bool:
        return (await get(api, app["id"], citizen))["payment"]["status"] == "REFUNDED"

    await until(refunded, within=60)  # the delivery window (seconds here), then the refund saga
    current = await get(api, app["id"], citizen)
    assert current["status"] == "SUBMITTED"  # the citizen sees SUBMITTED; staff see DELIVERY_FAILED
    assert current["payment"]["refundId"].startswith("re_")
    # Staff see why on the timeline (the citizen's view hides the delivery failure, not the refund).
    officer = await api.token({"staff": "td-officer"})
    staff = next(e["node"] for e in (await api.data(INBOX, headers=officer))["departmentInbox"]["edges"]
                 if e["node"]["id"] == app["id"])
    assert staff["status"] == "DELIVERY_FAILED"
    assert staff["payment"]["status"] == "REFUNDED"
    assert any("refunded: the application could not be delivered" in (t["message"] or "")
               for t in staff["timeline"])
    provider = await simulated(api, payment_id_of(url))
    assert provider["status"] == "succeeded"
    assert len(provider["refunds"]) == 1


async def test_withdrawing_after_paying_a_refundable_fee_refunds_it(api: Api) -> None:
    citizen = await api.token({"citizen": "wong-ka-fai", "acr": STANDARD})
    app = await to_fee_step_of_vehicle_licence(api, citizen)
    url = (await begin(api, app["id"], citizen))["paymentUrl"]
    await pay(api, url)

    async def paid() -> bool:
        return (await get(api, app["id"], citizen))["payment"]["status"] == "PAID"

    await until(paid)
    withdrawn = (await api.data(WITHDRAW, {"id": app["id"]}, citizen))["withdrawApplication"]["application"]
    assert withdrawn["status"] == "WITHDRAWN"

    async def refunded() -> bool:
        return (await get(api, app["id"], citizen))["payment"]["status"] == "REFUNDED"

    await until(refunded)
    assert len((await simulated(api, payment_id_of(url)))["refunds"]) == 1


async def test_a_worker_stopped_between_the_webhook_and_the_next_step_completes_the_application_once(
        temporal_env: WorkflowEnvironment, definitions_dir: Path, tmp_path: Path) -> None:
    receipt_started = asyncio.Event()

    @activity.defn(name=PaymentActivity.RECEIPT)
    async def stuck_receipt(request: ReceiptRequest) -> Receipt:
        receipt_started.set()
        await asyncio.Event().wait()  # the worker goes away mid-step; this attempt never finishes
        raise AssertionError("unreachable")

    async with _engine(temporal_env, tmp_path / "data", definitions_dir, worker=False) as (engine, client, api), \
            DeliveryClient(timeout=2) as http:
        citizen = await api.token({"citizen": "lee-mei-ling", "acr": STANDARD})
        first = _worker(engine, client, http, stuck_receipt)
        await first.__aenter__()
        stopped = False
        try:
            app = await to_fee_step_of_birth_certificate(api, citizen)
            url = (await begin(api, app["id"], citizen))["paymentUrl"]
            await pay(api, url)  # the signed webhook reached the workflow (it is in its history)
            await asyncio.wait_for(receipt_started.wait(), 20)
            await first.__aexit__(None, None, None)
            stopped = True
            # No worker now (a query would need one): the payment is known, its receipt not yet issued.
            key = from_global_id(app["id"])
            assert key is not None
            [record] = await engine.payments.for_application(key[1])
            assert (record.status, record.receipt) == ("PENDING", None)
        finally:
            if not stopped:
                await first.__aexit__(None, None, None)
        async with _worker(engine, client, http):
            async def moved_on() -> bool:
                return (await get(api, app["id"], citizen))["currentStep"]["id"] == "send"

            await until(moved_on, within=30)
            done = (await api.data(SUBMIT, {"id": app["id"], "step": "send", "answers": {}}, citizen))["submitStep"]
            assert done["application"]["status"] == "SUBMITTED"
            await until(lambda: delivered(api, app["id"], citizen))
            current = await get(api, app["id"], citizen)
        assert [p["status"] for p in current["payments"]] == ["PAID"]
        assert len([t for t in current["timeline"] if (t["message"] or "").startswith("Payment of")]) == 1
        records = await engine.payments.for_application(key[1])
        assert [(r.status, r.receipt_id) for r in records] == [("PAID", current["payment"]["receiptId"])]
        items = await delivery.inbox(engine.database, engine.data.cipher, "IMMD")
        assert len([i for i in items if i.application_id == records[0].application_id]) == 1


async def test_without_a_payment_provider_the_citizen_is_told_and_nothing_is_charged(
        temporal_env: WorkflowEnvironment, definitions_dir: Path, tmp_path: Path) -> None:
    async with _engine(temporal_env, tmp_path / "data", definitions_dir, worker=False) as (engine, client, api), \
            DeliveryClient(timeout=2) as http:
        # As in production with no ONESTOP_PAYMENT_PROVIDER_URL: the worker's payment activities have no provider.
        unconfigured = PaymentActivities(None, engine.payments.records, engine.data.signer)
        async with _worker(engine, client, http, unconfigured.create_payment):
            citizen = await api.token({"citizen": "lee-mei-ling", "acr": STANDARD})
            app = await to_fee_step_of_birth_certificate(api, citizen)
            refused = (await api.data(BEGIN, {"id": app["id"], "step": "fee", "cmid": None, "back": None},
                                      citizen))["beginPayment"]
            assert [(e["field"], e["code"]) for e in refused["userErrors"]] == [(["input", "stepId"],
                                                                                 "PAYMENT_UNAVAILABLE")]
            assert refused["paymentUrl"] is None
            current = await get(api, app["id"], citizen)
            assert current["payments"] == []
            assert current["currentStep"]["id"] == "fee"
