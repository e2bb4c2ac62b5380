"""A catalogue handed from one process to another: written as a stream of pickles, read back a service at a time.

A header first, then one pickle per service, all through one ``Pickler``, so that what services share (interned
texts, the shared sets of given keys, option lists) is written once and read back as one object. Reading a service
back is a small fraction of building it. ``python -m onestop.catalogue.transfer ROOT OUT`` is the child process a
server's reload starts (``engine/catalogue_process.py``); it imports only the catalogue, so it starts quickly.

The reader may tell the writer the services it already holds (slug and content hash, ``--known`` on stdin): each of
those that did not change is written as its slug alone and read back as the reader's own object, so a reload where
one file changed reads one service back. When anything changed, the writer also builds the search index and writes
it after the services, in small pieces (``SearchIndex.parts``); the reader reads it only when it cannot keep its
own index.
"""

from __future__ import annotations

import os
import pickle
import sys
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, BinaryIO

from onestop.catalogue.catalogue import Catalogue, Steps, collector_paused, load_catalogue
from onestop.catalogue.problems import CatalogueError
from onestop.catalogue.search import SearchIndex
from onestop.catalogue.services import Service

_PROBLEMS, _CATALOGUE = "problems", "catalogue"
KNOWN_FLAG = "--known"


def write_catalogue(root: Path, file: BinaryIO, known: Mapping[str, str] | None = None, *, index: bool = False) -> None:
    """Load ``root`` and write the result to ``file``: the problems, or the catalogue a service at a time.

    ``known`` maps the reader's slugs to content hashes: a service found there unchanged is written as its slug.
    With ``index``, the search index follows the services whenever the services differ from ``known``."""
    pickler = pickle.Pickler(file, protocol=pickle.HIGHEST_PROTOCOL)
    try:
        catalogue = load_catalogue(root)
    except CatalogueError as exc:
        pickler.dump((_PROBLEMS, list(exc.problems)))
        return
    known = known or {}
    unchanged = {slug for slug, service in catalogue.services.items() if known.get(slug) == service.content_hash}
    ship_index = index and not (len(unchanged) == len(catalogue.services) == len(known))
    header: dict[str, Any] = {
        "root": catalogue.root,
        "version": catalogue.version,
        "taxonomy": catalogue.taxonomy,
        "option_lists": dict(catalogue.option_lists),
        "departments": dict(catalogue.departments),
        "providers": dict(catalogue.providers),
        "feeds_file": catalogue.feeds_file,
        "services": len(catalogue.services),
        "index": ship_index,
    }
    pickler.dump((_CATALOGUE, header))
    for slug, service in catalogue.services.items():
        # A service the reader holds unchanged goes as its slug; the others whole, with their hash (computed
        # here, in the writer: the cached value travels with the service).
        pickler.dump(slug if slug in unchanged else service)
    if ship_index:
        for part in SearchIndex.build(catalogue).parts():
            pickler.dump(part)
        pickler.dump(None)


class CatalogueReader:
    """Reads what ``write_catalogue`` wrote: the catalogue, then (if written and wanted) the search index."""

    def __init__(self, file: BinaryIO, current: Mapping[str, Service] | None = None) -> None:
        self._unpickler = pickle.Unpickler(file)  # noqa: S301 - only ever a file our own child wrote
        self._current = current or {}
        self.has_index = False
        self.reused = 0  # services taken from ``current``

    def catalogue_steps(self) -> Steps[Catalogue]:
        """The catalogue, a service per step; raises ``CatalogueError`` with its problems."""
        with collector_paused():
            kind, header = self._unpickler.load()
            yield
            if kind == _PROBLEMS:
                raise CatalogueError(header)
            self.has_index = bool(header.get("index"))
            services: dict[str, Service] = {}
            for _ in range(header["services"]):
                service = self._unpickler.load()
                if isinstance(service, str):
                    reused = self._current.get(service)
                    if reused is None:
                        raise pickle.UnpicklingError(f"service {service!r} was written as known but is not held")
                    service = reused
                    self.reused += 1
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

    def index_steps(self) -> Steps[SearchIndex]:
        """The search index written after the services (``has_index``), a piece per step."""
        if not self.has_index:
            raise ValueError("no search index was written")
        with collector_paused():
            return (yield from SearchIndex.from_parts(iter(self._unpickler.load, None)))


def read_catalogue_steps(file: BinaryIO, current: Mapping[str, Service] | None = None) -> Steps[Catalogue]:
    """The catalogue ``write_catalogue`` wrote, a service per step; raises ``CatalogueError`` with its problems."""
    return (yield from CatalogueReader(file, current).catalogue_steps())


def read_known(text: str) -> dict[str, str]:
    """The ``slug hash`` lines a reader sends with ``--known``."""
    return dict(line.split(" ", 1) for line in text.splitlines() if line)


def main(argv: list[str]) -> int:
    """``ROOT OUT [NICENESS] [--known]``: load the tree at ROOT and write the result to the file OUT, at the given
    niceness; with ``--known``, the reader's services come on stdin and the search index is written too."""
    flags = [arg for arg in argv if arg.startswith("--")]
    root, out, *rest = [arg for arg in argv if not arg.startswith("--")]
    if rest and hasattr(os, "nice"):
        os.nice(int(rest[0]))
    known = read_known(sys.stdin.read()) if KNOWN_FLAG in flags else None
    with Path(out).open("wb") as file:
        write_catalogue(Path(root), file, known, index=KNOWN_FLAG in flags)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
