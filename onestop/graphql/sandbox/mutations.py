"""uploadSandboxDefinitions: a provider's staff put a service YAML (or a zip) into their sandbox's catalogue."""

from __future__ import annotations

import base64
import binascii

import strawberry

from onestop.engine import UploadResult
from onestop.graphql.applications.mutations import ApplicationPayload, application_payload
from onestop.graphql.context import Info_
from onestop.graphql.errors import ApiError, ErrorCode, Outcome, UserError, UserErrorCode, outcome
from onestop.graphql.fields import field
from onestop.graphql.sandbox.types import DefinitionProblem, SandboxCatalogueVersion, sandbox_catalogues


@strawberry.input
class UploadSandboxDefinitionsInput:
    filename: str = strawberry.field(description="The uploaded file's name: `permit.yaml`, or `services.zip`.")
    content: str = strawberry.field(
        description="The file, base64-encoded. A zip holds services/…, fragments/… and option-lists.yaml."
    )
    client_mutation_id: str | None = None


@strawberry.type
class UploadSandboxDefinitionsPayload:
    version: SandboxCatalogueVersion | None = strawberry.field(
        description="The sandbox catalogue's new version; null when the upload had problems or was refused."
    )
    problems: list[DefinitionProblem] = strawberry.field(
        description="What `onestop validate` finds in the upload, at file:line:col with a hint; empty when valid."
    )
    user_errors: list[UserError]
    client_mutation_id: str | None = None


@strawberry.input
class StartSandboxApplicationInput:
    service_slug: str
    client_mutation_id: str | None = None


@strawberry.input
class RotateSandboxClientSecretInput:
    client_mutation_id: str | None = None


@strawberry.type
class RotateSandboxClientSecretPayload:
    client_id: str | None
    client_secret: str | None = strawberry.field(
        description="The new secret, shown this once: store it in your app; the old one no longer works."
    )
    user_errors: list[UserError]
    client_mutation_id: str | None = None


@strawberry.type
class SandboxMutation:
    @field(
        description="Issue a new OIDC client secret for the caller's sandbox (its provider's staff only). The secret "
        "is returned in this payload only; the previous one stops working at once."
    )
    async def rotate_sandbox_client_secret(
        self, info: Info_, input: RotateSandboxClientSecretInput
    ) -> RotateSandboxClientSecretPayload:
        sandbox = info.context.engine.sandbox
        if sandbox is None:
            raise ApiError(ErrorCode.SERVICE_UNAVAILABLE, "sandboxes are not served by this process")
        principal = await info.context.principal()
        done = await outcome(lambda: sandbox.rotate_client_secret(principal), info.context.lang)
        client_id, secret = done.value if done.value is not None else (None, None)
        return RotateSandboxClientSecretPayload(
            client_id=client_id,
            client_secret=secret,
            user_errors=done.user_errors,
            client_mutation_id=input.client_mutation_id,
        )

    @field(
        description="Start an application of a sandbox service, as one of that sandbox's test citizens (the "
        "only ones who can). Go on with the usual mutations (submitStep, grantConsent, ...); the "
        "application reaches that sandbox's inbox only."
    )
    async def start_sandbox_application(self, info: Info_, input: StartSandboxApplicationInput) -> ApplicationPayload:
        principal = await info.context.require_citizen()
        engine = info.context.engine
        if engine.sandbox is None:
            raise ApiError(ErrorCode.SERVICE_UNAVAILABLE, "sandboxes are not served by this process")
        sandbox = engine.sandbox
        citizen_ref = await engine.applicants.ref_of(principal)
        done = await outcome(
            lambda: sandbox.start_application(principal, citizen_ref, input.service_slug, input.client_mutation_id),
            info.context.lang,
            not_found=UserError(
                field=["input", "serviceSlug"],
                code=UserErrorCode.NOT_FOUND,
                message=f"No service {input.service_slug!r} in your sandbox.",
            ),
        )
        return application_payload(done, input.client_mutation_id)

    @field(
        description="Upload definitions to the caller's sandbox (its provider's staff only). A valid upload "
        "becomes a new version of the sandbox's own catalogue, never of the public one."
    )
    async def upload_sandbox_definitions(
        self, info: Info_, input: UploadSandboxDefinitionsInput
    ) -> UploadSandboxDefinitionsPayload:
        catalogues = sandbox_catalogues(info)
        principal = await info.context.principal()
        await catalogues.sandbox_for(principal)  # refuses anyone but a sandbox's own staff, before decoding
        try:
            content = base64.b64decode(input.content, validate=True)
        except (binascii.Error, ValueError):
            return UploadSandboxDefinitionsPayload(
                version=None,
                problems=[],
                user_errors=[
                    UserError(
                        field=["input", "content"],
                        code=UserErrorCode.NOT_BASE64,
                        message="content must be the file encoded as base64",
                    )
                ],
                client_mutation_id=input.client_mutation_id,
            )
        done: Outcome[UploadResult] = await outcome(
            lambda: catalogues.upload(principal, input.filename, content), info.context.lang
        )
        result = done.value
        version = None
        if result is not None and result.version is not None and result.content_hash and result.created_at:
            version = SandboxCatalogueVersion(
                version=result.version,
                content_hash=result.content_hash,
                service_slugs=list(result.services),
                created_at=result.created_at,
            )
        return UploadSandboxDefinitionsPayload(
            version=version,
            problems=[DefinitionProblem.of(p) for p in (result.problems if result else ())],
            user_errors=done.user_errors,
            client_mutation_id=input.client_mutation_id,
        )
