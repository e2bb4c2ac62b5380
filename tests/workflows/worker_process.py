"""A worker in its own process, so a test can kill -9 it mid-application.

Usage: python -m ... <temporal address> <task queue> <database path>
"""

from __future__ import annotations

import asyncio
import sys

import httpx
from temporalio.client import Client

from onestop.engine.applications.activities import ApplicationActivities
from onestop.engine.crypto.cipher import FieldCipher, KeyRing
from onestop.engine.crypto.codec import data_converter
from onestop.engine.crypto.signing import Signer
from onestop.engine.db import Database
from onestop.engine.temporal import build_worker
from onestop.workflows.contracts import PrefillItem, PrefillRequest, PrefillResult

CODEC_KEY = bytes(range(32))
CIPHER = FieldCipher(KeyRing.single(bytes(range(32, 64))))  # the same data key as tests/workflows/conftest.py


async def prefill(request: PrefillRequest) -> PrefillResult:
    values = {"eme.nameEn": "CHAN Tai Man", "eme.hkid": "A123456(3)"}
    return PrefillResult("consent-subprocess", [PrefillItem(i, values[i], "e-ME") for i in request.items
                                                if i in values])


async def main(address: str, task_queue: str, db_path: str) -> None:
    client = await Client.connect(address, data_converter=data_converter(CODEC_KEY))
    database = Database(f"sqlite+aiosqlite:///{db_path}")
    async with httpx.AsyncClient() as http:
        activities = ApplicationActivities(database, Signer(bytes(32)), prefill, http, CIPHER)
        worker = build_worker(client, task_queue, activities.all())
        print("ready", flush=True)
        await worker.run()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
