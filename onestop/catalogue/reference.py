"""The definitions language reference, generated from the JSON Schemas (``definitions/schema``) and the seed
definitions: every step type, field type and expression function, each beside a real, validated example taken
from the seed services. ``onestop reference`` writes it; a test fails when the committed copy drifts."""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import cel
import yaml

from onestop.catalogue.catalogue import load_catalogue
from onestop.catalogue.functions import CUSTOM, execute
from onestop.catalogue.problems import CatalogueError, Problem

_KINDS = ("service", "fragment", "department", "taxonomy", "option-lists", "feeds")
_MAX_EXAMPLE_LINES = 40


def _type_of(spec: Mapping[str, Any]) -> str:
    if "$ref" in spec:
        return f"[{spec['$ref'].rsplit('/', 1)[-1]}](#{spec['$ref'].rsplit('/', 1)[-1].lower()})"
    if "const" in spec:
        return f"`{json.dumps(spec['const'], ensure_ascii=False)}`"
    if "enum" in spec:
        return ", ".join(f"`{value}`" for value in spec["enum"])
    for key in ("anyOf", "oneOf"):
        if key in spec:
            parts = [_type_of(part) for part in spec[key] if part.get("type") != "null"]
            return " or ".join(dict.fromkeys(parts)) or "null"
    kind = spec.get("type")
    if kind == "array":
        return f"list of {_type_of(spec.get('items') or {})}"
    if kind == "object" and "patternProperties" in spec:
        value = next(iter(spec["patternProperties"].values()))
        return f"map of {_type_of(value)}"
    return str(kind or "any")


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _properties(definition: Mapping[str, Any]) -> list[str]:
    properties: Mapping[str, Any] = definition.get("properties") or {}
    if not properties:
        return []
    required = set(definition.get("required") or ())
    rows = ["| key | type | required | description |", "| --- | --- | --- | --- |"]
    for name, spec in properties.items():
        description = spec.get("description") or ""
        if "default" in spec and spec["default"] not in (None, [], {}):
            description += f" (default `{json.dumps(spec['default'], ensure_ascii=False)}`)"
        rows.append(
            f"| `{name}` | {_cell(_type_of(spec))} | {'yes' if name in required else ''} | {_cell(description)} |"
        )
    return [*rows, ""]


def _walk_fields(fields: Any) -> Iterator[dict[str, Any]]:
    for entry in fields or ():
        if isinstance(entry, dict) and "type" in entry:
            yield entry
            yield from _walk_fields(entry.get("fields"))


def _examples(services: Path) -> tuple[dict[str, tuple[str, Any]], dict[str, tuple[str, Any]], dict[str, str]]:
    """The first step of each type and field of each type in the seed services, and one expression per
    function, with the file each comes from."""
    steps: dict[str, tuple[str, Any]] = {}
    fields: dict[str, tuple[str, Any]] = {}
    calls: dict[str, str] = {}
    for path in sorted(services.rglob("*.yaml")):
        text = path.read_text(encoding="utf-8")
        data = yaml.safe_load(text)
        where = path.relative_to(services.parent).as_posix()
        for step in (data or {}).get("steps") or ():
            if not isinstance(step, dict) or "type" not in step:
                continue
            steps.setdefault(step["type"], (where, step))
            for field in _walk_fields(step.get("fields")):
                fields.setdefault(field["type"], (where, field))
        for value in _strings(data):
            for name in CUSTOM:
                if name not in calls and re.search(rf"(?<![\w.]){re.escape(name)}\(", value):
                    calls[name] = f"`{' '.join(value.split())}` (in `{where}`)"
    return steps, fields, calls


def _strings(data: Any) -> Iterator[str]:
    if isinstance(data, str):
        yield data
    elif isinstance(data, dict):
        for value in data.values():
            yield from _strings(value)
    elif isinstance(data, list):
        for value in data:
            yield from _strings(value)


FUNCTION_EXAMPLES: dict[str, str] = {
    "sum": "sum([1200.5, 300.0])",
    "min": "min([3, 1, 2])",
    "max": "max([2.5, 7.0])",
    "count": "count([5, 17, 20].map(age, age < 18))",
    "age_on": 'age_on("1960-02-29", "2026-03-01")',
    "days_between": 'days_between("2026-01-01", "2026-03-01")',
    "round": "round(2.345, 2)",
    "hkd": "hkd(422000.0)",
}
"""One expression per function, evaluated when the reference is generated: the result shown is what CEL gives."""


def _run(expression: str) -> str:
    value = execute(cel.compile(expression), {})
    return json.dumps(value, ensure_ascii=False)


EXAMPLE_SERVICE = """id: example
version: 1
department: TD
title: {en: Example, tc: 例子}
summary: {en: An example., tc: 一個例子。}
themes: [transport]
ageGroups: [adult]
steps:
  - id: about
    type: form
    title: {en: About you, tc: 關於你}
    fields:
      - id: name
        type: text
        label: {en: Name, tc: 姓名}
        required: true
  - id: send
    type: submit
    title: {en: Send, tc: 遞交}
"""
"""A valid service; each error code's example changes one thing in it."""

ERROR_EXAMPLES: dict[str, tuple[str, str]] = {
    "YAML_SYNTAX": ("title: {en: Example, tc: 例子}", "title: {en: Example, tc: 例子"),
    "TAB_INDENT": ("        required: true", "\trequired: true"),
    "UNKNOWN_KEY": ("        required: true", "        requird: true"),
    "WRONG_TYPE": ("version: 1", "version: one"),
    "MISSING_KEY": ("summary: {en: An example., tc: 一個例子。}\n", ""),
    "INVALID_VALUE": ("ageGroups: [adult]", "ageGroups: [adult]\nlogin: maybe"),
    "DUPLICATE_KEY": ("themes: [transport]", "themes: [transport]\nthemes: [health]"),
    "DUPLICATE_STEP": ("  - id: send", "  - id: about"),
    "DUPLICATE_FIELD": (
        "        required: true",
        "        required: true\n      - {id: name, type: text, label: {en: Name, tc: 姓名}}",
    ),
    "UNKNOWN_THEME": ("themes: [transport]", "themes: [space]"),
    "UNKNOWN_AGE_GROUP": ("ageGroups: [adult]", "ageGroups: [toddler]"),
    "UNKNOWN_DEPARTMENT": ("department: TD", "department: XYZ"),
    "UNKNOWN_OPTION_LIST": ("        type: text", "        type: choice\n        optionList: nothing"),
    "UNKNOWN_ASSURANCE_LEVEL": ("ageGroups: [adult]", "ageGroups: [adult]\nassurance: platinum"),
    "MISSING_TRANSLATION": ("summary: {en: An example., tc: 一個例子。}", "summary: {en: An example.}"),
    "BAD_DURATION": ("ageGroups: [adult]", "ageGroups: [adult]\ndraftExpiry: 3 days"),
    "CEL_SYNTAX": ("    type: submit", "    type: submit\n    when: answers.name =="),
    "CEL_NOT_BOOLEAN": ("    type: submit", "    type: submit\n    when: answers.name"),
    "CEL_TYPE_ERROR": ("    type: submit", "    type: submit\n    when: answers.name > 3"),
    "UNKNOWN_REFERENCE": ("    type: submit", '    type: submit\n    when: answers.nope == "x"'),
    "UNKNOWN_FRAGMENT": ("  - id: send", "  - include: fragments/nothing.yaml\n  - id: send"),
}
"""Per error code: the text replaced in ``EXAMPLE_SERVICE`` and its replacement. The reference shows what the loader
really reports for each, at generation; a replacement that stops producing its code fails generation."""


def error_examples(definitions: Path) -> dict[str, Problem]:
    """What the loader reports first in the example service broken as ``ERROR_EXAMPLES`` says, code by code, in a
    tree with the given definitions' shared files."""
    shown: dict[str, Problem] = {}
    with tempfile.TemporaryDirectory(prefix="onestop-reference-") as temporary:
        root = Path(temporary)
        for name in ("taxonomy.yaml", "option-lists.yaml"):
            shutil.copy(definitions / name, root / name)
        for folder in ("departments", "fragments"):
            shutil.copytree(definitions / folder, root / folder)
        (root / "services" / "examples").mkdir(parents=True)
        example = root / "services" / "examples" / "example.yaml"
        for code, (old, new) in ERROR_EXAMPLES.items():
            example.write_text(EXAMPLE_SERVICE.replace(old, new, 1), "utf-8")
            try:
                load_catalogue(root)
            except CatalogueError as error:
                found = [p for p in error.problems if p.path.endswith("example.yaml")]
                if not found or found[0].code != code:
                    raise ValueError(f"the {code} example gives {[p.code for p in found]}") from error
                first = found[0]
                shown[code] = Problem(
                    "services/examples/example.yaml", first.line, first.col, first.code, first.message, first.hint
                )
            else:
                raise ValueError(f"the {code} example loads without a problem")
    return shown


def _errors(definitions: Path) -> list[str]:
    lines = [
        "## Error codes",
        "",
        "What `onestop validate` (and a sandbox upload) reports, each shown by breaking one line of this "
        "valid service and loading it at generation:",
        "",
        "```yaml",
        *EXAMPLE_SERVICE.splitlines(),
        "```",
        "",
    ]
    for code, problem in error_examples(definitions).items():
        old, new = ERROR_EXAMPLES[code]
        lines += [
            f"### {code}",
            "",
            "Change",
            "",
            "```yaml",
            *(old.rstrip("\n") or " ").splitlines(),
            "```",
            "",
            "to",
            "",
            "```yaml",
            *(new.replace("\t", "→   ") or "(nothing)").splitlines(),
            "```",
            "",
            "and `onestop validate` says:",
            "",
            "```text",
            problem.format(),
        ]
        lines += [f"  hint: {problem.hint}"] if problem.hint else []
        lines += ["```", ""]
    return lines


def _example(where: str, value: Any) -> list[str]:
    text = yaml.safe_dump([value], allow_unicode=True, sort_keys=False, width=110).rstrip().splitlines()
    if len(text) > _MAX_EXAMPLE_LINES:
        text = [*text[:_MAX_EXAMPLE_LINES], "  # … (the rest is in the file)"]
    return [f"Example (from `{where}`, which `onestop validate` passes):", "", "```yaml", *text, "```", ""]


def _section(
    title: str, definitions: Mapping[str, Any], names: list[str], examples: Mapping[str, tuple[str, Any]]
) -> list[str]:
    lines = [f"## {title}", ""]
    for name in names:
        definition = definitions[name]
        kind = (definition.get("properties") or {}).get("type", {}).get("const") or (
            definition.get("properties") or {}
        ).get("type", {}).get("default")
        lines += [f"### {name}", ""]
        if kind:
            lines += [f"`type: {kind}`", ""]
        if definition.get("description"):
            lines += [" ".join(definition["description"].split()), ""]
        lines += _properties(definition)
        if kind in examples:
            lines += _example(*examples[kind])
        elif kind:
            lines += ["No seed service uses it yet.", ""]
    return lines


def definitions_reference(schema_dir: Path, services_dir: Path) -> str:
    """The reference as Markdown."""
    schemas = {kind: json.loads((schema_dir / f"{kind}.schema.json").read_text(encoding="utf-8")) for kind in _KINDS}
    service = schemas["service"]
    definitions: dict[str, Any] = service["$defs"]
    steps, fields, calls = _examples(services_dir)
    step_names = sorted(n for n in definitions if n.endswith("Step"))
    field_names = sorted(n for n in definitions if n.endswith("Field"))
    other = sorted(n for n in definitions if n not in step_names and n not in field_names)
    lines = [
        "# The definitions language: reference",
        "",
        "Generated by `onestop reference` from `definitions/schema/*.schema.json` and the seed services; "
        "do not edit by hand. The prose guide is `docs/definitions.md`.",
        "",
        "## Files",
        "",
    ]
    for kind in _KINDS:
        schema = schemas[kind]
        lines += [f"### {kind}", "", " ".join(str(schema.get("description") or schema.get("title", "")).split()), ""]
        lines += _properties(schema)
    lines += _section("Step types", definitions, step_names, steps)
    lines += _section("Field types", definitions, field_names, fields)
    lines += [
        "## Expression functions",
        "",
        "Beyond standard CEL, expressions (`when`, `rules`, `compute`, eligibility) may call:",
        "",
    ]
    for name, function in CUSTOM.items():
        doc = " ".join((function.__doc__ or "").split()) or f"`{name}(...)`"
        lines += [f"### {name}", "", doc, ""]
        lines += ["```cel", FUNCTION_EXAMPLES[name], "```", "", f"gives `{_run(FUNCTION_EXAMPLES[name])}`.", ""]
        if name in calls:
            lines += [f"In a seed service: {calls[name]}", ""]
    lines += _errors(services_dir.parent)
    lines += _section("Other objects", definitions, other, {})
    return "\n".join(lines).rstrip() + "\n"
