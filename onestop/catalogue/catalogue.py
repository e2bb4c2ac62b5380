"""The Catalogue: every definition, validated together, immutable, versioned by content hash."""

from __future__ import annotations

import contextlib
import functools
import gc
import hashlib
import threading
from collections.abc import Generator, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import TypeVar, cast

from onestop.catalogue import crossref
from onestop.catalogue.assurance import AssuranceLadder
from onestop.catalogue.canonical import canonical_json
from onestop.catalogue.departments import DataItem, Department, Provider
from onestop.catalogue.fields import AddressField, ChoiceField, Field, GroupField
from onestop.catalogue.fragments import Fragments
from onestop.catalogue.loader import Files, find_files_steps, load_file, load_file_steps
from onestop.catalogue.models import dump_data
from onestop.catalogue.predicates import generated_statement
from onestop.catalogue.problems import CatalogueError, Problem
from onestop.catalogue.services import Service
from onestop.catalogue.steps import AppointmentStep, PrefillStep, Step
from onestop.catalogue.taxonomy import AgeGroup, Option, OptionLists, Taxonomy
from onestop.catalogue.text import LocalizedText
from onestop.catalogue.yamlsource import Source

OptionListMap = Mapping[str, tuple[Option, ...]]
T = TypeVar("T")
Steps = Generator[None, None, T]  # work done a step at a time (see ``load_steps``), returning a T


@dataclass(frozen=True)
class Catalogue:
    """One immutable, fully validated snapshot of ``definitions/``."""

    root: Path
    version: str
    taxonomy: Taxonomy
    option_lists: OptionListMap
    departments: Mapping[str, Department]
    services: Mapping[str, Service]
    providers: Mapping[str, Provider]
    feeds_file: Path | None = None  # feeds.yaml, read by the feeds package

    def service(self, slug: str) -> Service | None:
        return self.services.get(slug)

    def department(self, code: str) -> Department | None:
        return self.departments.get(code)

    def data_item(self, ref: str) -> tuple[Provider, DataItem] | None:
        """The provider and item of a ``provider.item`` reference."""
        provider_id, _, item_id = ref.partition(".")
        provider = self.providers.get(provider_id)
        item = provider.item(item_id.split(".")[0]) if provider else None
        return (provider, item) if provider and item else None

    @functools.cached_property
    def assurance(self) -> AssuranceLadder:
        """The assurance ladder, weakest first."""
        return AssuranceLadder(tuple(self.taxonomy.assurance_levels))

    def age_group_for(self, age: int) -> AgeGroup:
        """The age group containing ``age`` (the nearest group when the ladder has a gap)."""
        groups = self.taxonomy.age_groups
        found = next((group for group in groups if group.contains(age)), None)
        return found or min(groups, key=lambda group: min(abs(group.min_age - age), abs((group.max_age or age) - age)))


def _resolve_fields(fields: tuple[Field, ...], lists: OptionListMap) -> tuple[Field, ...]:
    resolved: list[Field] = []
    for item in fields:
        if isinstance(item, ChoiceField) and item.option_list is not None:
            item = item.model_copy(update={"options": lists[item.option_list]})
        elif isinstance(item, AddressField):
            item = item.model_copy(update={"districts": lists.get("districts")})
        elif isinstance(item, GroupField):
            members = _resolve_fields(item.fields, lists)
            item = item if members is item.fields else item.model_copy(update={"fields": members})
        resolved.append(item)
    # Unchanged fields keep their tuple, so a step without option lists is not copied.
    return fields if all(new is old for new, old in zip(resolved, fields, strict=True)) else tuple(resolved)


def resolve_options(service: Service, lists: OptionListMap) -> Service:
    """The service with every option list copied in, so its snapshot stands alone."""
    steps: list[Step] = []
    for step in service.steps:
        if isinstance(step, AppointmentStep):
            holidays = lists.get(step.holidays, ()) if step.holidays else ()
            steps.append(step.model_copy(update={"office_options": lists[step.offices],
                                                 "closed_dates": tuple(o.value for o in holidays)}))
            continue
        fields = getattr(step, "fields", None)
        resolved = _resolve_fields(fields, lists) if fields else fields
        steps.append(step if resolved is fields else step.model_copy(update={"fields": resolved}))
    if all(new is old for new, old in zip(steps, service.steps, strict=True)):
        return service
    return service.model_copy(update={"steps": tuple(steps)})


def resolve_statements(service: Service, providers: Mapping[str, Provider]) -> Service:
    """The service with a consent sentence for every predicate its author left without one."""
    steps: list[Step] = []
    for step in service.steps:
        if isinstance(step, PrefillStep) and any(p.statement is None for p in step.predicates):
            predicates = []
            for predicate in step.predicates:
                if predicate.statement is None:
                    provider_id, _, item_id = predicate.over.partition(".")
                    item = providers[provider_id].item(item_id)
                    assert item is not None  # the cross-checks found it
                    text = generated_statement(predicate.check.source, dump_data(item.description))
                    predicate = predicate.model_copy(update={"statement": LocalizedText.model_validate(text)})
                predicates.append(predicate)
            step = step.model_copy(update={"predicates": tuple(predicates)})
        steps.append(step)
    if all(new is old for new, old in zip(steps, service.steps, strict=True)):
        return service
    return service.model_copy(update={"steps": tuple(steps)})


def _version(taxonomy: Taxonomy, lists: OptionListMap, departments: Mapping[str, Department],
             services: Mapping[str, Service]) -> str:
    tree = {
        "taxonomy": dump_data(taxonomy),
        "optionLists": {name: [dump_data(o) for o in options] for name, options in lists.items()},
        "departments": {code: dump_data(department) for code, department in departments.items()},
        "services": {slug: service.content_hash for slug, service in services.items()},
    }
    return hashlib.sha256(canonical_json(tree)).hexdigest()


@dataclass
class _Loaded:
    taxonomy: tuple[Taxonomy, Source] | None
    option_lists: tuple[dict[str, tuple[Option, ...]], Source | None]
    departments: list[tuple[Department, Source]]
    services: list[tuple[Service, Source]]
    known: crossref.Known


def _load(files: Files, problems: list[Problem]) -> Steps[_Loaded]:
    known = crossref.Known()
    if not files.taxonomy.exists():
        problems.append(Problem(str(files.taxonomy), 1, 1, "MISSING_FILE",
                                "taxonomy.yaml is missing: every definitions tree needs one"))
    taxonomy, source, found = load_file(files.taxonomy, Taxonomy) if files.taxonomy.exists() else (None, None, [])
    problems += found
    known.taxonomy_ok = taxonomy is not None
    lists: dict[str, tuple[Option, ...]] = {}
    lists_source = None
    if files.option_lists is not None:
        parsed, lists_source, found = load_file(files.option_lists, OptionLists)
        problems += found
        known.lists_ok = parsed is not None
        lists = dict(parsed.root) if parsed else {}
    departments, services = [], []
    for path in files.departments:
        department, dsource, found = load_file(path, Department)
        problems += found
        known.departments_ok &= department is not None
        if department and dsource:
            departments.append((department, dsource))
        yield
    fragments = Fragments(files.root)
    for path in files.services:
        service, ssource, found = yield from load_file_steps(path, Service, fragments)
        problems += found
        if service and ssource:
            services.append((service, ssource))
        yield
    return _Loaded((taxonomy, source) if taxonomy and source else None, (lists, lists_source), departments,
                   services, known)


def _check(loaded: _Loaded) -> Steps[list[Problem]]:
    problems: list[Problem] = []
    known = loaded.known
    if loaded.taxonomy:
        taxonomy, source = loaded.taxonomy
        problems += crossref.check_taxonomy(taxonomy, source)
        known.themes = {theme.id for theme in taxonomy.themes}
        known.age_groups = {group.id for group in taxonomy.age_groups}
        known.assurance = {level.id for level in taxonomy.assurance_levels}
        known.weakest_assurance = taxonomy.assurance_levels[0].id if taxonomy.assurance_levels else None
    lists, lists_source = loaded.option_lists
    if lists_source:
        problems += crossref.check_option_lists(lists, lists_source)
    known.option_lists = lists
    problems += crossref.check_departments(loaded.departments)
    problems += crossref.check_verified_items(loaded.departments)
    known.departments = {department.code for department, _ in loaded.departments}
    known.providers = {p.id: p for department, _ in loaded.departments for p in department.providers}
    problems += crossref.check_duplicate_services(loaded.services)
    for service, source in loaded.services:
        problems += crossref.ServiceChecker(service, source, known).run()
        yield
    return problems


_pauses = 0
_pauses_lock = threading.Lock()
_collector_was_enabled = True


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """CPython's cyclic collector off while at least one load runs.

    A load allocates millions of long-lived objects and next to no reference cycles, and every generation-2
    collection walks all the objects loaded so far: a fifth of the CPU of a 10,000-service load went to
    collections that found nothing to free. The few cycles made meanwhile are collected once it is back on."""
    global _pauses, _collector_was_enabled
    with _pauses_lock:
        if _pauses == 0:
            _collector_was_enabled = gc.isenabled()
            gc.disable()
        _pauses += 1
    try:
        yield
    finally:
        with _pauses_lock:
            _pauses -= 1
            if _pauses == 0 and _collector_was_enabled:
                gc.enable()


collector_paused = _collector_paused
"""The cyclic collector off while a block builds many long-lived objects (a catalogue read back, too)."""


def load_catalogue(path: Path) -> Catalogue:
    """Load and validate a definitions tree; raises ``CatalogueError`` listing every problem found."""
    return run_steps(load_steps(path))


def run_steps(steps: Steps[T]) -> T:
    """Run a step generator to its end and return its result."""
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return cast(T, done.value)


def load_steps(path: Path) -> Steps[Catalogue]:
    """``load_catalogue`` in steps of about one file each: a server reloading the catalogue runs them between
    requests (``engine/catalogue_store.py``), so no request waits for more than one step."""
    with _collector_paused():
        files = yield from find_files_steps(path)
        problems: list[Problem] = []
        loaded = yield from _load(files, problems)
        problems += yield from _check(loaded)
        if problems or loaded.taxonomy is None:
            raise CatalogueError(problems)
        lists = MappingProxyType(loaded.option_lists[0])
        departments = {d.code: d for d, _ in sorted(loaded.departments, key=lambda pair: pair[0].code)}
        providers = {p.id: p for d in departments.values() for p in d.providers}
        services: dict[str, Service] = {}
        for original, _ in sorted(loaded.services, key=lambda pair: pair[0].id):
            service = resolve_statements(resolve_options(original, lists), providers)
            service.content_hash  # noqa: B018 - hashed here, a step at a time, rather than all at once below
            services[service.id] = service
            yield
        return _catalogue(path, files, loaded, lists, departments, providers, services)


def _catalogue(path: Path, files: Files, loaded: _Loaded, lists: OptionListMap, departments: dict[str, Department],
               providers: dict[str, Provider], services: dict[str, Service]) -> Catalogue:
    assert loaded.taxonomy is not None
    taxonomy = loaded.taxonomy[0]
    return Catalogue(
        root=path, version=_version(taxonomy, lists, departments, services), taxonomy=taxonomy, option_lists=lists,
        departments=MappingProxyType(departments), services=MappingProxyType(services),
        providers=MappingProxyType(providers), feeds_file=files.feeds,
    )
