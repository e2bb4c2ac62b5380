"""Every seed service compiles into a self-contained snapshot that survives Temporal's converter."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.converter import DataConverter

from onestop.catalogue.catalogue import Catalogue, load_catalogue
from onestop.workflows.compile import snapshot_from_service
from onestop.workflows.snapshot import ServiceSnapshot


@pytest.fixture(scope="module")
def seed(definitions_dir: Path) -> Catalogue:
    return load_catalogue(definitions_dir)


async def test_every_seed_service_round_trips_through_the_payload_converter(seed: Catalogue) -> None:
    converter = DataConverter.default
    levels = [level.id for level in seed.taxonomy.assurance_levels]
    for service in seed.services.values():
        snapshot = snapshot_from_service(service, assurance_levels=levels)
        [payload] = await converter.encode([snapshot])
        [back] = await converter.decode([payload], [ServiceSnapshot])
        assert back == snapshot
        assert [s.id for s in back.steps] == [s.id for s in service.steps]
        assert back.content_hash == service.content_hash


def test_option_lists_and_districts_are_copied_into_the_snapshot(seed: Catalogue) -> None:
    service = seed.service("renew-driving-licence")
    assert service is not None
    snapshot = snapshot_from_service(service)
    licence = snapshot.step("licence")
    assert licence is not None
    address = next(f for f in licence.fields if f.type == "address")
    assert {o.value for o in address.options} == {o.value for o in seed.option_lists["districts"]}
    face = snapshot.step("verify-face")
    assert face is not None
    assert (face.assurance, face.max_age_seconds) == ("face", 300)
