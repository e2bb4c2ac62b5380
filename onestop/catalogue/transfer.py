"""A catalogue handed from one process to another: written as a stream of pickles, read back a service at a time.

A header first, then one pickle per service, all through one ``Pickler``, so that what services share (interned
texts, the shared sets of given keys, option lists) is written once and read back as one object. Reading a service
back is a small fraction of building it. ``python -m onestop.catalogue.transfer ROOT OUT`` is the child process a
server's reload starts (``engine/catalogue_process.py``); it imports only the catalogue, so it starts quickly.
"""

from __future__ import annotations

import os
import pickle
import sys
from pathlib import Path
from types import MappingProxyType
from typing import Any, BinaryIO

from onestop.catalogue.catalogue import Catalogue, Steps, collector_paused, load_catalogue
from onestop.catalogue.problems import CatalogueError
from onestop.catalogue.services import Service

_PROBLEMS, _CATALOGUE = "problems", "catalogue"


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
        unpickler = pickle.Unpickler(file)  # noqa: S301 - only ever a file our own child wrote
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


def main(argv: list[str]) -> int:
    """``ROOT OUT [NICENESS]``: load the tree at ROOT and write the result to the file OUT, at the given niceness."""
    root, out = Path(argv[0]), Path(argv[1])
    if len(argv) > 2 and hasattr(os, "nice"):
        os.nice(int(argv[2]))
    with out.open("wb") as file:
        write_catalogue(root, file)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
