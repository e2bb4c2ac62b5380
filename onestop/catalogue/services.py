"""services/<theme>/<id>.yaml: one government service and its ordered steps."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterator
from typing import Literal

from pydantic import Field as Key

from onestop.catalogue.canonical import canonical_json
from onestop.catalogue.expressions import Expression
from onestop.catalogue.fields import Field
from onestop.catalogue.models import DefinitionModel, Duration, Slug, dump_data
from onestop.catalogue.steps import Step
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
    assurance: Slug = "basic"
    eligibility: Eligibility | None = None
    draft_expiry: Duration = "P30D"
    steps: tuple[Step, ...] = Key(min_length=1)

    @property
    def slug(self) -> str:
        return self.id

    @property
    def login_required(self) -> bool:
        return self.login == "required"

    @functools.cached_property
    def content_hash(self) -> str:
        """sha256 (hex) of the RFC 8785 canonical JSON of the definition (option lists already resolved in)."""
        return hashlib.sha256(canonical_json(dump_data(self))).hexdigest()

    def step(self, step_id: str) -> Step | None:
        return next((step for step in self.steps if step.id == step_id), None)

    def all_fields(self) -> Iterator[Field]:
        """Every field of every step, in order, group members after their group."""
        for step in self.steps:
            yield from step.all_fields()

    def field(self, field_id: str) -> Field | None:
        return next((field for field in self.all_fields() if field.id == field_id), None)
