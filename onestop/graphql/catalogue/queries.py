"""Catalogue queries: browse, search and filter services; the taxonomy; the catalogue's health."""

from __future__ import annotations

import contextlib
from datetime import date
from pathlib import Path

import strawberry

from onestop.graphql.catalogue.types import (
    AgeGroup,
    AssuranceLevel,
    CatalogueProblem,
    CatalogueStatus,
    Department,
    Service,
    Theme,
)
from onestop.graphql.context import Context, Info_
from onestop.graphql.errors import ApiError, BadUserInput
from onestop.graphql.fields import field
from onestop.graphql.relay import Connection, connection_from_slice, page_of


def _check_filter(kind: str, argument: str, value: str | None, known: list[str]) -> None:
    if value is not None and value not in known:
        raise BadUserInput(
            f"Unknown {kind} {value!r} in '{argument}'; use one of: {', '.join(known)}.", argument=argument
        )


async def _viewer_age_group(context: Context) -> str | None:
    """The logged-in citizen's age group (from the token's ``birthdate`` claim, else their e-ME date of birth),
    for recommendation order; None when anonymous or unknown."""
    try:
        principal = await context.principal()
    except ApiError:
        return None  # a bad token does not stop anyone reading the public catalogue
    if principal is None or not principal.is_citizen:
        return None
    born: date | None = None
    claim = principal.claims.get("birthdate")
    if isinstance(claim, str):
        with contextlib.suppress(ValueError):
            born = date.fromisoformat(claim)
    if born is None:
        born = (await context.profile(principal.sub)).date_of_birth
    if born is None:
        return None
    today = date.today()
    age = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
    return str(context.snapshot.catalogue.age_group_for(age).id)


def _relative(path: str, root: Path) -> str:
    # Paths relative to the definitions root: what authors recognise, and no server layout in answers.
    try:
        return Path(path).resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return Path(path).name


def _relative_site(site: str, root: Path) -> str:
    path, line, col = site.rsplit(":", 2)
    return f"{_relative(path, root)}:{line}:{col}"


@strawberry.type
class CatalogueQuery:
    @field(description=(
        "Services, a page at a time (first: 1-100, default 20). With `search`, ranked by relevance (title "
        "matches first; English or Chinese, typos and partial words allowed). Without it, in catalogue order; "
        "for a logged-in citizen, services for their age group come first. Filters combine with AND."
    ))
    async def services(
        self,
        info: Info_,
        first: int | None = None,
        after: str | None = None,
        search: str | None = None,
        theme: strawberry.ID | None = None,
        age_group: strawberry.ID | None = None,
        department: strawberry.ID | None = None,
    ) -> Connection[Service]:
        page = page_of(first, after)
        snapshot = info.context.snapshot
        catalogue = snapshot.catalogue
        taxonomy = catalogue.taxonomy
        _check_filter("theme", "theme", theme, [t.id for t in taxonomy.themes])
        _check_filter("age group", "ageGroup", age_group, [g.id for g in taxonomy.age_groups])
        _check_filter("department", "department", department, list(catalogue.departments))
        if search is not None and len(search) > 200:
            raise BadUserInput("'search' is longer than 200 characters; shorten it.", argument="search")
        if search is not None and search.strip():
            # Rank only as far as this page; the total still counts every match.
            found = snapshot.index.search_page(search, offset=page.offset, limit=page.limit, theme=theme,
                                               age_group=age_group, department=department)
            window, total = [hit.id for hit in found.hits], found.total
        else:
            slugs = snapshot.index.filter(theme=theme, age_group=age_group, department=department)
            viewer_group = await _viewer_age_group(info.context)
            if viewer_group is not None:
                allowed = set(slugs)
                slugs = [slug for slug in snapshot.index.recommend(viewer_group) if slug in allowed]
            window, total = slugs[page.offset: page.offset + page.limit], len(slugs)
        # Wrap only the requested page: at 10,000 services wrapping every match cost more than the query (bench).
        return connection_from_slice([Service(model=catalogue.services[slug]) for slug in window], page, total)

    @field(description="One service by its slug; null when there is none.")
    def service(self, info: Info_, slug: str) -> Service | None:
        found = info.context.snapshot.catalogue.service(slug)
        return None if found is None else Service(model=found)

    @field()
    def themes(self, info: Info_) -> list[Theme]:
        return [Theme(model=theme) for theme in info.context.snapshot.catalogue.taxonomy.themes]

    @field()
    def age_groups(self, info: Info_) -> list[AgeGroup]:
        return [AgeGroup(model=group) for group in info.context.snapshot.catalogue.taxonomy.age_groups]

    @field(description="The assurance ladder, weakest first.")
    def assurance_levels(self, info: Info_) -> list[AssuranceLevel]:
        levels = info.context.snapshot.catalogue.taxonomy.assurance_levels
        return [AssuranceLevel(model=level, rank=rank) for rank, level in enumerate(levels)]

    @field()
    def departments(self, info: Info_) -> list[Department]:
        return [Department(model=d) for d in info.context.snapshot.catalogue.departments.values()]

    @field(description="One department by its code (e.g. TD); null when there is none.")
    def department(self, info: Info_, code: str) -> Department | None:
        found = info.context.snapshot.catalogue.departments.get(code.upper())
        return None if found is None else Department(model=found)

    @field(description="The served catalogue version and the problems of the last reload, if any.")
    def catalogue_status(self, info: Info_) -> CatalogueStatus:
        store = info.context.engine.catalogue
        snapshot = store.snapshot
        announced = info.context.engine.catalogue_watch.latest
        return CatalogueStatus(
            version=str(snapshot.catalogue.version),
            announced_version=None if announced is None else announced.version,
            loaded_at=snapshot.loaded_at,
            last_attempt_at=store.last_attempt_at,
            services=len(snapshot.catalogue.services),
            problems=[
                CatalogueProblem(path=_relative(p.path, store.root), line=p.line, column=p.col, code=p.code,
                                 message=p.message, hint=p.hint,
                                 included_from=None if p.included_from is None else _relative_site(p.included_from,
                                                                                                   store.root))
                for p in store.problems
            ],
        )
