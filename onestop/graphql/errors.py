"""The one place where failures become GraphQL errors.

Two channels (STYLE.md): mutation payloads carry ``userErrors { field message code }`` for input the citizen
can fix; top-level ``errors`` carry faults, auth and limits, each with a stable ``extensions.code``.
Anything unexpected is masked to ``INTERNAL_SERVER_ERROR`` and logged with its traceback.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from datetime import timedelta
from enum import StrEnum
from typing import Any

import strawberry
from graphql import GraphQLError, GraphQLSyntaxError
from strawberry.extensions import SchemaExtension

from onestop.engine import challenge_header
from onestop.engine import errors as engine_errors

log = logging.getLogger("onestop.graphql")


class ErrorCode(StrEnum):
    UNAUTHENTICATED = "UNAUTHENTICATED"
    FORBIDDEN = "FORBIDDEN"
    INSUFFICIENT_USER_AUTHENTICATION = "INSUFFICIENT_USER_AUTHENTICATION"
    BAD_USER_INPUT = "BAD_USER_INPUT"
    NOT_FOUND = "NOT_FOUND"
    RATE_LIMITED = "RATE_LIMITED"
    SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"
    QUERY_TOO_COMPLEX = "QUERY_TOO_COMPLEX"
    GRAPHQL_PARSE_FAILED = "GRAPHQL_PARSE_FAILED"
    GRAPHQL_VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"
    INTERNAL_SERVER_ERROR = "INTERNAL_SERVER_ERROR"


MASKED_MESSAGE = "Internal server error. It was logged; try again later or contact support."


class ApiError(Exception):
    """A failure the client is meant to see, as a top-level GraphQL error with ``extensions.code``."""

    def __init__(self, code: ErrorCode, message: str, **extensions: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.extensions: dict[str, Any] = {"code": code.value, **extensions}


class Unauthenticated(ApiError):
    def __init__(self, message: str = "Log in first: send 'Authorization: Bearer <access token>'.",
                 **extensions: Any) -> None:
        super().__init__(ErrorCode.UNAUTHENTICATED, message, **extensions)


class Forbidden(ApiError):
    def __init__(self, message: str) -> None:
        super().__init__(ErrorCode.FORBIDDEN, message)


class NotFound(ApiError):
    def __init__(self, message: str = "Not found.") -> None:
        super().__init__(ErrorCode.NOT_FOUND, message)


class BadUserInput(ApiError):
    def __init__(self, message: str, *, argument: str | None = None) -> None:
        extra = {"argument": argument} if argument else {}
        super().__init__(ErrorCode.BAD_USER_INPUT, message, **extra)


class InsufficientUserAuthentication(ApiError):
    """RFC 9470: the client re-authenticates with ``acr_values`` (and within ``max_age`` seconds) and retries."""

    def __init__(self, acr_values: str, max_age: timedelta | None, message: str | None = None) -> None:
        extra: dict[str, Any] = {"acr_values": acr_values}
        if max_age is not None:
            extra["max_age"] = int(max_age.total_seconds())
        super().__init__(
            ErrorCode.INSUFFICIENT_USER_AUTHENTICATION,
            message or f"A stronger or fresher login is needed: re-authenticate with acr_values={acr_values}"
            + (f" within {extra['max_age']} s" if max_age is not None else "") + " and retry.",
            **extra,
        )


class RateLimited(ApiError):
    """Too many requests from one caller; ``retryAfter`` says how many seconds to wait."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(ErrorCode.RATE_LIMITED,
                         f"Too many requests: wait {retry_after} s before retrying.", retryAfter=retry_after)


def error_body(*errors: ApiError) -> dict[str, Any]:
    """The GraphQL response shape for errors raised before GraphQL runs (HTTP-level limits)."""
    return {"errors": [{"message": error.message, "extensions": error.extensions} for error in errors]}


@strawberry.type(description="A problem with the input the caller can fix.")
class UserError:
    field: list[str] | None = strawberry.field(description="Path to the input field, e.g. [\"input\", \"phone\"].")
    message: str
    code: str


def user_error(message: str, code: str, *field: str) -> UserError:
    return UserError(field=list(field) if field else None, message=message, code=code)


def engine_failure(exc: BaseException) -> ApiError | None:
    """Map an engine or identity exception to the API error it means, or None when it is a fault."""
    if isinstance(exc, ApiError):
        return exc
    # Identity errors (AuthenticationError, InsufficientAuthentication) carry their GraphQL extensions
    # (code, reason, acr_values, max_age) themselves; matching by shape keeps identity's internals unpinned.
    extensions = getattr(exc, "extensions", None)
    if isinstance(extensions, dict) and extensions.get("code") in {
        ErrorCode.UNAUTHENTICATED, ErrorCode.INSUFFICIENT_USER_AUTHENTICATION
    }:
        rest = {k: v for k, v in extensions.items() if k != "code"}
        return ApiError(ErrorCode(extensions["code"]), str(getattr(exc, "message", exc)), **rest)
    if not isinstance(exc, engine_errors.EngineError):
        return None
    if isinstance(exc, engine_errors.NotFound | engine_errors.UnknownProvider):
        return NotFound(exc.message)
    if isinstance(exc, engine_errors.Forbidden):
        # A specific refusal (STEP_UP_LOCKED) keeps its reason, so clients can tell it from a missing role.
        return Forbidden(exc.message) if exc.code == ErrorCode.FORBIDDEN else ApiError(
            ErrorCode.FORBIDDEN, exc.message, reason=exc.code)
    if isinstance(exc, engine_errors.ConsentRequired):
        return ApiError(ErrorCode.FORBIDDEN, exc.message, reason=exc.code)
    if isinstance(exc, engine_errors.ProviderUnavailable):
        return ApiError(ErrorCode.SERVICE_UNAVAILABLE, exc.message, reason=exc.code)
    if isinstance(exc, engine_errors.DecryptionFailed | engine_errors.SignatureInvalid
                  | engine_errors.ChainBroken):
        return None
    if exc.code == ErrorCode.RATE_LIMITED:
        return ApiError(ErrorCode.RATE_LIMITED, exc.message)
    return ApiError(ErrorCode.BAD_USER_INPUT, exc.message, reason=exc.code)


def user_errors_from(exc: BaseException, *, input_name: str = "input") -> list[UserError] | None:
    """Input the caller can fix, as userErrors (every field at once); None when ``exc`` is not that."""
    if isinstance(exc, engine_errors.InvalidInput):
        return [UserError(field=[input_name, *e.field], message=e.message, code=e.code) for e in exc.errors]
    if isinstance(exc, BadUserInput) or (
        isinstance(exc, engine_errors.EngineError) and (mapped := engine_failure(exc)) is not None
        and mapped.code is ErrorCode.BAD_USER_INPUT
    ):
        field = getattr(exc, "field", None)
        return [UserError(field=[input_name, *field] if field else None,
                          message=getattr(exc, "message", str(exc)), code=str(getattr(exc, "code", "INVALID")))]
    return None


_LIMIT_MARKERS = ("exceeds maximum operation depth", "aliases found")


def _classify(error: GraphQLError) -> GraphQLError:
    original = error.original_error
    if isinstance(original, ApiError):
        error.extensions = {**(error.extensions or {}), **original.extensions}
        return error
    if isinstance(original, GraphQLError):
        # graphql-core's own input coercion (a variable of the wrong type): the caller's mistake.
        error.extensions = {**(error.extensions or {}), "code": ErrorCode.BAD_USER_INPUT.value}
        return error
    if original is not None:
        mapped = engine_failure(original)
        if mapped is not None:
            return GraphQLError(mapped.message, error.nodes, error.source, error.positions, error.path,
                                original_error=mapped, extensions=mapped.extensions)
        log.error("unexpected error in %s", ".".join(map(str, error.path or ())),
                  exc_info=(type(original), original, original.__traceback__))
        return GraphQLError(MASKED_MESSAGE, error.nodes, error.source, error.positions, error.path,
                            extensions={"code": ErrorCode.INTERNAL_SERVER_ERROR.value})
    if error.extensions and "code" in error.extensions:
        return error
    lowered = error.message.lower()
    if "tokens" in lowered and "parsing aborted" in lowered:
        code = ErrorCode.QUERY_TOO_COMPLEX
    elif isinstance(error, GraphQLSyntaxError) or error.message.startswith("Syntax Error"):
        code = ErrorCode.GRAPHQL_PARSE_FAILED
    elif any(marker in lowered for marker in _LIMIT_MARKERS):
        code = ErrorCode.QUERY_TOO_COMPLEX
    else:
        code = ErrorCode.GRAPHQL_VALIDATION_FAILED
    error.extensions = {**(error.extensions or {}), "code": code.value}
    return error


def classify_errors(errors: Sequence[GraphQLError]) -> list[GraphQLError]:
    """Give every error a stable ``extensions.code`` and mask the unexpected ones."""
    return [_classify(error) for error in errors]


def challenge(errors: Sequence[GraphQLError]) -> str | None:
    """The ``WWW-Authenticate`` value for the first auth error (RFC 6750 / RFC 9470), if any."""
    for error in errors:
        extensions = error.extensions or {}
        if extensions.get("code") == ErrorCode.INSUFFICIENT_USER_AUTHENTICATION:
            max_age = extensions.get("max_age")
            return challenge_header(str(extensions.get("acr_values", "")),
                                    max_age if isinstance(max_age, int) else None, error.message)
        if extensions.get("code") == ErrorCode.UNAUTHENTICATED:
            if extensions.get("reason") in {None, "missing_token"}:
                return 'Bearer realm="onestop"'
            description = error.message.replace("\\", "\\\\").replace('"', "'")
            return f'Bearer realm="onestop", error="invalid_token", error_description="{description}"'
    return None


class ErrorCodes(SchemaExtension):
    """Stamps ``extensions.code`` on every error and masks internal ones (pass the class, not an instance).

    Auth errors also set ``WWW-Authenticate`` on the HTTP response, so generic OAuth clients see the
    challenge; the status stays 200 as GraphQL answers carry data beside errors.
    """

    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        errors = getattr(result, "errors", None)
        if result is None or not errors:
            return
        result.errors = classify_errors(errors)
        header = challenge(result.errors)
        response = getattr(self.execution_context.context, "response", None)
        headers = getattr(response, "headers", None)
        if header is not None and headers is not None:
            headers["WWW-Authenticate"] = header
