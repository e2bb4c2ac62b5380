from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest
import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from hypothesis import given, settings
from hypothesis import strategies as st

from onestop.engine.crypto.signing import Signer, canonical_json
from onestop.engine.errors import SignatureInvalid

SEED = bytes(range(32, 64))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def test_signature_verifies_and_returns_payload() -> None:
    signer = Signer(SEED)
    jws = signer.sign({"b": 1, "a": "x"}, typ="test+jws")
    verified = signer.verify(jws, typ="test+jws")
    assert verified.payload == {"a": "x", "b": 1}
    assert verified.header == {"alg": "EdDSA", "kid": signer.kid, "typ": "test+jws"}


def test_payload_is_rfc8785_canonical() -> None:
    jws = Signer(SEED).sign({"b": 1, "a": [1.0, "é"]}, typ="t")
    assert _unb64(jws.split(".")[1]) == canonical_json({"a": [1, "é"], "b": 1}) == '{"a":[1,"é"],"b":1}'.encode()


# What signatures and the hash chains (security events, the access log) cover: their entries hold nulls, whole
# numbers and texts; answers in a submission hold anything JSON does. Every one must be the rfc8785 reference's
# bytes, or the same refusal: a stored chain is re-hashed to verify it, and a signed payload is re-canonicalised.
_TEXT = st.text(st.characters(codec="utf-8"), max_size=10) | st.sampled_from(
    ["", "\U0001f600", "\ue000", "a\x00b", "\x1f\x7f\u2028", 'q"b\\s', "null", "1.5", "續領", "\ud800"])
_SCALAR = (st.none() | st.booleans() | st.integers(min_value=-(2**54), max_value=2**54) | _TEXT
           | st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from([1.0, -0.0, 1e21, 1e-7, 2.0**53]))
_JSON = st.recursive(_SCALAR, lambda inner: st.lists(inner, max_size=4) | st.lists(inner, max_size=3).map(tuple)
                     | st.dictionaries(_TEXT, inner, max_size=4), max_leaves=25)


def _bytes_or_refusal(value: object, write: object) -> bytes | type[Exception]:
    try:
        return bytes(write(value))  # type: ignore[operator]
    except (rfc8785.CanonicalizationError, UnicodeEncodeError) as error:
        return type(error)


@settings(max_examples=800, deadline=None, derandomize=True)
@given(_JSON)
def test_canonical_json_is_the_rfc8785_reference(value: object) -> None:
    assert _bytes_or_refusal(value, canonical_json) == _bytes_or_refusal(value, rfc8785.dumps)


@pytest.mark.parametrize("fields", [
    {"partition": "data_access:2026-11-29", "seq": 7, "at": "2026-11-29T12:00:00.000001+00:00", "kind": "data_access",
     "outcome": "allowed", "citizen": "k" * 43, "staff": None, "ip": None, "provider": "eme", "service": "renew",
     "detail": {"step": "applicant", "count": 2, "face": True}, "prev": None},
    {"citizen": "c", "seq": 1, "at": "2026-11-29T12:00:00+00:00", "items": ["eme.nameEn", "imm.hkid"],
     "consent": "1f", "reason": None, "prev": "ab" * 32, "actor": "a"},
    {"answers": {"income": 12345.5, "children": 2.0, "name": "陳大文", "agree": True, "note": "line\nbreak"}},
])
def test_chain_and_submission_fields_are_written_as_rfc8785_writes_them(fields: dict[str, object]) -> None:
    assert canonical_json(fields) == rfc8785.dumps(fields)
    jws = Signer(SEED).sign(fields, typ="t")
    assert _unb64(jws.split(".")[1]) == rfc8785.dumps(fields)


def test_tampered_payload_fails() -> None:
    signer = Signer(SEED)
    header, _payload, signature = signer.sign({"amount": 1}, typ="t").split(".")
    forged = f"{header}.{_b64(canonical_json({'amount': 1000}))}.{signature}"
    with pytest.raises(SignatureInvalid, match="altered"):
        signer.verify(forged)


def test_signature_from_another_key_fails() -> None:
    jws = Signer(bytes(32)).sign({"a": 1}, typ="t")
    with pytest.raises(SignatureInvalid, match="unknown signing key"):
        Signer(SEED).verify(jws)


def test_algorithm_none_is_refused() -> None:
    signer = Signer(SEED)
    header = _b64(json.dumps({"alg": "none", "kid": signer.kid}).encode())
    with pytest.raises(SignatureInvalid, match="not accepted"):
        signer.verify(f"{header}.{_b64(b'{}')}.")


@pytest.mark.parametrize("jws", ["", "a.b", "a.b.c.d", "!!.??.**"])
def test_malformed_jws_is_refused(jws: str) -> None:
    with pytest.raises(SignatureInvalid):
        Signer(SEED).verify(jws)


def test_wrong_type_is_refused() -> None:
    signer = Signer(SEED)
    with pytest.raises(SignatureInvalid, match="expected"):
        signer.verify(signer.sign({}, typ="onestop-consent+jws"), typ="onestop-submission+jws")


def test_jwks_key_verifies_a_signature_independently() -> None:
    signer = Signer(SEED)
    jws = signer.sign({"x": 1}, typ="t")
    (key,) = signer.jwks()["keys"]
    assert key["kid"] == signer.kid
    assert key["kty"] == "OKP"
    public = Ed25519PublicKey.from_public_bytes(_unb64(key["x"]))
    head, body, sig = jws.split(".")
    public.verify(_unb64(sig), f"{head}.{body}".encode())  # raises on mismatch


def test_rotated_signer_still_verifies_old_signatures() -> None:
    old = Signer(bytes(32)).sign({"a": 1}, typ="t")
    rotated = Signer(SEED, previous=[bytes(32)])
    assert rotated.verify(old).payload == {"a": 1}
    assert len(rotated.jwks()["keys"]) == 2


def test_submission_signature_covers_answers_consents_and_assurance() -> None:
    signer = Signer(SEED)
    signed = signer.sign_submission(
        application_id="app-1", service_slug="renew-driving-licence", service_hash="h" * 64, department="TD",
        citizen_ref="ref", answers={"licenceNumber": "123"}, consents=["c2", "c1"],
        assurance="urn:onestop:acr:face", auth_time=datetime(2026, 11, 27, tzinfo=UTC),
        submitted_at=datetime(2026, 11, 27, 1, tzinfo=UTC), reference_number="TD-1",
    )
    payload = signer.verify_submission(signed.jws)
    assert payload["answers"] == {"licenceNumber": "123"}
    assert payload["consents"] == ["c1", "c2"]
    assert payload["signer"]["acr"] == "urn:onestop:acr:face"
    header, _, sig = signed.jws.split(".")
    changed = {**payload, "signer": {**payload["signer"], "acr": "urn:onestop:acr:basic"}}
    with pytest.raises(SignatureInvalid):
        signer.verify_submission(f"{header}.{_b64(canonical_json(changed))}.{sig}")


def test_unsignable_answers_give_a_clear_error() -> None:
    with pytest.raises(SignatureInvalid, match="JSON values only"):
        Signer(SEED).sign_submission(
            application_id="a", service_slug="s", service_hash="h", department="TD", citizen_ref="r",
            answers={"x": float("nan")}, consents=[], assurance="acr", auth_time=None,
            submitted_at=datetime(2026, 11, 27, tzinfo=UTC),
        )
