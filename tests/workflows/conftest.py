"""One real Temporal dev server for the session; a fresh task queue and worker per test."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from onestop.engine.applications.activities import ApplicationActivities
from onestop.engine.applications.delivery import DeliveryClient
from onestop.engine.appointments import AppointmentActivities, SlotStore
from onestop.engine.crypto.cipher import FieldCipher, KeyRing
from onestop.engine.crypto.codec import data_converter
from onestop.engine.crypto.signing import Signer
from onestop.engine.db import Database
from onestop.engine.payments import PaymentActivities, PaymentRecords
from onestop.engine.temporal import build_worker
from onestop.workflows.contracts import PrefillItem, PrefillRequest, PrefillResult
from onestop.workflows.payments import CreatePayment, HostedPayment, ProviderResult
from onestop.workflows.snapshot import (
    AppointmentSpec,
    ConsentSpec,
    ExitSpec,
    FieldSpec,
    FormSpec,
    OptionSpec,
    PaymentSpec,
    PrefillSpec,
    ReviewSpec,
    RuleSpec,
    ServiceSnapshot,
    StepUpSpec,
    SubmitSpec,
)

CODEC_KEY = bytes(range(32))
CIPHER = FieldCipher(KeyRing.single(bytes(range(32, 64))))

# The test citizen's personal data; the codec test asserts none of it reaches Temporal in clear.
CITIZEN = {
    "nameEn": "CHAN Tai Man",
    "hkid": "A123456(3)",
    "phone": "91234567",
    "residentialAddress": {"flat": "12A", "building": "Harbour Mansion", "street": "88 Queen's Road East",
                           "district": "wan-chai", "region": "HK"},
}


@pytest.fixture(scope="session")
def client(temporal_env: WorkflowEnvironment) -> Client:
    """A client with the codec: what onestop processes use."""
    config = temporal_env.client.config()
    config["data_converter"] = data_converter(CODEC_KEY)
    return Client(**config)


@pytest.fixture(scope="session")
def raw_client(temporal_env: WorkflowEnvironment) -> Client:
    """A client without the codec: what anyone reading Temporal's storage sees."""
    return temporal_env.client


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'onestop.db'}")
    await db.create_all()
    yield db
    await db.close()


@dataclass
class FakeGateway:
    """Stands in for the consent gateway at the workflow boundary; records each request it served."""

    requests: list[PrefillRequest]
    delay: float = 0.0
    fail: bool = False
    started: asyncio.Event = field(default_factory=asyncio.Event)

    async def __call__(self, request: PrefillRequest) -> PrefillResult:
        self.requests.append(request)
        self.started.set()
        await asyncio.sleep(self.delay)
        if self.fail:
            raise ApplicationError("consent revoked", type="CONSENT_REVOKED", non_retryable=True)
        items = [PrefillItem(item, CITIZEN[item.split(".", 1)[1]], "Digital Policy Office (e-ME)")
                 for item in request.items if item.split(".", 1)[1] in CITIZEN]
        return PrefillResult(consent_id=f"consent-{len(self.requests)}", items=items)


@dataclass
class FakeAcquirer:
    """Stands in for the payment provider at the engine's boundary: one payment per idempotency key."""

    payments: dict[str, str] = field(default_factory=dict)
    refunds: dict[str, str] = field(default_factory=dict)

    async def create(self, request: CreatePayment) -> HostedPayment:
        payment_id = self.payments.setdefault(request.idempotency_key, f"pay-{len(self.payments) + 1}")
        return HostedPayment(payment_id, f"https://pay.example/checkout/{payment_id}")

    async def cancel(self, payment_id: str, idempotency_key: str) -> ProviderResult:
        return ProviderResult.EXPIRED

    async def refund(self, payment_id: str, amount_cents: int, idempotency_key: str) -> str:
        return self.refunds.setdefault(idempotency_key, f"re-{len(self.refunds) + 1}")


@pytest.fixture
def acquirer() -> FakeAcquirer:
    return FakeAcquirer()


@pytest.fixture
def gateway() -> FakeGateway:
    return FakeGateway([])


@pytest.fixture
def task_queue() -> str:
    return f"test-{uuid.uuid4()}"


@pytest.fixture
async def activities(database: Database, gateway: FakeGateway,
                     acquirer: FakeAcquirer) -> AsyncIterator[ApplicationActivities]:
    async with DeliveryClient(timeout=5) as http:
        yield ApplicationActivities(database=database, signer=Signer(bytes(32)), prefill_port=gateway, http=http,
                                    cipher=CIPHER,
                                    payments=PaymentActivities(acquirer, PaymentRecords(database), Signer(bytes(32))))


@pytest.fixture
async def worker(client: Client, task_queue: str, activities: ApplicationActivities,
                 database: Database) -> AsyncIterator[Worker]:
    w = build_worker(client, task_queue, [*activities.all(), *AppointmentActivities(SlotStore(database)).all()])
    async with w:
        yield w


def text(en: str) -> dict[str, str]:
    return {"en": en, "tc": en}


def licence_service(version: int = 1, *, draft_expiry_seconds: int = 30 * 24 * 3600,
                    endpoint: str | None = None) -> ServiceSnapshot:
    """A service exercising every step type: prefill, consent, two forms, a conditional exit, step-up, review."""
    return ServiceSnapshot(
        id="renew-licence", version=version, content_hash=f"hash-v{version}", department="TD",
        title=text(f"Renew a licence v{version}"), draft_expiry_seconds=draft_expiry_seconds,
        submission_url=endpoint,
        eligibility_when="citizen.age >= 18", eligibility_message=text("You must be 18 or over."),
        steps=[
            PrefillSpec(id="prefill", title=text("Use your e-ME data"), purpose=text("Fill the form"),
                     items=["eme.nameEn", "eme.hkid", "eme.phone", "eme.residentialAddress"]),
            ConsentSpec(id="terms", title=text("Terms"), statement=text("I agree"),
                     consent_required=True),
            FormSpec(id="applicant", title=text("About you"), fields=[
                FieldSpec(id="name", type="text", label=text("Name"), required=True, prefill="eme.nameEn",
                          max_length=60),
                FieldSpec(id="hkid", type="hkid", label=text("HKID"), required=True, prefill="eme.hkid"),
                FieldSpec(id="phone", type="phone", label=text("Phone"), prefill="eme.phone"),
                FieldSpec(id="address", type="address", label=text("Address"), prefill="eme.residentialAddress",
                          options=[OptionSpec("wan-chai", text("Wan Chai")), OptionSpec("sha-tin", text("Sha Tin"))]),
                FieldSpec(id="years", type="number", label=text("Years"), required=True, integer=True,
                          minimum=1, maximum=10,
                          rules=[RuleSpec("value != 7", {"en": "Seven is not offered.", "tc": "不提供七年。"})]),
                FieldSpec(id="licenceClass", type="choice", label=text("Class"), required=True,
                          options=[OptionSpec("1", text("Car")), OptionSpec("2", text("Motorcycle"))]),
            ]),
            FormSpec(id="medical", title=text("Medical"), when="answers.licenceClass == '2'", fields=[
                FieldSpec(id="fit", type="boolean", label=text("I am fit to ride"), required=True),
            ]),
            FormSpec(id="details", title=text("Details"), fields=[
                FieldSpec(id="startDate", type="date", label=text("Start"), required=True, after="today"),
                FieldSpec(id="vehicles", type="group", label=text("Vehicles"), min_items=1, max_items=3, fields=[
                    FieldSpec(id="plate", type="text", label=text("Plate"), required=True,
                              pattern="[A-Z]{2}[0-9]{1,4}"),
                ]),
                FieldSpec(id="reason", type="text", label=text("Reason"), when="size(answers.vehicles) > 1",
                          required=True),
            ]),
            ExitSpec(id="not-eligible", title=text("Sorry"), when="answers.years == 10",
                     message=text("Ten-year licences are not available online.")),
            StepUpSpec(id="verify", title=text("Verify"), assurance="face", max_age_seconds=300),
            ReviewSpec(id="review", title=text("Review"), fields=[
                FieldSpec(id="declare", type="boolean", label=text("I declare it true"), required=True),
            ]),
            SubmitSpec(id="submit", title=text("Submit")),
        ],
    )


def appointment_service(*, hold_seconds: int = 3600) -> ServiceSnapshot:
    """A booking service: one appointment step open all day (no notice needed), then submit."""
    return ServiceSnapshot(
        id="book-visit", version=1, content_hash="hash-visit", department="IMMD", title=text("Book a visit"),
        steps=[
            AppointmentSpec(id="visit", title=text("Choose a time"),
                            offices=[OptionSpec("north", text("North")), OptionSpec("south", text("South"))],
                            hours=[[[0, 23 * 60 + 30]]] * 7, slot_minutes=30, capacity=3,
                            hold_seconds=hold_seconds, book_ahead_seconds=30 * 86400, min_notice_seconds=0),
            SubmitSpec(id="submit", title=text("Submit")),
        ],
    )


def answers_applicant(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"name": "CHAN Tai Man", "hkid": "A123456(3)", "years": 5, "licenceClass": "1"}
    base.update(overrides)
    return base


def fee_service(version: int = 1) -> ServiceSnapshot:
    """A licence whose fee depends on an answer: a form, a payment step, submit."""
    return ServiceSnapshot(
        id="licence-fee", version=version, content_hash=f"fee-hash-v{version}", department="TD",
        title=text("Renew a licence, with its fee"), fees={"tenYear": 900.0, "shortTerm": 50.0},
        steps=[
            FormSpec(id="licence", title=text("Your licence"), fields=[
                FieldSpec(id="period", type="choice", label=text("Period"), required=True,
                          options=[OptionSpec("10", text("10 years")), OptionSpec("1", text("1 year"))]),
            ]),
            PaymentSpec(id="fee", title=text("Pay"), description=text("Licence fee"),
                        amount='answers.period == "10" ? fees.tenYear : fees.shortTerm'),
            SubmitSpec(id="send", title=text("Submit")),
        ],
    )
