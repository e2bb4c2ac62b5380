"""Server-side sessions: encrypted at rest, bound to their slot, forgotten when idle."""

from __future__ import annotations

import secrets

import pytest
from cryptography.exceptions import InvalidTag

from onestop.web.sessions import IDLE_SECONDS, Session, SessionStore


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_saved_session_loads_back_and_its_token_is_not_stored_readable() -> None:
    store = SessionStore(secrets.token_bytes(32))
    sid = store.new_id()
    store.save(sid, Session(token="eyJ.secret.token", resume={"app": "resume-secret"}))
    loaded = store.load(sid)
    assert loaded is not None
    assert loaded.token == "eyJ.secret.token"
    raw = store.raw(sid)
    assert raw is not None
    assert b"secret" not in raw


def test_an_unknown_or_missing_id_has_no_session() -> None:
    store = SessionStore(secrets.token_bytes(32))
    assert store.load(None) is None
    assert store.load("made-up") is None


def test_a_session_idle_too_long_is_forgotten() -> None:
    clock = Clock()
    store = SessionStore(secrets.token_bytes(32), clock=clock)
    sid = store.new_id()
    store.save(sid, Session())
    clock.now += IDLE_SECONDS + 1
    assert store.load(sid) is None


def test_a_ciphertext_moved_to_another_session_does_not_decrypt() -> None:
    store = SessionStore(secrets.token_bytes(32))
    first, second = store.new_id(), store.new_id()
    store.save(first, Session(token="a"))
    store.save(second, Session(token="b"))
    store._items[store._slot(second)] = store._items[store._slot(first)]
    with pytest.raises(InvalidTag):
        store.load(second)


def test_sign_out_deletes_the_session() -> None:
    store = SessionStore(secrets.token_bytes(32))
    sid = store.new_id()
    store.save(sid, Session(token="a"))
    store.delete(sid)
    assert store.load(sid) is None
