"""Value checks the interpreter uses: the catalogue's own, so definitions and running applications agree."""

from __future__ import annotations

from onestop.catalogue.values import (
    is_valid_email,
    is_valid_hk_phone,
    is_valid_hkid,
    normalize_hk_phone,
    normalize_hkid,
)

__all__ = ["is_valid_email", "is_valid_hk_phone", "is_valid_hkid", "normalize_hk_phone", "normalize_hkid"]
