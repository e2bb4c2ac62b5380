"""The front-end assets the app serves itself: USWDS's compiled dist files, installed from npm once.

``onestop web-assets`` runs ``npm install`` against the committed ``package.json`` + ``package-lock.json``
and copies the files the pages use under ``static/uswds/``; nothing is fetched at run time and no CDN is used.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

HERE = Path(__file__).resolve().parent
NPM_DIR = HERE / "assets"
STATIC = HERE / "static"
VENDOR = STATIC / "uswds"
AXE = NPM_DIR / "node_modules" / "axe-core" / "axe.min.js"
_DIST = NPM_DIR / "node_modules" / "@uswds" / "uswds" / "dist"
_PARTS = ("css", "js", "fonts", "img")
_MARKER = VENDOR / ".lock-sha256"


class AssetsError(Exception):
    """npm is missing or failed; the message says what to install or run."""


def _lock_hash() -> str:
    return hashlib.sha256((NPM_DIR / "package-lock.json").read_bytes()).hexdigest()


def installed() -> bool:
    return _MARKER.exists() and _MARKER.read_text() == _lock_hash() and AXE.exists()


def install(*, force: bool = False) -> bool:
    """Install (or refresh after a lock change) the vendored assets; True when anything was done."""
    if installed() and not force:
        return False
    npm = shutil.which("npm")
    if npm is None:
        raise AssetsError("npm is needed once to install the web assets (USWDS); install Node.js with npm")
    done = subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],  # noqa: S603 - fixed args
                          cwd=NPM_DIR, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise AssetsError(f"npm ci failed in {NPM_DIR}:\n{done.stderr.strip()}")
    if VENDOR.exists():
        shutil.rmtree(VENDOR)
    for part in _PARTS:
        shutil.copytree(_DIST / part, VENDOR / part, ignore=shutil.ignore_patterns("*.map", "*.scss"))
    _MARKER.write_text(_lock_hash())
    return True
