"""Anomaly detection benchmark: a simulated day of normal traffic with injected attacks, replayed through the
detector's own functions (no Temporal, no database) at one run per schedule period.

Run: ``.venv/bin/python bench/anomaly.py [--citizens N] [--staff N] [--hours H] [--seed S] [--normal-only]``
(defaults: 800 citizens, 30 staff, 24 hours from 00:00 HKT, one detector run a minute).

Normal traffic follows the working day in Hong Kong: citizens sign in (some behind shared carrier NAT
addresses), start applications, grant consents that prefill from providers, confirm their face (sometimes
failing once), occasionally present an expired token; anonymous starts for `login: none` services; staff read and
decide applications in office hours (one on a late shift); the catalogue is reloaded twice without harm.
Attacks: credential stuffing, a face-mismatch burst, an insider bulk-reading records, a provider over-fetching,
a distributed anonymous start flood, a broken catalogue reload. An alert counts as a true positive when its rule
and series match an attack active in the hour before; anything else is a false positive.

Printed: per scenario whether it was caught and the time to detect (minutes and schedule periods from the
attack's start), overall precision and recall, false positives, and the detector's CPU time as a share of one
core at the simulated load: for the detector's functions over the whole day, and for the production path (the
recorder writing to SQLite, the activity reading its window and keeping its state) over the two busiest hours.
"""

from __future__ import annotations

import argparse
import bisect
import logging
import random
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from onestop.engine.security.detection import Detector, DetectorState
from onestop.engine.security.events import EventKind, SecurityEvent
from onestop.engine.security.rules import Finding, Rule

HKT = timedelta(hours=8)
DAY = datetime(2026, 11, 2, tzinfo=UTC) - HKT  # 00:00 HKT
PROVIDERS = ("eme", "td", "immd", "swd", "hd", "ird")
SERVICES = tuple(f"service-{n:02d}" for n in range(20))


@dataclass
class Attack:
    name: str
    rules: frozenset[Rule]
    series: str
    start: datetime
    end: datetime


@dataclass
class Traffic:
    events: list[SecurityEvent] = field(default_factory=list)
    attacks: list[Attack] = field(default_factory=list)

    def add(self, at: datetime, kind: EventKind, **fields: object) -> None:
        detail = fields.pop("detail", {})
        self.events.append(SecurityEvent(id=0, at=at, kind=kind, detail=detail, **fields))  # type: ignore[arg-type]


def _hour_weight(hour: float) -> float:
    """Relative citizen activity by HKT hour: quiet at night, peaks at lunch and in the evening."""
    if hour < 7:
        return 0.05
    if hour < 9:
        return 0.5
    if hour < 12:
        return 1.0
    if hour < 14:
        return 1.3
    if hour < 18:
        return 1.0
    if hour < 23:
        return 1.2
    return 0.3


def _when(rng: random.Random, hours: float) -> datetime:
    """A time in the simulated span, drawn by the hourly weights (rejection sampling)."""
    while True:
        hour = rng.uniform(0, hours)
        if rng.random() < _hour_weight(hour % 24) / 1.3:
            return DAY + timedelta(hours=hour)


def normal_traffic(rng: random.Random, traffic: Traffic, *, citizens: int, staff: int, hours: float) -> None:
    nats = [f"nat-{n}" for n in range(4)]
    homes = {f"c{n}": rng.choice(nats) if rng.random() < 0.15 else f"home-{n}" for n in range(citizens)}
    popular = SERVICES[:5]
    service_providers = {s: tuple(rng.sample(PROVIDERS, rng.randint(1, 3))) for s in SERVICES}
    sessions_per_day = 3
    for citizen, ip in homes.items():
        for _ in range(rng.randint(1, sessions_per_day * 2 - 1)):
            if rng.random() > hours / 24 + 0.05:
                continue
            at = _when(rng, hours)
            step = timedelta(seconds=rng.uniform(5, 40))
            if rng.random() < 0.05:  # an expired token from yesterday's tab
                traffic.add(at, EventKind.TOKEN_REFUSED, ip=ip, outcome="token_expired")
                at += step
            traffic.add(at, EventKind.SIGN_IN, citizen=citizen, ip=ip, outcome="ok")
            service = rng.choice(popular) if rng.random() < 0.6 else rng.choice(SERVICES)
            at += step
            traffic.add(at, EventKind.APPLICATION_STARTED, citizen=citizen, ip=ip, service=service,
                        detail={"anonymous": False})
            providers = service_providers[service]
            at += step
            traffic.add(at, EventKind.CONSENT_GRANTED, citizen=citizen, service=service,
                        detail={"providers": list(providers)})
            for provider in providers:
                outcome = "failed" if rng.random() < 0.01 else "allowed"
                traffic.add(at + timedelta(seconds=1), EventKind.DATA_ACCESS, citizen=citizen, provider=provider,
                            service=service, outcome=outcome)
            at += step
            traffic.add(at, EventKind.STEP_UP_CHALLENGED, citizen=citizen, ip=ip, service=service)
            if rng.random() < 0.04:
                traffic.add(at + step, EventKind.FACE_MISMATCH, citizen=citizen, ip=ip)
                at += step
            traffic.add(at + step, EventKind.STEP_UP_PASSED, citizen=citizen, ip=ip, service=service)
            if rng.random() < 0.02:
                traffic.add(at + step, EventKind.CONSENT_REVOKED, citizen=citizen, service=service)
    # Anonymous starts for `login: none` services, from anywhere.
    for _ in range(int(citizens * 0.8 * hours / 24)):
        traffic.add(_when(rng, hours), EventKind.APPLICATION_STARTED, ip=f"anon-{rng.randrange(10_000)}",
                    service=rng.choice(SERVICES), detail={"anonymous": True})
    # Staff read and decide in office hours (09-18 HKT); one works a late shift until 22:00 at a slow pace.
    for n in range(staff):
        member = f"s{n}"
        start, end = (14.0, 22.0) if n == 0 else (9.0, 18.0)
        reads_per_hour = 4 if n == 0 else rng.uniform(6, 14)
        hour = start
        while hour < min(end, hours):
            hour += rng.expovariate(reads_per_hour)
            if hour >= min(end, hours):
                break
            at = DAY + timedelta(hours=hour)
            citizen = f"c{rng.randrange(citizens)}"
            traffic.add(at, EventKind.STAFF_READ, staff=member, citizen=citizen)
            if rng.random() < 0.3:
                traffic.add(at + timedelta(minutes=2), EventKind.STAFF_DECISION, staff=member, citizen=citizen,
                            outcome="IN_REVIEW")
    for hour in (8.5, 19.0):  # harmless catalogue reloads
        if hour < hours:
            traffic.add(DAY + timedelta(hours=hour), EventKind.CATALOGUE_CHANGED, detail={"version": f"v{hour}"})
    # An occasional rate-limited client.
    for _ in range(int(10 * hours / 24)):
        traffic.add(_when(rng, hours), EventKind.RATE_LIMITED, ip=f"home-{rng.randrange(citizens)}")


def inject_attacks(rng: random.Random, traffic: Traffic, *, citizens: int, staff: int, hours: float) -> None:
    def at_hour(hour: float) -> datetime:
        return DAY + timedelta(hours=hour * hours / 24)

    def attack(name: str, rules: set[Rule], series: str, start: datetime, minutes: float) -> None:
        traffic.attacks.append(Attack(name, frozenset(rules), series, start, start + timedelta(minutes=minutes)))

    # Credential stuffing: one address, a failed sign-in every few seconds, each on another citizen.
    start = at_hour(10.5)
    for n in range(120):
        at = start + timedelta(seconds=n * 5)
        traffic.add(at, EventKind.SIGN_IN, citizen=f"c{rng.randrange(citizens)}", ip="stuffer", outcome="failed")
        if n % 3 == 0:
            traffic.add(at, EventKind.TOKEN_REFUSED, ip="stuffer", outcome="bad_signature")
    attack("credential stuffing", {Rule.CREDENTIAL_STUFFING}, "ip:stuffer", start, 10)
    # A deepfake against one citizen: six failed face confirmations in three minutes.
    start = at_hour(13)
    for n in range(6):
        traffic.add(start + timedelta(seconds=n * 30), EventKind.FACE_MISMATCH, citizen="c7", ip="phone-x")
    attack("face-mismatch burst", {Rule.FACE_MISMATCH_BURST}, "citizen:c7", start, 3)
    # An insider bulk-reading records: a script reads 250 applications in ten minutes.
    start = at_hour(14)
    insider = f"s{staff - 1}"
    for n in range(250):
        traffic.add(start + timedelta(seconds=n * 2.4), EventKind.STAFF_READ, staff=insider,
                    citizen=f"c{rng.randrange(citizens)}")
    attack("insider bulk read", {Rule.STAFF_BULK_READ, Rule.STAFF_OFF_HOURS}, f"staff:{insider}", start, 10)
    # A provider over-fetching: 300 fetches in 30 minutes with no consent behind them.
    start = at_hour(15)
    for n in range(300):
        traffic.add(start + timedelta(seconds=n * 6), EventKind.DATA_ACCESS, citizen=f"c{rng.randrange(citizens)}",
                    provider="ird", service="service-19", outcome="allowed")
    attack("provider over-fetch", {Rule.PROVIDER_OVERFETCH}, "provider:ird", start, 30)
    # A distributed anonymous flood: 60 addresses, three starts a minute each, for ten minutes.
    start = at_hour(16)
    for n in range(1800):
        traffic.add(start + timedelta(seconds=n / 3), EventKind.APPLICATION_STARTED, ip=f"bot-{n % 60}",
                    service="service-03", detail={"anonymous": True})
    attack("anonymous flood", {Rule.ANONYMOUS_FLOOD}, "platform", start, 10)
    # A broken catalogue reload: the most used service's prefill fails from then on.
    start = at_hour(11.5)
    traffic.add(start, EventKind.CATALOGUE_CHANGED, detail={"version": "broken"})
    for n in range(90):
        at = start + timedelta(seconds=20 + n * 20)
        traffic.add(at, EventKind.DATA_ACCESS, citizen=f"c{rng.randrange(citizens)}", provider="eme",
                    service="service-00", outcome="refused")
    attack("broken catalogue reload", {Rule.SERVICE_ERROR_JUMP}, "service:service-00", start, 30)


def simulate(*, seed: int = 7, citizens: int = 800, staff: int = 30, hours: float = 24,
             attacks: bool = True) -> Traffic:
    rng = random.Random(seed)
    traffic = Traffic()
    normal_traffic(rng, traffic, citizens=citizens, staff=staff, hours=hours)
    if attacks:
        inject_attacks(rng, traffic, citizens=citizens, staff=staff, hours=hours)
    traffic.events.sort(key=lambda e: e.at)
    traffic.events = [SecurityEvent(id=n, at=e.at, kind=e.kind, outcome=e.outcome, citizen=e.citizen,
                                    staff=e.staff, ip=e.ip, provider=e.provider, service=e.service, detail=e.detail)
                      for n, e in enumerate(traffic.events, start=1)]
    return traffic


@dataclass(frozen=True)
class Alerted:
    at: datetime
    finding: Finding


@dataclass
class Report:
    alerts: list[Alerted]
    caught: dict[str, float | None]  # attack name -> minutes to detect (None: missed)
    false_positives: list[Alerted]
    cpu_seconds: float
    simulated_seconds: float
    interval: timedelta
    events: int

    @property
    def precision(self) -> float:
        return 1.0 if not self.alerts else 1 - len(self.false_positives) / len(self.alerts)

    @property
    def recall(self) -> float:
        return 1.0 if not self.caught else sum(m is not None for m in self.caught.values()) / len(self.caught)

    @property
    def core_share(self) -> float:
        return self.cpu_seconds / self.simulated_seconds


def replay(traffic: Traffic, *, interval: timedelta = timedelta(minutes=1), detector: Detector | None = None
           ) -> Report:
    detector = detector or Detector()
    state = DetectorState()
    events = traffic.events
    times = [e.at for e in events]
    start, end = DAY, (events[-1].at if events else DAY) + interval
    alerts: list[Alerted] = []
    cpu = 0.0
    now = start + interval
    while now <= end:
        low = bisect.bisect_left(times, now - detector.t.window)
        high = bisect.bisect_right(times, now)
        began = time.process_time()
        findings = detector.run(state, events[low:high], now)
        cpu += time.process_time() - began
        alerts += [Alerted(now, f) for f in findings]
        now += interval
    caught: dict[str, float | None] = {a.name: None for a in traffic.attacks}
    false_positives = []
    for alert in alerts:
        matched = [a for a in traffic.attacks if alert.finding.rule in a.rules and alert.finding.series == a.series
                   and a.start <= alert.at <= a.end + timedelta(hours=1)]
        if not matched:
            false_positives.append(alert)
        for attack in matched:
            minutes = (alert.at - attack.start).total_seconds() / 60
            previous = caught[attack.name]
            caught[attack.name] = minutes if previous is None else min(previous, minutes)
    return Report(alerts, caught, false_positives, cpu, (end - start).total_seconds(), interval, len(events))


async def database_cost(traffic: Traffic, *, start_hour: float, hours: float,
                        interval: timedelta = timedelta(minutes=1)) -> tuple[float, float, int]:
    """The production path over a slice of the day: every event through the recorder (pseudonymised, chained,
    flushed to SQLite), then the detector's activity (window read, state load and save, alerts) once per period.
    Returns CPU seconds recording, CPU seconds detecting, and the runs."""
    import tempfile

    from onestop.engine.crypto.cipher import FieldCipher, KeyRing
    from onestop.engine.db import Database
    from onestop.engine.security import SecurityServices

    logging.getLogger("onestop").setLevel(logging.ERROR)  # the activity logs each alert; the figures are the point
    with tempfile.TemporaryDirectory() as folder:
        database = Database(f"sqlite+aiosqlite:///{folder}/bench.db")
        await database.create_all()
        services = SecurityServices.build(database, FieldCipher(KeyRing.single(bytes(32))))
        activities = services.activities()
        begin = DAY + timedelta(hours=start_hour)
        # The hour before the slice fills the detector's window, as in a running system.
        events = [e for e in traffic.events if begin - timedelta(hours=1) <= e.at < begin + timedelta(hours=hours)]
        recording = detecting = 0.0
        runs, cursor, now = 0, 0, begin - timedelta(hours=1) + interval
        while now <= begin + timedelta(hours=hours):
            began = time.process_time()
            while cursor < len(events) and events[cursor].at <= now:
                e = events[cursor]
                services.events.record(EventKind(e.kind), citizen_ref=e.citizen, staff=e.staff, ip=e.ip,
                                       provider=e.provider, service=e.service, outcome=e.outcome, at=e.at,
                                       **dict(e.detail))
                cursor += 1
            await services.events.flush()
            if now > begin:
                recording += time.process_time() - began
            began = time.process_time()
            await activities.detect_once(now)
            if now > begin:
                detecting += time.process_time() - began
                runs += 1
            now += interval
        await services.events.close()
        await database.close()
    return recording, detecting, runs


def print_report(report: Report, out: Sequence[str] = ()) -> None:
    period = report.interval.total_seconds() / 60
    print(f"events: {report.events}, detector runs: {int(report.simulated_seconds / report.interval.total_seconds())}")
    for name, minutes in report.caught.items():
        if minutes is None:
            print(f"scenario {name}: MISSED")
        else:
            print(f"scenario {name}: caught in {minutes:.1f} min ({minutes / period:.1f} schedule periods)")
    for alert in report.false_positives:
        features = ", ".join(f"{d.feature}={d.observed}" for d in alert.finding.features)
        print(f"false positive at {(alert.at + HKT):%H:%M} HKT: {alert.finding.rule} {alert.finding.series} "
              f"({features})")
    print(f"alerts: {len(report.alerts)}, false positives: {len(report.false_positives)}")
    print(f"precision: {report.precision:.3f}")
    print(f"recall: {report.recall:.3f}")
    print(f"detector CPU: {report.cpu_seconds:.2f} s for {report.simulated_seconds / 3600:.1f} h simulated = "
          f"{100 * report.core_share:.3f} % of one core")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--citizens", type=int, default=800)
    parser.add_argument("--staff", type=int, default=30)
    parser.add_argument("--hours", type=float, default=24)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--normal-only", action="store_true")
    parser.add_argument("--database-hours", type=float, default=2.0,
                        help="hours (from 11:00 HKT, the busiest) replayed through SQLite as in production; 0: skip")
    args = parser.parse_args(argv)
    traffic = simulate(seed=args.seed, citizens=args.citizens, staff=args.staff, hours=args.hours,
                       attacks=not args.normal_only)
    print_report(replay(traffic))
    if args.database_hours > 0:
        import asyncio

        start = min(11.0, max(args.hours - args.database_hours, 0.0))
        recording, detecting, runs = asyncio.run(database_cost(traffic, start_hour=start, hours=args.database_hours))
        seconds = args.database_hours * 3600
        per_run = 1000 * detecting / max(runs, 1)
        print(f"with SQLite, {args.database_hours:g} h from {start:g}:00 HKT: recording {1000 * recording:.0f} ms CPU "
              f"= {100 * recording / seconds:.3f} % of one core; detector activity {per_run:.1f} ms CPU per run "
              f"= {100 * detecting / seconds:.3f} % of one core")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
