"""Who applies: a signed-in citizen's pseudonymous reference and what a workflow may see of them, or an
anonymous applicant known only by the references of a resume token."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import UTC, date, datetime

from onestop.engine.catalogue_store import CatalogueStore
from onestop.engine.crypto.cipher import FieldCipher
from onestop.engine.data.profiles import CitizenDirectory, ProfileService
from onestop.engine.errors import EngineError
from onestop.engine.identity.principal import Principal
from onestop.workflows.interpreter import Applicant

_REF_CACHE_SIZE = 10_000


def new_resume_token() -> str:
    """A fresh secret for an anonymous applicant: returned once, never stored (only its references are)."""
    return secrets.token_urlsafe(32)


class Applicants:
    """Citizen references, the applicant context a workflow sees, and resume-token references."""

    def __init__(self, citizens: CitizenDirectory, profiles: ProfileService, cipher: FieldCipher,
                 catalogue: CatalogueStore, *,
                 today: Callable[[], date] = lambda: datetime.now(UTC).date()) -> None:
        self._citizens = citizens
        self._profiles = profiles
        self._cipher = cipher
        self._catalogue = catalogue
        self._today = today
        self._refs: dict[str, str] = {}  # subject -> pseudonymous reference; a reference never changes

    async def ref_of(self, principal: Principal) -> str:
        """The caller's pseudonymous reference, what applications are keyed on."""
        ref = self._refs.get(principal.sub)
        if ref is None:
            citizen = await self._citizens.ensure(principal.sub)
            ref = str(citizen.ref)
            if len(self._refs) >= _REF_CACHE_SIZE:
                self._refs.clear()
            self._refs[principal.sub] = ref
        return ref

    async def context_of(self, principal: Principal) -> tuple[str, Applicant]:
        """The reference and the attributes a workflow may see: age, age group, assurance."""
        citizen = await self._citizens.ensure(principal.sub)
        catalogue = self._catalogue.catalogue
        age: int | None = None
        age_group: str | None = None
        try:
            born = (await self._profiles.get(principal.sub)).date_of_birth
        except EngineError:
            born = None
        if born is not None:
            today = self._today()
            age = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
            age_group = catalogue.age_group_for(age).id
        level = catalogue.assurance.level_for_acr(principal.acr)
        return citizen.ref, Applicant(age=age, age_group=age_group, assurance=level.id if level else "basic")

    def resume_refs(self, token: str) -> tuple[str, ...]:
        """The references a resume token stands for: under the current data key first (what a new application is
        keyed on), then under each rotated-out key (older applications).

        A keyed HMAC, so a reference reveals nothing of the token and no one without the key can forge a token
        for a known reference.
        """
        return tuple(f"anon-{ref}" for ref in self._cipher.pseudonyms("resume-token", token))

    def anonymous(self) -> Applicant:
        """What a workflow may see of an applicant without a login: not logged in, age unknown, lowest level."""
        weakest = self._catalogue.catalogue.assurance.levels[0]
        return Applicant(age=None, age_group=None, assurance=weakest.id, logged_in=False)
