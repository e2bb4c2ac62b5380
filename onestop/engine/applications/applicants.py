"""Who applies: a signed-in citizen's pseudonymous reference and what a workflow may see of them, or an
anonymous applicant known only by the references of a resume token."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime

from onestop.catalogue import Service
from onestop.engine.catalogue_store import CatalogueStore
from onestop.engine.crypto.cipher import FieldCipher
from onestop.engine.data.gateway import DataGateway
from onestop.engine.data.profiles import Citizen, CitizenDirectory, ProfileService
from onestop.engine.identity.principal import Principal
from onestop.engine.relationships.parties import Acting
from onestop.workflows.interpreter import Applicant

DATE_OF_BIRTH = "dateOfBirth"
"""The e-ME item whose ``verifiedBy`` names the authoritative date of birth that ``citizen.age`` is computed from."""

_REF_CACHE_SIZE = 10_000


def new_resume_token() -> str:
    """A fresh secret for an anonymous applicant: returned once, never stored (only its references are)."""
    return secrets.token_urlsafe(32)


class Applicants:
    """Citizen references, the applicant context a workflow sees, and resume-token references."""

    def __init__(self, citizens: CitizenDirectory, profiles: ProfileService, cipher: FieldCipher,
                 catalogue: CatalogueStore, gateway: DataGateway, *,
                 today: Callable[[], date] = lambda: datetime.now(UTC).date()) -> None:
        self._citizens = citizens
        self._profiles = profiles
        self._gateway = gateway
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

    async def context_of(self, principal: Principal, service_slug: str | None = None) -> tuple[str, Applicant]:
        """The reference and the attributes a workflow may see: age, age group, assurance.

        The age is read only when the service's rules use it, and only from the authoritative record (through the
        gateway, logged): a self-declared date of birth in the e-ME profile never decides eligibility.
        """
        citizen = await self._citizens.ensure(principal.sub)
        return citizen.ref, await self.context_for(citizen, principal.acr, service_slug)

    async def context_for(self, citizen: Citizen, acr: str, service_slug: str | None = None, *,
                          actor_ref: str | None = None) -> Applicant:
        """What a workflow may see of the citizen an application is about (the subject), at the actor's ``acr``:
        acting for a dependent, the age rules read the dependent's authoritative record, logged in their log."""
        catalogue = self._catalogue.catalogue
        service = catalogue.service(service_slug) if service_slug else None
        born = await self._date_of_birth(citizen, service, acr, actor_ref) if service is not None else None
        age, age_group = self._age(born)
        level = catalogue.assurance.level_for_acr(acr)
        return Applicant(age=age, age_group=age_group, assurance=level.id if level else "basic")

    async def acting_context(self, acting: Acting, acr: str, service_slug: str) -> Applicant:
        """Acting for someone: the subject's context (``citizen.*``/``subject.*``) with the actor's as ``actor.*``;
        the actor's own age is read (in their own log) only when a rule of the service reads ``actor.age``."""
        subject = await self.context_for(acting.subject, acr, service_slug, actor_ref=acting.actor.ref)
        service = self._catalogue.catalogue.service(service_slug)
        born = None
        if service is not None:
            born = await self._date_of_birth(acting.actor, service, acr, reads=("actor.age",))
        age, age_group = self._age(born)
        return replace(subject, acting_as=acting.acting_as.value, actor_age=age, actor_age_group=age_group)

    def _age(self, born: date | None) -> tuple[int | None, str | None]:
        if born is None:
            return None, None
        today = self._today()
        age = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
        return age, self._catalogue.catalogue.age_group_for(age).id

    async def _date_of_birth(self, citizen: Citizen, service: Service, acr: str, actor_ref: str | None = None,
                             reads: tuple[str, ...] = ("citizen.age", "subject.age")) -> date | None:
        ref = self._profiles.verified_items().get(DATE_OF_BIRTH)
        if ref is None or not _reads_age(service, reads):
            return None
        facts = await self._gateway.eligibility_facts(
            citizen, [ref], service_slug=service.id, service_hash=service.content_hash,
            department=service.department, acr=acr, actor_ref=actor_ref)
        fetched = facts.items.get(ref)
        if fetched is None:
            return None
        try:
            return date.fromisoformat(str(fetched.value))
        except ValueError:
            return None

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


_READS: dict[tuple[str, str, tuple[str, ...]], bool] = {}
_READS_KEPT = 4_096


def _reads_age(service: Service, reads: tuple[str, ...]) -> bool:
    """Whether any rule of the service reads one of ``reads`` (``citizen.age`` also covers ``citizen.ageGroup``);
    found once per version of the service (its content hash), not by walking every field at every start."""
    key = (service.id, service.content_hash, reads)
    found = _READS.get(key)
    if found is None:
        if len(_READS) >= _READS_KEPT:
            _READS.clear()
        found = _READS[key] = _scan_reads(service, reads)
    return found


def _scan_reads(service: Service, reads: tuple[str, ...]) -> bool:
    expressions = [service.eligibility.when] if service.eligibility is not None else []
    for step in service.steps:
        expressions += [step.when] if step.when is not None else []
    for field in service.all_fields():
        expressions += [field.when] if field.when is not None else []
        expressions += [rule.check for rule in field.rules]
    return any(read in expression.source for expression in expressions for read in reads)
