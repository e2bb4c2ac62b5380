"""One walk over a workflow activation's payloads, and one over its completion's, instead of three each.

Before a workflow activation runs, the SDK walks every payload in it three times (``decode_activation``): once
to decode external-storage references, once to fetch externally stored payloads, once for the payload codec; and
after it, the completion three times (``encode_completion``: codec, external store, references). Each walk is a
generated async visitor over every field of the protocol message (a coroutine per message it enters): about 7 us
for an update's activation on an idle machine, 10-15 us on the bench's loaded one. We store nothing externally
(``DataConverter.external_storage`` is None), so two of each three walks find nothing to do: one walk instead of
three took the SDK's decode and encode of an update's activation and completion from about 60 to 33 us each
(loaded machine), several hundred microseconds per application.

``fuse`` puts in the SDK's place versions that walk once and, at each payload list, apply the three steps the
SDK's walks apply to it, in the same order, through the same data converter methods (so a workflow's
command-aware converter and every error the SDK raises for a reference payload are unchanged). The steps of one
list do not depend on any other list, so a list comes out exactly as from the three walks. The SDK's functions
are module attributes, so the replacement holds for every worker in the process: any converter but ours (our
codec, no external storage), such as the bare Temporal baseline ``bench/applications.py`` runs in the same process,
goes through the SDK's own functions, unchanged.

Two more savings inside the one walk, both exact: our codec reads no serialization context, so the steps run on
the workflow's converter directly instead of through the command-aware converter's per-list context lookup, and
the walk sets no command context (``_context_free``); and the SDK visitor's two busiest dispatchers (a job of an
activation, a command of a completion) find their variant with one ``WhichOneof`` instead of a chain of
``HasField`` tests (``_Dispatching``). Replaying the recorded histories, a decode went from 60 to 45 us and an
encode from 104 to 76 us (same process, alternated passes, medians).
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import temporalio
import temporalio.bridge.worker as bridge_worker
from temporalio.api.common.v1 import Payload
from temporalio.bridge.proto.workflow_activation import WorkflowActivationJob
from temporalio.bridge.proto.workflow_commands import WorkflowCommand
from temporalio.converter import DataConverter, PayloadCodec, WithSerializationContext

from onestop.engine.crypto.codec import EncryptionCodec

try:  # private pieces of the SDK: another release may have moved them, and then the SDK keeps its own walks
    from temporalio.bridge._visitor import PayloadVisitor
    from temporalio.bridge._visitor_functions import VisitorFunctions
    from temporalio.converter._data_converter import _has_reference_marker, _is_reference_payload
    from temporalio.converter._extstore import StorageOperationMetrics
    from temporalio.worker._command_aware_visitor import CommandAwarePayloadVisitor
except ImportError:  # pragma: no cover - only on an SDK release these were not written against
    PRIVATE_PIECES = False
else:
    PRIVATE_PIECES = True

WRITTEN_FOR = "1.35."
"""The SDK releases whose walks these were written against (and checked by tests against): on any other, ``fuse``
leaves the SDK's own in place until someone has read that release's walks and moved this on."""

Steps = Callable[[Sequence[Payload]], Awaitable[list[Payload]]]

_NO_EXTERNAL_STORAGE = "[TMPRL1105] Detected externally stored payload(s) but external storage is not configured."
"""The SDK's refusal of a reference to an externally stored payload when none is configured (its own words)."""

_SDK_DECODE = bridge_worker.decode_activation
_SDK_ENCODE = bridge_worker.encode_completion


def _chained(*steps: Steps) -> Steps:
    async def walk(payloads: Sequence[Payload]) -> list[Payload]:
        for step in steps:
            payloads = await step(payloads)
        return list(payloads)

    return walk


_READS_CONTEXT: dict[type, bool] = {}
"""Whether a codec class may read the serialization context (is a ``WithSerializationContext``)."""


def _context_free(converter: DataConverter) -> bool:
    """True when no step at any list depends on the command the list belongs to.

    A workflow's converter is command-aware: at each list it asks the workflow instance for the serialization
    context of the command the walk is in and makes (or picks) a data converter with that context, whose codec and
    external storage then run. A codec that reads no context (``WithSerializationContext``) comes out of that
    unchanged, the same object, and with nothing stored externally the steps read nothing else: every converter
    the command-aware one would pick runs the very same steps. So they run on it directly, through the base
    ``DataConverter``'s methods, without the context lookup (about a third of a walk's cost), and the walk need not
    track which command it is in.
    """
    codec = converter.payload_codec
    reads = _READS_CONTEXT.get(type(codec))
    if reads is None:  # an isinstance against an abstract class, once per codec class rather than once per walk
        reads = _READS_CONTEXT[type(codec)] = isinstance(codec, WithSerializationContext)
    if reads:
        return False
    free = getattr(converter, "_ca_context_free_dc", None)  # the command-aware converter's context-free one
    return free is None or (free.payload_codec is codec and free.external_storage is None)


def _decoding(converter: DataConverter, free: bool) -> Steps:
    # decode_activation's three walks, in their order, at one list.
    if free and converter.payload_codec is not None:
        return _decoding_plain(converter.payload_codec)
    return _chained(converter._decode_reference_payload_sequence, converter._external_retrieve_payload_sequence,
                    converter._decode_payload_sequence)


def _encoding(converter: DataConverter, free: bool) -> Steps:
    # encode_completion's three walks, in their order, at one list.
    if free and converter.payload_codec is not None:
        return _encoding_plain(converter, converter.payload_codec)
    return _chained(converter._encode_payload_sequence, converter._external_store_payload_sequence,
                    converter._encode_reference_payload_sequence)


def _decoding_plain(codec: PayloadCodec) -> Steps:
    """The three steps at one list, with nothing stored externally: the first two only refuse a reference to an
    externally stored payload (with the SDK's own message), so they are the SDK's tests, inline; then the codec."""

    async def walk(payloads: Sequence[Payload]) -> list[Payload]:
        for payload in payloads:
            if _has_reference_marker(payload) or _is_reference_payload(payload):
                raise RuntimeError(_NO_EXTERNAL_STORAGE)
        return await codec.decode(list(payloads))

    return walk


def _encoding_plain(converter: DataConverter, codec: PayloadCodec) -> Steps:
    """The three steps at one list, with nothing stored externally: the codec; storing, nothing; and the encoding of
    references, which the codec's payloads never are (the SDK's own step when one were)."""

    async def walk(payloads: Sequence[Payload]) -> list[Payload]:
        encoded = await codec.encode(list(payloads))
        if any(_is_reference_payload(payload) for payload in encoded):
            return await DataConverter._encode_reference_payload_sequence(converter, encoded)
        return encoded

    return walk


def _variants(message: Any) -> dict[str, str]:
    """A message's ``variant`` oneof: each field -> the SDK visitor's method for the field's type, for the fields
    whose type has one. The SDK generates its visitor from these descriptors, a ``_visit_<full type name>`` for each
    message type that holds payloads, and its dispatcher's chain tests exactly those fields; a test compares the two
    visitors over every variant."""
    table = {}
    for field in message.DESCRIPTOR.oneofs_by_name["variant"].fields:
        if field.message_type is not None:
            name = "_visit_" + field.message_type.full_name.replace(".", "_")
            if hasattr(PayloadVisitor, name):
                table[field.name] = name
    return table


if PRIVATE_PIECES:
    _JOBS = _variants(WorkflowActivationJob)
    _COMMANDS = _variants(WorkflowCommand)

    class _Dispatching(PayloadVisitor):
        """The SDK's visitor, with its two hottest dispatchers, a chain of up to 22 ``HasField`` tests for each job of
        an activation and each command of a completion, replaced by one ``WhichOneof`` and a lookup of the very method
        the chain awaits for that variant (``_variants``). A variant the chain does not name (a timer, a patch marker:
        no payloads) is passed over, as the chain passes it over."""

        async def _visit_coresdk_workflow_activation_WorkflowActivationJob(self, fs: VisitorFunctions, o: Any) -> None:
            variant = o.WhichOneof("variant")
            name = _JOBS.get(variant) if variant is not None else None
            if name is not None:
                await getattr(self, name)(fs, getattr(o, variant))

        async def _visit_coresdk_workflow_commands_WorkflowCommand(self, fs: VisitorFunctions, o: Any) -> None:
            if o.HasField("user_metadata"):
                await self._visit_temporal_api_sdk_v1_UserMetadata(fs, o.user_metadata)
            for v in o.event_group_markers:
                await self._visit_temporal_api_sdk_v1_EventGroupMarker(fs, v)
            variant = o.WhichOneof("variant")
            name = _COMMANDS.get(variant) if variant is not None else None
            if name is not None:
                await getattr(self, name)(fs, getattr(o, variant))


    # Without command contexts to set, the SDK's plain visitor (with the dispatchers above): the same fields, in the
    # same order. It keeps no state of its own between walks, so one of each serves every walk.
    _PLAIN = {headers: _Dispatching(skip_search_attributes=True, skip_headers=not headers) for headers in (False, True)}


async def _walk_once(message: Any, steps: Steps, headers: bool, free: bool) -> StorageOperationMetrics:
    visitor = _PLAIN[headers] if free else \
        CommandAwarePayloadVisitor(skip_search_attributes=True, skip_headers=not headers)
    await visitor.visit(bridge_worker._Visitor(steps), message)
    return StorageOperationMetrics()  # nothing fetched or stored: what the SDK reports then


def _ours(converter: DataConverter) -> bool:
    # Our codec's converter, storing nothing externally. Any other worker in the process (a benchmark's bare
    # Temporal baseline, a test's plain worker) keeps the SDK's own walks.
    return isinstance(converter.payload_codec, EncryptionCodec) and converter.external_storage is None


async def decode_activation(activation: Any, data_converter: DataConverter, decode_headers: bool,
                            storage_concurrency_limit: int) -> StorageOperationMetrics:
    """The SDK's ``decode_activation`` in one walk for our converter (which stores nothing externally)."""
    if not _ours(data_converter):
        return await _SDK_DECODE(activation, data_converter, decode_headers, storage_concurrency_limit)
    free = _context_free(data_converter)
    return await _walk_once(activation, _decoding(data_converter, free), decode_headers, free)


async def encode_completion(completion: Any, data_converter: DataConverter, encode_headers: bool,
                            storage_concurrency_limit: int) -> StorageOperationMetrics:
    """The SDK's ``encode_completion`` in one walk for our converter (which stores nothing externally)."""
    if not _ours(data_converter):
        return await _SDK_ENCODE(completion, data_converter, encode_headers, storage_concurrency_limit)
    free = _context_free(data_converter)
    return await _walk_once(completion, _encoding(data_converter, free), encode_headers, free)


def fuse() -> bool:
    """Put the one-walk versions in the SDK's place (every worker of the process, idempotent). False, and the SDK's
    own left in place, when this SDK's functions are not the ones these were written against."""
    if bridge_worker.decode_activation is decode_activation:
        return True
    sdk = (_SDK_DECODE, _SDK_ENCODE)
    if not (PRIVATE_PIECES and temporalio.__version__.startswith(WRITTEN_FOR) and all(_matches(f) for f in sdk)
            and hasattr(bridge_worker, "_Visitor")):
        return False
    bridge_worker.decode_activation = decode_activation
    bridge_worker.encode_completion = encode_completion
    return True


def _matches(function: Callable[..., Any]) -> bool:
    headers = "decode_headers" if function is _SDK_DECODE else "encode_headers"
    return tuple(inspect.signature(function).parameters)[1:] == ("data_converter", headers,
                                                                 "storage_concurrency_limit")


__all__ = ["decode_activation", "encode_completion", "fuse"]
