"""sandboxPreview: any step of a sandbox service's version, rendered as the citizen would see it, in all three
languages, before anyone starts an application."""

from __future__ import annotations

import strawberry

from onestop.catalogue import StepKind
from onestop.catalogue.text import Lang, localized
from onestop.engine import ConsentSpec, ExitSpec, FieldSpec, FormSpec, PrefillSpec, StepSpec, fields_of


@strawberry.type
class PreviewOption:
    value: str
    label: str


@strawberry.type(description="A field of a previewed step, in one language.")
class PreviewField:
    id: str
    type: str
    required: bool
    label: str
    help: str | None
    options: list[PreviewOption]
    fields: list[PreviewField] = strawberry.field(description="A group's member fields.")

    @classmethod
    def of(cls, spec: FieldSpec, lang: Lang) -> PreviewField:
        return cls(
            id=spec.id,
            type=spec.type,
            required=spec.required,
            label=localized(spec.label, lang) or spec.id,
            help=localized(spec.help, lang),
            options=[PreviewOption(value=o.value, label=localized(o.label, lang) or o.value) for o in spec.options],
            fields=[PreviewField.of(member, lang) for member in spec.fields],
        )


@strawberry.type(description="A step as a citizen reading one language sees it.")
class StepRendering:
    language: str = strawberry.field(description="en, tc (Traditional Chinese) or sc (Simplified Chinese).")
    title: str
    description: str | None = strawberry.field(
        description="Form description, prefill purpose, consent statement or exit message."
    )
    fields: list[PreviewField]


@strawberry.type(description="A step of a sandbox service, rendered in every language.")
class PreviewStep:
    id: str
    type: StepKind
    renderings: list[StepRendering]

    @classmethod
    def of(cls, spec: StepSpec) -> PreviewStep:
        return cls(id=spec.id, type=StepKind(spec.type), renderings=[_render(spec, lang) for lang in Lang])


@strawberry.type(description="A sandbox service's version, previewed step by step.")
class SandboxPreview:
    service_slug: str
    version: int = strawberry.field(description="The sandbox catalogue version previewed.")
    content_hash: str = strawberry.field(description="The service definition's content hash in that version.")
    steps: list[PreviewStep]


def _render(spec: StepSpec, lang: Lang) -> StepRendering:
    match spec:
        case (
            FormSpec(description=text)
            | PrefillSpec(purpose=text)
            | ConsentSpec(statement=text)
            | ExitSpec(message=text)
        ):
            description = localized(text, lang)
        case _:
            description = None
    return StepRendering(
        language=lang.value,
        title=localized(spec.title, lang) or spec.id,
        description=description,
        fields=[PreviewField.of(f, lang) for f in fields_of(spec)],
    )
