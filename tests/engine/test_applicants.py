"""Who applies: whether a service's rules read the applicant's age is found once per version of the service."""

from __future__ import annotations

from pathlib import Path

import pytest

from onestop.catalogue.catalogue import load_catalogue
from onestop.engine.applications import applicants

DEFINITIONS = Path(__file__).resolve().parents[2] / "definitions"


def test_whether_a_service_reads_the_age_is_found_once_per_version(monkeypatch: pytest.MonkeyPatch) -> None:
    catalogue = load_catalogue(DEFINITIONS)
    reads = ("citizen.age", "subject.age")
    by_age = [s for s in catalogue.services.values() if applicants._scan_reads(s, reads)]
    without = [s for s in catalogue.services.values() if not applicants._scan_reads(s, reads)]
    assert by_age
    assert without
    scanned: list[str] = []
    real = applicants._scan_reads

    def scan(service: object, wanted: tuple[str, ...]) -> bool:
        scanned.append(getattr(service, "id", ""))
        return real(service, wanted)  # type: ignore[arg-type]

    monkeypatch.setattr(applicants, "_READS", {})
    monkeypatch.setattr(applicants, "_scan_reads", scan)
    for _ in range(3):
        assert applicants._reads_age(by_age[0], reads)
        assert not applicants._reads_age(without[0], reads)
    applicants._reads_age(by_age[0], ("actor.age",))  # another question about the same version: scanned too
    assert scanned == [by_age[0].id, without[0].id, by_age[0].id]  # each service and question once
