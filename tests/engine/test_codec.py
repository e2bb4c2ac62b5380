"""The AES-GCM payload codec: ciphertext out, the original back, keys rotate, tampering is caught."""

from __future__ import annotations

import pytest
from cryptography.exceptions import InvalidTag
from temporalio.api.common.v1 import Payload

from onestop.engine.crypto.codec import ENCODING, CodecKeyError, EncryptionCodec, key_id

OLD, NEW = bytes(32), bytes(range(32))


def payload(text: str) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=text.encode())


async def test_encoded_payloads_hide_the_data_and_decode_back() -> None:
    codec = EncryptionCodec(NEW)
    [sealed] = await codec.encode([payload('{"hkid": "A123456(3)"}')])
    assert sealed.metadata["encoding"] == ENCODING
    assert sealed.metadata["encryption-key-id"] == key_id(NEW).encode()
    assert b"A123456" not in sealed.data
    [opened] = await codec.decode([sealed])
    assert opened == payload('{"hkid": "A123456(3)"}')


async def test_a_rotated_key_still_decodes_old_payloads() -> None:
    [sealed] = await EncryptionCodec(OLD).encode([payload("old")])
    [opened] = await EncryptionCodec(NEW, old_keys=[OLD]).decode([sealed])
    assert opened.data == b"old"


async def test_an_unknown_key_id_names_the_key() -> None:
    [sealed] = await EncryptionCodec(OLD).encode([payload("x")])
    with pytest.raises(CodecKeyError) as error:
        await EncryptionCodec(NEW).decode([sealed])
    assert error.value.kid == key_id(OLD)


async def test_tampered_ciphertext_is_refused() -> None:
    codec = EncryptionCodec(NEW)
    [sealed] = await codec.encode([payload("x")])
    sealed.data = sealed.data[:-1] + bytes([sealed.data[-1] ^ 1])
    with pytest.raises(InvalidTag):
        await codec.decode([sealed])


async def test_relabelling_a_payload_to_another_key_id_fails() -> None:
    codec = EncryptionCodec(NEW, old_keys=[OLD])
    [sealed] = await codec.encode([payload("x")])
    sealed.metadata["encryption-key-id"] = key_id(OLD).encode()
    with pytest.raises(InvalidTag):
        await codec.decode([sealed])


async def test_unencrypted_payloads_pass_through() -> None:
    assert await EncryptionCodec(NEW).decode([payload("plain")]) == [payload("plain")]


def test_fresh_payload_converters_share_one_type_adapter_per_type() -> None:
    """Temporal builds a converter per workflow; building a TypeAdapter each time cost milliseconds per type."""
    from onestop.engine.crypto.codec import PayloadConverter, _type_adapter
    from onestop.workflows.contracts import OpenInput

    payloads = PayloadConverter().to_payloads([OpenInput("cmid")])
    before = _type_adapter.cache_info()
    decoded = [PayloadConverter().from_payloads(payloads, [OpenInput])[0] for _ in range(3)]
    after = _type_adapter.cache_info()
    assert decoded == [OpenInput("cmid")] * 3
    assert after.misses - before.misses <= 1
    assert after.hits - before.hits >= 2


async def test_large_payloads_are_compressed_before_encryption_and_decode_back() -> None:
    codec = EncryptionCodec(NEW)
    steps = ", ".join(f'{{"id": "step-{i}", "title": {{"en": "Your details"}}}}' for i in range(80))
    text = '{"steps": [' + steps + "]}"
    [sealed] = await codec.encode([payload(text)])
    assert sealed.metadata["compression"] == b"zlib"
    assert len(sealed.data) < len(text) / 4
    assert (await codec.decode([sealed])) == [payload(text)]
    [small] = await codec.encode([payload('{"a": 1}')])
    assert "compression" not in small.metadata


async def test_payloads_written_before_compression_still_decode() -> None:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce = bytes(12)
    plain = payload('{"x": "' + "y" * 500 + '"}')
    sealed = Payload(metadata={"encoding": ENCODING, "encryption-key-id": key_id(NEW).encode()},
                     data=nonce + AESGCM(NEW).encrypt(nonce, plain.SerializeToString(), key_id(NEW).encode()))
    assert (await EncryptionCodec(NEW).decode([sealed])) == [plain]


async def test_a_payload_that_inflates_past_the_limit_is_refused() -> None:
    import zlib

    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce = bytes(12)
    bomb = zlib.compress(b"\0" * (9 * 1024 * 1024))
    sealed = Payload(metadata={"encoding": ENCODING, "encryption-key-id": key_id(NEW).encode(),
                               "compression": b"zlib"},
                     data=nonce + AESGCM(NEW).encrypt(nonce, bomb, key_id(NEW).encode()))
    with pytest.raises(ValueError, match="inflates"):
        await EncryptionCodec(NEW).decode([sealed])


def test_payload_converters_share_converters_built_once_and_ignore_the_serialization_context() -> None:
    """The SDK makes a data converter, so a payload converter, twice per workflow activation: nothing is built."""
    from temporalio.converter import WorkflowSerializationContext

    from onestop.engine.crypto.codec import PayloadConverter, data_converter

    first, second = PayloadConverter(), PayloadConverter()
    assert first.converters is second.converters
    assert list(first.converters) == [b"binary/null", b"binary/plain", b"json/protobuf", b"binary/protobuf",
                                      b"json/plain"]
    context = WorkflowSerializationContext(namespace="default", workflow_id="app-1")
    assert first.with_context(context) is first
    converter = data_converter(NEW)
    assert converter.with_context(context) is converter


async def test_a_sealed_payload_is_the_payload_the_codec_always_wrote(monkeypatch: pytest.MonkeyPatch) -> None:
    """Sealed payloads are built from a template: the same payload as built field by field, of the same size
    (history stays the same size, and a worker of an earlier release reads them). Compared as messages: the order in
    which protobuf writes a map's entries is its own, and may differ between two equal maps."""
    import zlib

    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce = bytes(range(12))
    monkeypatch.setattr("onestop.engine.crypto.codec.os.urandom", lambda n: nonce[:n])
    kid = key_id(NEW).encode()
    small, large = payload('{"a": 1}'), payload('{"x": "' + "y" * 500 + '"}')
    sealed = await EncryptionCodec(NEW).encode([small, large])
    compressed = zlib.compress(large.SerializeToString(), 6)
    built = [
        Payload(metadata={"encoding": ENCODING, "encryption-key-id": kid},
                data=nonce + AESGCM(NEW).encrypt(nonce, small.SerializeToString(), kid)),
        Payload(metadata={"encoding": ENCODING, "encryption-key-id": kid, "compression": b"zlib"},
                data=nonce + AESGCM(NEW).encrypt(nonce, compressed, kid)),
    ]
    assert sealed == built
    assert [s.ByteSize() for s in sealed] == [b.ByteSize() for b in built]
    assert [Payload.FromString(s.SerializeToString()) for s in sealed] == built
    assert await EncryptionCodec(NEW).decode(sealed) == [small, large]
    sealed[0].metadata["encoding"] = b"json/plain"  # the template is copied, never shared
    assert (await EncryptionCodec(NEW).encode([small]))[0].metadata["encoding"] == ENCODING


def test_json_payloads_are_byte_for_byte_what_pydantics_converter_writes() -> None:
    from temporalio.contrib.pydantic import PydanticJSONPlainPayloadConverter

    from onestop.engine.crypto.codec import _JSON
    from onestop.workflows.contracts import OpenInput, PrefillItem, PrefillResult

    stock = PydanticJSONPlainPayloadConverter()
    values = [OpenInput("cmid"), PrefillResult("c-1", [PrefillItem("p.name", {"en": "Chan"}, "ImmD", True)]),
              {"a": [1, 2.5, None], "b": "字"}, "prefill", 7, None, True]
    for value in values:
        ours = _JSON.to_payload(value)
        assert ours is not None
        assert ours.SerializeToString() == stock.to_payload(value).SerializeToString()  # type: ignore[union-attr]
    first, second = _JSON.to_payload("a"), _JSON.to_payload("b")
    assert first is not None
    assert second is not None
    assert first.data == b'"a"'  # each its own payload: the template is copied, never shared
