"""taxonomy.yaml and option-lists.yaml: themes, age groups, the assurance ladder, reusable choice lists."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, RootModel, model_validator

from onestop.catalogue.models import DefinitionModel, Slug
from onestop.catalogue.text import Lang, LocalizedText


class Theme(DefinitionModel):
    id: Slug
    name: LocalizedText
    description: LocalizedText | None = None


class AgeGroup(DefinitionModel):
    id: Slug
    name: LocalizedText
    min_age: int = Field(ge=0, le=150)
    max_age: int | None = Field(default=None, ge=0, le=150, description="omitted on the last group: no upper bound")

    @model_validator(mode="after")
    def _ordered(self) -> AgeGroup:
        if self.max_age is not None and self.max_age < self.min_age:
            raise ValueError(f"maxAge {self.max_age} is below minAge {self.min_age}")
        return self

    def contains(self, age: int) -> bool:
        return self.min_age <= age and (self.max_age is None or age <= self.max_age)


class AssuranceLevel(DefinitionModel):
    id: Slug
    acr: Annotated[str, Field(min_length=1, description="the acr URI identity tokens carry for this level")]
    name: LocalizedText
    description: LocalizedText | None = None


class Taxonomy(DefinitionModel):
    """Themes, age groups and the assurance ladder (weakest first; the last is face verification)."""

    themes: tuple[Theme, ...] = Field(min_length=1)
    age_groups: tuple[AgeGroup, ...] = Field(min_length=1)
    assurance_levels: tuple[AssuranceLevel, ...] = Field(min_length=1)
    languages: tuple[Lang, ...] = (Lang.EN, Lang.TC, Lang.SC)


class Option(DefinitionModel):
    value: Annotated[str, Field(min_length=1, max_length=100)]
    label: LocalizedText


class OptionLists(RootModel[dict[Slug, tuple[Option, ...]]]):
    """option-lists.yaml: list name to its options."""

    model_config = {"frozen": True}
