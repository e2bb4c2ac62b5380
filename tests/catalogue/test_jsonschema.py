from __future__ import annotations

import json
from pathlib import Path

import pytest

from onestop.catalogue.jsonschema import SCHEMAS, render, schema_for, write_schemas


def test_committed_schemas_match_the_models(definitions_dir: Path) -> None:
    stale = write_schemas(definitions_dir / "schema", check=True)
    assert stale == [], "run `onestop json-schema` and commit definitions/schema/"


def test_check_reports_stale_files_without_writing(tmp_path: Path) -> None:
    assert write_schemas(tmp_path, check=True) == [tmp_path / f"{kind}.schema.json" for kind in SCHEMAS]
    assert list(tmp_path.iterdir()) == []
    written = write_schemas(tmp_path)
    assert len(written) == len(SCHEMAS)
    assert write_schemas(tmp_path, check=True) == []
    (tmp_path / "service.schema.json").write_text("{}\n", encoding="utf-8")
    assert write_schemas(tmp_path, check=True) == [tmp_path / "service.schema.json"]


def test_output_is_deterministic_sorted_json_with_trailing_newline() -> None:
    text = render("service")
    assert text == render("service")
    assert text.endswith("}\n")
    assert text == json.dumps(json.loads(text), sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def test_schema_uses_yaml_key_names_and_forbids_unknown_keys() -> None:
    schema = schema_for("service")
    assert {"ageGroups", "draftExpiry", "steps"} <= set(schema["properties"])
    assert schema["additionalProperties"] is False
    steps, include = schema["properties"]["steps"]["items"]["anyOf"]
    assert set(steps["discriminator"]["mapping"]) == {"form", "prefill", "consent", "stepUp", "review", "submit",
                                                      "exit", "appointment", "payment"}
    assert include == {"$ref": "#/$defs/Include"}


def test_steps_and_fields_lists_accept_an_include() -> None:
    schema = schema_for("service")
    assert schema["$defs"]["Include"]["required"] == ["include"]
    form_fields = schema["$defs"]["FormStep"]["properties"]["fields"]["items"]["anyOf"]
    assert {"$ref": "#/$defs/Include"} in form_fields


def test_texts_require_en_and_tc_but_not_sc() -> None:
    text = schema_for("service")["$defs"]["LocalizedText"]
    assert sorted(text["required"]) == ["en", "tc"]


@pytest.mark.parametrize("kind", list(SCHEMAS))
def test_every_kind_names_the_draft(kind: str) -> None:
    assert schema_for(kind)["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_definition_files_reference_an_existing_schema(definitions_dir: Path) -> None:
    files = [definitions_dir / "taxonomy.yaml", *sorted((definitions_dir / "services").rglob("*.yaml")),
             *sorted((definitions_dir / "fragments").glob("*.yaml")),
             *sorted((definitions_dir / "departments").glob("*.yaml"))]
    for file in files:
        first = file.read_text(encoding="utf-8").splitlines()[0]
        assert first.startswith("# yaml-language-server: $schema="), file
        assert (file.parent / first.split("=", 1)[1]).resolve().is_file(), file
