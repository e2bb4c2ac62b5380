"""``onestop validate``: check a definitions tree (or files inside one) and print every problem."""

from __future__ import annotations

from pathlib import Path
from typing import TextIO

from onestop.catalogue.catalogue import Catalogue, load_catalogue
from onestop.catalogue.problems import CatalogueError, Problem, files_with_problems

SHARED = ("taxonomy.yaml", "option-lists.yaml", "departments")


def find_root(path: Path) -> Path | None:
    """The definitions root holding ``path``: the nearest directory, itself or above, with taxonomy.yaml."""
    start = path.resolve()
    for folder in [start, *start.parents] if start.is_dir() else start.parents:
        if (folder / "taxonomy.yaml").is_file():
            return folder
    return None


def _display_root(path: Path, root: Path) -> Path:
    """The root spelled relative to how the user named ``path`` (so problems read like their argument)."""
    given = path if path.is_dir() else path.parent
    levels = len(given.resolve().relative_to(root).parts)
    display = given
    for _ in range(levels):
        display = display.parent
    return display if str(display) not in ("", ".") or levels == 0 else Path(".")


def _relevant(problem: Problem, root: Path, targets: list[Path]) -> bool:
    files = [Path(problem.path).resolve()]
    if problem.included_from:
        # A problem in a fragment belongs to every service that includes it.
        files.append(Path(problem.included_from.rsplit(":", 2)[0]).resolve())
    if any(file == target or target in file.parents for file in files for target in targets):
        return True
    file = files[0]
    # Problems in shared files decide whether the targets' references could be checked: always show them.
    relative = file.relative_to(root) if root in file.parents else file
    return bool(relative.parts) and relative.parts[0] in SHARED


def _feed_problems(root: Path) -> list[Problem]:
    # feeds.yaml is checked by the feeds package (imported here: it imports the loader).
    from onestop.catalogue.feeds import load_feeds

    try:
        load_feeds(root)
    except CatalogueError as error:
        return list(error.problems)
    return []


def _check_root(root: Path, display: Path, targets: list[Path]) -> tuple[Catalogue | None, list[Problem]]:
    feeds = _feed_problems(display)
    catalogue: Catalogue | None
    try:
        catalogue, found = load_catalogue(display), feeds
    except CatalogueError as error:
        catalogue, found = None, [*error.problems, *feeds]
    if targets != [root]:
        found = [problem for problem in found if _relevant(problem, root, targets)]
    return catalogue, found


def validate_command(paths: list[Path], out: TextIO) -> int:
    """Validate ``paths`` (a definitions dir, or files/folders inside one); 0 when clean, 1 otherwise."""
    by_root: dict[Path, tuple[Path, list[Path]]] = {}
    problems: list[Problem] = []
    for path in paths:
        root = find_root(path)
        if root is None:
            problems.append(Problem(str(path), 1, 1, "MISSING_FILE", "no taxonomy.yaml in this folder or above it",
                                    "point onestop validate at a definitions directory"))
            continue
        display, targets = by_root.setdefault(root, (_display_root(path, root), []))
        targets.append(path.resolve())
    catalogues: list[Catalogue] = []
    for root, (display, targets) in by_root.items():
        catalogue, found = _check_root(root, display, [root] if root in targets else targets)
        problems += found
        if catalogue is not None:
            catalogues.append(catalogue)
    for problem in sorted(set(problems)):
        out.write(problem.format() + "\n")
        if problem.hint:
            out.write(f"  hint: {problem.hint}\n")
        if problem.included_from:
            out.write(f"  note: included from {problem.included_from}\n")
    if problems:
        count = len(set(problems))
        files = files_with_problems(problems)
        out.write(f"{count} problem{'s' * (count != 1)} in {files} file{'s' * (files != 1)}\n")
        return 1
    if not catalogues:
        out.write("ok: the files checked are clean (other files of the tree have problems: validate the tree)\n")
        return 1 if not by_root else 0
    services = sum(len(c.services) for c in catalogues)
    departments = sum(len(c.departments) for c in catalogues)
    out.write(f"ok: {services} services, {departments} departments\n")
    return 0
