from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from onestop.catalogue.validate import find_root, validate_command
from onestop.cli import main

from .conftest import SERVICE_PATH, Tree


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["validate", *args])
    return result.exit_code, result.output


def test_a_valid_tree_exits_0_with_a_summary(tree: Tree) -> None:
    code, output = run(str(tree.root))
    assert (code, output) == (0, "ok: 1 services, 1 departments\n")


def test_problems_exit_1_with_locations_hints_and_a_summary(tree: Tree) -> None:
    tree.edit_service("themes: [transport]", "themes: [transprt]")
    tree.edit("departments/td.yaml", "name: {en: Transport Department, tc: 運輸署}", "name: {en: Transport Department}")
    code, output = run(str(tree.root))
    assert code == 1
    assert output.splitlines() == [
        f"{tree.where('departments/td.yaml')}:2:7: error[MISSING_TRANSLATION]: missing translation: tc "
        "(every text needs en and tc; sc is derived when omitted)",
        f"{tree.where(SERVICE_PATH)}:6:10: error[UNKNOWN_THEME]: unknown theme 'transprt'",
        "  hint: did you mean 'transport'?",
        "2 problems in 2 files",
    ]


def test_problems_are_sorted_by_file_and_line(tree: Tree) -> None:
    tree.edit_service("ageGroups: [adult]", "ageGroups: [adul]")
    tree.edit_service("themes: [transport]", "themes: [transprt]")
    _, output = run(str(tree.root))
    lines = [line for line in output.splitlines() if "error[" in line]
    assert [line.split(":")[1] for line in lines] == ["6", "7"]


def test_a_single_service_file_is_checked_against_its_tree(tree: Tree) -> None:
    service = tree.root / SERVICE_PATH
    assert run(str(service)) == (0, "ok: 1 services, 1 departments\n")
    tree.edit_service("department: TD", "department: XX")
    code, output = run(str(service))
    assert code == 1
    assert "error[UNKNOWN_DEPARTMENT]: unknown department 'XX'" in output


def test_only_the_named_files_problems_are_shown(tree: Tree) -> None:
    tree.write("services/health/broken.yaml", "id: broken\n")
    code, output = run(str(tree.root / SERVICE_PATH))
    assert code == 0
    assert "broken.yaml" not in output
    code, output = run(str(tree.root / "services" / "health"))
    assert code == 1
    assert "broken.yaml:1:1: error[MISSING_KEY]" in output


def test_shared_file_problems_are_shown_with_any_target(tree: Tree) -> None:
    tree.edit("taxonomy.yaml", "themes:", "themez:")
    code, output = run(str(tree.root / SERVICE_PATH))
    assert code == 1
    assert "taxonomy.yaml:1:1: error[UNKNOWN_KEY]: unknown key 'themez'" in output
    assert "hint: did you mean 'themes'?" in output


def test_relative_paths_are_printed_as_given(tree: Tree, monkeypatch: pytest.MonkeyPatch) -> None:
    tree.edit_service("themes: [transport]", "themes: [transprt]")
    monkeypatch.chdir(tree.root)
    out = io.StringIO()
    assert validate_command([Path("services/transport/renew-licence.yaml")], out) == 1
    assert out.getvalue().startswith("services/transport/renew-licence.yaml:6:10: error[UNKNOWN_THEME]")


def test_a_folder_without_taxonomy_is_an_error(tmp_path: Path) -> None:
    code, output = run(str(tmp_path))
    assert code == 1
    assert "no taxonomy.yaml" in output
    assert find_root(tmp_path) is None


@pytest.mark.parametrize(
    ("content", "code"),
    [(b"", "EMPTY_FILE"), (b"id: x\n\tversion: 1\n", "TAB_INDENT"), (b"title: \xb3\xa3\n", "NOT_UTF8"),
     (b"id: [x\n", "YAML_SYNTAX")],
)
def test_file_level_problems_reach_the_command(tree: Tree, content: bytes, code: str) -> None:
    tree.write("services/health/bad.yaml", content)
    exit_code, output = run(str(tree.root))
    assert exit_code == 1
    assert f"error[{code}]" in output
    assert output.endswith("1 problem in 1 file\n")


def test_the_seed_definitions_validate(definitions_dir: Path) -> None:
    code, output = run(str(definitions_dir))
    assert code == 0, output
    assert output.startswith("ok: ")


def test_default_is_the_configured_definitions(tree: Tree) -> None:
    result = CliRunner().invoke(main, ["validate"], env={**os.environ, "ONESTOP_DEFINITIONS": str(tree.root)})
    assert (result.exit_code, result.output) == (0, "ok: 1 services, 1 departments\n")
