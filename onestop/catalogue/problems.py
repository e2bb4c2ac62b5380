"""Problems found in definitions, and the one error the catalogue package raises."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong in a definitions file, at a 1-based line and column."""

    path: str
    line: int
    col: int
    code: str
    message: str
    hint: str | None = None
    # For a problem inside a fragment: "path:line:col" of the service's `include:` that brought it in.
    included_from: str | None = None

    def format(self) -> str:
        """``path:line:col: error[CODE]: message``, the form editors and CI logs link to."""
        return f"{self.path}:{self.line}:{self.col}: error[{self.code}]: {self.message}"


class CatalogueError(Exception):
    """Definitions could not be loaded; ``problems`` lists every one found (sorted by place)."""

    code = "INVALID_DEFINITIONS"

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems: tuple[Problem, ...] = tuple(sorted(problems))
        first = self.problems[0].format() if self.problems else "no details"
        more = f" (and {len(self.problems) - 1} more)" if len(self.problems) > 1 else ""
        super().__init__(f"{first}{more}")


def files_with_problems(problems: Iterable[Problem]) -> int:
    """How many distinct files the problems are in."""
    return len({problem.path for problem in problems})
