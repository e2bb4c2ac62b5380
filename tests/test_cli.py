"""The CLI contract: option names and their ONESTOP_* variables are relied on by deployments."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from onestop.cli import _settings, main
from onestop.config import Environment, Settings

CONTRACT_OPTIONS = ["--port", "--host", "--data-dir", "--definitions", "--database-url",
                    "--temporal-address", "--env"]
CONTRACT_VARIABLES = ["ONESTOP_PORT", "ONESTOP_HOST", "ONESTOP_DATA_DIR", "ONESTOP_DEFINITIONS",
                      "ONESTOP_DATABASE_URL", "ONESTOP_TEMPORAL_ADDRESS", "ONESTOP_ENV"]


@pytest.mark.parametrize("command", ["serve", "api", "worker", "web", "acting-terms"])
def test_every_runtime_command_documents_the_contract_options(command: str) -> None:
    result = CliRunner().invoke(main, [command, "--help"])
    assert result.exit_code == 0, result.output
    for option, variable in zip(CONTRACT_OPTIONS, CONTRACT_VARIABLES, strict=True):
        assert option in result.output
        assert variable in result.output


def test_top_level_help_lists_commands_and_variables() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    for name in ["serve", "api", "worker", "web", "web-assets", "validate", "acting-terms",
                 "export-schema", "json-schema", *CONTRACT_VARIABLES]:
        assert name in result.output


@pytest.mark.parametrize(("command", "expected"), [("serve", "development"), ("api", "production"),
                                                   ("worker", "production"), ("web", "production")])
def test_default_environment_per_command(command: str, expected: str) -> None:
    result = CliRunner().invoke(main, [command, "--help"])
    flat = " ".join(result.output.split())
    assert f"[env ONESTOP_ENV]. [default: {expected}]" in flat


def test_bad_env_value_is_refused_with_the_choices() -> None:
    result = CliRunner().invoke(main, ["api", "--env", "staging"])
    assert result.exit_code == 2
    assert "'staging' is not one of 'development', 'production'" in result.output


def test_environment_variables_feed_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ONESTOP_PORT", "9123")
    monkeypatch.setenv("ONESTOP_ENV", "development")
    monkeypatch.setenv("ONESTOP_DATA_DIR", str(tmp_path))
    settings = Settings()
    assert settings.port == 9123
    assert settings.env is Environment.DEVELOPMENT
    assert settings.data_dir == tmp_path


def test_command_line_values_override_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ONESTOP_PORT", "9123")
    assert _settings(port=9999).port == 9999


def test_a_bad_database_url_names_the_setting() -> None:
    with pytest.raises(Exception, match="ONESTOP_DATABASE_URL"):
        _settings(database_url="mysql://nope")


def test_production_refuses_to_run_without_keys(tmp_path: Path) -> None:
    settings = Settings(env=Environment.PRODUCTION, data_dir=tmp_path)
    with pytest.raises(ValueError, match="ONESTOP_DATA_KEY"):
        settings.key_bytes("data_key")


def test_development_creates_a_key_once_and_keeps_it(tmp_path: Path) -> None:
    settings = Settings(env=Environment.DEVELOPMENT, data_dir=tmp_path)
    first = settings.key_bytes("codec_key")
    assert len(first) == 32
    assert settings.key_bytes("codec_key") == first
    assert (tmp_path / "keys" / "codec_key.key").stat().st_mode & 0o077 == 0


def test_migrate_creates_the_schema_in_a_fresh_database(tmp_path: Path) -> None:
    import sqlite3

    result = CliRunner().invoke(main, ["migrate", "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    tables = {row[0] for row in sqlite3.connect(tmp_path / "onestop.db").execute(
        "select name from sqlite_master where type = 'table'")}
    assert {"alembic_version", "citizens", "profiles", "consents", "access_log"} <= tables


def test_web_needs_the_api_url() -> None:
    result = CliRunner().invoke(main, ["web"], env={"ONESTOP_API_URL": ""})
    assert result.exit_code == 2
    assert "--api-url" in result.output
