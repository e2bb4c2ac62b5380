"""Fixtures for tests/engine. Data-and-consent fixtures (H5) build real services on a real SQLite file."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable

import pytest

from onestop.engine.crypto import FieldCipher, KeyRing
from onestop.engine.db import Database
from onestop.engine.gateway import DataServices
from onestop.engine.providers import ProviderSpec
from onestop.engine.signing import Signer

DATA_KEY = bytes(range(32))
SIGNING_SEED = bytes(range(32, 64))

PROFILE_ITEMS = ("nameEn", "nameZh", "dateOfBirth", "hkid", "gender", "phone", "email",
                 "residentialAddress", "correspondenceAddress")


def provider_specs(**extra: ProviderSpec) -> dict[str, ProviderSpec]:
    specs = {
        "eme": ProviderSpec("eme", "DPO", "sql", PROFILE_ITEMS),
        "td-licensing": ProviderSpec("td-licensing", "TD", "sql",
                                     ("driving-licence", "vehicle-registrations", "driving-offence-points")),
    }
    specs.update(extra)
    return specs


@pytest.fixture
async def database(tmp_path: os.PathLike[str]) -> AsyncIterator[Database]:
    db = Database(f"sqlite+aiosqlite:///{tmp_path}/onestop.db")
    await db.create_all()
    yield db
    await db.close()


@pytest.fixture
def cipher() -> FieldCipher:
    return FieldCipher(KeyRing.single(DATA_KEY))


@pytest.fixture
def signer() -> Signer:
    return Signer(SIGNING_SEED)


@pytest.fixture
def data_services(database: Database, cipher: FieldCipher, signer: Signer) -> DataServices:
    return DataServices.assemble(database, cipher, signer, provider_specs())


@pytest.fixture
def services_with(database: Database, cipher: FieldCipher,
                  signer: Signer) -> Callable[..., DataServices]:
    """Services whose catalogue has extra providers (``services_with(**{"td-http": spec})``)."""

    def build(**extra: ProviderSpec) -> DataServices:
        return DataServices.assemble(database, cipher, signer, provider_specs(**extra))

    return build
