"""Sandbox types: a sandbox as its provider's staff see it, its catalogue versions, definition problems."""

from __future__ import annotations

from datetime import date, datetime

import strawberry

from onestop.catalogue.problems import Problem
from onestop.engine import SandboxCatalogues, SandboxLogin, SandboxService, SandboxVersion
from onestop.graphql.context import Info_
from onestop.graphql.errors import ApiError, ErrorCode


@strawberry.type(description="A problem in an uploaded definition file, as `onestop validate` reports it.")
class DefinitionProblem:
    file: str = strawberry.field(description="The file's path inside the upload, e.g. services/permit.yaml.")
    line: int
    col: int
    code: str = strawberry.field(description="The validator's error code (see docs/definitions.md).")
    message: str
    hint: str | None
    included_from: str | None = strawberry.field(
        description="For a problem inside a fragment: `file:line:col` of the include that brought it in."
    )
    location: str = strawberry.field(description="`file:line:col`, the form editors link to.")

    @classmethod
    def of(cls, problem: Problem) -> DefinitionProblem:
        return cls(
            location=f"{problem.path}:{problem.line}:{problem.col}",
            file=problem.path,
            line=problem.line,
            col=problem.col,
            code=problem.code,
            message=problem.message,
            hint=problem.hint,
            included_from=problem.included_from,
        )


@strawberry.type(description="One version of a sandbox's own catalogue.")
class SandboxCatalogueVersion:
    version: int
    content_hash: str
    service_slugs: list[str]
    created_at: datetime

    @classmethod
    def of(cls, version: SandboxVersion) -> SandboxCatalogueVersion:
        return cls(
            version=version.version,
            content_hash=version.content_hash,
            service_slugs=list(version.services),
            created_at=version.created_at,
        )


@strawberry.type(description="A test citizen's test face images (base64): one the face check matches, one it refuses.")
class FaceSamples:
    match: str
    mismatch: str


@strawberry.type(description="A synthetic test citizen of the caller's sandbox, to run its services as.")
class SandboxTestCitizen:
    login: str = strawberry.field(description="What `signInAsTestCitizen` takes.")
    name: str
    age_group: str | None
    date_of_birth: date | None
    face_samples: FaceSamples | None = strawberry.field(
        description="Selfies for a face step-up as this citizen; null when the identity provider has none."
    )

    @classmethod
    def of(cls, login: SandboxLogin, samples: dict[str, str] | None) -> SandboxTestCitizen:
        return cls(
            login=login.login,
            name=login.name,
            age_group=login.age_group,
            date_of_birth=login.date_of_birth,
            face_samples=FaceSamples(match=samples["match"], mismatch=samples["mismatch"]) if samples else None,
        )


def sandbox_service(info: Info_) -> SandboxService:
    sandbox = info.context.engine.sandbox
    if sandbox is None:
        raise ApiError(ErrorCode.SERVICE_UNAVAILABLE, "sandboxes are not served by this process")
    return sandbox


def sandbox_catalogues(info: Info_) -> SandboxCatalogues:
    sandbox = info.context.engine.sandbox
    if sandbox is None or sandbox.catalogues is None:
        raise ApiError(ErrorCode.SERVICE_UNAVAILABLE, "sandboxes are not served by this process")
    return sandbox.catalogues
