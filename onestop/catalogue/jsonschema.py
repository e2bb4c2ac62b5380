"""``onestop json-schema``: JSON Schemas of the definition files, for editor completion and checks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic import Field as Key

from onestop.catalogue.departments import Department
from onestop.catalogue.feeds.config import FeedsConfig
from onestop.catalogue.fields import Field
from onestop.catalogue.fragments import LISTS
from onestop.catalogue.models import DefinitionModel
from onestop.catalogue.services import Service
from onestop.catalogue.steps import Step
from onestop.catalogue.taxonomy import OptionLists, Taxonomy


class Fragment(DefinitionModel):
    """fragments/<name>.yaml: steps or fields a service includes (checked where they are included)."""

    steps: tuple[Step, ...] | None = Key(default=None, min_length=1)
    fields: tuple[Field, ...] | None = Key(default=None, min_length=1)


SCHEMAS: dict[str, type[BaseModel]] = {
    "service": Service,
    "fragment": Fragment,
    "department": Department,
    "taxonomy": Taxonomy,
    "option-lists": OptionLists,
    "feeds": FeedsConfig,
}
_DRAFT = "https://json-schema.org/draft/2020-12/schema"


_INCLUDE = {
    "type": "object", "additionalProperties": False, "required": ["include"],
    "properties": {"include": {"type": "string", "pattern": r"^fragments/[^.][^/]*\.ya?ml$",
                               "description": "a fragment file, relative to the definitions folder"}},
}


def _with_includes(node: Any) -> Any:
    """Every `steps:` and `fields:` list also accepts `- include: fragments/<name>.yaml` (see ``fragments``)."""
    if isinstance(node, list):
        return [_with_includes(item) for item in node]
    if not isinstance(node, dict):
        return node
    result = {key: _with_includes(value) for key, value in node.items()}
    properties = result.get("properties")
    if isinstance(properties, dict):
        for name in LISTS:
            entry = properties.get(name)
            if isinstance(entry, dict) and entry.get("type") == "array" and "items" in entry:
                properties[name] = {**entry, "items": {"anyOf": [entry["items"], {"$ref": "#/$defs/Include"}]}}
    return result


def schema_for(kind: str) -> dict[str, Any]:
    """The JSON Schema of one kind of definition file, as the YAML keys spell it."""
    schema = SCHEMAS[kind].model_json_schema(by_alias=True, mode="validation")
    if kind == "service":
        schema = _with_includes(schema)
        schema["$defs"]["Include"] = _INCLUDE
    return {**schema, "$schema": _DRAFT, "title": f"onestop {kind} definition"}


def render(kind: str) -> str:
    """The schema as deterministic text: sorted keys, two-space indent, trailing newline."""
    return json.dumps(schema_for(kind), sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def write_schemas(out_dir: Path, check: bool = False) -> list[Path]:
    """Write ``<kind>.schema.json`` files; return those that changed (with ``check``: that are stale, unwritten)."""
    changed = []
    for kind in SCHEMAS:
        path = out_dir / f"{kind}.schema.json"
        text = render(kind)
        if path.exists() and path.read_text(encoding="utf-8") == text:
            continue
        changed.append(path)
        if not check:
            out_dir.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    return changed
