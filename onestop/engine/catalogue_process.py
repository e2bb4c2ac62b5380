"""A catalogue reload done in a child process, handed back as a pickle stream and read between requests.

Loading and validating a large tree is seconds of CPU. Done on the server's event loop, even in small steps, every
request arriving meanwhile waits for the step in progress and shares the core with the rest of the load. Here a
child process (at a lower scheduling priority) parses and validates, then writes the result to a private file: a
header, then one pickle per service, all through one ``Pickler`` so that what services share (interned texts, the
shared sets of given keys, option lists) is written once and read back as one object. The server reads the file a
service at a time between requests: unpickling a service is a small fraction of building it.

The file is made with ``mkstemp`` (mode 0600) and read only by the process that started the child: the pickles come
from our own code, never from outside.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import pickle
import sys
import tempfile
from pathlib import Path
from types import MappingProxyType
from typing import Any, BinaryIO

import onestop
from onestop.catalogue import CatalogueError, load_catalogue
from onestop.catalogue.catalogue import Catalogue, Steps, collector_paused
from onestop.catalogue.services import Service

log = logging.getLogger(__name__)

_PROBLEMS, _CATALOGUE = "problems", "catalogue"
# The child runs below the server's priority: on a shared machine requests come first, the reload after.
CHILD_NICENESS = 5
# The child imports onestop from where this process did.
_PACKAGE_PARENT = str(Path(onestop.__file__).resolve().parent.parent)


class ChildFailed(RuntimeError):
    """The child process stopped without a result (killed, out of memory, a bug): not a problem of the tree."""


def write_catalogue(root: Path, file: BinaryIO) -> None:
    """Load ``root`` and write the result to ``file``: the problems, or the catalogue a service at a time."""
    pickler = pickle.Pickler(file, protocol=pickle.HIGHEST_PROTOCOL)
    try:
        catalogue = load_catalogue(root)
    except CatalogueError as exc:
        pickler.dump((_PROBLEMS, list(exc.problems)))
        return
    header: dict[str, Any] = {
        "root": catalogue.root,
        "version": catalogue.version,
        "taxonomy": catalogue.taxonomy,
        "option_lists": dict(catalogue.option_lists),
        "departments": dict(catalogue.departments),
        "providers": dict(catalogue.providers),
        "feeds_file": catalogue.feeds_file,
        "services": len(catalogue.services),
    }
    pickler.dump((_CATALOGUE, header))
    for service in catalogue.services.values():
        service.content_hash  # noqa: B018 - hashed here, in the child; the cached value travels with the service
        pickler.dump(service)


def read_catalogue_steps(file: BinaryIO) -> Steps[Catalogue]:
    """The catalogue ``write_catalogue`` wrote, a service per step; raises ``CatalogueError`` with its problems."""
    with collector_paused():
        unpickler = pickle.Unpickler(file)  # noqa: S301 - our own child's file, made private by mkstemp
        kind, header = unpickler.load()
        yield
        if kind == _PROBLEMS:
            raise CatalogueError(header)
        services: dict[str, Service] = {}
        for _ in range(header["services"]):
            service = unpickler.load()
            services[service.id] = service
            yield
        return Catalogue(
            root=header["root"],
            version=header["version"],
            taxonomy=header["taxonomy"],
            option_lists=MappingProxyType(header["option_lists"]),
            departments=MappingProxyType(header["departments"]),
            services=MappingProxyType(services),
            providers=MappingProxyType(header["providers"]),
            feeds_file=header["feeds_file"],
        )


async def load_in_child(root: Path) -> Path:
    """Run the load in a child process; the path of the file it wrote (the caller reads, then deletes it)."""
    descriptor, name = tempfile.mkstemp(prefix="onestop-catalogue-", suffix=".pickle")
    os.close(descriptor)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [_PACKAGE_PARENT, os.environ.get("PYTHONPATH")]))}
    child: asyncio.subprocess.Process | None = None
    try:
        child = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "onestop.engine.catalogue_process",
            str(root),
            name,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            env=env,
        )
        _, errors = await child.communicate()
    except BaseException:  # cancelled (a shutdown): the child goes too
        if child is not None and child.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                child.kill()
        discard(name)
        raise
    if child.returncode != 0:
        discard(name)
        detail = errors.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no message"]
        raise ChildFailed(f"the catalogue child process exited with {child.returncode}: {detail[0]}")
    return Path(name)


def discard(name: str | Path) -> None:
    """Remove the child's file (a small local unlink: fine on the event loop)."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(name)


def main(argv: list[str]) -> int:
    root, out = Path(argv[0]), Path(argv[1])
    if hasattr(os, "nice"):
        os.nice(CHILD_NICENESS)
    with out.open("wb") as file:
        write_catalogue(root, file)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
