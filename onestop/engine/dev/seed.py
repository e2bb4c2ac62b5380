"""Seed the embedded database from ``definitions/dev/citizens.yaml``: citizens, e-ME profiles and the
SQL-backed providers' records. Idempotent: a second run with the same file writes nothing."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy.exc import IntegrityError

from onestop.engine.data.profiles import PROFILE_COLUMNS, CitizenDirectory, ProfileService, validate_changes
from onestop.engine.data.providers import EME, ProviderSpec, SqlRegistryProvider
from onestop.engine.errors import EngineError, InvalidInput


class SeedError(EngineError):
    code = "SEED_INVALID"

    def __init__(self, path: Path, message: str) -> None:
        super().__init__(None, f"{path}: {message}")


@dataclass(frozen=True)
class SeedReport:
    citizens_created: int
    profiles_written: int
    records_written: int


def _json(value: Any) -> Any:
    # YAML turns 2026-10-01 into a date; provider values are JSON, so dates travel as ISO strings.
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json(v) for v in value]
    return value


def _updated(value: Any, path: Path, where: str) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    raise SeedError(path, f"{where}.updated must be a date (YYYY-MM-DD)")


async def _store_profile(profiles: ProfileService, citizen_id: str, values: Mapping[str, Any],
                         updated: datetime) -> bool:
    """Write the profile unless it already holds ``values``; True when written."""
    wanted = {k: v for k, v in values.items() if v is not None}

    async def write() -> bool:
        async with profiles.database.session() as session:
            current = await profiles.load(session, citizen_id)
            if current is not None and current.items() == wanted:
                return False
            await profiles.store(session, citizen_id, {name: values.get(name) for name in PROFILE_COLUMNS},
                                 updated_at=updated)
        return True

    try:
        return await write()
    except IntegrityError:
        # Replicas starting together seed together: another one inserted this profile between our read and
        # our insert, so read it again (it is equal, and nothing more is written).
        return await write()


async def seed_citizens(path: Path, *, citizens: CitizenDirectory, profiles: ProfileService,
                        providers: Mapping[str, ProviderSpec], sub_for: Callable[[str], str]) -> SeedReport:
    """Load the fixture and write what differs. ``sub_for`` maps a dev login id to its pairwise ``sub``."""
    try:
        data = yaml.safe_load(await asyncio.to_thread(path.read_text, encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise SeedError(path, f"cannot read the fixture: {exc}") from exc
    entries = data.get("citizens") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise SeedError(path, "expected a top-level 'citizens:' list")
    database, cipher = profiles.database, profiles.cipher
    created = profiles_written = records_written = 0
    for index, entry in enumerate(entries):
        where = f"citizens[{index}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
            raise SeedError(path, f"{where} needs an 'id'")
        where = f"citizens[{entry['id']}]"
        updated = _updated(entry.get("updated", date(2026, 1, 1)), path, where)
        try:
            values = validate_changes(_json(entry.get("profile") or {}), districts=profiles.districts)
        except InvalidInput as exc:
            raise SeedError(path, f"{where}.profile: {exc.message}") from exc
        sub = sub_for(entry["id"])
        existed = await citizens.get(sub)
        citizen = await citizens.ensure(sub)
        created += existed is None
        profiles_written += await _store_profile(profiles, citizen.id, values, updated)
        records = entry.get("records") or {}
        if not isinstance(records, dict):
            raise SeedError(path, f"{where}.records must map provider ids to items")
        for provider_id, items in records.items():
            spec = providers.get(provider_id)
            if spec is None or provider_id == EME:
                raise SeedError(path, f"{where}.records: {provider_id!r} is not a department data provider")
            if not isinstance(items, dict):
                raise SeedError(path, f"{where}.records.{provider_id} must map item ids to values")
            registry = SqlRegistryProvider(spec, database, cipher)
            for item_id, value in items.items():
                if item_id not in spec.items:
                    raise SeedError(path, f"{where}.records.{provider_id}: provider has no item {item_id!r}")
                records_written += await registry.put(citizen.id, item_id, _json(value), updated)
    return SeedReport(created, profiles_written, records_written)
