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

from onestop.config import Settings
from onestop.engine.catalogue_store import CatalogueStore
from onestop.engine.devidp import DevIdentityProvider
from onestop.engine.identity import TokenVerifier

log = logging.getLogger(__name__)

Closer = Callable[[], Awaitable[None]]


@dataclass
class Engine:
    """Every long-lived service of a running process. Resolvers reach the engine only through this."""

    settings: Settings
    catalogue: CatalogueStore
    feeds: Any = None            # H3: onestop.engine.feeds.FeedService
    tokens: TokenVerifier | None = None          # H4: access-token verification
    dev_idp: DevIdentityProvider | None = None   # H4: the development identity provider (development only)
    database: Any = None         # H5: onestop.engine.db.Database
    profiles: Any = None         # H5: onestop.engine.profiles
    consents: Any = None         # H5: onestop.engine.consent
    access_log: Any = None       # H5: onestop.engine.accesslog
    gateway: Any = None          # H5: onestop.engine.gateway
    signer: Any = None           # H5: onestop.engine.signing
    applications: Any = None     # H7: onestop.engine.applications
    _closers: list[Closer] = field(default_factory=list, repr=False)

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
    _build_identity(engine)
    return None


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
