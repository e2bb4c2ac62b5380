"""The caller's sandbox, as its provider's staff see it."""

from __future__ import annotations

import json
from datetime import date

import strawberry

from onestop.graphql.context import Info_
from onestop.graphql.fields import field
from onestop.graphql.sandbox.preview import PreviewStep, SandboxPreview
from onestop.graphql.sandbox.types import SandboxCatalogueVersion, sandbox_catalogues


@strawberry.type(description="A sign-in a sandbox was provisioned with: one of its staff or a synthetic citizen.")
class SandboxMember:
    login: str = strawberry.field(description="What to sign in as on the sandbox identity provider.")
    name: str
    date_of_birth: date | None = strawberry.field(description="A synthetic citizen's; null for staff.")
    roles: list[str]


@strawberry.type(description="A provider's sandbox: its ids and the versions of its own catalogue.")
class ProviderSandbox:
    provider_id: str
    namespace: str = strawberry.field(description="The department code of the sandbox's staff and services.")
    client_id: str = strawberry.field(description="The OIDC client id of the provider's sign-in app.")
    redirect_uris: list[str]
    versions: list[SandboxCatalogueVersion]
    staff: list[SandboxMember] = strawberry.field(description="The provider's staff sign-ins for the portal.")
    test_citizens: list[SandboxMember] = strawberry.field(
        description="The sandbox's synthetic citizens, one per age group, with test face samples."
    )


@strawberry.type
class SandboxQuery:
    @field(
        description="Render a service of the caller's sandbox (its latest version, or `version`) as the citizen "
        "would see it, in English, Traditional and Simplified Chinese: one step (`stepId`) or all. "
        "Nothing is started. A sandbox provider's staff only, and only their own sandbox."
    )
    async def sandbox_preview(
        self, info: Info_, service_slug: str, step_id: str | None = None, version: int | None = None
    ) -> SandboxPreview:
        catalogues = sandbox_catalogues(info)
        previewed, snapshot, steps = await catalogues.preview(
            await info.context.principal(), service_slug, step_id, version
        )
        return SandboxPreview(
            service_slug=service_slug,
            version=previewed,
            content_hash=snapshot.content_hash,
            steps=[PreviewStep.of(step) for step in steps],
        )

    @field(description="The caller's own sandbox (a sandbox provider's staff only).")
    async def my_sandbox(self, info: Info_) -> ProviderSandbox:
        catalogues = sandbox_catalogues(info)
        row = await catalogues.sandbox_for(await info.context.principal())
        versions = await catalogues.versions(row.provider_id)
        sandbox = info.context.engine.sandbox
        found = await sandbox.sandbox_of(row.application_id) if sandbox is not None else None
        members = (found.staff, found.citizens) if found is not None else ((), ())
        return ProviderSandbox(
            provider_id=row.provider_id,
            namespace=row.namespace,
            client_id=row.client_id,
            redirect_uris=[str(uri) for uri in json.loads(row.redirect_uris)],
            versions=[SandboxCatalogueVersion.of(v) for v in versions],
            staff=[SandboxMember(login=m.login, name=m.name, date_of_birth=None, roles=list(m.roles))
                   for m in members[0]],
            test_citizens=[SandboxMember(login=m.login, name=m.name, date_of_birth=m.date_of_birth, roles=[])
                           for m in members[1]],
        )
