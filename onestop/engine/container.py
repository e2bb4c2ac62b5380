"""The composition root: every long-lived service of a process, built once at start-up from settings.

It is the one place that wires the development identity provider and seed data in, and only when the
environment is development; production code never imports ``onestop.engine.dev``.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import text
from starlette.types import ASGIApp
from temporalio.client import Client

from onestop.config import Settings
from onestop.engine import tracing
from onestop.engine.applications.applicants import Applicants
from onestop.engine.applications.drafts import DraftStore, sweep_interval
from onestop.engine.applications.service import ApplicationService
from onestop.engine.applications.snapshots import CatalogueSnapshots
from onestop.engine.appointments import AppointmentServices
from onestop.engine.catalogue_store import CatalogueStore
from onestop.engine.catalogue_watch import CatalogueWatch
from onestop.engine.data.gateway import DataServices
from onestop.engine.db import Database
from onestop.engine.documents import DocumentService, build_documents
from onestop.engine.feeds import FeedService
from onestop.engine.identity.provider import EmbeddedIdentityProvider, test_citizen_issuer
from onestop.engine.identity.tokens import TokenVerifier
from onestop.engine.legacy import encrypt_clear_rows, settings_cipher
from onestop.engine.notices import NoticeService, SmsProvider, SmtpMailer
from onestop.engine.payments import HttpAcquirer, PaymentRecords, PaymentService
from onestop.engine.relationships import BirthRegister, MandateStore, Relationships
from onestop.engine.sandbox import (
    LiveDefinitions,
    SandboxCatalogues,
    SandboxPromotions,
    SandboxService,
    UploadLimits,
    age_group_spans,
)
from onestop.engine.security import SecurityServices
from onestop.engine.temporal import connect_for

log = logging.getLogger(__name__)

Closer = Callable[[], Awaitable[None]]


@dataclass
class Engine:
    """Every long-lived service of a running process. Resolvers and activities reach the engine only through this."""

    settings: Settings
    catalogue: CatalogueStore
    # Announces this process's catalogue reloads to the others on the database and follows theirs.
    catalogue_watch: CatalogueWatch
    feeds: FeedService
    tokens: TokenVerifier
    database: Database
    data: DataServices
    applicants: Applicants
    security: SecurityServices
    documents: DocumentService
    # None when the process has no Temporal connection (catalogue and citizen data still answer).
    applications: ApplicationService | None
    # The development identity provider served at /dev-idp; None in production.
    identity_provider: EmbeddedIdentityProvider | None
    # Fees: the provider's webhook into the workflows, payment records; the simulator app at /dev-pay in development.
    payments: PaymentService
    payment_simulator: ASGIApp | None
    notices: NoticeService
    relationships: Relationships
    appointments: AppointmentServices
    # The development mail and SMS sink shown at /dev-mail (its ``app``); None in production.
    dev_mailbox: Any = None
    # The sandbox programme: provisioning on approval, the sandboxes' clients and logins.
    sandbox: SandboxService | None = None
    _closers: list[Closer] = field(default_factory=list, repr=False)

    def sandbox_activities(self) -> list[Callable[..., Awaitable[object]]]:
        """The worker's sandbox programme activities (provisioning)."""
        return self.sandbox.activities().all() if self.sandbox is not None else []

    async def readiness(self) -> dict[str, str]:
        """What a load balancer's readiness probe needs: each dependency ``ok`` or ``unavailable``."""
        checks = {"catalogue": self.catalogue.catalogue.version}
        try:
            async with self.database.session() as session:
                await session.execute(text("SELECT 1"))
            checks["database"] = "ok"
        except Exception:  # a probe reports; the reason goes to the log, not to the caller
            log.warning("readiness: database unavailable", exc_info=True)
            checks["database"] = "unavailable"
        return checks

    async def close(self) -> None:
        """Stop every service in reverse order of start; one failing cleanup does not stop the others."""
        while self._closers:
            closer = self._closers.pop()
            try:
                await closer()
            except Exception:  # keep closing the rest; the process is going down anyway
                log.exception("engine cleanup failed")


async def build_engine(settings: Settings, temporal: Client | None = None, *, migrate: bool | None = None) -> Engine:
    """Build every service from settings. Applications need Temporal: ``temporal``, else a connection to
    ``settings.temporal_address`` when it is set, else the engine has none.

    ``migrate`` brings the database schema to the head first; otherwise a database not at the head stops the
    build with ``SchemaNotCurrent``. By default development migrates and production only checks, because
    production replicas must never change the schema on their own (``onestop migrate`` does, once per release).
    """
    closers: list[Closer] = []
    try:
        return await _build(settings, temporal, closers, settings.development if migrate is None else migrate)
    except BaseException:
        for closer in reversed(closers):
            with contextlib.suppress(Exception):
                await closer()
        raise


async def _build(settings: Settings, temporal: Client | None, closers: list[Closer], migrate: bool) -> Engine:
    catalogue = await CatalogueStore.open(settings.definitions, reload_in_child=settings.catalogue_reload_in_child)
    closers.append(catalogue.close)
    catalogue.start_polling(settings.catalogue_poll_seconds)

    # definitions/feeds.yaml; a broken file fails start-up like a broken catalogue (CatalogueError).
    feeds = await FeedService.from_definitions(settings.definitions)
    closers.append(feeds.close)

    identity_provider = _development_identity_provider(settings, catalogue)
    tokens = TokenVerifier.for_settings(settings, embedded=identity_provider)
    closers.append(tokens.aclose)

    database = Database.from_settings(settings)
    closers.append(database.close)
    # Its poller reloads, and a reload announces itself and records events in the database: it stops first.
    closers.append(catalogue.close)
    tracing.instrument_database(database.engine)
    if migrate:
        await database.migrate()
        await encrypt_clear_rows(database, settings_cipher(settings))
    else:
        await database.check_schema()
    catalogue_watch = CatalogueWatch(database, catalogue, also=(feeds.refresh,))
    await catalogue_watch.start(settings.catalogue_watch_seconds)
    closers.append(catalogue_watch.close)
    data = DataServices.build(settings, lambda: catalogue.catalogue, database)  # follows catalogue reloads
    births = BirthRegister(database, data.cipher)
    mandates = MandateStore(database, data.cipher, data.signer)
    if settings.development:
        await _seed_development_data(settings, data, births, mandates)
    applicants = Applicants(data.citizens, data.profiles, data.cipher, catalogue, data.gateway)
    relationships = Relationships(births, mandates, data.citizens, data.profiles, data.gateway, catalogue)
    security = SecurityServices.build(database, data.cipher)
    closers.append(security.events.close)  # flushes before the database closes (closers run in reverse)
    catalogue.events = data.consents.events = data.gateway.events = security.events
    relationships.guardians.events = security.events  # appointing or ending a guardian is audited
    if identity_provider is not None:
        identity_provider.events = security.events

    notices, dev_mailbox = await _notices(settings, database, data, closers)

    if temporal is None and settings.temporal_address is not None:
        temporal = await connect_for(settings)
    payments, payment_simulator = _payments(settings, database, temporal, closers)
    applications = None
    if temporal is not None:
        drafts = DraftStore(database, data.cipher, timedelta(seconds=settings.anonymous_draft_ttl_seconds))
        drafts.start_sweeping(sweep_interval(drafts.ttl))
        closers.append(drafts.close)
        applications = ApplicationService(temporal, settings.temporal_task_queue, database,
                                          # Read at each check, so a reloaded ladder applies at once.
                                          CatalogueSnapshots(catalogue), lambda: catalogue.catalogue.assurance,
                                          delivery_retry=timedelta(hours=settings.delivery_retry_hours),
                                          payment_timeout=timedelta(seconds=settings.payment_timeout_seconds),
                                          drafts=drafts)
        applications.events, applications.alerts = security.events, security.alerts
        relationships.signals = applications
        applications.parties = relationships.parties
    documents = build_documents(settings, database, data.cipher)
    if applications is not None:
        applications.documents, documents.applications = documents, applications
    sandbox = SandboxService(database, data.cipher, lambda: age_group_spans(catalogue.catalogue), temporal,
                             settings.temporal_task_queue, SandboxCatalogues(
                                 database, settings.definitions, settings.data_dir / "sandboxes",
                                 UploadLimits(max_upload_bytes=settings.sandbox_max_upload_bytes),
                                 settings.sandbox_max_services),
                             applications_per_day=settings.sandbox_applications_per_day)
    assert sandbox.catalogues is not None
    live = LiveDefinitions(catalogue, announce=lambda: catalogue_watch.announce(catalogue.snapshot))
    sandbox.promotions = SandboxPromotions(database, data.cipher, sandbox.catalogues, live, temporal,
                                           settings.temporal_task_queue)
    sandbox.promotions.events = security.events
    # The live promotions in the database are part of the live definitions: a replica with a tree of its own
    # writes them in at start and before each reload an announcement prompts.
    catalogue_watch.before_reload.append(sandbox.promotions.steps.materialize)
    if await sandbox.promotions.steps.materialize():
        await catalogue.reload(announce=False)
    if applications is not None:
        applications.after_decision = sandbox.after_decision
        sandbox.applications = applications
    if identity_provider is not None:
        identity_provider.directory = sandbox
    # The identity provider of the sandboxes' test citizens, for their staff's previews (development: the dev IdP).
    sandbox.issuer = test_citizen_issuer(identity_provider)
    return Engine(settings=settings, catalogue=catalogue, catalogue_watch=catalogue_watch, feeds=feeds,
                  tokens=tokens, database=database, data=data, applicants=applicants, security=security,
                  documents=documents, applications=applications, identity_provider=identity_provider,
                  notices=notices,
                  appointments=AppointmentServices.build(database, catalogue), relationships=relationships,
                  dev_mailbox=dev_mailbox, payments=payments, payment_simulator=payment_simulator, sandbox=sandbox,
                  _closers=closers)


def _payments(settings: Settings, database: Database, temporal: Client | None,
              closers: list[Closer]) -> tuple[PaymentService, ASGIApp | None]:
    """The payment provider the settings name; in development without one, the simulator at /dev-pay."""
    records = PaymentRecords(database)
    timeout = settings.payment_timeout_seconds
    if settings.payment_provider_url:
        if settings.payment_api_key is None or settings.payment_webhook_secret is None:
            raise ValueError("ONESTOP_PAYMENT_PROVIDER_URL needs ONESTOP_PAYMENT_API_KEY and "
                             "ONESTOP_PAYMENT_WEBHOOK_SECRET")
        http = httpx.AsyncClient(timeout=15)
        closers.append(http.aclose)
        provider = HttpAcquirer(http, settings.payment_provider_url, settings.payment_api_key.get_secret_value())
        secret = settings.payment_webhook_secret.get_secret_value().encode()
        return PaymentService(records, secret, client=temporal, provider=provider, timeout_seconds=timeout), None
    if not settings.development:
        # No acquirer: payment steps answer PAYMENT_UNAVAILABLE, and every webhook is refused (no secret).
        return PaymentService(records, b"", client=temporal, timeout_seconds=timeout), None
    from onestop.engine.dev.payments import PaymentSimulator

    secret = (settings.payment_webhook_secret.get_secret_value().encode() if settings.payment_webhook_secret
              else settings.key_bytes("payment_webhook_secret"))
    api_key = settings.payment_api_key.get_secret_value() if settings.payment_api_key else "dev-pay-key"
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    # Its state is a file under the data dir: a separate `onestop worker` of this set-up sees the same payments.
    simulator = PaymentSimulator(api_key=api_key, webhook_secret=secret,
                                 public_base=f"{settings.base_url.rstrip('/')}/dev-pay",
                                 state=settings.data_dir / "dev-pay.sqlite3")

    async def close_simulator() -> None:
        simulator.store.close()

    closers.append(close_simulator)
    # The simulator runs in this process; the engine calls it through its REST API all the same.
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=simulator.app), base_url="http://dev-pay", timeout=15)
    closers.append(http.aclose)
    provider = HttpAcquirer(http, "http://dev-pay/api", api_key)
    service = PaymentService(records, secret, client=temporal, provider=provider, timeout_seconds=timeout)

    async def deliver(body: bytes, headers: dict[str, str]) -> int:
        status, _ = await service.receive(body, headers)
        return status

    simulator.send = deliver
    return service, simulator.app


async def _notices(settings: Settings, database: Database, data: DataServices,
                   closers: list[Closer]) -> tuple[NoticeService, Any]:
    mailer = SmtpMailer.from_settings(settings)
    sms: SmsProvider | None = None
    mailbox = None
    if settings.development:
        # No relay configured: a local SMTP sink receives the mail, and SMS, shown at /dev-mail/.
        from onestop.config import SmtpSecurity
        from onestop.engine.dev.mail import DevMailbox

        mailbox = DevMailbox(settings.data_dir / "dev-mail")
        sms = mailbox
        if mailer is None:
            host, port = await mailbox.start()
            closers.append(mailbox.close)
            mailer = SmtpMailer(host, port, sender=settings.mail_from, security=SmtpSecurity.NONE)
    link = f"{settings.base_url.rstrip('/')}/"
    service = NoticeService(database, data.cipher, data.citizens, data.profiles, mailer=mailer, sms=sms, link=link)
    closers.append(service.aclose)  # before the mailbox closes: sends under way finish first
    return service, mailbox


def _development_identity_provider(settings: Settings, store: CatalogueStore) -> EmbeddedIdentityProvider | None:
    # The built-in IdP issues tokens in development; the verifier reads its keys in process unless
    # ONESTOP_OIDC_ISSUER points at a real issuer.
    if not settings.development:
        return None
    from onestop.engine.dev.idp import DevIdentityProvider

    return DevIdentityProvider.from_settings(
        settings,
        lambda: store.catalogue.assurance,
        age_group_of=lambda age: store.catalogue.age_group_for(age).id,
    )


async def _seed_development_data(settings: Settings, data: DataServices, births: BirthRegister,
                                 mandates: MandateStore) -> None:
    fixture = settings.definitions / "dev" / "citizens.yaml"
    if not fixture.exists():
        return
    from onestop.engine.dev.idp import citizen_sub
    from onestop.engine.dev.seed import seed_citizens

    report = await seed_citizens(fixture, citizens=data.citizens, profiles=data.profiles,
                                 providers=data.providers.specs(),
                                 sub_for=lambda login: citizen_sub(settings, login))
    log.info("seeded development data: %s", report)
    from onestop.engine.dev.family import seed_family

    family = await seed_family(fixture, citizens=data.citizens, births=births, mandates=mandates,
                               sub_for=lambda login: citizen_sub(settings, login))
    log.info("seeded development relationships: %s", family)
