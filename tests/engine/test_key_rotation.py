"""Key rotation through settings: what the old key wrote still reads after a restart with the new key current and
the old one in ``*_PREVIOUS``; new data uses the new key; without the old key the error names the setting."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from onestop.config import Environment, Settings
from onestop.engine.crypto.cipher import FieldCipher, KeyRing, key_id
from onestop.engine.crypto.codec import CodecKeyError, data_converter_for
from onestop.engine.crypto.codec import key_id as codec_key_id
from onestop.engine.crypto.signing import Signer
from onestop.engine.data.gateway import DataServices
from onestop.engine.db import Database
from onestop.engine.errors import DecryptionFailed, SignatureInvalid

KEY_A, KEY_B, KEY_C = bytes(range(32)), bytes(range(1, 33)), bytes(range(2, 34))
CHANGES = {"nameEn": "WONG, Ka Fai", "hkid": "K305518(3)", "phone": "6234 5678"}


def b64(key: bytes) -> str:
    return base64.urlsafe_b64encode(key).rstrip(b"=").decode()


def settings(tmp_path: Path, **keys: Any) -> Settings:
    """Production settings (no key is ever derived on the fly) over one SQLite file."""
    return Settings(env=Environment.PRODUCTION, data_dir=tmp_path, **keys)


@asynccontextmanager
async def process(config: Settings) -> AsyncIterator[DataServices]:
    """The data services one process would build from ``config``."""
    database = Database.from_settings(config)
    await database.create_all()
    try:
        yield DataServices.assemble(database, FieldCipher(KeyRing.from_settings(config)),
                                    Signer(KEY_C), {})
    finally:
        await database.close()


async def stored_key_ids(config: Settings, *columns: str) -> set[str]:
    database = Database.from_settings(config)
    try:
        async with database.engine.connect() as conn:
            rows = (await conn.execute(text(f"SELECT {', '.join(columns)} FROM profiles"))).all()  # noqa: S608
    finally:
        await database.close()
    return {value.split(".")[1] for row in rows for value in row if value is not None}


async def test_rows_written_with_the_old_data_key_read_after_rotation_and_new_writes_use_the_new_key(
        tmp_path: Path) -> None:
    async with process(settings(tmp_path, data_key=b64(KEY_A))) as before:
        written = await before.profiles.update("sub-a", CHANGES)
    rotated = settings(tmp_path, data_key=b64(KEY_B), data_key_previous=f"{b64(KEY_C)}, {b64(KEY_A)}")
    async with process(rotated) as after:
        assert await after.profiles.get("sub-a") == written
        await after.profiles.update("sub-a", {"phone": "9876 5432"})
        assert (await after.profiles.get("sub-a")).phone == "+85298765432"
    assert await stored_key_ids(rotated, "phone") == {key_id(KEY_B)}
    assert await stored_key_ids(rotated, "name_en", "hkid") == {key_id(KEY_A)}


async def test_without_the_old_data_key_reading_names_the_previous_setting(tmp_path: Path) -> None:
    async with process(settings(tmp_path, data_key=b64(KEY_A))) as before:
        await before.profiles.update("sub-a", CHANGES)
    async with process(settings(tmp_path, data_key=b64(KEY_B))) as after:
        with pytest.raises(DecryptionFailed, match="ONESTOP_DATA_KEY_PREVIOUS") as error:
            await after.profiles.get("sub-a")
    assert key_id(KEY_A) in error.value.message


def test_signatures_made_with_the_old_signing_key_verify_after_rotation(tmp_path: Path) -> None:
    old = Signer.from_settings(settings(tmp_path, signing_key=b64(KEY_A)))
    jws = old.sign({"consent": "c-1"}, typ="onestop-consent+jws")
    rotated = Signer.from_settings(settings(tmp_path, signing_key=b64(KEY_B), signing_key_previous=b64(KEY_A)))
    assert rotated.verify(jws, typ="onestop-consent+jws").payload == {"consent": "c-1"}
    new = rotated.verify(rotated.sign({"consent": "c-2"}, typ="onestop-consent+jws"))
    assert new.header["kid"] == rotated.kid != old.kid
    # Departments checking old submissions against the JWKS still find the old public key there.
    assert {key["kid"] for key in rotated.jwks()["keys"]} == {old.kid, rotated.kid}


def test_without_the_old_signing_key_verifying_names_the_previous_setting(tmp_path: Path) -> None:
    jws = Signer.from_settings(settings(tmp_path, signing_key=b64(KEY_A))).sign({"x": 1}, typ="t")
    rotated = Signer.from_settings(settings(tmp_path, signing_key=b64(KEY_B)))
    with pytest.raises(SignatureInvalid, match="ONESTOP_SIGNING_KEY_PREVIOUS"):
        rotated.verify(jws)


async def test_temporal_payloads_from_the_old_codec_key_decode_after_rotation(tmp_path: Path) -> None:
    payloads = await data_converter_for(settings(tmp_path, codec_key=b64(KEY_A))).encode([{"hkid": "K305518(3)"}])
    rotated = data_converter_for(settings(tmp_path, codec_key=b64(KEY_B), codec_key_previous=b64(KEY_A)))
    assert await rotated.decode(payloads, [dict]) == [{"hkid": "K305518(3)"}]
    [fresh] = await rotated.encode(["new"])
    assert fresh.metadata["encryption-key-id"] == codec_key_id(KEY_B).encode()


async def test_without_the_old_codec_key_decoding_names_the_previous_setting(tmp_path: Path) -> None:
    payloads = await data_converter_for(settings(tmp_path, codec_key=b64(KEY_A))).encode(["x"])
    with pytest.raises(CodecKeyError, match="ONESTOP_CODEC_KEY_PREVIOUS"):
        await data_converter_for(settings(tmp_path, codec_key=b64(KEY_B))).decode(payloads, [str])


@pytest.mark.parametrize("name", ["data_key", "codec_key", "signing_key"])
def test_previous_keys_come_from_the_environment_comma_separated(
        name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(f"ONESTOP_{name.upper()}_PREVIOUS", f" {b64(KEY_A)} ,{b64(KEY_C)},")
    assert settings(tmp_path).previous_key_bytes(name) == (KEY_A, KEY_C)


@pytest.mark.parametrize("bad", ["not base64 at all!", b64(bytes(16)), "%%%"])
def test_a_bad_previous_key_names_the_setting_and_the_entry(bad: str, tmp_path: Path) -> None:
    config = settings(tmp_path, data_key=b64(KEY_B), data_key_previous=f"{b64(KEY_A)},{bad}")
    with pytest.raises(ValueError, match=r"ONESTOP_DATA_KEY_PREVIOUS \(entry 2\) must be 32 bytes"):
        KeyRing.from_settings(config)


def test_no_previous_keys_by_default(tmp_path: Path) -> None:
    assert settings(tmp_path).previous_key_bytes("data_key") == ()


def test_previous_keys_are_secret(tmp_path: Path) -> None:
    config = settings(tmp_path, signing_key_previous=b64(KEY_A))
    assert b64(KEY_A) not in repr(config)
    assert b64(KEY_A) not in str(config.model_dump())

