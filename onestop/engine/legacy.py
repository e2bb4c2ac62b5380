"""Rows written before their column was encrypted: found and encrypted in place when the schema is migrated.

The department inbox stored each signed submission as a clear compact JWS (the citizen's answers only
base64url-encoded) until it was encrypted with the data key. ``onestop migrate`` (and ``serve``, which migrates
itself) runs ``encrypt_clear_rows`` after the Alembic migrations: an Alembic migration cannot, because it has no
data key. The step is idempotent: a value already ciphertext is never touched, and each update applies only
while the row still holds the clear value it read, so two migrations at once encrypt a row once.

Every other encrypted column (profiles, provider records, anonymous drafts) has been ciphertext since its table
was created, so it holds no clear legacy rows; a column that gains encryption later joins ``LEGACY_COLUMNS``.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import InstrumentedAttribute

from onestop.config import Settings
from onestop.engine.applications.delivery import inbox_aad
from onestop.engine.crypto.cipher import FieldCipher, KeyRing
from onestop.engine.db import Database, InboxRow

log = logging.getLogger(__name__)

_CIPHERTEXT_PREFIX = "v1."
_BATCH = 500


def is_compact_jws(value: str) -> bool:
    """``header.payload.signature``, base64url each, the header a JSON object naming its algorithm."""
    parts = value.split(".")
    if len(parts) != 3 or not all(parts[:2]):
        return False
    try:
        header = json.loads(base64.urlsafe_b64decode(parts[0] + "=" * (-len(parts[0]) % 4)))
    except (binascii.Error, ValueError):
        return False
    return isinstance(header, dict) and "alg" in header


@dataclass(frozen=True)
class LegacyColumn:
    """A column now encrypted whose older rows may still hold clear text."""

    key: InstrumentedAttribute[str]
    column: InstrumentedAttribute[str]
    aad: Callable[[str], str]  # the associated data of a row, by its key, as the column's writer binds it
    looks_clear: Callable[[str], bool]  # what a clear value of this column looks like (anything else is left)

    @property
    def name(self) -> str:
        return f"{self.column.class_.__tablename__}.{self.column.key}"


LEGACY_COLUMNS = (LegacyColumn(InboxRow.application_id, InboxRow.jws, inbox_aad, is_compact_jws),)


async def encrypt_clear_rows(database: Database, cipher: Callable[[], FieldCipher],
                             columns: tuple[LegacyColumn, ...] = LEGACY_COLUMNS) -> dict[str, int]:
    """Encrypt every clear value of ``columns``; the count encrypted per column (``table.column``).

    ``cipher`` is called only when a clear value is found, so a database without any needs no data key.
    """
    done: dict[str, int] = {}
    for legacy in columns:
        done[legacy.name] = await _encrypt_column(database, cipher, legacy)
        if done[legacy.name]:
            log.info("encrypted %d clear legacy values of %s", done[legacy.name], legacy.name)
    return done


async def _encrypt_column(database: Database, cipher: Callable[[], FieldCipher], legacy: LegacyColumn) -> int:
    encrypted = 0
    after = ""
    made: FieldCipher | None = None
    while True:
        async with database.session() as session:
            rows = (await session.execute(
                select(legacy.key, legacy.column)
                .where(~legacy.column.startswith(_CIPHERTEXT_PREFIX, autoescape=True), legacy.key > after)
                .order_by(legacy.key).limit(_BATCH))).all()
            if not rows:
                return encrypted
            for key, value in rows:
                after = key
                if not legacy.looks_clear(value):
                    log.warning("%s of row %s is neither ciphertext nor a clear value; left as it is",
                                legacy.name, key)
                    continue
                made = made or cipher()
                sealed = made.encrypt(value.encode(), legacy.aad(key))
                # Only while the row still holds what was read: a concurrent migration's value stays.
                result: Any = await session.execute(
                    update(legacy.column.class_).where(legacy.key == key, legacy.column == value)
                    .values({legacy.column.key: sealed}))
                encrypted += int(result.rowcount or 0)


def settings_cipher(settings: Settings) -> Callable[[], FieldCipher]:
    """The data-key cipher of ``settings``, made on first use (a production key missing raises ValueError then)."""
    return lambda: FieldCipher(KeyRing.from_settings(settings))
