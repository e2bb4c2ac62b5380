"""services/<theme>/<id>.yaml: one government service and its ordered steps."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterator, Mapping
from typing import Literal

from pydantic import Field as Key

from onestop.catalogue.canonical import canonical_json
from onestop.catalogue.expressions import Expression
from onestop.catalogue.fees import FeeTable
from onestop.catalogue.fields import Field
from onestop.catalogue.models import DefinitionModel, Duration, Slug, canonical_data
from onestop.catalogue.notices import Notices
from onestop.catalogue.steps import Computations, Step
from onestop.catalogue.text import LocalizedList, LocalizedText


class Eligibility(DefinitionModel):
    when: Expression = Key(description="CEL over `citizen`")
    message: LocalizedText


class Service(DefinitionModel):
    """A service definition; ``content_hash`` pins the exact version a running application uses."""

    id: Slug
    version: int = Key(ge=1)
    department: str
    title: LocalizedText
    summary: LocalizedText
    description: LocalizedText | None = None
    keywords: LocalizedList | None = None
    themes: tuple[Slug, ...] = Key(min_length=1)
    age_groups: tuple[Slug, ...] = Key(min_length=1)
    login: Literal["none", "required"] = "required"
    applicant: Literal["self", "dependent", "either"] | None = Key(
        default=None, description="who the application is about: self (the default), a dependent the signed-in "
        "citizen acts for, or either")
    acting_as: tuple[Literal["parent", "mandate", "guardian"], ...] | None = Key(
        default=None, description="with applicant dependent or either: the relationships that "
        "may act for the dependent")
    when_acting_ends: Literal["move", "close"] | None = Key(
        default=None, description="with applicant dependent or either: what becomes of an application in progress "
        "when the actor's right ends (the child turns 18, the mandate expires or is revoked): move (the default) "
        "hands it to the person it is for; close ends a draft, with a notice")
    assurance: Slug = "basic"
    eligibility: Eligibility | None = None
    draft_expiry: Duration = "P30D"
    compute: Computations | None = Key(default=None, description="named values computed from the answers, "
                                "e.g. totalAssets: sum(answers.assets.map(a, a.value)); usable everywhere")
    fees: FeeTable | None = Key(default=None, description="the service's fees in HK dollars, by name; payment "
                                "steps read them as fees.<name>")
    steps: tuple[Step, ...] = Key(min_length=1)
    notices: Notices | None = Key(default=None, description="the email and SMS notices per event; the platform's "
                                  "default template for every event not declared")

    @property
    def slug(self) -> str:
        return self.id

    @property
    def who_applies(self) -> str:
        """``self``, ``dependent`` or ``either`` (unset means ``self``, so existing content hashes stay)."""
        return self.applicant or "self"

    @property
    def login_required(self) -> bool:
        return self.login == "required"

    @functools.cached_property
    def content_hash(self) -> str:
        """sha256 (hex) of the RFC 8785 canonical JSON of the definition (option lists already resolved in)."""
        return hashlib.sha256(canonical_json(canonical_data(self))).hexdigest()

    def step(self, step_id: str) -> Step | None:
        return next((step for step in self.steps if step.id == step_id), None)

    def all_fields(self) -> Iterator[Field]:
        """Every field of every step, in order, group members after their group."""
        for step in self.steps:
            yield from step.all_fields()

    def field(self, field_id: str) -> Field | None:
        return next((field for field in self.all_fields() if field.id == field_id), None)


def computation_order(compute: Mapping[str, Expression]) -> tuple[list[str], list[str]]:
    """The names of ``compute`` so that each comes after the values it reads, and the names caught in a cycle."""
    order: list[str] = []
    pending = {name: expression.variables() & set(compute) for name, expression in compute.items()}
    while pending:
        ready = [name for name, needs in pending.items() if needs <= set(order)]
        if not ready:
            return order, sorted(pending)
        for name in ready:
            order.append(name)
            del pending[name]
    return order, []


def computations(service: Service) -> list[tuple[str, Expression, str | None]]:
    """Every computed value as (name, expression, step id or None), in an order in which each can be evaluated:
    the service's, then each step's in step order (a cycle's members are left out; `validate` refuses them)."""
    found: list[tuple[str, Expression, str | None]] = []
    for owner, compute in [(None, service.compute), *((step.id, step.compute) for step in service.steps)]:
        if compute:
            order, _ = computation_order(compute)
            found += [(name, compute[name], owner) for name in order]
    return found
