"""The references the sandbox portal serves are generated from the sources of truth (the definitions' JSON
Schemas and seed services, ``schema.graphql``) and the committed copies are kept in sync."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from onestop.catalogue import reference
from onestop.catalogue.reference import ERROR_EXAMPLES, FUNCTION_EXAMPLES, definitions_reference, error_examples
from onestop.cli import main
from onestop.graphql.reference import graphql_reference

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "onestop" / "web" / "reference"
DEFINITIONS = ROOT / "definitions"


@pytest.fixture(scope="module")
def text() -> str:
    return definitions_reference(DEFINITIONS / "schema", DEFINITIONS / "services")


def test_the_committed_references_are_up_to_date() -> None:
    result = CliRunner().invoke(main, ["reference", "--check"])
    assert result.exit_code == 0, f"run `onestop reference` and commit onestop/web/reference/: {result.output}"


def test_check_reports_a_stale_reference_without_writing(tmp_path: Path) -> None:
    assert CliRunner().invoke(main, ["reference", "--check", "-o", str(tmp_path)]).exit_code == 1
    assert list(tmp_path.iterdir()) == []
    assert CliRunner().invoke(main, ["reference", "-o", str(tmp_path)]).exit_code == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["definitions.md", "graphql.md"]
    (tmp_path / "graphql.md").write_text("# old\n", encoding="utf-8")
    assert CliRunner().invoke(main, ["reference", "--check", "-o", str(tmp_path)]).exit_code == 1


def test_every_step_and_field_type_has_an_entry_with_a_seed_example(text: str) -> None:
    mapping = json.loads((DEFINITIONS / "schema" / "service.schema.json").read_text(encoding="utf-8"))
    kinds = mapping["properties"]["steps"]["items"]["anyOf"][0]["discriminator"]["mapping"]
    for kind, ref in kinds.items():
        name = ref.rsplit("/", 1)[-1]
        entry = text.split(f"### {name}\n", 1)[1].split("\n### ", 1)[0]
        assert f"`type: {kind}`" in entry
        assert "```yaml" in entry, f"{name} has no example"
    fields = re.findall(r"^### (\w+Field)$", text, re.MULTILINE)
    assert len(fields) >= 12
    for name in fields:
        assert "```yaml" in text.split(f"### {name}\n", 1)[1].split("\n### ", 1)[0], f"{name} has no example"


def test_every_expression_function_has_an_example_that_was_run(text: str) -> None:
    for name, expression in FUNCTION_EXAMPLES.items():
        entry = text.split(f"### {name}\n", 1)[1].split("\n### ", 1)[0]
        assert expression in entry
        assert re.search(r"gives `[^`]+`", entry)
    assert 'gives `"HK$422,000"`' in text
    assert "gives `66`" in text  # a 29 February birthday counts on 1 March


def test_every_error_code_has_an_example_with_what_validate_says(text: str) -> None:
    for code in ERROR_EXAMPLES:
        entry = text.split(f"### {code}\n", 1)[1].split("\n### ", 1)[0]
        assert re.search(rf"services/examples/example\.yaml:\d+:\d+: error\[{code}\]: ", entry), code
    assert "services/examples/example.yaml:16:9: error[UNKNOWN_KEY]" in text
    assert "did you mean 'required'" in text


def test_an_error_example_that_no_longer_gives_its_code_fails_generation(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reference, "ERROR_EXAMPLES", {"UNKNOWN_THEME": ("themes: [transport]", "themes: [health]")})
    with pytest.raises(ValueError, match="UNKNOWN_THEME example loads without a problem"):
        error_examples(DEFINITIONS)


def test_a_changed_description_in_the_schema_changes_the_reference(tmp_path: Path, text: str) -> None:
    schema = tmp_path / "schema"
    shutil.copytree(DEFINITIONS / "schema", schema)
    service = json.loads((schema / "service.schema.json").read_text(encoding="utf-8"))
    service["$defs"]["FormStep"]["properties"]["when"]["description"] = "a planted description"
    (schema / "service.schema.json").write_text(json.dumps(service), encoding="utf-8")
    assert "a planted description" in definitions_reference(schema, DEFINITIONS / "services")
    assert "a planted description" not in text


def test_the_graphql_reference_has_every_operation_with_its_description() -> None:
    sdl = (ROOT / "schema.graphql").read_text(encoding="utf-8")
    text = graphql_reference(sdl)
    assert "| `uploadSandboxDefinitions(input: UploadSandboxDefinitionsInput!)` |" in text
    assert "never of the public one" in text  # the mutation's description
    assert "### ProviderSandbox" in text
    assert "| `SANDBOX_LIMIT` |" in text
    planted = sdl.replace('"""The caller\'s own sandbox', '"""A planted description of the caller\'s own sandbox')
    assert planted != sdl
    assert "A planted description" in graphql_reference(planted)
