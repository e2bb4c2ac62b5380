"""Alerts: stored findings, their life cycle (OPEN → ACKNOWLEDGED → RESOLVED or FALSE_POSITIVE), what a citizen
sees of the ones about them, their answer, and the temporary locks some alerts impose."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from onestop.engine.db import (
    Database,
    DetectorStateRow,
    SecurityAlertRow,
    SecurityAlertSubjectRow,
    SecurityLockRow,
)
from onestop.engine.db.prepared import prepared
from onestop.engine.errors import Forbidden, InvalidInput, NotFound, field_error
from onestop.engine.security.detection import DetectorState
from onestop.engine.security.rules import (
    LOCK_FACE_STEP_UP,
    AlertStatus,
    CitizenAnswer,
    Deviation,
    Finding,
    Rule,
    Severity,
)

DETECTOR = "anomaly"
OPERATOR_ROLE = "operator"
"""The staff role that reads and handles security alerts and system health."""
HKT = timedelta(hours=8)


class StepUpLocked(Forbidden):
    """Face confirmation is paused for this citizen after repeated failed attempts."""

    code = "STEP_UP_LOCKED"

    def __init__(self, until: datetime) -> None:
        local = (until + HKT).strftime("%H:%M")
        super().__init__(f"Face confirmation is paused after repeated failed attempts; try again after {local} "
                         "(Hong Kong time), or call 1823 if this was not you.")
        self.code = type(self).code
        self.until = until


@dataclass(frozen=True)
class Alert:
    id: str
    rule: str
    severity: Severity
    status: AlertStatus
    series: str
    features: tuple[Deviation, ...]
    event_ids: tuple[int, ...]
    facts: dict[str, Any]
    opened_at: datetime
    updated_at: datetime
    lock_until: datetime | None
    note: str | None
    citizens: int
    disowned: int  # citizens who answered "this wasn't me"


@dataclass(frozen=True)
class CitizenAlert:
    """What a citizen reads about an alert that concerns them, in plain language."""

    id: str
    rule: str
    opened_at: datetime
    title: dict[str, str]
    body: dict[str, str]
    answer: CitizenAnswer | None


def _texts(rule: str, facts: dict[str, Any], lock_until: datetime | None) -> tuple[dict[str, str], dict[str, str]]:
    if rule == Rule.FACE_MISMATCH_BURST:
        attempts = facts.get("attempts", 0)
        until = (lock_until + HKT).strftime("%H:%M") if lock_until else ""
        return ({"en": f"Someone tried to confirm your face {attempts} times and failed",
                 "tc": f"有人嘗試確認你的面容 {attempts} 次但失敗"},
                {"en": f"To protect you, face confirmation is paused until {until}. Was this you?",
                 "tc": f"為保障你，面容確認已暫停至 {until}。這是你本人嗎？"})
    if rule == Rule.CREDENTIAL_STUFFING:
        return ({"en": "Someone tried to sign in to your account", "tc": "有人嘗試登入你的帳戶"},
                {"en": "We saw many failed sign-ins from one place, including for your account. Was this you?",
                 "tc": "我們發現同一來源多次登入失敗，當中包括你的帳戶。這是你本人嗎？"})
    return ({"en": "Unusual access to your records", "tc": "你的紀錄有異常存取"},
            {"en": "We noticed unusual access to your records and are checking it. Do you recognise it?",
             "tc": "我們發現你的紀錄有異常存取，正在調查。你是否知悉？"})


def _deviations(raw: Sequence[Any]) -> tuple[Deviation, ...]:
    return tuple(Deviation(**item) for item in raw)


class SecurityAlerts:
    def __init__(self, database: Database, citizen_key: Callable[[str], str]) -> None:
        self.database = database
        # citizen_ref -> the pseudonym security records use (SecurityEvents.citizen_key)
        self.citizen_key = citizen_key

    # ---- the detector's side ----

    async def load_state(self, session: AsyncSession) -> DetectorState:
        row = await session.get(DetectorStateRow, DETECTOR)
        return DetectorState() if row is None else DetectorState.from_json(row.watermark, row.state)

    async def save_state(self, session: AsyncSession, state: DetectorState, now: datetime) -> None:
        row = await session.get(DetectorStateRow, DETECTOR)
        if row is None:
            session.add(DetectorStateRow(name=DETECTOR, watermark=state.watermark, state=state.as_json(),
                                         updated_at=now))
        else:
            row.watermark, row.state, row.updated_at = state.watermark, state.as_json(), now

    async def add_findings(self, session: AsyncSession, findings: Sequence[Finding], now: datetime) -> list[str]:
        """Store ``findings`` as OPEN alerts (and their subjects and locks) in the caller's transaction."""
        ids = []
        for finding in findings:
            alert_id = str(uuid.uuid4())
            lock_until = now + finding.lock if finding.lock else None
            session.add(SecurityAlertRow(
                id=alert_id, rule=finding.rule.value, severity=finding.severity.value, status=AlertStatus.OPEN.value,
                series=finding.series, features=[asdict(d) for d in finding.features],
                event_ids=list(finding.event_ids), facts=dict(finding.facts), opened_at=now, updated_at=now,
                lock_until=lock_until, handled_by=None, note=None))
            for citizen in finding.citizens:
                session.add(SecurityAlertSubjectRow(alert_id=alert_id, citizen=citizen, answer=None,
                                                    answered_at=None))
            if lock_until is not None and finding.rule is Rule.FACE_MISMATCH_BURST:
                for citizen in finding.citizens:
                    # One lock per citizen: a newer burst replaces the previous lock (and extends it).
                    await session.merge(SecurityLockRow(kind=LOCK_FACE_STEP_UP, subject=citizen, until=lock_until,
                                                        alert_id=alert_id))
            ids.append(alert_id)
        return ids

    # ---- operators ----

    async def page(self, *, status: AlertStatus | None = None, severity: Severity | None = None,
                   limit: int = 20, offset: int = 0) -> tuple[list[Alert], int]:
        query = select(SecurityAlertRow)
        if status is not None:
            query = query.where(SecurityAlertRow.status == status.value)
        if severity is not None:
            query = query.where(SecurityAlertRow.severity == severity.value)
        async with self.database.session() as session:
            total = int(await session.scalar(select(func.count()).select_from(query.subquery())) or 0)
            rows = (await session.scalars(query.order_by(SecurityAlertRow.opened_at.desc(), SecurityAlertRow.id)
                                          .limit(limit).offset(offset))).all()
            return [await self._alert(session, row) for row in rows], total

    async def get(self, alert_id: str) -> Alert:
        async with self.database.session() as session:
            return await self._alert(session, await self._row(session, alert_id))

    async def acknowledge(self, alert_id: str, operator: str, *, now: datetime | None = None) -> Alert:
        return await self._move(alert_id, operator, AlertStatus.ACKNOWLEDGED, {AlertStatus.OPEN}, None, now)

    async def resolve(self, alert_id: str, operator: str, *, false_positive: bool = False, note: str | None = None,
                      now: datetime | None = None) -> Alert:
        target = AlertStatus.FALSE_POSITIVE if false_positive else AlertStatus.RESOLVED
        return await self._move(alert_id, operator, target, {AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED}, note, now)

    async def _move(self, alert_id: str, operator: str, target: AlertStatus, sources: set[AlertStatus],
                    note: str | None, now: datetime | None) -> Alert:
        at = now or datetime.now(UTC)
        async with self.database.session() as session:
            row = await self._row(session, alert_id)
            if AlertStatus(row.status) not in sources:
                raise InvalidInput([field_error(["alertId"], f"The alert is {row.status}; only "
                                                f"{' or '.join(sorted(sources))} alerts can become {target}.",
                                                "INVALID_TRANSITION")])
            row.status, row.handled_by, row.updated_at = target.value, operator, at
            if note:
                row.note = note
            if target is AlertStatus.FALSE_POSITIVE:
                await self._feed_back(session, row, at)
                await session.execute(delete(SecurityLockRow).where(SecurityLockRow.alert_id == row.id))
            return await self._alert(session, row)

    async def _feed_back(self, session: AsyncSession, row: SecurityAlertRow, now: datetime) -> None:
        """A false positive teaches the detector that this much was normal for the series."""
        features = _deviations(row.features)
        if not features:
            return
        state = await self.load_state(session)
        state.feedback[row.series] = max(state.feedback.get(row.series, 0.0), float(features[0].observed))
        await self.save_state(session, state, now)

    # ---- citizens ----

    async def for_citizen(self, citizen_ref: str) -> list[CitizenAlert]:
        key = self.citizen_key(citizen_ref)
        async with self.database.session() as session:
            rows = (await session.execute(
                select(SecurityAlertRow, SecurityAlertSubjectRow.answer)
                .join(SecurityAlertSubjectRow, SecurityAlertSubjectRow.alert_id == SecurityAlertRow.id)
                .where(SecurityAlertSubjectRow.citizen == key)
                .order_by(SecurityAlertRow.opened_at.desc()).limit(100))).all()
        return [self._citizen_alert(row, answer) for row, answer in rows]

    async def answer(self, citizen_ref: str, alert_id: str, answer: CitizenAnswer, *,
                     now: datetime | None = None) -> CitizenAlert:
        """Record the citizen's "this was me" or "this wasn't me"; the latter raises the alert's severity and
        reopens it if an operator had closed it."""
        at = now or datetime.now(UTC)
        key = self.citizen_key(citizen_ref)
        async with self.database.session() as session:
            subject = await session.get(SecurityAlertSubjectRow, (alert_id, key))
            row = await session.get(SecurityAlertRow, alert_id)
            if subject is None or row is None:
                raise NotFound("security alert", alert_id)
            first_disowning = answer is CitizenAnswer.WAS_NOT_ME and subject.answer != CitizenAnswer.WAS_NOT_ME.value
            subject.answer, subject.answered_at = answer.value, at
            if first_disowning:
                row.severity = Severity(row.severity).raised().value
                if row.status in (AlertStatus.RESOLVED.value, AlertStatus.FALSE_POSITIVE.value):
                    row.status = AlertStatus.OPEN.value
                row.updated_at = at
            return self._citizen_alert(row, subject.answer)

    async def face_lock(self, citizen_ref: str, *, now: datetime | None = None) -> datetime | None:
        """Until when face step-up is locked for this citizen, or None."""
        at = now or datetime.now(UTC)
        async with self.database.engine.connect() as connection:
            until = (await connection.execute(prepared(connection, _face_lock),
                                              {"subject": self.citizen_key(citizen_ref)})).scalar()
        return until if until is not None and until > at else None

    async def require_face_unlocked(self, citizen_ref: str, *, now: datetime | None = None) -> None:
        until = await self.face_lock(citizen_ref, now=now)
        if until is not None:
            raise StepUpLocked(until)

    # ---- plumbing ----

    async def _row(self, session: AsyncSession, alert_id: str) -> SecurityAlertRow:
        row = await session.get(SecurityAlertRow, alert_id)
        if row is None:
            raise NotFound("security alert", alert_id)
        return row

    async def _alert(self, session: AsyncSession, row: SecurityAlertRow) -> Alert:
        counts = (await session.execute(
            select(func.count(), func.count().filter(SecurityAlertSubjectRow.answer == CitizenAnswer.WAS_NOT_ME.value))
            .where(SecurityAlertSubjectRow.alert_id == row.id))).one()
        return Alert(id=row.id, rule=row.rule, severity=Severity(row.severity), status=AlertStatus(row.status),
                     series=row.series, features=_deviations(row.features), event_ids=tuple(row.event_ids),
                     facts=dict(row.facts), opened_at=row.opened_at, updated_at=row.updated_at,
                     lock_until=row.lock_until, note=row.note, citizens=int(counts[0]), disowned=int(counts[1]))

    def _citizen_alert(self, row: SecurityAlertRow, answer: str | None) -> CitizenAlert:
        title, body = _texts(row.rule, dict(row.facts), row.lock_until)
        return CitizenAlert(id=row.id, rule=row.rule, opened_at=row.opened_at, title=title, body=body,
                            answer=CitizenAnswer(answer) if answer else None)


def _face_lock(dialect: str) -> Any:
    locks = SecurityLockRow.__table__.c
    return select(func.max(locks.until)).where(locks.kind == LOCK_FACE_STEP_UP, locks.subject == bindparam("subject"))
