"""``onestop json-schema``: JSON Schemas of the definition files, for editor completion and checks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from onestop.catalogue.departments import Department
from onestop.catalogue.feeds.config import FeedsConfig
from onestop.catalogue.services import Service
from onestop.catalogue.taxonomy import OptionLists, Taxonomy

SCHEMAS: dict[str, type[BaseModel]] = {
    "service": Service,
    "department": Department,
    "taxonomy": Taxonomy,
    "option-lists": OptionLists,
    "feeds": FeedsConfig,
}
_DRAFT = "https://json-schema.org/draft/2020-12/schema"


def schema_for(kind: str) -> dict[str, Any]:
    """The JSON Schema of one kind of definition file, as the YAML keys spell it."""
    schema = SCHEMAS[kind].model_json_schema(by_alias=True, mode="validation")
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
