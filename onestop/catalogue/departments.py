"""departments/<code>.yaml: a department, where its submissions go, and the data providers it runs."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from onestop.catalogue.models import DataRef, DefinitionModel, Duration, Slug
from onestop.catalogue.text import LocalizedText

HttpUrl = Annotated[str, Field(pattern=r"^https?://[^\s/]+\S*$")]
ItemType = Literal["text", "number", "date", "boolean", "object", "address", "list"]
Sensitivity = Literal["public", "personal", "sensitive"]


class Contact(DefinitionModel):
    phone: str | None = None
    email: str | None = None
    website: HttpUrl | None = None
    address: LocalizedText | None = None
    hours: LocalizedText | None = None


class Submission(DefinitionModel):
    inbox: bool = True
    url: HttpUrl | None = Field(default=None, description="production HTTP endpoint; the body is JWS-signed")


class SqlSource(DefinitionModel):
    kind: Literal["sql"]


class HttpSource(DefinitionModel):
    kind: Literal["http"]
    url: HttpUrl
    timeout: Duration = "PT5S"


ProviderSource = Annotated[SqlSource | HttpSource, Field(discriminator="kind")]


class DataItem(DefinitionModel):
    id: Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_-]*$")]
    type: ItemType
    description: LocalizedText
    sensitivity: Sensitivity = "personal"
    authoritative: bool = Field(default=False, description=(
        "this provider is the source of truth for the item (e.g. ImmD for date of birth): eligibility and "
        "verified e-ME items read it, never a self-declared value"))
    verified_by: DataRef | None = Field(default=None, description=(
        "e-ME items only: the authoritative provider.item this item shows; the citizen cannot edit it"))


class Provider(DefinitionModel):
    id: Slug
    name: LocalizedText
    source: ProviderSource
    items: tuple[DataItem, ...] = Field(min_length=1)

    def item(self, item_id: str) -> DataItem | None:
        return next((item for item in self.items if item.id == item_id), None)


class Department(DefinitionModel):
    code: Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9]*$", max_length=12)]
    name: LocalizedText
    contact: Contact | None = None
    submission: Submission = Submission()
    providers: tuple[Provider, ...] = ()
