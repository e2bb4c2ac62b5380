"""Seed the relationships of ``definitions/dev/citizens.yaml``: HKID pseudonyms, ImmD's birth registrations
(``births:``) and mandates (``mandates:``). Run after the citizens are seeded; idempotent."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import yaml

from onestop.engine.data.profiles import Citizen, CitizenDirectory
from onestop.engine.dev.seed import SeedError
from onestop.engine.relationships import BirthRegister, MandateScope, MandateStore


@dataclass(frozen=True)
class FamilyReport:
    identifiers: int
    births: int
    mandates: int


def _day(value: Any, path: Path, where: str) -> datetime:
    if isinstance(value, str):
        value = date.fromisoformat(value)
    if not isinstance(value, date):
        raise SeedError(path, f"{where} must be a date (YYYY-MM-DD)")
    return datetime(value.year, value.month, value.day, tzinfo=UTC)


async def seed_family(path: Path, *, citizens: CitizenDirectory, births: BirthRegister, mandates: MandateStore,
                      sub_for: Callable[[str], str]) -> FamilyReport:
    data = yaml.safe_load(await asyncio.to_thread(path.read_text, encoding="utf-8"))
    if not isinstance(data, dict):
        return FamilyReport(0, 0, 0)
    entries = {str(e["id"]): e for e in data.get("citizens") or [] if isinstance(e, dict) and "id" in e}
    found: dict[str, Citizen] = {}

    async def citizen(login: Any, where: str) -> Citizen:
        if login not in entries:
            raise SeedError(path, f"{where}: {login!r} is not a citizen of this file")
        if login not in found:
            found[login] = await citizens.ensure(sub_for(login))
        return found[login]

    identifiers = registered = granted = 0
    for login, entry in entries.items():
        hkid = ((entry.get("records") or {}).get("immd-records") or {}).get("hkid")
        if isinstance(hkid, str):
            identifiers += await births.record_identifier((await citizen(login, "citizens")).id, hkid)
    for index, birth in enumerate(data.get("births") or []):
        where = f"births[{index}]"
        if not isinstance(birth, dict) or not isinstance(birth.get("parents"), list):
            raise SeedError(path, f"{where} needs a child and a list of parents")
        child = await citizen(birth.get("child"), where)
        record = entries[birth["child"]]["records"]["immd-records"]
        born = _day(record["date-of-birth"], path, f"{where}: the child's immd-records.date-of-birth")
        for parent_login in birth["parents"]:
            parent = await citizen(parent_login, f"{where}.parents")
            # Registered "when the fixture was updated": a registration time equal to the birth would give the
            # date of birth away in clear.
            at = _day(entries[birth["child"]].get("updated", "2026-01-01"), path, f"{where}: the child's updated")
            registered += await births.register(child.id, parent.id, str(record["name-en"]), born.date(), at)
    for index, grant in enumerate(data.get("mandates") or []):
        where = f"mandates[{index}]"
        if not isinstance(grant, dict):
            raise SeedError(path, f"{where} must be a mapping")
        grantor = await citizen(grant.get("grantor"), f"{where}.grantor")
        grantee = await citizen(grant.get("grantee"), f"{where}.grantee")
        if any(m.grantee_ref == grantee.ref for m in await mandates.granted(grantor)):
            continue
        scope = MandateScope(tuple(grant.get("services") or ()), tuple(grant.get("themes") or ()),
                             tuple(grant.get("items") or ()))
        start, until = _day(grant.get("from"), path, f"{where}.from"), _day(grant.get("until"), path, f"{where}.until")
        names = {login: entries[login]["profile"]["nameEn"] for login in (grant["grantor"], grant["grantee"])}
        await mandates.grant(grantor, grantee, scope, grantor_name=names[grant["grantor"]],
                             grantee_name=names[grant["grantee"]], valid_from=start, valid_until=until, now=start)
        granted += 1
    return FamilyReport(identifiers, registered, granted)
