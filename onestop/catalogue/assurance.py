"""The assurance ladder: ``taxonomy.yaml``'s assurance levels, weakest first; the last is face verification.

One ladder for the whole platform: the catalogue builds it from the taxonomy, token checks and step-up rank a
token's ``acr`` on it, and the dev identity provider issues tokens at its levels.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from typing import Protocol


class Level(Protocol):
    @property
    def id(self) -> str: ...

    @property
    def acr(self) -> str: ...


@dataclass(frozen=True)
class LevelRef:
    """A level by id and acr alone (a ladder made without a taxonomy, as tests do)."""

    id: str
    acr: str


@dataclass(frozen=True)
class AssuranceLadder:
    levels: tuple[Level, ...]

    def __post_init__(self) -> None:
        if not self.levels:
            raise ValueError("an assurance ladder needs at least one level")
        ids = [level.id for level in self.levels]
        acrs = [level.acr for level in self.levels]
        if len(set(ids)) != len(ids) or len(set(acrs)) != len(acrs):
            raise ValueError("assurance level ids and acr values must be unique")

    @classmethod
    def of(cls, levels: Iterable[tuple[str, str]]) -> AssuranceLadder:
        """From ``(level id, acr URI)`` pairs, weakest first."""
        return cls(tuple(LevelRef(id=level_id, acr=acr) for level_id, acr in levels))

    @property
    def top(self) -> Level:
        return self.levels[-1]

    @cached_property
    def ids(self) -> tuple[str, ...]:
        return tuple(level.id for level in self.levels)

    @cached_property
    def acrs(self) -> tuple[str, ...]:
        return tuple(level.acr for level in self.levels)

    # Every citizen action looks its token's acr up (and the service's level): by dictionary, not by scanning.
    @cached_property
    def _by_id(self) -> dict[str, Level]:
        return {level.id: level for level in self.levels}

    @cached_property
    def _by_acr(self) -> dict[str, tuple[int, Level]]:
        return {level.acr: (rank, level) for rank, level in enumerate(self.levels)}

    def level(self, level_id: str) -> Level | None:
        return self._by_id.get(level_id)

    def level_for_acr(self, acr: str | None) -> Level | None:
        found = self._by_acr.get(acr) if acr else None
        return None if found is None else found[1]

    def acr_of(self, level_id: str) -> str:
        """The acr URI of a level id (``KeyError`` for an unknown level: a definitions bug, not a user's)."""
        level = self.level(level_id)
        if level is None:
            raise KeyError(f"unknown assurance level {level_id!r}")
        return level.acr

    def rank(self, level_id: str) -> int:
        """Position of a level id (0 = weakest); ``KeyError`` for an unknown level."""
        try:
            return self.ids.index(level_id)
        except ValueError:
            raise KeyError(f"unknown assurance level {level_id!r}") from None

    def rank_of(self, acr: str | None) -> int | None:
        """Position of an acr URI on the ladder (0 = weakest); None for an acr the ladder does not know."""
        found = self._by_acr.get(acr) if acr is not None else None
        return None if found is None else found[0]
