"""Where document content lives: sealed (AES-256-GCM under the data key) before it reaches any store.

A store only ever sees ciphertext; the key ring stays in the process. The associated data binds each blob to
its document id, so a blob copied under another id fails to open instead of showing another citizen's file.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from onestop.engine.crypto.cipher import KeyRing
from onestop.engine.errors import DecryptionFailed

_MAGIC = b"OSDOC1"
_NONCE = 12


def seal(ring: KeyRing, document_id: str, content: bytes) -> bytes:
    """``OSDOC1 | len(kid) | kid | nonce | ciphertext+tag``."""
    kid = ring.current.encode()
    key = ring.key(ring.current)
    assert key is not None  # the ring checks its current key exists
    nonce = os.urandom(_NONCE)
    return _MAGIC + bytes([len(kid)]) + kid + nonce + AESGCM(key).encrypt(nonce, content, _aad(document_id))


def unseal(ring: KeyRing, document_id: str, blob: bytes) -> bytes:
    if not blob.startswith(_MAGIC):
        raise DecryptionFailed("stored document is not sealed by onestop (was it written unencrypted?)")
    at = len(_MAGIC)
    size = blob[at]
    kid = blob[at + 1 : at + 1 + size].decode()
    key = ring.key(kid)
    if key is None:
        raise DecryptionFailed(
            f"stored document was sealed with data key {kid!r}, which is not configured; list "
            "the old key in ONESTOP_DATA_KEY_PREVIOUS to read it"
        )
    body = blob[at + 1 + size :]
    try:
        return AESGCM(key).decrypt(body[:_NONCE], body[_NONCE:], _aad(document_id))
    except InvalidTag:
        raise DecryptionFailed("stored document fails authentication: wrong key, or altered or moved") from None


def _aad(document_id: str) -> bytes:
    return f"documents.content|{document_id}".encode()


class DocumentStore(Protocol):
    """Opaque blobs by key. Implementations never see clear content."""

    name: str

    async def put(self, key: str, blob: bytes) -> None: ...

    async def get(self, key: str) -> bytes | None: ...

    async def delete(self, key: str) -> None: ...


class LocalStore:
    """Files under a directory (the data dir's ``documents/`` by default): the embedded default."""

    name = "local"

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        # Keys are document ids the engine made (doc-<hex>), never client input: still, refuse anything else.
        if not key.replace("-", "").isalnum():
            raise ValueError(f"not a document key: {key!r}")
        return self.root / key[4:6] / key

    async def put(self, key: str, blob: bytes) -> None:
        await asyncio.to_thread(self._write, self._path(key), blob)

    @staticmethod
    def _write(path: Path, blob: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial")
        partial.write_bytes(blob)
        partial.chmod(0o600)
        partial.replace(path)

    async def get(self, key: str) -> bytes | None:
        return await asyncio.to_thread(self._read, self._path(key))

    @staticmethod
    def _read(path: Path) -> bytes | None:
        # Not "exists, then read": a delete (retention, an unattached upload) can come in between.
        try:
            return path.read_bytes()
        except FileNotFoundError:
            return None

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self._path(key).unlink, True)


class S3Store:
    """An S3-compatible object store (AWS S3, MinIO, Ceph, ...) through boto3, in worker threads."""

    name = "s3"

    def __init__(
        self,
        bucket: str,
        *,
        prefix: str = "documents/",
        endpoint_url: str | None = None,
        region: str | None = None,
        access_key: str | None = None,
        secret_key: str | None = None,
    ) -> None:
        import boto3  # only processes configured for S3 load it

        self.bucket = bucket
        self.prefix = prefix
        self._client: Any = boto3.client(
            "s3",
            endpoint_url=endpoint_url,
            region_name=region or "us-east-1",
            aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,
        )

    async def put(self, key: str, blob: bytes) -> None:
        await asyncio.to_thread(
            self._client.put_object,
            Bucket=self.bucket,
            Key=self.prefix + key,
            Body=blob,
            ContentType="application/octet-stream",
        )

    async def get(self, key: str) -> bytes | None:
        def read() -> bytes | None:
            try:
                answer = self._client.get_object(Bucket=self.bucket, Key=self.prefix + key)
            except self._client.exceptions.NoSuchKey:
                return None
            body: bytes = answer["Body"].read()
            return body

        return await asyncio.to_thread(read)

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self._client.delete_object, Bucket=self.bucket, Key=self.prefix + key)
