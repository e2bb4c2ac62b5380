from __future__ import annotations

import pytest

from onestop.engine.crypto.cipher import FieldCipher, KeyRing
from onestop.engine.errors import DecryptionFailed

KEY = bytes(range(32))
OTHER = bytes(range(1, 33))


def test_round_trip_and_ciphertext_hides_plaintext() -> None:
    cipher = FieldCipher(KeyRing.single(KEY))
    token = cipher.encrypt_json({"hkid": "A123456(3)"}, "profiles.hkid|c1")
    assert "A123456" not in token
    assert token.startswith(f"v1.{cipher.ring.current}.")
    assert cipher.decrypt_json(token, "profiles.hkid|c1") == {"hkid": "A123456(3)"}


def test_same_value_encrypts_differently_each_time() -> None:
    cipher = FieldCipher(KeyRing.single(KEY))
    assert cipher.encrypt(b"x", "a") != cipher.encrypt(b"x", "a")


def test_wrong_key_fails_with_clear_error() -> None:
    token = FieldCipher(KeyRing.single(KEY)).encrypt(b"secret", "a")
    with pytest.raises(DecryptionFailed, match="not configured"):
        FieldCipher(KeyRing.single(OTHER)).decrypt(token, "a")


def test_same_key_id_but_different_key_fails_authentication() -> None:
    token = FieldCipher(KeyRing.single(KEY)).encrypt(b"secret", "a")
    kid = token.split(".")[1]
    with pytest.raises(DecryptionFailed, match="fails authentication"):
        FieldCipher(KeyRing({kid: OTHER}, kid)).decrypt(token, "a")


@pytest.mark.parametrize("aad", ["profiles.hkid|c2", "profiles.name_en|c1"])
def test_ciphertext_moved_to_another_row_or_column_fails(aad: str) -> None:
    cipher = FieldCipher(KeyRing.single(KEY))
    token = cipher.encrypt(b"A123456(3)", "profiles.hkid|c1")
    with pytest.raises(DecryptionFailed, match="moved from another row"):
        cipher.decrypt(token, aad)


def test_rotation_reads_old_rows_and_writes_with_new_key() -> None:
    old = FieldCipher(KeyRing.single(KEY)).encrypt(b"v", "a")
    rotated = FieldCipher(KeyRing.single(OTHER, previous=(KEY,)))
    assert rotated.decrypt(old, "a") == b"v"
    assert rotated.encrypt(b"v", "a").split(".")[1] == rotated.ring.current != old.split(".")[1]


def test_altered_ciphertext_fails() -> None:
    cipher = FieldCipher(KeyRing.single(KEY))
    token = cipher.encrypt(b"value", "a")
    flipped = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
    with pytest.raises(DecryptionFailed):
        cipher.decrypt(flipped, "a")


@pytest.mark.parametrize("token", ["plaintext", "v9.kid.abc"])
def test_non_ciphertext_is_refused(token: str) -> None:
    with pytest.raises(DecryptionFailed):
        FieldCipher(KeyRing.single(KEY)).decrypt(token, "a")


def test_key_ring_refuses_short_keys() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        KeyRing({"k": b"short"}, "k")


def test_pseudonyms_list_the_current_key_first_then_rotated_keys() -> None:
    old, new = b"o" * 32, b"n" * 32
    before = FieldCipher(KeyRing.single(old)).pseudonym("resume-token", "secret")
    after = FieldCipher(KeyRing.single(new, previous=(old,)))
    assert after.pseudonyms("resume-token", "secret") == (after.pseudonym("resume-token", "secret"), before)
    assert before not in after.pseudonyms("other-label", "secret")


def test_a_pseudonym_is_the_same_on_every_call_and_from_a_fresh_ring() -> None:
    ring = KeyRing.single(KEY)
    cipher = FieldCipher(ring)
    first = [cipher.pseudonym(label, "citizen-1") for label in ("security-citizen", "citizen-ref")]
    again = [cipher.pseudonym(label, "citizen-1") for label in ("security-citizen", "citizen-ref")]
    fresh = FieldCipher(KeyRing.single(KEY))
    assert first == again == [fresh.pseudonym(label, "citizen-1") for label in ("security-citizen", "citizen-ref")]
    assert first[0] != first[1]  # each label its own derived key, kept apart
    assert ring.derive("security-citizen") == fresh.ring.derive("security-citizen")


def test_derived_keys_follow_the_current_key() -> None:
    ring = KeyRing.single(KEY, previous=(OTHER,))
    cipher = FieldCipher(ring)
    under_key = cipher.pseudonym("security-ip", "10.0.0.1")
    ring.current = next(kid for kid in ring._keys if kid != ring.current)  # as if OTHER were current
    under_other = cipher.pseudonym("security-ip", "10.0.0.1")
    assert under_other != under_key
    assert under_other == FieldCipher(KeyRing.single(OTHER)).pseudonym("security-ip", "10.0.0.1")
