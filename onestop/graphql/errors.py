"""The one place where failures become GraphQL errors.

Two channels (STYLE.md): mutation payloads carry ``userErrors { field message code }`` for input the citizen
can fix; top-level ``errors`` carry faults, auth and limits, each with a stable ``extensions.code``.
Anything unexpected is masked to ``INTERNAL_SERVER_ERROR`` and logged with its traceback.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import timedelta
from enum import Enum, StrEnum
from typing import Any, Generic, TypeVar

import strawberry
from graphql import GraphQLError, GraphQLSyntaxError

from onestop.catalogue.text import Lang, localized
from onestop.engine import challenge_header
from onestop.engine import errors as engine_errors

log = logging.getLogger("onestop.graphql")

T = TypeVar("T")
R = TypeVar("R")


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


@strawberry.enum(description="Why an input was refused: the stable code of a userError (the message may change).")
class UserErrorCode(Enum):
    REQUIRED = strawberry.enum_value(
        "REQUIRED", description="A required answer is missing (or a declaration is not confirmed).")
    WRONG_TYPE = strawberry.enum_value(
        "WRONG_TYPE", description="The value has the wrong type, e.g. text where a number is expected.")
    UNKNOWN_FIELD = strawberry.enum_value(
        "UNKNOWN_FIELD", description="There is no such field here; check the field ids of the step or profile.")
    UNSUPPORTED_FIELD = strawberry.enum_value(
        "UNSUPPORTED_FIELD", description="A field type this server cannot check; report it to the department.")
    INVALID_VALUE = strawberry.enum_value("INVALID_VALUE", description="The value is not valid; the message says why.")
    INVALID_EMAIL = strawberry.enum_value("INVALID_EMAIL", description="Not an email address like name@example.com.")
    INVALID_PHONE = strawberry.enum_value(
        "INVALID_PHONE", description="Not a Hong Kong phone number (8 digits starting with 2, 3, 5, 6, 7, 8 or 9).")
    INVALID_HKID = strawberry.enum_value(
        "INVALID_HKID", description="Not a valid HKID number; check the digit in brackets.")
    INVALID_DATE = strawberry.enum_value("INVALID_DATE", description="Not a date as YYYY-MM-DD.")
    INVALID_OPTION = strawberry.enum_value("INVALID_OPTION", description="Not one of the field's options.")
    DUPLICATE_OPTION = strawberry.enum_value("DUPLICATE_OPTION", description="The same option is chosen twice.")
    INVALID_CHARACTERS = strawberry.enum_value(
        "INVALID_CHARACTERS",
        description="Text with control characters (line breaks outside multi-line text) or invalid Unicode.")
    TOO_SHORT = strawberry.enum_value("TOO_SHORT", description="Fewer characters than the field allows.")
    TOO_LONG = strawberry.enum_value("TOO_LONG", description="More characters than the field allows.")
    TOO_SMALL = strawberry.enum_value("TOO_SMALL", description="A number below the field's minimum.")
    TOO_LARGE = strawberry.enum_value("TOO_LARGE", description="A number above the field's maximum.")
    NOT_INTEGER = strawberry.enum_value("NOT_INTEGER", description="A whole number is expected.")
    NUMBER_OUT_OF_RANGE = strawberry.enum_value(
        "NUMBER_OUT_OF_RANGE",
        description="A number beyond ±2^53, or not finite: no client could read it back exactly.")
    APPLICATION_FULL = strawberry.enum_value(
        "APPLICATION_FULL",
        description="The application has reached the size it can hold; shorten answers or messages.")
    TOO_MANY_ERRORS = strawberry.enum_value(
        "TOO_MANY_ERRORS", description="More problems than are listed; correct the listed ones and submit again.")
    PATTERN = strawberry.enum_value("PATTERN", description="The text does not match the field's format.")
    DATE_TOO_EARLY = strawberry.enum_value(
        "DATE_TOO_EARLY", description="The date is on or before the earliest allowed.")
    DATE_TOO_LATE = strawberry.enum_value("DATE_TOO_LATE", description="The date is on or after the latest allowed.")
    TOO_FEW = strawberry.enum_value("TOO_FEW", description="Fewer entries than the field needs.")
    TOO_MANY = strawberry.enum_value("TOO_MANY", description="More entries than the field allows.")
    RULE = strawberry.enum_value(
        "RULE", description="A validation rule of the service is not met; the message is the department's.")
    VERIFIED_ITEM = strawberry.enum_value(
        "VERIFIED_ITEM",
        description="A verified profile item comes from an authoritative record; correct it at its department.")
    PREFILL_READ_ONLY = strawberry.enum_value(
        "PREFILL_READ_ONLY",
        description="This field keeps its prefilled (verified) value; the service does not let you change it.")
    EMPTY_INPUT = strawberry.enum_value("EMPTY_INPUT", description="Nothing to do: set at least one field.")
    NOT_FOUND = strawberry.enum_value("NOT_FOUND", description="No such thing of yours; the field names which id.")
    CANNOT_ACT_FOR = strawberry.enum_value(
        "CANNOT_ACT_FOR", description="You cannot act for this person in this service (not your child under 18, no "
        "mandate covering it), or the service is only for the applicant themself.")
    NOT_ELIGIBLE = strawberry.enum_value(
        "NOT_ELIGIBLE", description="The service's eligibility rule excludes the applicant.")
    LOGIN_REQUIRED = strawberry.enum_value(
        "LOGIN_REQUIRED", description="The service needs what only a login tells (such as age): log in, start again.")
    NOT_CURRENT_STEP = strawberry.enum_value(
        "NOT_CURRENT_STEP", description="The step is not the current one; reload the application.")
    WRONG_ACTION = strawberry.enum_value(
        "WRONG_ACTION", description="This action does not apply to the current step's type.")
    CONSENT_REQUIRED = strawberry.enum_value(
        "CONSENT_REQUIRED",
        description="A required consent cannot be declined: agree, go back to change an answer, or withdraw.")
    DEFINITION_ERROR = strawberry.enum_value(
        "DEFINITION_ERROR",
        description="The service's definition failed while checking the answers (logged for the department); "
                    "nothing was saved, try again later.")
    STEP_NOT_COMPLETED = strawberry.enum_value(
        "STEP_NOT_COMPLETED", description="Going back to a step that was never completed.")
    NOT_A_DRAFT = strawberry.enum_value(
        "NOT_A_DRAFT", description="The application was submitted or closed and cannot change.")
    BUSY = strawberry.enum_value("BUSY", description="Another action on the application is still running; retry.")
    PREFILL_FAILED = strawberry.enum_value(
        "PREFILL_FAILED", description="The data to prefill could not be fetched; retry, or decline and type it.")
    CONSENT_FAILED = strawberry.enum_value(
        "CONSENT_FAILED", description="The consent could not be recorded for the departments it names; retry.")
    INSUFFICIENT_USER_AUTHENTICATION = strawberry.enum_value(
        "INSUFFICIENT_USER_AUTHENTICATION", description="The sign-in is not strong or recent enough for this step.")
    APPLICATION_CLOSED = strawberry.enum_value(
        "APPLICATION_CLOSED", description="The application has ended and cannot change.")
    NOT_WITHDRAWABLE = strawberry.enum_value(
        "NOT_WITHDRAWABLE", description="The application can no longer be withdrawn.")
    NOT_AWAITING_INFO = strawberry.enum_value(
        "NOT_AWAITING_INFO", description="The department has not asked for information: nothing to reply to.")
    INVALID_STATUS = strawberry.enum_value(
        "INVALID_STATUS", description="Staff can set only IN_REVIEW, NEEDS_INFO, APPROVED or REJECTED.")
    APPROVER_REQUIRED = strawberry.enum_value(
        "APPROVER_REQUIRED", description="Only staff with the approver role may approve or reject.")
    INVALID_TRANSITION = strawberry.enum_value(
        "INVALID_TRANSITION",
        description="The status cannot move that way: the application (or security alert) already has a final status.")
    NOT_DELIVERY_FAILED = strawberry.enum_value(
        "NOT_DELIVERY_FAILED", description="Only an application whose delivery failed can be redelivered.")
    UNKNOWN_PROVIDER = strawberry.enum_value(
        "UNKNOWN_PROVIDER", description="A data item names a provider the catalogue does not have.")
    UNKNOWN_DATA_ITEM = strawberry.enum_value(
        "UNKNOWN_DATA_ITEM", description="A data item the provider does not offer.")
    PAYMENT_UNAVAILABLE = strawberry.enum_value(
        "PAYMENT_UNAVAILABLE", description="The payment service cannot be reached; nothing was charged, try again.")
    PAYMENT_IN_PROGRESS = strawberry.enum_value(
        "PAYMENT_IN_PROGRESS", description="A payment page is open: finish or cancel it (or let it time out) first.")
    PAYMENT_MADE = strawberry.enum_value(
        "PAYMENT_MADE", description="The fee is paid: the answers it was charged for can no longer change.")
    BAD_CURSOR = strawberry.enum_value(
        "BAD_CURSOR", description="Not a cursor of this list; pass an endCursor from it.")
    BAD_PAGE_SIZE = strawberry.enum_value("BAD_PAGE_SIZE", description="Ask for between 1 and 100 entries.")
    FILE_TOO_LARGE = strawberry.enum_value("FILE_TOO_LARGE", description="The file is larger than the field allows.")
    FILE_TYPE_NOT_ACCEPTED = strawberry.enum_value(
        "FILE_TYPE_NOT_ACCEPTED",
        description="The file's content (not its name) is not of a kind the field accepts.")
    FILE_INFECTED = strawberry.enum_value(
        "FILE_INFECTED", description="The virus scan found malware in the file; it was not stored.")
    EMPTY_FILE = strawberry.enum_value("EMPTY_FILE", description="The uploaded file has no content.")
    DOCUMENT_NOT_FOUND = strawberry.enum_value(
        "DOCUMENT_NOT_FOUND",
        description="No file of yours uploaded to this application and field has this document id.")
    DOCUMENT_ATTACHED = strawberry.enum_value(
        "DOCUMENT_ATTACHED", description="The file is an answer of a completed step; change that answer first.")
    SLOT_FULL = strawberry.enum_value(
        "SLOT_FULL", description="Every place of that appointment slot is taken; choose another time.")
    INVALID_SLOT = strawberry.enum_value(
        "INVALID_SLOT", description="Not a bookable time of the office: outside its hours, closed, too soon or too "
                                   "far ahead; choose one of the available times.")
    UNKNOWN_OFFICE = strawberry.enum_value(
        "UNKNOWN_OFFICE", description="The appointment step has no such office; choose one of its offices.")
    ALREADY_BOOKED = strawberry.enum_value(
        "ALREADY_BOOKED", description="The application already holds that slot.")
    HOLD_EXPIRED = strawberry.enum_value(
        "HOLD_EXPIRED", description="The appointment hold ran out before submission; book a time again.")
    INVALID_RANGE = strawberry.enum_value(
        "INVALID_RANGE", description="The date range is empty or longer than the most one question may span.")
    UPLOAD_TOO_LARGE = strawberry.enum_value(
        "UPLOAD_TOO_LARGE", description="The sandbox upload (or what its zip expands to) is over the sandbox's limit.")
    UNSAFE_ARCHIVE = strawberry.enum_value(
        "UNSAFE_ARCHIVE",
        description="The zip has a path leaving the sandbox (../, absolute), an encrypted entry or a zip bomb.")
    NOT_A_DEFINITION_FILE = strawberry.enum_value(
        "NOT_A_DEFINITION_FILE",
        description="An upload holds .yaml files only: services/…, fragments/… and option-lists.yaml.")
    NOT_BASE64 = strawberry.enum_value("NOT_BASE64", description="The upload's content is not base64.")
    SANDBOX_LIMIT = strawberry.enum_value(
        "SANDBOX_LIMIT", description="A limit of the sandbox (services, applications a day) would be exceeded.")
    FACE_MISMATCH = strawberry.enum_value(
        "FACE_MISMATCH", description="The face image does not match the (test) citizen's enrolled face.")
    CONTENT_HASH_MISMATCH = strawberry.enum_value(
        "CONTENT_HASH_MISMATCH", description="The sandbox version's service has another content hash than the one "
        "given: request the version that was tested.")
    PROMOTION_DECIDED = strawberry.enum_value(
        "PROMOTION_DECIDED", description="The promotion awaits no such decision: it was decided otherwise already, "
        "its checks failed, or it is still being checked.")


@strawberry.type(description="A problem with the input the caller can fix.")
class UserError:
    field: list[str] | None = strawberry.field(description="Path to the input field, e.g. [\"input\", \"phone\"].")
    message: str
    code: UserErrorCode


def user_error(message: str, code: UserErrorCode, *field: str) -> UserError:
    return UserError(field=list(field) if field else None, message=message, code=code)


def _code(code: str) -> UserErrorCode:
    try:
        return UserErrorCode(code)
    except ValueError:
        # A test keeps every code the engine can produce in the enum; should one slip through, the client still
        # gets a valid answer and the log says which code to add.
        log.error("user error code %r is missing from UserErrorCode", code)
        return UserErrorCode.INVALID_VALUE


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


def user_errors_from(exc: BaseException, *, lang: Lang = Lang.EN, input_name: str = "input"
                     ) -> list[UserError] | None:
    """Refused input as userErrors, one per field, paths under ``input_name``; None when ``exc`` is not that."""
    if not isinstance(exc, engine_errors.InvalidInput):
        return None
    return [UserError(field=[input_name, *e.path], message=localized(e.message, lang) or e.code, code=_code(e.code))
            for e in exc.errors]


@dataclass(frozen=True)
class Outcome(Generic[T]):
    """What a mutation's engine call gave: its value, or the userErrors saying why not."""

    value: T | None = None
    user_errors: list[UserError] = dataclass_field(default_factory=list)

    @classmethod
    def refused(cls, *errors: UserError) -> Outcome[T]:
        return cls(user_errors=list(errors))

    def map(self, make: Callable[[T], R]) -> R | None:
        return None if self.value is None else make(self.value)


async def outcome(call: Callable[[], Awaitable[T]], lang: Lang, *, not_found: UserError | None = None) -> Outcome[T]:
    """Run a mutation's engine call, turning its refusal into userErrors: the mutations' one refusal path.

    ``InvalidInput`` gives one userError per field; ``NotFound`` gives ``not_found`` when the mutation names
    the id that was not found. Every other failure propagates to ``classify_errors`` (``extensions.code``).
    """
    try:
        return Outcome(await call())
    except engine_errors.InvalidInput as exc:
        return Outcome(user_errors=user_errors_from(exc, lang=lang) or [])
    except engine_errors.NotFound:
        if not_found is None:
            raise
        return Outcome.refused(not_found)


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


def stamp_codes(result: object, context: object) -> None:
    """Stamps ``extensions.code`` on every error of the operation's ``result`` and masks internal ones (run as the
    operation ends, by ``guard.Guard``); ``context`` is the request's (its ``response`` gets the challenge).

    Auth errors also set ``WWW-Authenticate`` on the HTTP response, so generic OAuth clients see the
    challenge; the status stays 200 as GraphQL answers carry data beside errors.
    """
    errors = getattr(result, "errors", None)
    if result is None or not errors:
        return
    stamped = classify_errors(errors)
    result.errors = stamped  # type: ignore[attr-defined]  # graphql-core's and strawberry's results alike
    header = challenge(stamped)
    response = getattr(context, "response", None)
    headers = getattr(response, "headers", None)
    if header is not None and headers is not None:
        headers["WWW-Authenticate"] = header
