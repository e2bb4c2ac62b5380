"""A worker in its own process, so a test can kill -9 it mid-application.

Usage: python -m ... <temporal address> <task queue> <database path> [fake|gateway|gateway-hang]

``fake`` (the default) prefills from constants. ``gateway`` prefills through the real consent gateway over the
database (consents and access-log entries written as in production); ``gateway-hang`` does the same, prints
``fetched`` once the data is read and logged, then hangs heartbeating until it is killed.
"""

from __future__ import annotations

import asyncio
import sys
from types import SimpleNamespace
from typing import Any, cast

from temporalio.client import Client

from onestop.engine.applications import pinned
from onestop.engine.applications.activities import ApplicationActivities, Prefill, gateway_prefill
from onestop.engine.applications.delivery import DeliveryClient
from onestop.engine.applications.snapshots import SnapshotStore
from onestop.engine.catalogue_store import CatalogueStore
from onestop.engine.crypto.cipher import FieldCipher, KeyRing
from onestop.engine.crypto.codec import data_converter
from onestop.engine.crypto.signing import Signer
from onestop.engine.data.gateway import DataServices
from onestop.engine.data.providers import ProviderSpec
from onestop.engine.db import Database
from onestop.engine.temporal import build_worker
from onestop.workflows.contracts import PrefillItem, PrefillRequest, PrefillResult

CODEC_KEY = bytes(range(32))
DATA_KEY = bytes(range(32))
PROVIDERS = {
    "eme": ProviderSpec("eme", "DPO", "sql", ("nameEn", "hkid", "phone", "residentialAddress")),
    "td-licensing": ProviderSpec("td-licensing", "TD", "sql", ("driving-licence",)),
}
CIPHER = FieldCipher(KeyRing.single(bytes(range(32, 64))))  # the same data key as tests/workflows/conftest.py


def data_services(database: Database) -> DataServices:
    """The data services the test process and the worker process share over one database file."""
    return DataServices.assemble(database, FieldCipher(KeyRing.single(DATA_KEY)), Signer(bytes(32)), PROVIDERS)


async def fake_prefill(request: PrefillRequest) -> PrefillResult:
    values = {"eme.nameEn": "CHAN Tai Man", "eme.hkid": "A123456(3)"}
    return PrefillResult("consent-subprocess", [PrefillItem(i, values[i], "e-ME") for i in request.items
                                                if i in values])


def real_prefill(database: Database, *, hang: bool) -> Prefill:
    # Assurance ids are passed through as acr values: no catalogue is loaded in this process.
    ladder: Any = SimpleNamespace(catalogue=SimpleNamespace(assurance=SimpleNamespace(level=lambda _id: None)))
    port = gateway_prefill(data_services(database).gateway, cast(CatalogueStore, ladder))

    async def prefill(request: PrefillRequest) -> PrefillResult:
        result = await port(request)
        if hang:
            print("fetched", flush=True)
            await asyncio.Event().wait()
        return result

    return prefill


async def main(address: str, task_queue: str, db_path: str, mode: str = "fake") -> None:
    client = await Client.connect(address, data_converter=data_converter(CODEC_KEY))
    database = Database(f"sqlite+aiosqlite:///{db_path}")
    # As the engine does in a worker process: inputs naming their snapshot by reference read it from the database.
    pinned.use_loader(SnapshotStore(database).pinned)
    prefill = fake_prefill if mode == "fake" else real_prefill(database, hang=mode == "gateway-hang")
    async with DeliveryClient() as http:
        activities = ApplicationActivities(database, Signer(bytes(32)), prefill, http, CIPHER)
        worker = build_worker(client, task_queue, activities.all())
        print("ready", flush=True)
        await worker.run()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:5]))
