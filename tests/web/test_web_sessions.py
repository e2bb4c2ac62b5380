"""Server-side sessions: encrypted at rest, bound to their slot, forgotten when idle, written only when needed."""

from __future__ import annotations

import secrets

import pytest
from cryptography.exceptions import InvalidTag

from onestop.web.sessions import IDLE_SECONDS, TOUCH_SECONDS, MemoryRows, Session, SessionStore


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class CountingRows(MemoryRows):
    def __init__(self) -> None:
        super().__init__()
        self.puts = 0

    async def put(self, slot: str, blob: bytes, touched_at: float) -> None:
        self.puts += 1
        await super().put(slot, blob, touched_at)


async def test_a_saved_session_loads_back_and_its_token_is_not_stored_readable() -> None:
    store = SessionStore(secrets.token_bytes(32))
    sid = store.new_id()
    await store.save(sid, Session(token="eyJ.secret.token", resume={"app": "resume-secret"}))
    loaded = await store.load(sid)
    assert loaded is not None
    assert loaded.token == "eyJ.secret.token"
    raw = await store.raw(sid)
    assert raw is not None
    assert b"secret" not in raw


async def test_an_unknown_or_missing_id_has_no_session() -> None:
    store = SessionStore(secrets.token_bytes(32))
    assert await store.load(None) is None
    assert await store.load("made-up") is None


async def test_a_session_idle_too_long_is_forgotten() -> None:
    clock = Clock()
    store = SessionStore(secrets.token_bytes(32), clock=clock)
    sid = store.new_id()
    await store.save(sid, Session())
    clock.now += IDLE_SECONDS + 1
    assert await store.load(sid) is None


async def test_a_ciphertext_moved_to_another_session_does_not_decrypt() -> None:
    rows = MemoryRows()
    store = SessionStore(secrets.token_bytes(32), rows)
    first, second = store.new_id(), store.new_id()
    await store.save(first, Session(token="a"))
    await store.save(second, Session(token="b"))
    rows.items[store._slot(second)] = rows.items[store._slot(first)]
    with pytest.raises(InvalidTag):
        await store.load(second)


async def test_sign_out_deletes_the_session() -> None:
    store = SessionStore(secrets.token_bytes(32))
    sid = store.new_id()
    await store.save(sid, Session(token="a"))
    await store.delete(sid)
    assert await store.load(sid) is None


async def test_an_unchanged_session_is_written_again_only_to_keep_it_alive() -> None:
    clock, rows = Clock(), CountingRows()
    store = SessionStore(secrets.token_bytes(32), rows, clock=clock)
    sid = store.new_id()
    await store.save(sid, Session(token="a"))
    read = await store.read(sid)
    assert read is not None
    await store.save(sid, read.session, previous=read)
    assert rows.puts == 1  # nothing changed, written moments ago
    read.session.flash = "Saved."
    await store.save(sid, read.session, previous=read)
    assert rows.puts == 2  # changed
    clock.now += TOUCH_SECONDS + 1
    again = await store.read(sid)
    assert again is not None
    await store.save(sid, again.session, previous=again)
    assert rows.puts == 3  # unchanged, but touched so it does not idle out


async def test_a_field_an_older_version_stored_is_ignored() -> None:
    rows = MemoryRows()
    old = SessionStore(b"k" * 32, rows)
    sid = old.new_id()
    await old.save(sid, Session(token="a"))
    # What a previous version (which kept answer labels in the session) left behind still loads.
    import json

    slot = old._slot(sid)
    plain = json.loads(old._aead.decrypt(rows.items[slot][1][:12], rows.items[slot][1][12:], slot.encode()))
    plain["labels"] = {"app": {}}
    nonce = secrets.token_bytes(12)
    rows.items[slot] = (rows.items[slot][0], nonce + old._aead.encrypt(nonce, json.dumps(plain).encode(),
                                                                       slot.encode()))
    loaded = await old.load(sid)
    assert loaded is not None
    assert loaded.token == "a"
