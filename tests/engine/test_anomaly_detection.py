"""The detector on a short simulated day (the benchmark's own traffic): every injected attack is caught within two
schedule periods, a normal-only day raises nothing, and operators' verdicts feed back."""

from __future__ import annotations

import importlib.util
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType

import pytest

from onestop.engine.security import Detector, DetectorState, EventKind, Rule, SecurityEvent

NOW = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def bench(repo_root: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_anomaly", repo_root / "bench" / "anomaly.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_anomaly"] = module  # dataclasses resolve their module by name
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("seed", [3, 11])
def test_every_injected_attack_is_caught_within_two_periods(bench: ModuleType, seed: int) -> None:
    report = bench.replay(bench.simulate(seed=seed, citizens=200, staff=10, hours=6))
    assert set(report.caught) == {"credential stuffing", "face-mismatch burst", "insider bulk read",
                                  "provider over-fetch", "anonymous flood", "broken catalogue reload"}
    assert report.recall == 1.0, report.caught
    assert report.precision >= 0.9, [(a.finding.rule, a.finding.series) for a in report.false_positives]
    assert all(minutes is not None and minutes <= 3 for minutes in report.caught.values()), report.caught
    assert report.core_share < 0.05


def test_a_normal_day_raises_no_alert(bench: ModuleType) -> None:
    report = bench.replay(bench.simulate(seed=5, citizens=200, staff=10, hours=6, attacks=False))
    assert [(a.finding.rule, a.finding.series) for a in report.alerts] == []


def _mismatches(count: int, start_id: int = 1) -> list[SecurityEvent]:
    return [SecurityEvent(id=start_id + n, at=NOW - timedelta(seconds=30 * (count - n)),
                          kind=EventKind.FACE_MISMATCH, citizen="c1") for n in range(count)]


def test_a_face_burst_locks_and_is_explained_once() -> None:
    detector, state = Detector(), DetectorState()
    findings = detector.run(state, _mismatches(4), NOW)
    assert [(f.rule, f.series, f.lock) for f in findings] == [
        (Rule.FACE_MISMATCH_BURST, "citizen:c1", timedelta(minutes=30))]
    feature = findings[0].features[0]
    assert (feature.feature, feature.observed, feature.threshold) == ("faceMismatches10m", 4, 3)
    assert findings[0].event_ids == (1, 2, 3, 4)
    assert state.watermark == 4
    # The next run sees the same window and nothing new: no second alert.
    assert detector.run(state, _mismatches(4), NOW + timedelta(minutes=1)) == []


def test_two_mismatches_are_not_a_burst() -> None:
    assert Detector().run(DetectorState(), _mismatches(2), NOW) == []


def test_state_survives_its_json_form() -> None:
    detector, state = Detector(), DetectorState()
    detector.run(state, _mismatches(4), NOW)
    state.baselines.get("anonymous_starts").update(3.0, alpha=0.1)
    again = DetectorState.from_json(state.watermark, state.as_json())
    assert again.as_json() == state.as_json()
    assert again.watermark == 4


def test_a_false_positive_teaches_the_detector_that_value_was_normal() -> None:
    detector, state = Detector(), DetectorState()
    state.feedback["citizen:c1"] = 4
    assert detector.run(state, _mismatches(4), NOW) == []
    assert detector.run(state, _mismatches(6, start_id=10), NOW + timedelta(minutes=1))[0].rule \
        is Rule.FACE_MISMATCH_BURST  # 6 >= 1.5 x the accepted 4
