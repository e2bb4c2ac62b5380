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
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import temporalio
import temporalio.bridge.worker as bridge_worker
from temporalio.api.common.v1 import Payload
from temporalio.converter import DataConverter

from onestop.engine.crypto.codec import EncryptionCodec

try:  # private pieces of the SDK: another release may have moved them, and then the SDK keeps its own walks
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

_SDK_DECODE = bridge_worker.decode_activation
_SDK_ENCODE = bridge_worker.encode_completion


def _chained(*steps: Steps) -> Steps:
    async def walk(payloads: Sequence[Payload]) -> list[Payload]:
        for step in steps:
            payloads = await step(payloads)
        return list(payloads)

    return walk


def _decoding(converter: DataConverter) -> Steps:
    # decode_activation's three walks, in their order, at one list.
    return _chained(converter._decode_reference_payload_sequence, converter._external_retrieve_payload_sequence,
                    converter._decode_payload_sequence)


def _encoding(converter: DataConverter) -> Steps:
    # encode_completion's three walks, in their order, at one list.
    return _chained(converter._encode_payload_sequence, converter._external_store_payload_sequence,
                    converter._encode_reference_payload_sequence)


async def _walk_once(message: Any, steps: Steps, headers: bool) -> StorageOperationMetrics:
    await CommandAwarePayloadVisitor(skip_search_attributes=True, skip_headers=not headers) \
        .visit(bridge_worker._Visitor(steps), message)
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
    return await _walk_once(activation, _decoding(data_converter), decode_headers)


async def encode_completion(completion: Any, data_converter: DataConverter, encode_headers: bool,
                            storage_concurrency_limit: int) -> StorageOperationMetrics:
    """The SDK's ``encode_completion`` in one walk for our converter (which stores nothing externally)."""
    if not _ours(data_converter):
        return await _SDK_ENCODE(completion, data_converter, encode_headers, storage_concurrency_limit)
    return await _walk_once(completion, _encoding(data_converter), encode_headers)


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
