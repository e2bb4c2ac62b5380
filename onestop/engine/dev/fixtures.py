"""The dev IdP's test citizens and staff, read from ``definitions/dev/``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import yaml


class FixtureError(ValueError):
    """A dev fixture file is unusable; the message names the file and entry."""


@dataclass(frozen=True)
class DevCitizen:
    id: str
    name_en: str
    name_zh: str | None
    date_of_birth: date
    face_consented_at: datetime | None  # None: the fixture records no face-enrolment consent

    def age(self, today: date) -> int:
        born = self.date_of_birth
        return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


@dataclass(frozen=True)
class DevStaff:
    id: str
    name: str
    department: str
    roles: tuple[str, ...]


class _FixtureLoader(yaml.SafeLoader):
    """Dates stay strings, so a bad date is reported with the entry it belongs to."""


_FixtureLoader.add_constructor("tag:yaml.org,2002:timestamp",
                               lambda loader, node: loader.construct_scalar(node))  # type: ignore[arg-type]


def _read_list(path: Path, key: str) -> list[Any]:
    try:
        document = yaml.load(path.read_text(encoding="utf-8"), Loader=_FixtureLoader)  # noqa: S506 (safe loader)
    except (OSError, yaml.YAMLError) as exc:
        raise FixtureError(f"{path}: cannot read ({exc})") from exc
    entries = document.get(key) if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise FixtureError(f"{path}: expected a top-level '{key}:' list")
    return entries


def _as_datetime(value: Any, where: str) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError as exc:
            raise FixtureError(f"{where}: {value!r} is not an ISO date-time") from exc
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    raise FixtureError(f"{where}: expected an ISO date-time")


def load_dev_citizens(path: Path) -> tuple[DevCitizen, ...]:
    """Test citizens from ``citizens.yaml`` (only what the IdP needs; other keys belong to other readers).

    Face enrolment consent: ``faceEnrolment: {consent: true, consentedAt: <date-time>}`` on an entry; an
    entry without it counts as consented at its ``updated`` date, ``consent: false`` leaves it unenrolled.
    """
    citizens: list[DevCitizen] = []
    for index, entry in enumerate(_read_list(path, "citizens")):
        where = f"{path}: citizens[{index}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
            raise FixtureError(f"{where}: needs an 'id'")
        where = f"{path}: citizen {entry['id']!r}"
        profile = entry.get("profile")
        if not isinstance(profile, dict) or not isinstance(profile.get("nameEn"), str):
            raise FixtureError(f"{where}: needs profile.nameEn")
        born = profile.get("dateOfBirth")
        if isinstance(born, str):
            try:
                born = date.fromisoformat(born)
            except ValueError as exc:
                raise FixtureError(f"{where}: profile.dateOfBirth must be YYYY-MM-DD") from exc
        if not isinstance(born, date):
            raise FixtureError(f"{where}: needs profile.dateOfBirth (YYYY-MM-DD)")
        face = entry.get("faceEnrolment", {})
        if not isinstance(face, dict):
            raise FixtureError(f"{where}: faceEnrolment must be {{consent: true, consentedAt: ...}}")
        consented_at: datetime | None = None
        if face.get("consent", True) is True:
            stamp = face.get("consentedAt", entry.get("updated", date(2026, 1, 1)))
            consented_at = _as_datetime(stamp, f"{where}: faceEnrolment.consentedAt")
        name_zh = profile.get("nameZh")
        citizens.append(DevCitizen(
            id=entry["id"], name_en=profile["nameEn"], name_zh=name_zh if isinstance(name_zh, str) else None,
            date_of_birth=born, face_consented_at=consented_at,
        ))
    _unique([c.id for c in citizens], path)
    return tuple(citizens)


def load_dev_staff(path: Path) -> tuple[DevStaff, ...]:
    """Staff from ``staff.yaml``: ``{id, name, department, roles}`` each."""
    staff: list[DevStaff] = []
    for index, entry in enumerate(_read_list(path, "staff")):
        where = f"{path}: staff[{index}]"
        if not isinstance(entry, dict):
            raise FixtureError(f"{where}: expected a mapping")
        ident, department, roles = entry.get("id"), entry.get("department"), entry.get("roles", [])
        if not isinstance(ident, str) or not isinstance(department, str):
            raise FixtureError(f"{where}: needs 'id' and 'department'")
        if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
            raise FixtureError(f"{where}: roles must be a list of strings")
        staff.append(DevStaff(id=ident, name=str(entry.get("name", ident)), department=department,
                              roles=tuple(roles)))
    _unique([s.id for s in staff], path)
    return tuple(staff)


def _unique(ids: Sequence[str], path: Path) -> None:
    seen: set[str] = set()
    for ident in ids:
        if ident in seen:
            raise FixtureError(f"{path}: id {ident!r} appears twice")
        seen.add(ident)
