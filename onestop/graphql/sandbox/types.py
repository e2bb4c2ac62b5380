"""Sandbox types: a sandbox as its provider's staff see it, its catalogue versions, definition problems."""

from __future__ import annotations

from datetime import datetime

import strawberry

from onestop.catalogue.problems import Problem
from onestop.engine import SandboxCatalogues, SandboxVersion
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


def sandbox_catalogues(info: Info_) -> SandboxCatalogues:
    sandbox = info.context.engine.sandbox
    if sandbox is None or sandbox.catalogues is None:
        raise ApiError(ErrorCode.SERVICE_UNAVAILABLE, "sandboxes are not served by this process")
    return sandbox.catalogues
