"""The anomaly detector: pure functions from (state, recent events, now) to explained findings.

No I/O here: the Temporal activity (``activities.py``) loads the window and the state from the database and
stores what comes back, and ``bench/anomaly.py`` replays a simulated day through the same code. A finding is
raised only when the events behind it include one the detector had not seen (past its watermark), so a rerun
over the same window never raises the same alert twice.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from onestop.engine.security.baseline import Baselines, peer_score
from onestop.engine.security.events import EventKind, SecurityEvent
from onestop.engine.security.rules import (
    Deviation,
    Finding,
    Rule,
    Severity,
    Thresholds,
)

HKT = timedelta(hours=8)  # working hours are Hong Kong's, whatever the server's zone
_ERROR_OUTCOMES = frozenset({"refused", "failed"})


@dataclass
class DetectorState:
    """What the detector keeps between runs (in the ``detector_state`` row, never in workflow history)."""

    watermark: int = 0
    last_run: datetime | None = None
    baselines: Baselines = field(default_factory=Baselines)
    cooldown: dict[str, datetime] = field(default_factory=dict)  # "rule|series" -> quiet until
    feedback: dict[str, float] = field(default_factory=dict)  # series -> value an operator called normal

    def as_json(self) -> dict[str, Any]:
        return {
            "lastRun": self.last_run.isoformat() if self.last_run else None,
            "baselines": self.baselines.as_json(),
            "cooldown": {key: until.isoformat() for key, until in self.cooldown.items()},
            "feedback": dict(self.feedback),
        }

    @classmethod
    def from_json(cls, watermark: int, value: Mapping[str, Any]) -> DetectorState:
        last = value.get("lastRun")
        return cls(
            watermark=watermark,
            last_run=datetime.fromisoformat(last) if last else None,
            baselines=Baselines.from_json(value.get("baselines", {})),
            cooldown={k: datetime.fromisoformat(v) for k, v in value.get("cooldown", {}).items()},
            feedback={k: float(v) for k, v in value.get("feedback", {}).items()},
        )


class _Window:
    """The recent events, indexed once per run."""

    def __init__(self, events: Sequence[SecurityEvent], watermark: int) -> None:
        self.events = events
        self.watermark = watermark
        self.by_kind: dict[str, list[SecurityEvent]] = defaultdict(list)
        for event in events:
            self.by_kind[event.kind].append(event)

    def kind(self, kind: EventKind, since: datetime) -> list[SecurityEvent]:
        return [e for e in self.by_kind.get(kind, ()) if e.at >= since]

    def has_new(self, events: Iterable[SecurityEvent]) -> bool:
        return any(e.id > self.watermark for e in events)


def _group(events: Iterable[SecurityEvent], key: str) -> dict[str, list[SecurityEvent]]:
    groups: dict[str, list[SecurityEvent]] = defaultdict(list)
    for event in events:
        value = getattr(event, key)
        if value:
            groups[value].append(event)
    return groups


def _ids(events: Iterable[SecurityEvent], limit: int = 200) -> tuple[int, ...]:
    return tuple(sorted(e.id for e in events))[-limit:]


def _citizens(events: Iterable[SecurityEvent]) -> tuple[str, ...]:
    return tuple(sorted({e.citizen for e in events if e.citizen}))


class Detector:
    def __init__(self, thresholds: Thresholds | None = None) -> None:
        self.t = thresholds or Thresholds()

    def run(self, state: DetectorState, events: Sequence[SecurityEvent], now: datetime) -> list[Finding]:
        """Findings over ``events`` (those of the last ``thresholds.window``, oldest first); updates ``state``."""
        window = _Window([e for e in events if e.at >= now - self.t.window], state.watermark)
        period = self._period_minutes(state, now)
        raw = [
            *self._face(window, now), *self._stuffing(window, now), *self._flood(window, state, now, period),
            *self._staff(window, now), *self._provider(window, state, now), *self._service(window, state, now),
        ]
        findings = [f for f in raw if self._admit(state, f, now)]
        state.watermark = max([state.watermark, *(e.id for e in events)])
        state.last_run = now
        state.cooldown = {k: until for k, until in state.cooldown.items() if until > now}
        return findings

    def _period_minutes(self, state: DetectorState, now: datetime) -> float:
        if state.last_run is None:
            return 1.0
        minutes = (now - state.last_run).total_seconds() / 60
        return min(max(minutes, 1 / 6), self.t.window.total_seconds() / 60)

    def _admit(self, state: DetectorState, finding: Finding, now: datetime) -> bool:
        key = f"{finding.rule}|{finding.series}"
        if state.cooldown.get(key, now) > now:
            return False
        accepted = state.feedback.get(finding.series)
        if accepted is not None and finding.features and finding.features[0].observed < accepted * 1.5:
            return False  # an operator called this much normal for the series
        state.cooldown[key] = now + self.t.cooldown
        return True

    # ---- rules ----

    def _face(self, window: _Window, now: datetime) -> Iterable[Finding]:
        t = self.t
        for citizen, group in _group(window.kind(EventKind.FACE_MISMATCH, now - t.face_window), "citizen").items():
            if len(group) >= t.face_mismatches and window.has_new(group):
                yield Finding(Rule.FACE_MISMATCH_BURST, Severity.HIGH, f"citizen:{citizen}", (
                    Deviation("faceMismatches10m", len(group), 0, t.face_mismatches, len(group) / t.face_mismatches),
                ), _ids(group), (citizen,), {"attempts": len(group)}, lock=t.face_lock)

    def _stuffing(self, window: _Window, now: datetime) -> Iterable[Finding]:
        t = self.t
        since = now - t.stuffing_window
        attempts = window.kind(EventKind.TOKEN_REFUSED, since) + window.kind(EventKind.SIGN_IN, since)
        for ip, group in _group(attempts, "ip").items():
            failures = [e for e in group if e.kind == EventKind.TOKEN_REFUSED or e.outcome == "failed"]
            citizens = _citizens(group)
            if not window.has_new(failures):
                continue
            if (len(failures) >= t.stuffing_failures and len(citizens) >= t.stuffing_citizens) \
                    or len(failures) >= t.stuffing_failures_alone:
                yield Finding(Rule.CREDENTIAL_STUFFING, Severity.HIGH, f"ip:{ip}", (
                    Deviation("failedAuth10m", len(failures), 0, t.stuffing_failures,
                              len(failures) / t.stuffing_failures),
                    Deviation("distinctCitizens10m", len(citizens), 1, t.stuffing_citizens,
                              len(citizens) / t.stuffing_citizens),
                ), _ids(failures), citizens, {"failures": len(failures), "citizens": len(citizens)})

    def _flood(self, window: _Window, state: DetectorState, now: datetime, period: float) -> Iterable[Finding]:
        t = self.t
        since = now - t.flood_window
        starts = [e for e in window.kind(EventKind.APPLICATION_STARTED, since) if e.detail.get("anonymous")]
        limited = window.kind(EventKind.RATE_LIMITED, since)
        flagged_ips = set()
        for ip, group in _group(starts + limited, "ip").items():
            if len(group) >= t.flood_per_ip and window.has_new(group):
                flagged_ips.add(ip)
                yield Finding(Rule.ANONYMOUS_FLOOD, Severity.HIGH, f"ip:{ip}", (
                    Deviation("anonymousStartsAndRateLimited5m", len(group), 0, t.flood_per_ip,
                              len(group) / t.flood_per_ip),
                ), _ids(group), (), {"requests": len(group)})
        # Platform-wide, for a flood spread over many addresses: starts per minute against the learned rate.
        fresh = [e for e in starts if e.id > window.watermark]
        rate = len(fresh) / period
        baseline = state.baselines.get("anonymous_starts")
        floor = max(baseline.mean * 0.5, 1.0)
        score = baseline.score(rate, floor=floor)
        if baseline.n >= t.warmup and score >= t.flood_score and rate >= t.flood_min_per_minute \
                and not flagged_ips:
            yield Finding(Rule.ANONYMOUS_FLOOD, Severity.MEDIUM, "platform", (
                Deviation("anonymousStartsPerMinute", round(rate, 2), round(baseline.mean, 2),
                          round(baseline.mean + t.flood_score * max(baseline.dev * 1.25, floor), 2), round(score, 1)),
            ), _ids(fresh), (), {"perMinute": round(rate, 2)})
        baseline.update(rate, alpha=t.alpha, clip=baseline.mean + 3 * max(baseline.dev, floor))

    def _staff(self, window: _Window, now: datetime) -> Iterable[Finding]:
        t = self.t
        reads = _group(window.kind(EventKind.STAFF_READ, now - t.window), "staff")
        counts = {staff: len(group) for staff, group in reads.items()}
        for staff, group in reads.items():
            if not window.has_new(group):
                continue
            peers = [c for other, c in counts.items() if other != staff]
            score, median, sigma = peer_score(len(group), peers)
            if len(group) >= t.staff_min_reads and score >= t.staff_peer_score:
                citizens = _citizens(group)
                yield Finding(Rule.STAFF_BULK_READ, Severity.HIGH, f"staff:{staff}", (
                    Deviation("applicationReads60m", len(group), median, round(median + t.staff_peer_score * sigma, 1),
                              round(score, 1)),
                    Deviation("distinctCitizens60m", len(citizens), median, t.staff_min_reads, 0),
                ), _ids(group), citizens, {"reads": len(group), "peers": len(peers)})
                continue
            off = [e for e in group if not t.working_hours[0] <= (e.at + HKT).hour < t.working_hours[1]]
            if len(off) >= t.off_hours_reads and window.has_new(off):
                yield Finding(Rule.STAFF_OFF_HOURS, Severity.MEDIUM, f"staff:{staff}", (
                    Deviation("offHoursReads60m", len(off), 0, t.off_hours_reads, len(off) / t.off_hours_reads),
                ), _ids(off), _citizens(off), {"reads": len(off)})

    def _provider(self, window: _Window, state: DetectorState, now: datetime) -> Iterable[Finding]:
        t = self.t
        since = now - t.provider_window
        fetches = _group([e for e in window.kind(EventKind.DATA_ACCESS, since) if e.outcome == "allowed"],
                         "provider")
        grants: dict[str, int] = defaultdict(int)
        for event in window.kind(EventKind.CONSENT_GRANTED, since):
            for provider in event.detail.get("providers", ()):
                grants[provider] += 1
        for provider in set(fetches) | set(grants):
            group = fetches.get(provider, [])
            explained = grants.get(provider, 0)
            # Normally each consent explains the fetch it was given for; what is left over is learned per provider.
            unexplained = max(len(group) - explained, 0)
            baseline = state.baselines.get(f"provider_unexplained:{provider}")
            floor = 2.0
            score = baseline.score(unexplained, floor=floor)
            if baseline.n >= t.warmup and score >= t.provider_score \
                    and unexplained >= t.provider_min_unexplained and window.has_new(group):
                yield Finding(Rule.PROVIDER_OVERFETCH, Severity.HIGH, f"provider:{provider}", (
                    Deviation("unexplainedFetches30m", unexplained, round(baseline.mean, 2),
                              round(max(t.provider_min_unexplained,
                                        baseline.mean + t.provider_score * max(baseline.dev * 1.25, floor)), 2),
                              round(score, 1)),
                    Deviation("fetchesPerConsent30m", round(len(group) / max(explained, 1), 2), 1, 0, 0),
                ), _ids(group), _citizens(group), {"fetches": len(group), "consents": explained})
            baseline.update(unexplained, alpha=t.alpha, clip=baseline.mean + 3 * max(baseline.dev, floor))

    def _service(self, window: _Window, state: DetectorState, now: datetime) -> Iterable[Finding]:
        t = self.t
        accesses = _group(window.kind(EventKind.DATA_ACCESS, now - t.service_window), "service")
        changes = window.kind(EventKind.CATALOGUE_CHANGED, now - t.catalogue_link)
        for service, group in accesses.items():
            errors = [e for e in group if e.outcome in _ERROR_OUTCOMES]
            rate = len(errors) / len(group)
            baseline = state.baselines.get(f"service_error_rate:{service}")
            floor = max(baseline.mean * 0.5, 0.03)
            score = baseline.score(rate, floor=floor)
            if len(errors) >= t.service_min_errors and rate >= t.service_min_rate and score >= t.service_score \
                    and window.has_new(errors):
                first_error = min(e.at for e in errors)
                before = [c for c in changes if c.at <= first_error]
                features = [Deviation("errorRate15m", round(rate, 3), round(baseline.mean, 3),
                                      round(max(t.service_min_rate, baseline.mean + t.service_score * floor), 3),
                                      round(score, 1))]
                facts: dict[str, Any] = {"errors": len(errors), "accesses": len(group)}
                if before:
                    change = before[-1]
                    minutes = (first_error - change.at).total_seconds() / 60
                    features.append(Deviation("minutesSinceCatalogueChange", round(minutes, 1), 0, 0, 0))
                    facts["catalogueVersion"] = change.detail.get("version")
                yield Finding(Rule.SERVICE_ERROR_JUMP, Severity.HIGH if before else Severity.MEDIUM,
                              f"service:{service}", tuple(features),
                              _ids(errors + before[-1:]), (), facts)
            if len(group) >= 5:
                baseline.update(rate, alpha=t.alpha, clip=baseline.mean + 3 * max(baseline.dev, floor))
