"""One payload walk per workflow activation and per completion (``engine/payloadwalks.py``), with exactly what the
SDK's three walks made of every payload, its errors for external-storage references, and the SDK's own functions
for a converter that stores payloads externally."""

from __future__ import annotations

import dataclasses
import os
import uuid
from collections.abc import Iterator, Sequence
from datetime import timedelta
from typing import Any

import pytest
import temporalio
import temporalio.bridge.worker as bridge_worker
from temporalio import activity, workflow
from temporalio.api.common.v1 import Payload
from temporalio.bridge._visitor import PayloadVisitor
from temporalio.bridge.proto.workflow_activation import WorkflowActivation
from temporalio.bridge.proto.workflow_completion import WorkflowActivationCompletion
from temporalio.client import Client
from temporalio.converter import DataConverter, PayloadCodec, WithSerializationContext
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker
from temporalio.worker._command_aware_visitor import current_command_info

from onestop.engine import payloadwalks
from onestop.engine.crypto.codec import ENCODING, data_converter
from onestop.engine.temporal import build_worker

CONVERTER = data_converter(os.urandom(32))


@pytest.fixture
def walks() -> Iterator[list[str]]:
    """The root message of every payload walk made while the test runs."""
    seen: list[str] = []
    visit = PayloadVisitor.visit  # the command-aware visitor's too (it inherits it)

    async def counted(self: PayloadVisitor, fs: Any, root: Any) -> None:
        seen.append(root.DESCRIPTOR.name)
        await visit(self, fs, root)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(PayloadVisitor, "visit", counted)
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


class _Instance:
    """The part of a workflow instance a command-aware converter asks: the serialization context of a command."""

    def __init__(self) -> None:
        self.asked: list[Any] = []

    def get_serialization_context(self, command: Any) -> Any:
        self.asked.append(command)
        return None  # the context-free converter

    def get_external_store_context(self, command: Any) -> Any:
        return None


def _command_aware(converter: DataConverter, instance: _Instance) -> DataConverter:
    """A workflow's converter as the SDK makes it for each activation."""
    from temporalio.converter import WorkflowSerializationContext
    from temporalio.worker._workflow import _CommandAwareDataConverter

    context = WorkflowSerializationContext(namespace="default", workflow_id="app-1")
    return _CommandAwareDataConverter.create(instance=instance, context_free_dc=converter,  # type: ignore[arg-type]
                                             workflow_context_dc=converter.with_context(context),
                                             workflow_context=context)


class _Labelling(PayloadCodec, WithSerializationContext):
    """A codec that reads the serialization context: it labels each payload with the command it belongs to."""

    def __init__(self) -> None:
        self.command: str = "none"

    def with_context(self, context: Any) -> _Labelling:
        return self

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        info = current_command_info.get()
        label = "none" if info is None else f"{info.command_type}/{info.command_seq}"
        return [Payload(metadata={**p.metadata, "command": label.encode()}, data=p.data) for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return list(payloads)


async def test_a_workflows_converter_walks_without_asking_each_commands_context(walks: list[str]) -> None:
    # Our codec reads no context: every converter the command-aware one could pick has the same codec.
    instance = _Instance()
    converter = _command_aware(CONVERTER, instance)
    assert payloadwalks._context_free(converter)
    ours, theirs = await _activation(), await _activation()
    await payloadwalks.decode_activation(ours, converter, True, 1)
    assert instance.asked == []
    await payloadwalks._SDK_DECODE(theirs, converter, True, 1)
    assert instance.asked  # the SDK asks at every list
    assert ours == theirs
    encoded, sdk_encoded = _completion(), _completion()
    await payloadwalks.encode_completion(encoded, converter, True, 1)
    await payloadwalks._SDK_ENCODE(sdk_encoded, converter, True, 1)
    assert await CONVERTER.payload_codec.decode(_payloads(encoded)) == \
        await CONVERTER.payload_codec.decode(_payloads(sdk_encoded))  # type: ignore[union-attr]
    assert walks.count("WorkflowActivationCompletion") == 1 + 3  # ours in one walk, the SDK's in three


async def test_a_codec_that_reads_the_context_is_walked_command_by_command() -> None:
    labelling = dataclasses.replace(CONVERTER, payload_codec=_Labelling())
    converter = _command_aware(labelling, _Instance())
    assert not payloadwalks._context_free(converter)
    assert payloadwalks._ours(CONVERTER)
    assert not payloadwalks._context_free(labelling)
    ours, theirs = _completion(), _completion()
    await payloadwalks._walk_once(ours, payloadwalks._encoding(converter, False), True, False)
    await payloadwalks._SDK_ENCODE(theirs, converter, True, 1)
    assert ours == theirs
    labels = [p.metadata["command"] for p in _payloads(ours)]
    # The update's answer, outside any command; the local activity's argument, in its command (type 1, seq 1).
    assert labels == [b"none", b"1/1"]


def _filled(message: Any, counter: list[int], last: bool, depth: int = 0) -> None:
    """Every payload field of ``message`` and of the messages in it (the first or the ``last`` member of each
    oneof), each payload with data of its own. Written from the protocol's descriptors, apart from the SDK's
    visitor."""
    if depth > 5:
        return
    for field in message.DESCRIPTOR.fields:
        oneof = field.containing_oneof
        if oneof is not None and field is not oneof.fields[-1 if last else 0]:
            continue
        kind = field.message_type
        if kind is None:
            continue
        counter[0] += 1
        data = f"p{counter[0]}".encode()
        if kind.GetOptions().map_entry:
            value = kind.fields_by_name["value"].message_type
            if value is not None and value.full_name == "temporal.api.common.v1.Payload":
                getattr(message, field.name)["k"].data = data
            continue
        if kind.full_name == "temporal.api.common.v1.Payload":
            if field.is_repeated:
                getattr(message, field.name).add(data=data)
            else:
                getattr(message, field.name).data = data
        elif field.is_repeated:
            _filled(getattr(message, field.name).add(), counter, last, depth + 1)
        else:
            _filled(getattr(message, field.name), counter, last, depth + 1)
            if not getattr(message, field.name).ListFields():
                getattr(message, field.name).SetInParent()


class _Seen:
    """Visitor functions that record every payload visited, in order, and change nothing."""

    def __init__(self) -> None:
        self.seen: list[bytes] = []

    async def steps(self, payloads: Sequence[Payload]) -> list[Payload]:
        self.seen += [p.data for p in payloads]
        return list(payloads)


@pytest.mark.parametrize("headers", [True, False])
@pytest.mark.parametrize("last", [False, True])
async def test_the_dispatching_visitor_visits_every_variant_as_the_sdks_visitor(headers: bool, last: bool) -> None:
    assert payloadwalks.PRIVATE_PIECES
    visited: set[str] = set()
    for root, field in ((WorkflowActivation, "jobs"), (WorkflowActivationCompletion, "commands")):
        item = WorkflowActivation.DESCRIPTOR.fields_by_name["jobs"].message_type if field == "jobs" else \
            WorkflowActivationCompletion.DESCRIPTOR.fields_by_name["successful"].message_type \
            .fields_by_name["commands"].message_type
        for variant in item.oneofs_by_name["variant"].fields:
            message = root(run_id="run")
            entry = message.jobs.add() if field == "jobs" else message.successful.commands.add()
            _filled(getattr(entry, variant.name), [0], last)
            getattr(entry, variant.name).SetInParent()
            if field == "commands":
                _filled(entry.user_metadata, [100], last)
                _filled(entry.event_group_markers.add(), [200], last)
            theirs, ours = _Seen(), _Seen()
            sdk = PayloadVisitor(skip_search_attributes=True, skip_headers=not headers)
            await sdk.visit(bridge_worker._Visitor(theirs.steps), message)
            await payloadwalks._PLAIN[headers].visit(bridge_worker._Visitor(ours.steps), message)
            assert ours.seen == theirs.seen, variant.name
            if len(ours.seen) > (0 if field == "jobs" else 2):  # beyond the command's metadata
                visited.add(variant.name)
    # The variants our workflows' activations and completions carry payloads in were among those compared (with
    # the first member of each oneof: a successful result, not a backoff).
    assert last or visited >= {"initialize_workflow", "signal_workflow", "resolve_activity", "do_update",
                       "schedule_activity", "schedule_local_activity", "update_response"}
