"""The detector's vocabulary and its rules: what each alert is about, and the thresholds that raise it.

Rules with fixed thresholds catch the attacks whose shape is known (Auth0's brute-force protection, Cognito's
adaptive authentication); baselines learned per series (``baseline.py``) catch volumes and mixes that are
unusual for *this* staff member, provider or service. Every finding says which features deviated, from what,
by how much, and lists the events behind it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from typing import Any


class Severity(StrEnum):
    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"
    CRITICAL = "CRITICAL"

    def raised(self) -> Severity:
        order = list(Severity)
        return order[min(order.index(self) + 1, len(order) - 1)]


class AlertStatus(StrEnum):
    OPEN = "OPEN"
    ACKNOWLEDGED = "ACKNOWLEDGED"
    RESOLVED = "RESOLVED"
    FALSE_POSITIVE = "FALSE_POSITIVE"


class Rule(StrEnum):
    FACE_MISMATCH_BURST = "face_mismatch_burst"
    CREDENTIAL_STUFFING = "credential_stuffing"
    ANONYMOUS_FLOOD = "anonymous_flood"
    STAFF_BULK_READ = "staff_bulk_read"
    STAFF_OFF_HOURS = "staff_off_hours"
    PROVIDER_OVERFETCH = "provider_overfetch"
    SERVICE_ERROR_JUMP = "service_error_jump"


class CitizenAnswer(StrEnum):
    WAS_ME = "was_me"
    WAS_NOT_ME = "was_not_me"


LOCK_FACE_STEP_UP = "face_step_up"


@dataclass(frozen=True)
class Deviation:
    """One feature that deviated: ``observed`` against ``expected`` (normal), alerting from ``threshold``;
    ``score`` is how far, in robust deviations for learned baselines or as a multiple of the limit for rules."""

    feature: str
    observed: float
    expected: float
    threshold: float
    score: float


@dataclass(frozen=True)
class Finding:
    rule: Rule
    severity: Severity
    series: str
    features: tuple[Deviation, ...]
    event_ids: tuple[int, ...]
    citizens: tuple[str, ...] = ()
    facts: dict[str, Any] = field(default_factory=dict)
    lock: timedelta | None = None


@dataclass(frozen=True)
class Thresholds:
    """Every number the detector decides by, in one place (tuned with ``bench/anomaly.py``)."""

    window: timedelta = timedelta(minutes=60)  # the longest window any rule reads
    cooldown: timedelta = timedelta(minutes=30)  # one alert per rule and series meanwhile
    # A deepfake or a stolen phone: failed face confirmations on one citizen.
    face_window: timedelta = timedelta(minutes=10)
    face_mismatches: int = 3
    face_lock: timedelta = timedelta(minutes=30)
    # Credential stuffing: refused tokens and failed sign-ins from one IP, across many citizens.
    stuffing_window: timedelta = timedelta(minutes=10)
    stuffing_failures: int = 10
    stuffing_citizens: int = 5
    stuffing_failures_alone: int = 40
    # Anonymous start flood: per IP (with rate-limit refusals), and platform-wide against its baseline.
    flood_window: timedelta = timedelta(minutes=5)
    flood_per_ip: int = 30
    flood_score: float = 8.0
    flood_min_per_minute: float = 10.0
    # Staff reading applications: far more than peers in the last hour, or outside working hours (HKT).
    staff_min_reads: int = 40
    staff_peer_score: float = 8.0
    working_hours: tuple[int, int] = (7, 20)
    off_hours_reads: int = 10
    # A provider fetched more than its consents explain (learned ratio of fetches to consents).
    provider_window: timedelta = timedelta(minutes=30)
    provider_min_unexplained: int = 10
    provider_score: float = 6.0
    # A service's data-access error rate jumping (after a catalogue reload it is more severe).
    service_window: timedelta = timedelta(minutes=15)
    service_min_errors: int = 5
    service_min_rate: float = 0.25
    service_score: float = 6.0
    catalogue_link: timedelta = timedelta(minutes=60)
    # Learning: weight of each period, and periods before a learned series may alert.
    alpha: float = 0.05
    warmup: int = 30
