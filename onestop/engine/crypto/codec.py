"""AES-GCM payload codec: Temporal stores and shows only ciphertext of application data."""

from __future__ import annotations

import functools
import hashlib
import os
import zlib
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any, Self

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import TypeAdapter
from pydantic_core import to_json
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import PydanticJSONPlainPayloadConverter
from temporalio.converter import (
    CompositePayloadConverter,
    DataConverter,
    DefaultFailureConverterWithEncodedAttributes,
    DefaultPayloadConverter,
    EncodingPayloadConverter,
    JSONPlainPayloadConverter,
    PayloadCodec,
    SerializationContext,
    WithSerializationContext,
)

from onestop.config import Settings
from onestop.engine.applications import pinned
from onestop.workflows.contracts import ApplicationInput

ENCODING = b"binary/encrypted+aes256gcm"
_NONCE = 12
_COMPRESSION = b"zlib"
_COMPRESS_FROM = 256  # bytes; smaller payloads gain nothing
_MAX_PLAIN = 8 * 1024 * 1024  # a decompressed payload never exceeds Temporal's own limits by this much


def key_id(key: bytes) -> str:
    """A short public fingerprint of a key, stored beside each payload so keys can be rotated."""
    return hashlib.sha256(b"onestop-codec:" + key).hexdigest()[:16]


class CodecKeyError(Exception):
    """A payload was encrypted with a key this process does not hold."""

    code = "CODEC_UNKNOWN_KEY"

    def __init__(self, kid: str) -> None:
        super().__init__(f"payload encrypted with codec key id {kid!r}, which is not configured; after a key "
                         "rotation, list the old key in ONESTOP_CODEC_KEY_PREVIOUS to decode it")
        self.kid = kid


class EncryptionCodec(PayloadCodec):
    """Encrypts with the first key; decrypts with any key it holds (old keys stay for rotation)."""

    def __init__(self, key: bytes, old_keys: Sequence[bytes] = ()) -> None:
        if len(key) != 32:
            raise ValueError("the codec key must be 32 bytes")
        self._kid = key_id(key)
        self._ciphers: Mapping[str, AESGCM] = {key_id(k): AESGCM(k) for k in (key, *old_keys)}
        # The same, by the key id's bytes as the metadata carries them (and as the associated data binds them).
        self._by_kid: Mapping[bytes, AESGCM] = {kid.encode(): cipher for kid, cipher in self._ciphers.items()}
        # What every sealed payload's metadata says, plain and compressed: copied into each new payload, which
        # costs a third of building its metadata map afresh.
        kid = self._kid.encode()
        self._sealed = Payload(metadata={"encoding": ENCODING, "encryption-key-id": kid})
        self._sealed_compressed = Payload(metadata={"encoding": ENCODING, "encryption-key-id": kid,
                                                    "compression": _COMPRESSION})

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        kid = self._kid.encode()
        encrypt = self._by_kid[kid].encrypt
        out = []
        for payload in payloads:
            nonce = os.urandom(_NONCE)
            plain = payload.SerializeToString()
            # Compressed before encryption (ciphertext does not compress): application JSON shrinks several
            # times, and every byte of history is stored and shipped for the life of the application.
            sealed = Payload()
            if len(plain) >= _COMPRESS_FROM:
                plain = zlib.compress(plain, 6)
                sealed.CopyFrom(self._sealed_compressed)
            else:
                sealed.CopyFrom(self._sealed)
            # The key id is bound as associated data so a payload cannot be re-labelled to another key.
            sealed.data = nonce + encrypt(nonce, plain, kid)
            out.append(sealed)
        return out

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        out = []
        for payload in payloads:
            metadata = payload.metadata
            if metadata.get("encoding", b"") != ENCODING:
                out.append(payload)
                continue
            kid = metadata["encryption-key-id"]
            cipher = self._by_kid.get(kid)
            if cipher is None:
                raise CodecKeyError(kid.decode())
            data = memoryview(payload.data)
            plain = cipher.decrypt(data[:_NONCE], data[_NONCE:], kid)
            if metadata.get("compression") == _COMPRESSION:
                plain = _inflate(plain)
            inner = Payload.FromString(plain)
            ref = inner.metadata.get(pinned.METADATA_KEY)
            if ref is not None:
                # Here, not in the converter: loading a pinned snapshot is I/O, and the converter runs inside the
                # workflow sandbox, where none is allowed.
                await pinned.prefetch(ref.decode())
            out.append(inner)
        return out


_JSON_PLAIN = Payload(metadata={"encoding": b"json/plain"})


@functools.lru_cache(maxsize=1024)
def _type_adapter(type_hint: Any) -> TypeAdapter[Any]:
    return TypeAdapter(type_hint)


class _SharedAdaptersJSONConverter(PydanticJSONPlainPayloadConverter):
    """pydantic JSON with one TypeAdapter per type for the whole process.

    Temporal builds a payload converter per workflow instance, so the stock per-converter cache starts cold for
    every application and rebuilds the adapters of the large workflow input and view each time (milliseconds
    per type). Adapters are immutable and safe to share.
    """

    def to_payload(self, value: Any) -> Payload | None:
        # As pydantic's converter writes it (``to_json``, no options: ours are made without), in a payload copied
        # from one that says the encoding: a third of the cost of building its metadata map each time.
        payload = Payload()
        payload.CopyFrom(_JSON_PLAIN)
        payload.data = to_json(value)
        if isinstance(value, ApplicationInput) and value.service is None \
                and value.service_ref:
            payload.metadata[pinned.METADATA_KEY] = value.service_ref.encode()
        return payload

    def from_payload(self, payload: Payload, type_hint: type | None = None) -> Any:
        hint: Any = type_hint if type_hint is not None else Any
        try:
            adapter = _type_adapter(hint)
        except TypeError:
            adapter = TypeAdapter(hint)  # an unhashable hint: no cache
        value = adapter.validate_json(payload.data)
        # The snapshot a workflow input names by reference, back in place (the codec has loaded it).
        return pinned.resolve(value) if isinstance(value, ApplicationInput) else value


_JSON = _SharedAdaptersJSONConverter()
_CONVERTERS: Mapping[bytes, EncodingPayloadConverter] = MappingProxyType({
    c.encoding.encode(): c for c in (_JSON if isinstance(c, JSONPlainPayloadConverter) else c
                                      for c in DefaultPayloadConverter.default_encoding_payload_converters)
})
_TAKE_CONTEXT = any(isinstance(c, WithSerializationContext) for c in _CONVERTERS.values())


class PayloadConverter(CompositePayloadConverter):
    """Temporal's default converters, with pydantic JSON (shared adapters) in place of the plain JSON one.

    The SDK builds a data converter, and so one of these, twice per workflow activation (for the activation's
    serialization context). The converters are stateless, so every instance shares one set built at import: no
    serializer, cache or dict is made per activation. None of them reads the serialization context, so
    ``with_context`` is the instance itself.
    """

    def __init__(self) -> None:  # no super().__init__(): it would build the converters again
        self.converters = _CONVERTERS

    def with_context(self, context: SerializationContext) -> Self:
        return self if not _TAKE_CONTEXT else super().with_context(context)


def _inflate(data: bytes) -> bytes:
    inflater = zlib.decompressobj()
    plain = inflater.decompress(data, _MAX_PLAIN)
    if inflater.unconsumed_tail:
        raise ValueError(f"a compressed payload inflates past {_MAX_PLAIN} bytes; refusing it")
    return plain


def data_converter(key: bytes, old_keys: Sequence[bytes] = ()) -> DataConverter:
    """The converter every onestop client uses: encrypted payloads and encrypted failure messages/stacks."""
    # pydantic-core converts our dataclasses about 30 times faster than the default JSON converter's
    # type-hint walk, and reads payloads written by it (recorded histories keep replaying).
    return DataConverter(
        payload_converter_class=PayloadConverter,
        payload_codec=EncryptionCodec(key, old_keys),
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )


def data_converter_for(settings: Settings) -> DataConverter:
    """``data_converter`` with ``ONESTOP_CODEC_KEY``, still reading ``ONESTOP_CODEC_KEY_PREVIOUS`` payloads."""
    return data_converter(settings.key_bytes("codec_key"), settings.previous_key_bytes("codec_key"))
