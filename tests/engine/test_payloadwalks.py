"""One payload walk per workflow activation and per completion (``engine/payloadwalks.py``), with exactly what the
SDK's three walks made of every payload, its errors for external-storage references, and the SDK's own functions
for a converter that stores payloads externally."""

from __future__ import annotations

import dataclasses
import os
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import temporalio
import temporalio.bridge.worker as bridge_worker
from temporalio import activity, workflow
from temporalio.api.common.v1 import Payload
from temporalio.bridge.proto.workflow_activation import WorkflowActivation
from temporalio.bridge.proto.workflow_completion import WorkflowActivationCompletion
from temporalio.client import Client
from temporalio.converter import DataConverter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker
from temporalio.worker._command_aware_visitor import CommandAwarePayloadVisitor

from onestop.engine import payloadwalks
from onestop.engine.crypto.codec import ENCODING, data_converter
from onestop.engine.temporal import build_worker

CONVERTER = data_converter(os.urandom(32))


@pytest.fixture
def walks() -> Iterator[list[str]]:
    """The root message of every payload walk made while the test runs."""
    seen: list[str] = []
    visit = CommandAwarePayloadVisitor.visit

    async def counted(self: CommandAwarePayloadVisitor, fs: Any, root: Any) -> None:
        seen.append(root.DESCRIPTOR.name)
        await visit(self, fs, root)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(CommandAwarePayloadVisitor, "visit", counted)
        yield seen


async def _activation() -> WorkflowActivation:
    update, header, result = await CONVERTER.encode([{"answers": {"name": "Chan Tai Man" * 30}}, {"trace": "t"}, 7])
    activation = WorkflowActivation(run_id="run")
    job = activation.jobs.add()
    job.do_update.id, job.do_update.name = "u1", "submitStep"
    job.do_update.input.append(update)
    job.do_update.headers["trace"].CopyFrom(header)
    activation.jobs.add().resolve_activity.result.completed.result.CopyFrom(result)
    return activation


def _completion() -> WorkflowActivationCompletion:
    plain = CONVERTER.payload_converter.to_payloads([{"status": "IN_PROGRESS", "steps": ["a"] * 200}, "prefill"])
    completion = WorkflowActivationCompletion(run_id="run")
    completion.successful.commands.add().update_response.completed.CopyFrom(plain[0])
    command = completion.successful.commands.add().schedule_local_activity
    command.seq, command.activity_type = 1, "onestop.prefill"
    command.arguments.append(plain[1])
    return completion


def _payloads(message: Any) -> list[Payload]:
    """Every payload in a message, in field order (written apart from the SDK's visitor, which is under test)."""
    if isinstance(message, Payload):
        return [message]
    found: list[Payload] = []
    for _, value in message.ListFields():
        if hasattr(value, "ListFields"):
            found += _payloads(value)
            continue
        items = value.values() if callable(getattr(value, "keys", None)) else value
        if isinstance(items, str | bytes | int | float):
            continue
        found += [p for item in items if hasattr(item, "ListFields") for p in _payloads(item)]
    return found


def test_the_sdk_functions_are_the_ones_the_fused_walks_replace() -> None:
    # Written against these signatures; fuse() leaves the SDK alone when they change (checked here so that an SDK
    # upgrade that changes them fails a test rather than quietly walking three times again).
    assert payloadwalks.fuse()
    assert bridge_worker.decode_activation is payloadwalks.decode_activation
    assert bridge_worker.encode_completion is payloadwalks.encode_completion


async def test_an_activation_is_decoded_in_one_walk_as_the_sdk_decodes_it(walks: list[str]) -> None:
    ours, theirs = await _activation(), await _activation()
    await payloadwalks.decode_activation(ours, CONVERTER, True, 1)
    assert walks == ["WorkflowActivation"]
    await payloadwalks._SDK_DECODE(theirs, CONVERTER, True, 1)
    assert len(walks) == 4  # the SDK's own: three walks
    assert ours == theirs
    assert all(p.metadata["encoding"] == b"json/plain" for p in _payloads(ours))
    assert len(_payloads(ours)) == 3


async def test_a_completion_is_encoded_in_one_walk_as_the_sdk_encodes_it(walks: list[str]) -> None:
    ours, theirs = _completion(), _completion()
    await payloadwalks.encode_completion(ours, CONVERTER, True, 1)
    assert walks == ["WorkflowActivationCompletion"]
    await payloadwalks._SDK_ENCODE(theirs, CONVERTER, True, 1)
    assert len(walks) == 4
    # Fresh nonces make the ciphertexts differ: every payload is sealed, and opens to the same plain payload.
    assert all(p.metadata["encoding"] == ENCODING for p in _payloads(ours))
    assert await CONVERTER.payload_codec.decode(_payloads(ours)) == \
        await CONVERTER.payload_codec.decode(_payloads(theirs)) == _payloads(_completion())  # type: ignore[union-attr]


async def test_an_external_storage_reference_fails_as_in_the_sdk() -> None:
    for mark in ({"encoding": b"json/external-storage-reference"}, {"__temporal_external_storage_reference": b"true"}):
        ours, theirs = await _activation(), await _activation()
        for activation in (ours, theirs):
            activation.jobs[1].resolve_activity.result.completed.result.metadata.update(mark)
        with pytest.raises(RuntimeError, match="TMPRL1105") as sdk:
            await payloadwalks._SDK_DECODE(theirs, CONVERTER, True, 1)
        with pytest.raises(RuntimeError, match="TMPRL1105") as fused:
            await payloadwalks.decode_activation(ours, CONVERTER, True, 1)
        assert str(fused.value) == str(sdk.value)


async def test_any_converter_but_ours_goes_through_the_sdk(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    async def sdk_decode(*args: Any) -> str:
        calls.append("decode")
        return "sdk"

    async def sdk_encode(*args: Any) -> str:
        calls.append("encode")
        return "sdk"

    monkeypatch.setattr(payloadwalks, "_SDK_DECODE", sdk_decode)
    monkeypatch.setattr(payloadwalks, "_SDK_ENCODE", sdk_encode)
    storing = dataclasses.replace(CONVERTER)
    object.__setattr__(storing, "external_storage", object())  # stores externally: the SDK's concurrent walks
    for other in (storing, DataConverter.default):  # the default: a bare Temporal worker's, as the bench's baseline
        assert await payloadwalks.decode_activation(await _activation(), other, True, 4) == "sdk"
        assert await payloadwalks.encode_completion(_completion(), other, True, 4) == "sdk"
    assert calls == ["decode", "encode"] * 2
    assert await payloadwalks.decode_activation(await _activation(), CONVERTER, True, 1) != "sdk"


@activity.defn(name="echo")
async def echo(text: str) -> str:
    return text * 2


@workflow.defn(name="EchoesThroughALocalActivity", sandboxed=False)
class Echo:
    @workflow.run
    async def run(self, text: str) -> str:
        heard: str = await workflow.execute_local_activity(echo, text, start_to_close_timeout=timedelta(seconds=10))
        return heard


async def test_a_worker_runs_workflows_with_one_walk_per_activation_and_completion(
        temporal_env: WorkflowEnvironment, walks: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    config = temporal_env.client.config()
    config["data_converter"] = CONVERTER
    client = Client(**config)
    queue = f"walks-{uuid.uuid4().hex}"
    monkeypatch.setattr(bridge_worker, "decode_activation", payloadwalks._SDK_DECODE)
    monkeypatch.setattr(bridge_worker, "encode_completion", payloadwalks._SDK_ENCODE)
    build_worker(client, f"{queue}-built", [])  # every worker we build fuses the walks (for the whole process)
    assert bridge_worker.decode_activation is payloadwalks.decode_activation
    assert bridge_worker.encode_completion is payloadwalks.encode_completion
    through_sdk: list[str] = []  # the SDK's own three walks, which our converter's activations must never take

    def counting(name: str, sdk: Any) -> Any:
        async def walk(*args: Any) -> Any:
            through_sdk.append(name)
            return await sdk(*args)
        return walk

    monkeypatch.setattr(payloadwalks, "_SDK_DECODE", counting("decode", payloadwalks._SDK_DECODE))
    monkeypatch.setattr(payloadwalks, "_SDK_ENCODE", counting("encode", payloadwalks._SDK_ENCODE))
    async with Worker(client, task_queue=queue, workflows=[Echo], activities=[echo],
                      workflow_runner=UnsandboxedWorkflowRunner()):
        handle = await client.start_workflow(Echo.run, "ho", id=queue, task_queue=queue)
        assert await handle.result() == "hoho"
    activations = walks.count("WorkflowActivation")
    assert activations >= 2  # the start, the local activity's result
    assert walks.count("WorkflowActivationCompletion") == activations
    assert through_sdk == []
    # In history, sealed: the input, the local activity's result in its marker, the workflow's result.
    events = (await handle.fetch_history()).events
    started = events[0].workflow_execution_started_event_attributes.input.payloads
    marker = next(e.marker_recorded_event_attributes for e in events if e.HasField("marker_recorded_event_attributes"))
    completed = events[-1].workflow_execution_completed_event_attributes.result.payloads
    sealed = [*started, *marker.details["result"].payloads, *completed]
    assert len(sealed) == 3
    assert all(p.metadata["encoding"] == ENCODING for p in sealed)
    assert await CONVERTER.decode(sealed, [str, str, str]) == ["ho", "hoho", "hoho"]


def test_another_sdk_release_keeps_its_own_walks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bridge_worker, "decode_activation", payloadwalks._SDK_DECODE)
    monkeypatch.setattr(bridge_worker, "encode_completion", payloadwalks._SDK_ENCODE)
    monkeypatch.setattr(temporalio, "__version__", "1.36.0")
    assert payloadwalks.fuse() is False
    assert bridge_worker.decode_activation is payloadwalks._SDK_DECODE
    assert bridge_worker.encode_completion is payloadwalks._SDK_ENCODE
