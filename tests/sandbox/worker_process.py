"""A worker in its own process with the sandbox provisioning activity, so a test can kill -9 it mid-provisioning.

Usage: python -m tests.sandbox.worker_process <temporal address> <task queue> <definitions dir> <data dir>

The activity writes the sandbox row, prints ``provisioning`` and then hangs (heartbeating) until it is killed.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from temporalio import activity
from temporalio.client import Client

from onestop.config import Environment, Settings
from onestop.engine.crypto.cipher import FieldCipher, KeyRing
from onestop.engine.crypto.codec import data_converter
from onestop.engine.db import Database
from onestop.engine.sandbox import SandboxActivities, SandboxProvisioner
from onestop.engine.temporal import build_worker


async def hang(step: str) -> None:
    print(step, flush=True)
    while True:
        activity.heartbeat(step)
        await asyncio.sleep(0.5)


async def main(address: str, task_queue: str, definitions: str, data_dir: str) -> None:
    settings = Settings(
        env=Environment.DEVELOPMENT,
        definitions=Path(definitions),
        data_dir=Path(data_dir),
        temporal_task_queue=task_queue,
    )
    database = Database.from_settings(settings)
    provisioner = SandboxProvisioner(database, FieldCipher(KeyRing.from_settings(settings)), between_steps=hang)
    client = await Client.connect(address, data_converter=data_converter(settings.key_bytes("codec_key")))
    async with build_worker(client, task_queue, SandboxActivities(provisioner).all()):
        await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:5]))
