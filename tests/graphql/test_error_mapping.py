"""The one mapping from engine and identity failures to GraphQL error codes and userErrors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from graphql import GraphQLError, located_error

from onestop.engine import errors as engine_errors
from onestop.engine.identity.principal import Principal
from onestop.engine.identity.stepup import AssuranceLadder, InsufficientAuthentication, require_assurance
from onestop.engine.identity.tokens import AuthenticationError, AuthFailure
from onestop.graphql.errors import MASKED_MESSAGE, BadUserInput, challenge, classify_errors, user_errors_from

LADDER = AssuranceLadder.of([("basic", "urn:onestop:acr:basic"), ("standard", "urn:onestop:acr:standard"),
                             ("face", "urn:onestop:acr:face")])
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def classified(exc: Exception) -> GraphQLError:
    return classify_errors([located_error(exc, None, ["field"])])[0]


def _step_up_failure(acr: str, auth_age: timedelta) -> InsufficientAuthentication:
    principal = Principal(sub="s", kind="citizen", acr=acr, amr=("pwd",), auth_time=NOW - auth_age)
    with pytest.raises(InsufficientAuthentication) as raised:
        require_assurance(principal, rank_of=LADDER.rank_of, now=NOW, acr_values="urn:onestop:acr:face",
                          max_age=timedelta(minutes=5))
    return raised.value


@pytest.mark.parametrize(("acr", "age", "reason"), [
    ("urn:onestop:acr:standard", timedelta(seconds=10), "acr"),
    ("urn:onestop:acr:face", timedelta(hours=1), "max_age"),
])
def test_step_up_failures_carry_rfc9470_acr_values_and_max_age(acr: str, age: timedelta, reason: str) -> None:
    error = classified(_step_up_failure(acr, age))
    assert error.extensions is not None
    assert error.extensions["code"] == "INSUFFICIENT_USER_AUTHENTICATION"
    assert error.extensions["acr_values"] == "urn:onestop:acr:face"
    assert error.extensions["max_age"] == 300
    assert error.extensions["reason"] == reason


def test_authentication_failures_are_unauthenticated_with_a_reason() -> None:
    error = classified(AuthenticationError(AuthFailure.EXPIRED, "the token has expired; log in again"))
    assert error.extensions == {"code": "UNAUTHENTICATED", "reason": "expired"}
    assert "expired" in error.message


@pytest.mark.parametrize(("exc", "code"), [
    (engine_errors.NotFound("consent", "abc"), "NOT_FOUND"),
    (engine_errors.UnknownProvider("nope"), "NOT_FOUND"),
    (engine_errors.Forbidden("staff only"), "FORBIDDEN"),
    (engine_errors.ConsentRevoked("c1"), "FORBIDDEN"),
    (engine_errors.PurposeMismatch("c1"), "FORBIDDEN"),
    (engine_errors.ProviderUnavailable("td-licensing", "timeout"), "SERVICE_UNAVAILABLE"),
    (engine_errors.EngineError("RATE_LIMITED", "slow down"), "RATE_LIMITED"),
    (engine_errors.InvalidInput([engine_errors.field_error(("phone",), "bad")]), "BAD_USER_INPUT"),
    (BadUserInput("first must be 1-100", argument="first"), "BAD_USER_INPUT"),
])
def test_engine_errors_map_to_stable_codes(exc: Exception, code: str) -> None:
    error = classified(exc)
    assert error.extensions is not None
    assert error.extensions["code"] == code
    assert error.message == getattr(exc, "message", str(exc))


@pytest.mark.parametrize("exc", [
    engine_errors.DecryptionFailed("key v1 cannot open column profiles.hkid"),
    engine_errors.ChainBroken("ref", 3, "hash mismatch"),
    KeyError("internal"),
])
def test_faults_are_masked(exc: Exception) -> None:
    error = classified(exc)
    assert error.message == MASKED_MESSAGE
    assert error.extensions == {"code": "INTERNAL_SERVER_ERROR"}
    assert error.original_error is None


def test_invalid_input_becomes_one_user_error_per_field() -> None:
    exc = engine_errors.InvalidInput([
        engine_errors.field_error(("phone",), "not a Hong Kong number"),
        engine_errors.field_error(("residentialAddress", "district"), "unknown district", "INVALID_OPTION"),
    ])
    errors = user_errors_from(exc)
    assert errors is not None
    assert [(e.field, e.code.value, e.message) for e in errors] == [
        (["input", "phone"], "INVALID_VALUE", "not a Hong Kong number"),
        (["input", "residentialAddress", "district"], "INVALID_OPTION", "unknown district"),
    ]


def test_a_fault_is_not_a_user_error() -> None:
    assert user_errors_from(engine_errors.DecryptionFailed("x")) is None
    assert user_errors_from(engine_errors.NotFound("consent", "x")) is None


def test_a_step_up_error_yields_an_rfc9470_challenge() -> None:
    error = classified(_step_up_failure("urn:onestop:acr:standard", timedelta(seconds=1)))
    header = challenge([error])
    assert header is not None
    assert header.startswith('Bearer error="insufficient_user_authentication"')
    assert 'acr_values="urn:onestop:acr:face"' in header
    assert 'max_age="300"' in header


def test_errors_without_auth_codes_need_no_challenge() -> None:
    assert challenge([classified(engine_errors.NotFound("consent", "x"))]) is None
