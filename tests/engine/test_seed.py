from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import text

from onestop.config import Settings
from onestop.engine.crypto.cipher import FieldCipher
from onestop.engine.crypto.signing import Signer
from onestop.engine.data.gateway import DataServices
from onestop.engine.data.providers import ProviderSpec, specs_from_catalogue
from onestop.engine.db import Database
from onestop.engine.dev.seed import SeedError, SeedReport, seed_citizens


def _sub(login: str) -> str:
    return f"sub-of-{login}"


@pytest.fixture(scope="module")
def catalogue_specs(definitions_dir: Path) -> dict[str, ProviderSpec]:
    from onestop.catalogue import load_catalogue

    return specs_from_catalogue(load_catalogue(definitions_dir))


@pytest.fixture
def catalogue_services(data_services: DataServices, catalogue_specs: dict[str, ProviderSpec]) -> DataServices:
    return DataServices.assemble(data_services.database, data_services.cipher, data_services.signer,
                                 catalogue_specs)


async def _seed(services: DataServices, path: Path) -> SeedReport:
    return await seed_citizens(path, citizens=services.citizens, profiles=services.profiles,
                               providers=services.providers.specs(), sub_for=_sub)


async def _dump(database: Database) -> list[object]:
    async with database.engine.connect() as conn:
        rows: list[object] = []
        for table in ("citizens", "profiles", "provider_records"):
            rows += (await conn.execute(text(f"SELECT * FROM {table} ORDER BY 1"))).all()  # noqa: S608
        return rows


async def test_seeding_the_dev_citizens_is_idempotent(catalogue_services: DataServices,
                                                      definitions_dir: Path) -> None:
    fixture = definitions_dir / "dev" / "citizens.yaml"
    first = await _seed(catalogue_services, fixture)
    assert first.citizens_created >= 5
    assert first.records_written > 0
    before = await _dump(catalogue_services.database)
    second = await _seed(catalogue_services, fixture)
    assert (second.citizens_created, second.profiles_written, second.records_written) == (0, 0, 0)
    assert await _dump(catalogue_services.database) == before


async def test_replicas_seeding_together_all_succeed_and_write_each_row_once(
        catalogue_services: DataServices, definitions_dir: Path) -> None:
    fixture = definitions_dir / "dev" / "citizens.yaml"
    reports = await asyncio.gather(*(_seed(catalogue_services, fixture) for _ in range(4)))
    citizens = len(yaml.safe_load(fixture.read_text(encoding="utf-8"))["citizens"])
    assert all(report.profiles_written <= citizens for report in reports)
    async with catalogue_services.database.engine.connect() as conn:
        counts = [(await conn.execute(text(f"SELECT count(*) FROM {table}"))).scalar()  # noqa: S608
                  for table in ("citizens", "profiles")]
    assert counts == [citizens, citizens]
    before = await _dump(catalogue_services.database)
    again = await _seed(catalogue_services, fixture)
    assert (again.citizens_created, again.profiles_written, again.records_written) == (0, 0, 0)
    assert await _dump(catalogue_services.database) == before


async def test_seeded_citizen_can_be_read_through_the_gateway(catalogue_services: DataServices,
                                                              definitions_dir: Path) -> None:
    await _seed(catalogue_services, definitions_dir / "dev" / "citizens.yaml")
    profile = await catalogue_services.profiles.get(_sub("wong-ka-fai"))
    assert profile.hkid == "K305518(3)"
    assert profile.phone == "+85262345678"
    result = await catalogue_services.gateway.personal_data(_sub("chan-siu-ming"), "edb-records", acr="basic")
    (history,) = result.items.values()
    assert history.value[0]["from"] == 2019
    assert history.source_department == "EDB"


@pytest.mark.parametrize(("content", "fragment"), [
    ("citizens: 3", "'citizens:' list"),
    ("citizens:\n  - {profile: {}}", "needs an 'id'"),
    ("citizens:\n  - {id: x, profile: {hkid: A123456(4)}}", "hkid"),
    ("citizens:\n  - {id: x, records: {nowhere: {a: 1}}}", "not a department data provider"),
    ("citizens:\n  - {id: x, records: {td-licensing: {colour: red}}}", "no item 'colour'"),
    ("citizens: [", "cannot read"),
])
async def test_bad_fixture_gives_a_clear_error(data_services: DataServices, tmp_path: Path, content: str,
                                               fragment: str) -> None:
    path = tmp_path / "citizens.yaml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(SeedError, match=fragment):
        await _seed(data_services, path)


def _read_files(tmp_path: Path, definitions_dir: Path) -> tuple[bytes, Any]:

    raw = b"".join(path.read_bytes() for path in tmp_path.glob("at-rest.db*"))  # with the WAL
    return raw, yaml.safe_load((definitions_dir / "dev" / "citizens.yaml").read_text(encoding="utf-8"))


async def test_no_test_citizens_personal_data_in_the_database_file(tmp_path: Path, definitions_dir: Path,
                                                                   catalogue_specs: dict[str, ProviderSpec],
                                                                   cipher: FieldCipher, signer: Signer) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path}/at-rest.db")
    try:
        await db.create_all()
        services = DataServices.assemble(db, cipher, signer, catalogue_specs)
        await _seed(services, definitions_dir / "dev" / "citizens.yaml")
    finally:
        await db.close()
    raw, fixture = _read_files(tmp_path, definitions_dir)
    secrets = []
    for entry in fixture["citizens"]:
        profile = entry["profile"]
        secrets += [profile["hkid"], profile["hkid"][:7], profile["nameEn"], profile["nameZh"], profile["email"],
                    profile["phone"].replace(" ", "")[-8:], profile["residentialAddress"]["building"]]
    assert len(secrets) >= 35
    leaked = [s for s in secrets if s.encode() in raw]
    assert leaked == []


async def test_the_engine_seeds_development_data_at_start_up(tmp_path: Path, definitions_dir: Path) -> None:
    from onestop.engine.container import build_engine
    from onestop.engine.dev.idp import citizen_sub

    settings = Settings(env="development", data_dir=tmp_path, definitions=definitions_dir)
    engine = await build_engine(settings)
    try:
        assert engine.data is not None
        profile = await engine.data.profiles.get(citizen_sub(settings, "wong-ka-fai"))
        assert profile.hkid == "K305518(3)"
    finally:
        await engine.close()
