"""The ``onestop`` command: serve | api | worker | web | web-assets | validate | export-schema | json-schema |
reference | acting-terms.

Option names and their ``ONESTOP_*`` variables are a contract with deployments: keep them.
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from onestop.config import Environment, Settings

F = TypeVar("F", bound=Callable[..., Any])


def _runtime_options(default_env: Environment) -> Callable[[F], F]:
    """The options every long-running command shares; each is also read from its ONESTOP_* variable."""

    def decorate(func: F) -> F:
        options = [
            click.option("--host", envvar="ONESTOP_HOST", default="127.0.0.1", show_default=True,
                         help="Interface the API listens on [env ONESTOP_HOST]."),
            click.option("--port", envvar="ONESTOP_PORT", default=8000, type=click.IntRange(0, 65535),
                         show_default=True, help="Port of the API (0 picks a free one) [env ONESTOP_PORT]."),
            click.option("--data-dir", envvar="ONESTOP_DATA_DIR", default=".onestop", show_default=True,
                         type=click.Path(file_okay=False, path_type=Path),
                         help="Where the embedded database, Temporal state and dev keys live [env ONESTOP_DATA_DIR]."),
            click.option("--definitions", envvar="ONESTOP_DEFINITIONS", default=None,
                         type=click.Path(exists=True, file_okay=False, path_type=Path),
                         help="Directory of service definitions (default: the bundled definitions/) "
                              "[env ONESTOP_DEFINITIONS]."),
            click.option("--database-url", envvar="ONESTOP_DATABASE_URL", default=None,
                         help="SQLAlchemy URL, e.g. postgresql+asyncpg://user@host/onestop "
                              "(default: SQLite under --data-dir) [env ONESTOP_DATABASE_URL]."),
            click.option("--temporal-address", envvar="ONESTOP_TEMPORAL_ADDRESS", default=None,
                         help="host:port of a Temporal frontend (serve: default starts the embedded dev server) "
                              "[env ONESTOP_TEMPORAL_ADDRESS]."),
            click.option("--env", "env", envvar="ONESTOP_ENV", default=default_env.value, show_default=True,
                         type=click.Choice([e.value for e in Environment]),
                         help="development enables GraphiQL, introspection and the /dev-idp/ identity provider "
                              "[env ONESTOP_ENV]."),
        ]
        for option in reversed(options):
            func = option(func)
        return func

    return decorate


def _settings(**cli: Any) -> Settings:
    """CLI values override ONESTOP_* variables; unset CLI values fall back to Settings defaults."""
    overrides = {key: value for key, value in cli.items() if value is not None}
    try:
        return Settings(**overrides)
    except ValueError as exc:
        raise click.ClickException(f"bad configuration: {exc}") from exc


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(package_name="onestop")
def main() -> None:
    """onestop: one-stop government services from YAML definitions, run as Temporal workflows behind GraphQL.

    \b
    Commands that run servers share these options (each also read from its variable):
      --host ONESTOP_HOST   --port ONESTOP_PORT   --data-dir ONESTOP_DATA_DIR
      --definitions ONESTOP_DEFINITIONS   --database-url ONESTOP_DATABASE_URL
      --temporal-address ONESTOP_TEMPORAL_ADDRESS   --env development|production ONESTOP_ENV
    serve defaults to development; api and worker default to production.
    """


@main.command()
@_runtime_options(Environment.DEVELOPMENT)
def serve(**options: Any) -> None:
    """Run everything on embedded defaults: Temporal dev server, worker, API, SQLite, seed definitions."""
    from onestop.runtime import serve as run

    sys.exit(run(_settings(**options)))


@main.command()
@_runtime_options(Environment.PRODUCTION)
def api(**options: Any) -> None:
    """Run the GraphQL API (stateless; run many behind a load balancer)."""
    from onestop.runtime import run_api

    sys.exit(run_api(_settings(**options)))


@main.command()
@_runtime_options(Environment.PRODUCTION)
def worker(**options: Any) -> None:
    """Run a Temporal worker for application workflows and activities."""
    from onestop.runtime import run_worker

    sys.exit(run_worker(_settings(**options)))


@main.command("acting-terms")
@_runtime_options(Environment.PRODUCTION)
def acting_terms(**options: Any) -> None:
    """Give each open application someone started for another person the durable end of their right to act (the
    18th birthday, the mandate's or guardianship's end), as new applications get at their start; one whose right
    has already ended is handed over now. For applications started before they had one; safe to run again."""
    from onestop.runtime import give_acting_terms

    sys.exit(give_acting_terms(_settings(**options)))


@main.command()
@click.option("--api-url", envvar="ONESTOP_API_URL", required=True,
              help="Base URL of the onestop API the pages call, e.g. https://api.example.gov.hk "
                   "[env ONESTOP_API_URL].")
@_runtime_options(Environment.PRODUCTION)
def web(**options: Any) -> None:
    """Run the web app alone against a remote API (serve already includes it at /)."""
    from onestop.runtime import run_web

    sys.exit(run_web(_settings(**options)))


@main.command("web-assets")
@click.option("--force", is_flag=True, help="Reinstall even when the installed assets match the lock file.")
def web_assets(force: bool) -> None:
    """Install the web app's front-end assets (USWDS) from npm once; nothing downloads at run time."""
    from onestop.web.assets import AssetsError, install

    try:
        changed = install(force=force)
    except AssetsError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo("web assets installed" if changed else "web assets up to date")


@main.command()
@click.option("--database-url", envvar="ONESTOP_DATABASE_URL", default=None,
              help="SQLAlchemy URL to migrate (default: SQLite under --data-dir) [env ONESTOP_DATABASE_URL].")
@click.option("--data-dir", envvar="ONESTOP_DATA_DIR", default=".onestop", show_default=True,
              type=click.Path(file_okay=False, path_type=Path), help="[env ONESTOP_DATA_DIR]")
@click.option("--revision", default="head", show_default=True, help="Alembic revision to upgrade to.")
def migrate(database_url: str | None, data_dir: Path, revision: str) -> None:
    """Bring the database schema up to date; run once per release before api and worker (serve migrates itself)."""
    import asyncio

    from onestop.engine.db import Database
    from onestop.engine.legacy import encrypt_clear_rows, settings_cipher

    async def run(settings: Settings) -> dict[str, int]:
        database = Database.from_settings(settings)
        try:
            await database.migrate(revision)
            # Rows written before their column was encrypted (idempotent; needs the data key only if any are).
            return await encrypt_clear_rows(database, settings_cipher(settings)) if revision == "head" else {}
        finally:
            await database.close()

    settings = _settings(database_url=database_url, data_dir=data_dir)
    try:
        encrypted = asyncio.run(run(settings))
    except ValueError as exc:  # a clear legacy row, and no data key to encrypt it with
        raise click.ClickException(f"bad configuration: {exc}") from exc
    for column, count in encrypted.items():
        if count:
            click.echo(f"encrypted {count} clear legacy value(s) of {column}")
    click.echo(f"database at revision {revision}")


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
def validate(paths: tuple[Path, ...]) -> None:
    """Check definitions (default: the configured definitions directory); exit 1 on any problem."""
    from onestop.catalogue.validate import validate_command

    targets = list(paths) or [Settings().definitions]
    # The cyclic collector stays off until the loaded tree is freed: the load pauses it anyway, and turning it back
    # on while the tree is alive makes the next allocation walk every object loaded (0.18 s at 10,000 services)
    # to free nothing. After the command, the tree is gone and a collection has next to nothing to walk.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        code = validate_command(targets, out=sys.stdout)
    finally:
        if was_enabled:
            gc.enable()
    sys.exit(code)


@main.command("export-schema")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the SDL to this file instead of standard output.")
def export_schema(output: Path | None) -> None:
    """Print the GraphQL schema (SDL)."""
    from onestop.graphql.schema import export_sdl

    sdl = export_sdl()
    if output is None:
        click.echo(sdl, nl=False)
    else:
        output.write_text(sdl, encoding="utf-8")


@main.command("json-schema")
@click.option("--output-dir", "-o", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Write one <kind>.schema.json per definition kind here (default: definitions/schema).")
@click.option("--check", is_flag=True, help="Exit 1 when the files on disk differ from the generated ones.")
def json_schema(output_dir: Path | None, check: bool) -> None:
    """Generate the definitions' JSON Schemas (for editor completion)."""
    from onestop.catalogue.jsonschema import write_schemas

    target = output_dir or Settings().definitions / "schema"
    stale = write_schemas(target, check=check)
    for path in stale:
        click.echo(f"{'out of date' if check else 'wrote'}: {path}")
    sys.exit(1 if check and stale else 0)


@main.command("reference")
@click.option("--output-dir", "-o", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Write definitions.md and graphql.md here (default: the web app's onestop/web/reference).")
@click.option("--check", is_flag=True, help="Exit 1 when the files on disk differ from the generated ones.")
def reference(output_dir: Path | None, check: bool) -> None:
    """Generate the definitions and GraphQL references the sandbox portal serves."""
    from onestop.catalogue.reference import definitions_reference
    from onestop.graphql.reference import graphql_reference
    from onestop.graphql.schema import export_sdl

    definitions = Settings().definitions
    target = output_dir or Path(__file__).resolve().parent / "web" / "reference"
    generated = {"definitions.md": definitions_reference(definitions / "schema", definitions / "services"),
                 "graphql.md": graphql_reference(export_sdl())}
    stale = []
    for name, text in generated.items():
        path = target / name
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            stale.append(path)
            if not check:
                target.mkdir(parents=True, exist_ok=True)
                path.write_text(text, encoding="utf-8")
    for path in stale:
        click.echo(f"{'out of date' if check else 'wrote'}: {path}")
    sys.exit(1 if check and stale else 0)


if __name__ == "__main__":
    main()
