"""The engine's errors: one root, one class per failure mode, each carrying a stable ``code``.

The GraphQL layer maps them in one place (``onestop/graphql/errors.py``): ``InvalidInput`` to ``userErrors``,
the others to ``extensions.code``. Messages say what went wrong and what to do; they never contain personal data.
"""

from __future__ import annotations

from collections.abc import Sequence

from onestop.workflows.interpreter import FieldError as FieldError  # re-exported: the engine's field error

# The one field-error type is the workflow's (workflows cannot import the engine): ``path`` is where the
# value sits in the input of the engine call that refused it, ``message`` is text per language.


def field_error(path: Sequence[str], message: str, code: str = "INVALID_VALUE") -> FieldError:
    """A field error of the engine's own checks, whose messages are in English only."""
    return FieldError(list(path), code, {"en": message})


class EngineError(Exception):
    """Root of every engine failure."""

    code = "ENGINE_ERROR"

    def __init__(self, code: str | None, message: str, field: Sequence[str] | None = None) -> None:
        super().__init__(message)
        self.code = code or type(self).code
        self.message = message
        self.field: tuple[str, ...] | None = tuple(field) if field is not None else None

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


class NotFound(EngineError):
    """Unknown, or not yours: both answer the same so ids leak nothing."""

    code = "NOT_FOUND"

    def __init__(self, kind: str, ident: str) -> None:
        super().__init__(None, f"no {kind} with id {ident!r}; check the id (it may have been deleted)")
        self.kind = kind
        self.ident = ident


class Forbidden(EngineError):
    code = "FORBIDDEN"

    def __init__(self, message: str) -> None:
        super().__init__(None, message)


class ConsentRequired(EngineError):
    """No live consent covers the request."""

    code = "CONSENT_REQUIRED"

    def __init__(self, message: str = "no consent covers this request; ask the citizen to grant one") -> None:
        super().__init__(None, message)


class ConsentRevoked(ConsentRequired):
    code = "CONSENT_REVOKED"

    def __init__(self, consent_id: str) -> None:
        super().__init__(f"consent {consent_id} was revoked by the citizen; ask for a new consent")
        self.consent_id = consent_id


class ConsentExpired(ConsentRequired):
    code = "CONSENT_EXPIRED"

    def __init__(self, consent_id: str) -> None:
        super().__init__(f"consent {consent_id} has expired; ask the citizen for a new consent")
        self.consent_id = consent_id


class ItemsNotConsented(ConsentRequired):
    code = "ITEMS_NOT_CONSENTED"

    def __init__(self, consent_id: str, items: Sequence[str]) -> None:
        super().__init__(
            f"consent {consent_id} does not cover {', '.join(items)}; request only consented items "
            "or ask for a consent that lists them"
        )
        self.consent_id = consent_id
        self.items = tuple(items)


class PurposeMismatch(ConsentRequired):
    code = "PURPOSE_MISMATCH"

    def __init__(self, consent_id: str, what: str = "purpose") -> None:
        super().__init__(
            f"consent {consent_id} was given for a different {what}; data may only be used for the "
            "purpose the citizen agreed to, so ask for a consent for this one"
        )
        self.consent_id = consent_id


class ProviderUnavailable(EngineError):
    code = "PROVIDER_UNAVAILABLE"

    def __init__(self, provider_id: str, reason: str) -> None:
        super().__init__(None, f"data provider {provider_id!r} is unavailable ({reason}); try again later")
        self.provider_id = provider_id
        self.reason = reason


class UnknownProvider(EngineError):
    code = "UNKNOWN_PROVIDER"

    def __init__(self, provider_id: str) -> None:
        super().__init__(
            None, f"no data provider {provider_id!r} in the catalogue; use a provider id from a department YAML"
        )
        self.provider_id = provider_id


class InvalidInput(EngineError):
    """Input refused with every problem at once (never only the first); nothing was changed.

    ``code`` is the first problem's, so a caller can tell refusals apart without reading messages.
    """

    code = "BAD_USER_INPUT"

    def __init__(self, errors: Sequence[FieldError]) -> None:
        self.errors = list(errors)
        first = self.errors[0] if self.errors else None
        message = "; ".join(
            f"{'.'.join(e.path)}: {e.message.get('en', e.code)}" if e.path else e.message.get("en", e.code)
            for e in self.errors
        ) or "invalid input"
        super().__init__(first.code if first else None, message, first.path if first else None)


class DecryptionFailed(EngineError):
    code = "DECRYPTION_FAILED"

    def __init__(self, message: str) -> None:
        super().__init__(None, message)


class SignatureInvalid(EngineError):
    code = "SIGNATURE_INVALID"

    def __init__(self, message: str) -> None:
        super().__init__(None, message)


class ChainBroken(EngineError):
    """The access log's hash chain does not verify: a row was edited, removed or inserted."""

    code = "ACCESS_LOG_TAMPERED"

    def __init__(self, citizen_ref: str, seq: int, reason: str) -> None:
        super().__init__(None, f"access log entry {seq} of citizen {citizen_ref} fails verification: {reason}")
        self.seq = seq
        self.reason = reason


class SchemaNotCurrent(EngineError):
    """The database is not at the schema this release needs; ``onestop migrate`` brings it there."""

    code = "SCHEMA_NOT_CURRENT"

    def __init__(self, current: tuple[str, ...], head: tuple[str, ...]) -> None:
        found = f"at revision {', '.join(current)}" if current else "empty (no onestop schema)"
        super().__init__(None, f"the database is {found} but this release needs revision {', '.join(head)}; run "
                               "`onestop migrate` with the same --database-url, then start again")
        self.current = current
        self.head = head


class SchemaUnversioned(EngineError):
    """The database has onestop tables but no migration history, so migrations cannot know where to start."""

    code = "SCHEMA_UNVERSIONED"

    def __init__(self) -> None:
        super().__init__(None, "the database has onestop tables but no migration history (a release before "
                               "migrations created them); back it up and recreate it with `onestop migrate` "
                               "(in development: move <data dir>/onestop.db aside)")
