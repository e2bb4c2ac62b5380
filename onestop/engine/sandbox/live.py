"""The live definitions source a promotion writes into: the directory the public catalogue is loaded from.

A promoted service goes in ``services/providers/<namespace>/``, the fragments it includes in ``fragments/`` and
its provider's department in ``departments/<namespace>.yaml``. Before anything is written, the tree is tried in a
copy: it must load, and the service must hash there exactly as it did in the sandbox. After writing, the catalogue
is reloaded; a reload that fails, or gives another hash, puts the previous files back. Once the promotion is
recorded LIVE the reload is announced to every other process through the database (at once on PostgreSQL by
``NOTIFY``); each writes the live promotions' files into its own tree first (``materialize``), so replicas need not
share a volume.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from onestop.catalogue import Catalogue, load_catalogue
from onestop.catalogue.problems import CatalogueError, Problem
from onestop.engine.catalogue_store import CatalogueStore

log = logging.getLogger(__name__)

PROVIDERS_FOLDER = "services/providers"
_INCLUDE = re.compile(r"include:\s*['\"]?(fragments/[A-Za-z0-9._/-]+\.ya?ml)")
# What a catalogue load reads; a trial copies only these.
_TREE = ("taxonomy.yaml", "option-lists.yaml", "feeds.yaml", "departments", "services", "fragments")


class LiveConflict(Exception):
    """The promoted files cannot go into the live tree as they are (a name taken, a failed load)."""


def service_file(files: Mapping[str, str], slug: str) -> str | None:
    """The path of the uploaded service file whose ``id`` is ``slug``."""
    for path, text in sorted(files.items()):
        if not path.startswith("services/"):
            continue
        try:
            data = yaml.load(text, Loader=yaml.CSafeLoader)
        except yaml.YAMLError:
            continue
        if isinstance(data, dict) and data.get("id") == slug:
            return path
    return None


def live_files(files: Mapping[str, str], slug: str, namespace: str) -> dict[str, str]:
    """The files a promotion of ``slug`` writes, by live tree path: its service file and the fragments it
    includes, exactly as uploaded."""
    path = service_file(files, slug)
    if path is None:
        return {}
    text = files[path]
    chosen = {f"{PROVIDERS_FOLDER}/{namespace.lower()}/{slug}.yaml": text}
    for fragment in sorted(set(_INCLUDE.findall(text))):
        if fragment in files:
            chosen[fragment] = files[fragment]
    return chosen


def department_file(namespace: str, organisation: str) -> tuple[str, str]:
    name = organisation.strip() or namespace
    text = yaml.safe_dump(
        {"code": namespace, "name": {"en": name, "tc": name, "sc": name}, "submission": {"inbox": True}},
        allow_unicode=True,
        sort_keys=False,
    )
    return f"departments/{namespace.lower()}.yaml", text


@dataclass(frozen=True)
class Trial:
    """A trial load of the live tree with the promoted files in: the service's hash there, or the problems."""

    content_hash: str | None
    department: str | None
    problems: tuple[Problem, ...]


class LiveDefinitions:
    """Writes promoted definitions into the live tree, one promotion at a time per process."""

    def __init__(self, store: CatalogueStore, announce: Callable[[], Awaitable[object]] | None = None) -> None:
        self.store = store
        # Tells every other process to reload (``CatalogueWatch.announce``); None where this process is alone.
        self.announce = announce
        self._lock = asyncio.Lock()

    async def announce_reload(self) -> None:
        if self.announce is not None:
            await self.announce()

    async def materialize(self, files: Callable[[], Awaitable[Sequence[tuple[str, str]]]]) -> int:
        """Bring this process's tree up to ``files()`` (path, text; a later entry wins): the live promotions, as the
        database holds them, for a replica whose tree is its own. The number of files written. ``files`` is read
        under the lock a publish holds, so it never sees the database from before a publish this process made."""
        async with self._lock:
            wanted = dict(await files())
            written = 0
            for path, text in wanted.items():
                target = self.root / path
                try:
                    if target.exists() and target.read_text(encoding="utf-8") == text:
                        continue
                    _write(target, text)
                except OSError:  # a read-only tree (an image): this process serves what it has, and says so
                    log.warning("cannot write the promoted %s into %s", path, self.root, exc_info=True)
                    continue
                written += 1
            return written

    @property
    def root(self) -> Path:
        return self.store.root

    def clashes(self, files: Mapping[str, str], namespace: str) -> list[str]:
        """Files that exist in the live tree with other content and are not this provider's own."""
        own = f"{PROVIDERS_FOLDER}/{namespace.lower()}/"
        found = []
        for path, text in files.items():
            target = self.root / path
            if path.startswith(own) or not target.exists():
                continue
            if target.read_text(encoding="utf-8") != text:
                found.append(path)
        return sorted(found)

    async def trial(self, files: Mapping[str, str], slug: str) -> Trial:
        return await asyncio.to_thread(self._trial, dict(files), slug)

    def _trial(self, files: dict[str, str], slug: str) -> Trial:
        with tempfile.TemporaryDirectory(prefix="onestop-promotion-") as folder:
            root = Path(folder) / "definitions"
            root.mkdir()
            for name in _TREE:
                source = self.root / name
                if source.is_dir():
                    shutil.copytree(source, root / name)
                elif source.is_file():
                    shutil.copy(source, root / name)
            for path, text in files.items():
                target = root / path
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(text, encoding="utf-8")
            try:
                catalogue: Catalogue = load_catalogue(root)
            except CatalogueError as error:
                prefix = str(root) + "/"
                return Trial(
                    None,
                    None,
                    tuple(
                        Problem(p.path.removeprefix(prefix), p.line, p.col, p.code, p.message, p.hint)
                        for p in error.problems
                    ),
                )
        service = catalogue.service(slug)
        if service is None:
            return Trial(None, None, ())
        return Trial(service.content_hash, service.department, ())

    async def publish(self, files: Mapping[str, str], slug: str, content_hash: str) -> str:
        """Write ``files`` into the live tree and reload; the catalogue version now served. Files already
        there with the same text are left alone, so publishing again changes nothing."""
        async with self._lock:
            previous: dict[str, str | None] = {}
            for path, text in files.items():
                target = self.root / path
                current = target.read_text(encoding="utf-8") if target.exists() else None
                if current == text:
                    continue
                previous[path] = current
                _write(target, text)
            served = self.store.catalogue.service(slug)
            if previous or served is None or served.content_hash != content_hash:
                # Announced only once the promotion is recorded LIVE (``announce``), so a replica that follows
                # the announcement finds the promotion's files in the database (``materialize``).
                reloaded = await self.store.reload(announce=False)
                served = self.store.catalogue.service(slug)
                if not reloaded or served is None or served.content_hash != content_hash:
                    problems = self.store.problems
                    for path, earlier in previous.items():
                        if earlier is None:
                            (self.root / path).unlink(missing_ok=True)
                        else:
                            _write(self.root / path, earlier)
                    await self.store.reload(announce=False)
                    detail = "; ".join(f"{p.path}:{p.line}:{p.col}: {p.message}" for p in problems[:3])
                    raise LiveConflict(
                        f"the live catalogue did not take {slug} as tested"
                        + (f": {detail}" if detail else f" (it hashes as {served.content_hash if served else None})")
                        + "; the previous files were put back"
                    )
            return self.store.catalogue.version


def _write(target: Path, text: str) -> None:
    """Write whole or not at all: a replica polling the tree never reads half a file."""
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, target)
