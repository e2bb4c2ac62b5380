"""Each sandbox's own catalogue: versions of the definitions its provider uploaded, validated like the public
ones (the same loader ``onestop validate`` runs) in a tree of the sandbox's own, and never part of the public
catalogue."""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import shutil
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select

from onestop.catalogue import Catalogue, load_catalogue
from onestop.catalogue.problems import CatalogueError, Problem
from onestop.engine.db import Database, SandboxCatalogueVersionRow, SandboxRow
from onestop.engine.errors import Forbidden, InvalidInput, NotFound, field_error
from onestop.engine.identity.principal import Principal
from onestop.engine.sandbox.uploads import UploadLimits, shape_problems, unpack, upload_refused
from onestop.workflows.compile import snapshot_from_service
from onestop.workflows.snapshot import ServiceSnapshot, StepSpec

PROVIDER_ROLE = "provider"
"""The staff role of a provider's own staff: they author in their sandbox (their department is its namespace)."""

_DEPARTMENT_KEY = re.compile(r"^department:", re.MULTILINE)


@dataclass(frozen=True)
class UploadResult:
    """A valid upload's new version (``version`` set), or the problems that kept it out (``problems``)."""

    version: int | None
    content_hash: str | None
    services: tuple[str, ...]
    problems: tuple[Problem, ...]
    created_at: datetime | None = None


@dataclass(frozen=True)
class SandboxVersion:
    provider_id: str
    namespace: str
    version: int
    content_hash: str
    services: tuple[str, ...]
    created_at: datetime


class SandboxCatalogues:
    """Uploads and versions of every sandbox's catalogue."""

    def __init__(
        self, database: Database, definitions: Path, work_dir: Path, limits: UploadLimits, max_services: int
    ) -> None:
        self.database = database
        self.definitions = definitions
        self.work_dir = work_dir
        self.limits = limits
        self.max_services = max_services
        self._loaded: dict[tuple[str, int], Catalogue] = {}

    async def sandbox_for(self, principal: Principal | None) -> SandboxRow:
        """The sandbox a provider's staff member works in (by their department, the sandbox's namespace)."""
        if principal is None or not principal.is_staff or PROVIDER_ROLE not in principal.roles:
            raise Forbidden(f"this needs a sandbox provider's staff sign-in (role '{PROVIDER_ROLE}')")
        async with self.database.session() as session:
            row = (
                await session.scalars(select(SandboxRow).where(SandboxRow.namespace == principal.department))
            ).first()
        if row is None:
            raise Forbidden("no sandbox is provisioned for this sign-in's organisation")
        return row

    async def upload(self, principal: Principal | None, filename: str, content: bytes) -> UploadResult:
        sandbox = await self.sandbox_for(principal)
        assert principal is not None  # sandbox_for refused nobody
        uploaded = unpack(filename, content, self.limits)
        shape = shape_problems(uploaded, self.limits)
        if shape:
            return UploadResult(None, None, (), tuple(shape))
        latest = await self._latest(sandbox.provider_id)
        files = dict(json.loads(latest.files)) if latest is not None else {}
        for path, raw in uploaded.items():
            try:
                files[path] = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                return UploadResult(
                    None,
                    None,
                    (),
                    (
                        Problem(
                            path, 1, 1, "NOT_UTF8", f"the file is not UTF-8 ({exc.reason})", "save the file as UTF-8"
                        ),
                    ),
                )
        catalogue, problems = await asyncio.to_thread(self._check, sandbox.namespace, files, set(uploaded))
        if problems or catalogue is None:
            return UploadResult(None, None, (), tuple(problems))
        services = tuple(sorted(catalogue.services))
        if len(services) > self.max_services:
            raise InvalidInput(
                [
                    field_error(
                        ["input", "content"],
                        f"the sandbox would hold {len(services)} services; it may hold at most {self.max_services}",
                        "SANDBOX_LIMIT",
                    )
                ]
            )
        digest = hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()
        now = datetime.now(UTC)
        version = await self._record(sandbox.provider_id, files, services, digest, principal.sub, now)
        return UploadResult(version, digest, services, (), now)

    async def _latest(self, provider_id: str) -> SandboxCatalogueVersionRow | None:
        async with self.database.session() as session:
            return (
                await session.scalars(
                    select(SandboxCatalogueVersionRow)
                    .where(SandboxCatalogueVersionRow.provider_id == provider_id)
                    .order_by(SandboxCatalogueVersionRow.version.desc())
                    .limit(1)
                )
            ).first()

    async def _record(
        self,
        provider_id: str,
        files: dict[str, str],
        services: tuple[str, ...],
        digest: str,
        uploaded_by: str,
        now: datetime,
    ) -> int:
        async with self.database.session() as session:
            current = await session.scalar(
                select(func.max(SandboxCatalogueVersionRow.version)).where(
                    SandboxCatalogueVersionRow.provider_id == provider_id
                )
            )
            version = int(current or 0) + 1
            session.add(
                SandboxCatalogueVersionRow(
                    provider_id=provider_id,
                    version=version,
                    content_hash=digest,
                    files=json.dumps(files),
                    services=json.dumps(list(services)),
                    uploaded_by=uploaded_by,
                    created_at=now,
                )
            )
        return version

    def _tree(self, namespace: str, files: dict[str, str], folder: str) -> Path:
        """A definitions tree of the sandbox's own under the work dir: the public shared files, the sandbox's
        department, and the sandbox's files (every path already checked by ``unpack``)."""
        base = (self.work_dir / namespace.lower()).resolve()
        root = base / folder
        root.mkdir(parents=True)
        shutil.copy(self.definitions / "taxonomy.yaml", root / "taxonomy.yaml")
        shutil.copytree(self.definitions / "departments", root / "departments")
        if (self.definitions / "fragments").is_dir():
            shutil.copytree(self.definitions / "fragments", root / "fragments")
        if (self.definitions / "option-lists.yaml").exists() and "option-lists.yaml" not in files:
            shutil.copy(self.definitions / "option-lists.yaml", root / "option-lists.yaml")
        (root / "departments" / f"{namespace.lower()}.yaml").write_text(
            f"code: {namespace}\nname: {{en: Sandbox {namespace}, tc: 沙盒 {namespace}, sc: 沙盒 {namespace}}}\n"
            "submission:\n  inbox: true\n",
            encoding="utf-8",
        )
        for path, text in files.items():
            target = (root / path).resolve()
            if root not in target.parents:  # unpack refused such paths; never write outside the tree
                raise upload_refused(f"{path!r} would be written outside the sandbox", "UNSAFE_ARCHIVE")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        return root

    def _check(
        self, namespace: str, files: dict[str, str], uploaded: set[str]
    ) -> tuple[Catalogue | None, list[Problem]]:
        root = self._tree(namespace, files, f"check-{uuid.uuid4().hex}")
        try:
            public_fragments = {f"fragments/{p.name}" for p in (self.definitions / "fragments").glob("*.yaml")}
            clashes = [
                Problem(
                    path, 1, 1, "DUPLICATE_ID", f"{path} is a public fragment's name", "name your fragment differently"
                )
                for path in sorted(uploaded & public_fragments)
            ]
            try:
                catalogue: Catalogue | None = load_catalogue(root)
                problems: list[Problem] = []
            except CatalogueError as error:
                catalogue, problems = None, list(error.problems)
            shown = [_relative(problem, root) for problem in problems]
            if catalogue is not None:
                shown += self._department_problems(namespace, files, catalogue)
            return (catalogue if not shown and not clashes else None), [*clashes, *sorted(shown)]
        finally:
            shutil.rmtree(root, ignore_errors=True)

    @staticmethod
    def _department_problems(namespace: str, files: dict[str, str], catalogue: Catalogue) -> list[Problem]:
        problems = []
        for path, text in sorted(files.items()):
            if not path.startswith("services/"):
                continue
            if re.search(rf"^department:[ \t]*{namespace}[ \t]*(#.*)?$", text, re.MULTILINE):
                continue
            match = _DEPARTMENT_KEY.search(text)
            line = text.count("\n", 0, match.start()) + 1 if match else 1
            problems.append(
                Problem(
                    path,
                    line,
                    1,
                    "UNKNOWN_DEPARTMENT",
                    f"a sandbox service's department must be the sandbox's namespace, {namespace}",
                    f"write `department: {namespace}`",
                )
            )
        return problems

    # ---- reading ----

    async def versions(self, provider_id: str) -> list[SandboxVersion]:
        async with self.database.session() as session:
            sandbox = await session.get(SandboxRow, provider_id)
            rows = (
                await session.scalars(
                    select(SandboxCatalogueVersionRow)
                    .where(SandboxCatalogueVersionRow.provider_id == provider_id)
                    .order_by(SandboxCatalogueVersionRow.version)
                )
            ).all()
        namespace = sandbox.namespace if sandbox is not None else ""
        return [
            SandboxVersion(
                row.provider_id,
                namespace,
                row.version,
                row.content_hash,
                tuple(json.loads(row.services)),
                row.created_at,
            )
            for row in rows
        ]

    async def catalogue(self, provider_id: str, version: int | None = None) -> Catalogue | None:
        """A sandbox's catalogue at ``version`` (default: the latest), loaded from its own tree."""
        async with self.database.session() as session:
            sandbox = await session.get(SandboxRow, provider_id)
            query = select(SandboxCatalogueVersionRow).where(SandboxCatalogueVersionRow.provider_id == provider_id)
            query = (
                query.where(SandboxCatalogueVersionRow.version == version)
                if version is not None
                else query.order_by(SandboxCatalogueVersionRow.version.desc()).limit(1)
            )
            row = (await session.scalars(query)).first()
        if sandbox is None or row is None:
            return None
        key = (provider_id, row.version)
        if key not in self._loaded:
            self._loaded[key] = await asyncio.to_thread(
                self._load, sandbox.namespace, json.loads(row.files), row.version
            )
        return self._loaded[key]

    async def preview(
        self, principal: Principal | None, slug: str, step_id: str | None, version: int | None = None
    ) -> tuple[int, ServiceSnapshot, list[StepSpec]]:
        """The steps of a sandbox service (``step_id`` one, or all) as a citizen would be shown them, pinned the
        way an application would pin them, from the caller's own sandbox only; the version previewed."""
        sandbox = await self.sandbox_for(principal)
        versions = await self.versions(sandbox.provider_id)
        chosen = (
            next((v for v in versions if v.version == version), None)
            if version is not None
            else (versions[-1] if versions else None)
        )
        if chosen is None:
            raise NotFound("sandbox catalogue version", str(version) if version is not None else "latest")
        catalogue = await self.catalogue(sandbox.provider_id, chosen.version)
        service = catalogue.service(slug) if catalogue is not None else None
        if catalogue is None or service is None:
            raise NotFound("sandbox service", slug)
        snapshot = snapshot_from_service(service, assurance_levels=list(catalogue.assurance.ids))
        steps = [step for step in snapshot.steps if step_id is None or step.id == step_id]
        if not steps:
            raise NotFound("step", step_id or "")
        return chosen.version, snapshot, steps

    def _load(self, namespace: str, files: dict[str, str], version: int) -> Catalogue:
        root = self._tree(namespace, files, f"load-{version}-{uuid.uuid4().hex}")
        try:
            return load_catalogue(root)
        finally:
            shutil.rmtree(root, ignore_errors=True)


def _relative(problem: Problem, root: Path) -> Problem:
    def short(path: str) -> str:
        prefix = str(root) + "/"
        return path[len(prefix) :] if path.startswith(prefix) else path

    included = problem.included_from
    return Problem(
        short(problem.path),
        problem.line,
        problem.col,
        problem.code,
        problem.message,
        problem.hint,
        short(included) if included else None,
    )
