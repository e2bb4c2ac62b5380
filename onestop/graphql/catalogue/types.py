"""Catalogue types: services, their outline, and the taxonomy they are filed under.

Texts resolve in the request's language (``Accept-Language``), falling back to English.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import Enum
from typing import Any

import strawberry

import onestop.catalogue as domain
from onestop.catalogue.predicates import split_ref
from onestop.catalogue.text import Lang
from onestop.engine import ActingAs as ActingAsKind
from onestop.graphql.context import Info_
from onestop.graphql.fields import field
from onestop.graphql.relationships import types as _relationships  # noqa: F401 (registers the ActingAs enum first)
from onestop.graphql.relay import Node, register_node, to_global_id


def _lang(info: Info_) -> Lang:
    return info.context.lang


def _localized(value: Any, lang: Lang) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return str(value.get(lang))


def iso_duration(value: Any) -> str | None:
    """ISO-8601 duration text (``P30D``, ``PT5M``) for a timedelta or an already-ISO string."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, timedelta):
        seconds = int(value.total_seconds())
        days, rest = divmod(seconds, 86_400)
        hours, rest = divmod(rest, 3_600)
        minutes, secs = divmod(rest, 60)
        time = "".join(f"{n}{u}" for n, u in ((hours, "H"), (minutes, "M"), (secs, "S")) if n)
        return "P" + (f"{days}D" if days else "") + (f"T{time}" if time else "") if (days or time) else "PT0S"
    return str(value)


# Derived from the catalogue's term: resolvers return ``StepKind`` members, which strawberry names StepType.
StepType = strawberry.enum(domain.StepKind, name="StepType",
                           description="The kind of a step in a service's guided application.")


@strawberry.type
class Theme:
    model: strawberry.Private[domain.Theme]

    @field()
    def id(self) -> strawberry.ID:
        return strawberry.ID(self.model.id)

    @field()
    def name(self, info: Info_) -> str:
        return _localized(self.model.name, _lang(info)) or self.model.id


@strawberry.type
class AgeGroup:
    model: strawberry.Private[domain.AgeGroup]

    @field()
    def id(self) -> strawberry.ID:
        return strawberry.ID(self.model.id)

    @field()
    def name(self, info: Info_) -> str:
        return _localized(self.model.name, _lang(info)) or self.model.id

    @field(description="Youngest age in the group (inclusive).")
    def min_age(self) -> int:
        return int(self.model.min_age)

    @field(description="Oldest age in the group (inclusive); null for no upper bound.")
    def max_age(self) -> int | None:
        return None if self.model.max_age is None else int(self.model.max_age)


@strawberry.type(description="A rung of the assurance ladder, weakest first; the top one is face verification.")
class AssuranceLevel:
    model: strawberry.Private[domain.AssuranceLevel]
    rank: int = strawberry.field(description="Position on the ladder, 0 for the weakest.")

    @field()
    def id(self) -> strawberry.ID:
        return strawberry.ID(self.model.id)

    @field(description="The `acr` value a token must carry (and what to ask for in acr_values).")
    def acr(self) -> str:
        return str(self.model.acr)

    @field()
    def name(self, info: Info_) -> str:
        return _localized(self.model.name, _lang(info)) or self.model.id


@strawberry.type
class DepartmentContact:
    phone: str | None
    email: str | None
    website: str | None


@strawberry.type
class Department(Node):
    model: strawberry.Private[domain.Department]

    @field(description="Opaque global id.")
    def id(self) -> strawberry.ID:
        return strawberry.ID(to_global_id("Department", self.model.code))

    @field()
    def code(self) -> str:
        return str(self.model.code)

    @field()
    def name(self, info: Info_) -> str:
        return _localized(self.model.name, _lang(info)) or self.model.code

    @field()
    def contact(self) -> DepartmentContact | None:
        contact = getattr(self.model, "contact", None)
        if contact is None:
            return None
        return DepartmentContact(
            phone=getattr(contact, "phone", None),
            email=getattr(contact, "email", None),
            website=str(contact.website) if getattr(contact, "website", None) else None,
        )


@strawberry.type(description="One data item a consent covers.")
class ConsentItem:
    provider: str
    item: str
    check: str | None = strawberry.field(default=None, description=(
        "For a predicate: the check made against the item (e.g. `age >= 65`); only its yes/no result was shared, "
        "never the item's value."))

    @field(description="What the item is, in the request's language.")
    def description(self, info: Info_) -> str | None:
        provider = info.context.snapshot.catalogue.providers.get(self.provider)
        data_item = provider.item(self.item) if provider is not None else None
        return None if data_item is None else data_item.description.get(info.context.lang)


def split_item(reference: str) -> ConsentItem:
    item_ref, check = split_ref(reference)
    provider, _, item = item_ref.partition(".")
    return ConsentItem(provider=provider, item=item, check=check)


@strawberry.type
class FieldOption:
    value: str
    label: str


@strawberry.type(description="A field of a step in the service's outline: its label and option labels, so a "
                             "client can show answers (kept by field id) back in words.")
class StepField:
    model: strawberry.Private[Any]

    @field()
    def id(self) -> str:
        return str(self.model.id)

    @field(description="text, number, date, boolean, choice, multiChoice, email, phone, hkid, address or group.")
    def type(self) -> str:
        return str(self.model.type)

    @field()
    def label(self, info: Info_) -> str:
        return _localized(self.model.label, _lang(info)) or str(self.model.id)

    @field(description="Choice options, or an address's districts.")
    def options(self, info: Info_) -> list[FieldOption]:
        options = getattr(self.model, "options", None) or getattr(self.model, "districts", None) or ()
        return [FieldOption(value=o.value, label=_localized(o.label, _lang(info)) or o.value) for o in options]

    @field(description="The fields of each entry of a repeatable group.")
    def fields(self) -> list[StepField]:
        return [StepField(model=f) for f in getattr(self.model, "fields", ())]


@strawberry.type(description="One step of a service's outline (for progress indicators).")
class Step:
    model: strawberry.Private[domain.Step]

    @field()
    def id(self) -> str:
        return str(self.model.id)

    @field()
    def type(self) -> domain.StepKind:
        return domain.StepKind(self.model.type)

    @field()
    def title(self, info: Info_) -> str:
        return _localized(self.model.title, _lang(info)) or self.model.id

    @field(description="True when the step only runs under a condition (`when:` in YAML).")
    def conditional(self) -> bool:
        return getattr(self.model, "when", None) is not None

    @field(description="The fields the step asks for (form and review steps), with their labels.")
    def fields(self) -> list[StepField]:
        return [StepField(model=f) for f in getattr(self.model, "fields", ())]


@strawberry.enum(description="Whom an application for the service is about (`applicant` in its definition).")
class ServiceApplicant(Enum):
    SELF = "self"
    DEPENDENT = "dependent"
    EITHER = "either"


@strawberry.type(description="A government service a citizen can learn about and apply for.")
class Service(Node):
    model: strawberry.Private[domain.Service]

    @field(description="Opaque global id; stable across versions of the service.")
    def id(self) -> strawberry.ID:
        return strawberry.ID(to_global_id("Service", self.model.id))

    @field(description="The stable slug, as in the YAML file's `id`.")
    def slug(self) -> str:
        return str(self.model.id)

    @field(description="The author's version number.")
    def version(self) -> int:
        return int(self.model.version)

    @field(description="sha256 of the service's canonical definition; changes with any edit.")
    def content_hash(self) -> str:
        return str(self.model.content_hash)

    @field()
    def title(self, info: Info_) -> str:
        return _localized(self.model.title, _lang(info)) or self.model.id

    @field()
    def summary(self, info: Info_) -> str | None:
        return _localized(self.model.summary, _lang(info))

    @field(description="Search keywords in the request's language.")
    def keywords(self, info: Info_) -> list[str]:
        keywords = getattr(self.model, "keywords", None)
        if keywords is None:
            return []
        lang = _lang(info)
        words = getattr(keywords, lang.value, None) or (getattr(keywords, "tc", None) if lang is Lang.SC else None)
        return list(words or keywords.en or ())

    @field()
    def themes(self, info: Info_) -> list[Theme]:
        taxonomy = info.context.snapshot.catalogue.taxonomy
        known = {theme.id: theme for theme in taxonomy.themes}
        return [Theme(model=known[t]) for t in self.model.themes if t in known]

    @field()
    def age_groups(self, info: Info_) -> list[AgeGroup]:
        taxonomy = info.context.snapshot.catalogue.taxonomy
        known = {group.id: group for group in taxonomy.age_groups}
        return [AgeGroup(model=known[g]) for g in self.model.age_groups if g in known]

    @field()
    def department(self, info: Info_) -> Department | None:
        department = info.context.snapshot.catalogue.departments.get(self.model.department)
        return None if department is None else Department(model=department)

    @field(description="True when the citizen must log in to apply.")
    def login_required(self) -> bool:
        return str(getattr(self.model, "login", "required")) == "required"

    @field(description="The minimum assurance level to apply (the level object, not only its id).")
    def assurance_level(self, info: Info_) -> AssuranceLevel | None:
        return assurance_level(info, self.model.assurance)

    @field(description="How long an unfinished application is kept, as an ISO-8601 duration.")
    def draft_expiry(self) -> str | None:
        return iso_duration(getattr(self.model, "draft_expiry", None))

    @field(description="Who can apply, in words; null when anyone can.")
    def eligibility(self, info: Info_) -> str | None:
        rule = getattr(self.model, "eligibility", None)
        if rule is None:
            return None
        return _localized(getattr(rule, "message", None), _lang(info))

    @field(description="Whom an application is about: SELF (the applicant), DEPENDENT (someone they act for: pass "
                       "startApplication's onBehalfOf) or EITHER.")
    def applicant(self) -> ServiceApplicant:
        return ServiceApplicant(self.model.who_applies)

    @field(description="With DEPENDENT or EITHER: the relationships that may act for the person it is about.")
    def acting_as(self) -> list[ActingAsKind]:
        return [ActingAsKind(kind) for kind in self.model.acting_as or ()]

    @field(description="The data items (provider.item) the service's prefill steps read, checks included: what a "
                       "mandate for it needs to name.")
    def data_items(self) -> list[str]:
        found: list[str] = []
        for step in self.model.steps:
            if isinstance(step, domain.PrefillStep):
                found += [str(item) for item in step.items] + [str(p.over) for p in step.predicates]
        return list(dict.fromkeys(found))

    @field(description="The outline of the guided application, in order.")
    def steps(self) -> list[Step]:
        return [Step(model=step) for step in self.model.steps]


def assurance_level(info: Info_, level_id: str | None) -> AssuranceLevel | None:
    if level_id is None:
        return None
    levels = list(info.context.snapshot.catalogue.taxonomy.assurance_levels)
    for rank, level in enumerate(levels):
        if level.id == level_id:
            return AssuranceLevel(model=level, rank=rank)
    return None


@strawberry.type(description="One problem that stopped the last catalogue reload.")
class CatalogueProblem:
    path: str
    line: int
    column: int
    code: str
    message: str
    hint: str | None
    included_from: str | None = strawberry.field(default=None, description=(
        "for a problem inside a fragment: path:line:col of the include in the service that uses it"))


@strawberry.type(description="Which catalogue version is served, and why the last reload failed, if it did.")
class CatalogueStatus:
    version: str
    loaded_at: datetime
    last_attempt_at: datetime
    services: int
    announced_version: str | None = strawberry.field(description=(
        "The version announced most recently to every process on the database (by the one that reloaded); "
        "differs from `version` for a few seconds while this process catches up. Null before any reload."))
    problems: list[CatalogueProblem] = strawberry.field(
        description="Empty when the last reload succeeded; otherwise the previous version is still served.")


async def _service_node(info: Info_, key: str) -> Service | None:
    service = info.context.snapshot.catalogue.service(key)
    return None if service is None else Service(model=service)


async def _department_node(info: Info_, key: str) -> Department | None:
    department = info.context.snapshot.catalogue.departments.get(key)
    return None if department is None else Department(model=department)


register_node("Service", _service_node)
register_node("Department", _department_node)
