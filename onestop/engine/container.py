"""The engine's services in one place, built once at start-up and handed to the API and the worker.

Each owner adds its service as a field here (with a default so the others keep building) and builds it in
``build_engine``. Fields typed ``Any`` are placeholders until the owning module lands; replace with the
concrete type when it does.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text

from onestop.config import Settings
from onestop.engine.accesslog import AccessLog
from onestop.engine.catalogue_store import CatalogueStore
from onestop.engine.consent import ConsentService
from onestop.engine.db import Database
from onestop.engine.devidp import DevIdentityProvider
from onestop.engine.feeds import FeedService
from onestop.engine.gateway import DataGateway, DataServices
from onestop.engine.identity import TokenVerifier
from onestop.engine.profiles import CitizenDirectory, ProfileService
from onestop.engine.signing import Signer

log = logging.getLogger(__name__)

Closer = Callable[[], Awaitable[None]]


@dataclass
class Engine:
    """Every long-lived service of a running process. Resolvers reach the engine only through this."""

    settings: Settings
    catalogue: CatalogueStore
    feeds: FeedService | None = None             # H3: public information feeds
    tokens: TokenVerifier | None = None          # H4: access-token verification
    dev_idp: DevIdentityProvider | None = None   # H4: the development identity provider (development only)
    database: Database | None = None          # H5: the SQLAlchemy engine and sessions
    data: DataServices | None = None          # H5: all data services (citizens, providers, ... as below)
    citizens: CitizenDirectory | None = None  # H5: sub/ref -> Citizen
    profiles: ProfileService | None = None    # H5: e-ME profiles
    consents: ConsentService | None = None    # H5: consent artefacts
    access_log: AccessLog | None = None       # H5: hash-chained data access log
    gateway: DataGateway | None = None        # H5: consented, logged fetches (and prefill)
    signer: Signer | None = None              # H5: platform JWS signatures, JWKS
    applications: Any = None     # H7: onestop.engine.applications
    _closers: list[Closer] = field(default_factory=list, repr=False)

    async def readiness(self) -> dict[str, str]:
        """What a load balancer's readiness probe needs: each dependency ``ok`` or ``unavailable``."""
        checks = {"catalogue": self.catalogue.catalogue.version}
        if self.database is not None:
            try:
                async with self.database.session() as session:
                    await session.execute(text("SELECT 1"))
                checks["database"] = "ok"
            except Exception:  # a probe reports; the reason goes to the log, not to the caller
                log.warning("readiness: database unavailable", exc_info=True)
                checks["database"] = "unavailable"
        return checks

    def on_close(self, closer: Closer) -> None:
        """Register a cleanup; run in reverse order by ``close``."""
        self._closers.append(closer)

    async def close(self) -> None:
        """Stop every service; one failing cleanup does not stop the others."""
        while self._closers:
            closer = self._closers.pop()
            try:
                await closer()
            except Exception:  # keep closing the rest; the process is going down anyway
                log.exception("engine cleanup failed")


async def build_engine(settings: Settings) -> Engine:
    """Build every service from settings. The catalogue must load; others join as their owners land."""
    catalogue = await CatalogueStore.open(settings.definitions)
    engine = Engine(settings=settings, catalogue=catalogue)
    engine.on_close(catalogue.close)
    catalogue.start_polling(settings.catalogue_poll_seconds)
    try:
        await _build_services(engine)
    except BaseException:
        with contextlib.suppress(Exception):
            await engine.close()
        raise
    return engine


async def _build_services(engine: Engine) -> None:
    # Owners: add your service below, register its cleanup with engine.on_close, keep the order
    # (feeds -> identity -> database -> data services -> applications) so dependencies exist first.
    await _build_feeds(engine)
    _build_identity(engine)
    await _build_data(engine)
    return None


async def _build_feeds(engine: Engine) -> None:
    # H3. definitions/feeds.yaml; a broken file fails start-up like a broken catalogue (CatalogueError).
    engine.feeds = await FeedService.from_definitions(engine.settings.definitions)
    engine.on_close(engine.feeds.close)


def _build_identity(engine: Engine) -> None:
    # H4. In development the built-in IdP (mounted at /dev-idp) issues tokens; the verifier reads its keys
    # in-process unless ONESTOP_OIDC_ISSUER points at a real issuer.
    from onestop.engine.stepup import AssuranceLadder

    settings, store = engine.settings, engine.catalogue
    if settings.development:
        engine.dev_idp = DevIdentityProvider.from_settings(
            settings,
            lambda: AssuranceLadder.from_levels(store.catalogue.taxonomy.assurance_levels),
            age_group_of=lambda age: store.catalogue.age_group_for(age).id,
        )
    engine.tokens = TokenVerifier.for_settings(settings, dev_jwks=engine.dev_idp.jwks if engine.dev_idp else None)
    engine.on_close(engine.tokens.aclose)


async def _build_data(engine: Engine) -> None:
    # H5. The embedded default creates missing tables (owners of other tables call create_all again after
    # importing their models; it is idempotent) and, in development, seeds the test citizens' data.
    settings = engine.settings
    database = Database.from_settings(settings)
    engine.on_close(database.close)
    await database.create_all()
    store = engine.catalogue
    data = DataServices.build(settings, lambda: store.catalogue, database)  # follows catalogue reloads
    engine.database, engine.data, engine.signer = database, data, data.signer
    engine.citizens, engine.profiles, engine.consents = data.citizens, data.profiles, data.consents
    engine.access_log, engine.gateway = data.access_log, data.gateway
    fixture = settings.definitions / "dev" / "citizens.yaml"
    if settings.development and fixture.exists():
        from onestop.engine.devidp import citizen_sub
        from onestop.engine.seed import seed_citizens

        report = await seed_citizens(fixture, citizens=data.citizens, profiles=data.profiles,
                                     providers=data.providers.specs(),
                                     sub_for=lambda login: citizen_sub(settings, login))
        log.info("seeded development data: %s", report)
