"""Who may act for whom: the one check before anything is started or read on someone else's behalf.

Every refusal answers the same, so an id another citizen tries (an adult child, someone else's child, a made-up
reference) tells them nothing about that person.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import select

from onestop.catalogue import Service
from onestop.engine.catalogue_store import CatalogueStore
from onestop.engine.data.gateway import DataGateway
from onestop.engine.data.profiles import Citizen, CitizenDirectory, ProfileService
from onestop.engine.db import CitizenRow
from onestop.engine.errors import Forbidden, InvalidInput, field_error
from onestop.engine.identity.principal import Principal
from onestop.engine.identity.stepup import require_assurance
from onestop.engine.relationships.births import ADULT_AGE, BirthRegister, age_on, comes_of_age
from onestop.engine.relationships.guardians import (
    Guardianship,
    GuardianshipStatus,
    GuardianStore,
    require_guardian_staff,
)
from onestop.engine.relationships.mandates import Mandate, MandateScope, MandateStatus, MandateStore
from onestop.engine.relationships.parties import (
    ActedApplication,
    Acting,
    ActingAs,
    Parties,
    open_acted,
    open_acted_for,
    parties_of,
)
from onestop.workflows.contracts import ActingEnd, ActingTerm

CANNOT_ACT_FOR = "CANNOT_ACT_FOR"
GRANT_MANDATE_SERVICE = "grant-mandate"
"""The service name the grantor's age check is logged under in their data-access log."""
DATE_OF_BIRTH_ITEM = "immd-records.date-of-birth"
MANDATE_STEP_UP_MAX_AGE = timedelta(minutes=10)
MANDATE_MAX_LENGTH = timedelta(days=5 * 366)
_NOT_FOR_THEM = ("You cannot act for this person in this service: only a parent of a child under 18, someone "
                 "holding a current mandate that covers the service, or an appointed guardian can. Choose someone "
                 "from your dependents.")


@dataclass(frozen=True)
class Dependent:
    """Someone the viewer may act for: a child under 18, a grantor of a mandate in force, or a ward."""

    ref: str
    name: str
    relationship: ActingAs
    date_of_birth: date | None  # a child's, from the birth registration; None for a mandate's grantor
    mandate_id: str | None


class ActingSignals(Protocol):
    """How the applications hear that an actor's right has ended, or has a new end (the application service)."""

    async def end_acting(self, application_ids: list[str], reason: ActingEnd = ActingEnd.REVOKED, *,
                         subject_ref: str = "", on_end: Mapping[str, str] | None = None) -> None: ...

    async def set_acting_term(self, terms: Mapping[str, ActingTerm]) -> None: ...


def _refuse(message: str = _NOT_FOR_THEM) -> InvalidInput:
    return InvalidInput([field_error(["onBehalfOf"], message, "CANNOT_ACT_FOR")])


_KEPT = 10_000
"""Applications whose parties a process keeps in memory (a few hundred bytes each)."""


def _keep(kept: OrderedDict[str, Any], key: str, value: Any) -> None:
    kept[key] = value
    kept.move_to_end(key)
    while len(kept) > _KEPT:
        kept.popitem(last=False)


class Relationships:
    """Dependents, mandates and the acting check, over the birth register and the mandate store."""

    def __init__(self, births: BirthRegister, mandates: MandateStore, citizens: CitizenDirectory,
                 profiles: ProfileService, gateway: DataGateway, catalogue: CatalogueStore, *,
                 guardians: GuardianStore | None = None,
                 now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.births = births
        self.mandates = mandates
        self.guardians = guardians or GuardianStore(births.database, births.cipher, mandates.signer)
        self.citizens = citizens
        self.profiles = profiles
        self.gateway = gateway
        self.catalogue = catalogue
        self.now = now
        # Set by the composition root when applications run: tells the applications started under a revoked
        # mandate or an ended guardianship that their actor's right has ended, or when it will.
        self.signals: ActingSignals | None = None
        # An application's parties are written once, before its workflow exists, and never change, so a read is
        # kept (every citizen action asks). That it has none is kept only once the application is known to exist
        # (``exists``): an id asked about before its start might yet get them.
        self._parties: OrderedDict[str, Parties | None] = OrderedDict()
        self._existing: OrderedDict[str, None] = OrderedDict()

    async def dependents(self, actor: Citizen) -> list[Dependent]:
        people = [Dependent(child.ref, child.name, ActingAs.PARENT, child.date_of_birth, None)
                  for child in await self.births.children_of(actor.id)]
        now = self.now()
        people += [Dependent(m.grantor_ref, m.grantor_name, ActingAs.MANDATE, None, m.id)
                   for m in await self.mandates.received(actor) if m.status(now) is MandateStatus.ACTIVE]
        people += [Dependent(g.ward_ref, g.ward_name, ActingAs.GUARDIAN, None, None)
                   for g in await self.wards(actor)]
        return people

    async def wards(self, guardian: Citizen) -> list[Guardianship]:
        """The guardian's guardianships in force now."""
        now = self.now()
        return [g for g in await self.guardians.wards_of(guardian) if g.status(now) is GuardianshipStatus.ACTIVE]

    async def log_owner(self, viewer: Citizen, dependent_ref: str) -> str | None:
        """The citizen id whose data-access log ``viewer`` may read for ``dependent_ref``: their child while a
        minor, or their ward; None for anyone else (a mandate's grantor keeps their log to themself)."""
        allowed = any(c.ref == dependent_ref for c in await self.births.children_of(viewer.id)) or any(
            g.ward_ref == dependent_ref for g in await self.wards(viewer))
        if not allowed:
            return None
        subject = await self.citizens.by_ref(dependent_ref)
        return None if subject is None else subject.id

    async def relationship_to(self, actor_ref: str, subject: Citizen) -> ActingAs:
        """How ``actor_ref`` stands to ``subject`` (for an access or consent recorded in the subject's name):
        parent by birth registration, holder of a mandate the subject granted, or appointed guardian."""
        if actor_ref == subject.ref:
            return ActingAs.SELF
        actor = await self.citizens.by_ref(actor_ref)
        if actor is not None:
            if any(c.ref == subject.ref for c in await self.births.children_of(actor.id, minors_only=False)):
                return ActingAs.PARENT
            if any(g.ward_ref == subject.ref for g in await self.guardians.wards_of(actor)):
                return ActingAs.GUARDIAN
        return ActingAs.MANDATE

    async def authorise(self, actor: Citizen, subject_ref: str | None, service: Service) -> Acting:
        """The actor may apply to ``service`` for ``subject_ref`` (None: for themself), or ``InvalidInput``."""
        who = service.who_applies
        if subject_ref is None or subject_ref == actor.ref:
            if who == "dependent":
                raise _refuse("This service is applied for on behalf of someone else (for example your child): "
                              "choose who it is for with onBehalfOf, from your dependents.")
            return Acting(actor, actor, ActingAs.SELF)
        if who == "self":
            raise _refuse("This service can only be applied for by the person it is for; start it without "
                          "onBehalfOf.")
        allowed = set(service.acting_as or ())
        on_end = service.when_acting_ends or "move"
        if ActingAs.PARENT.value in allowed:
            for child in await self.births.children_of(actor.id):
                if child.ref == subject_ref:
                    subject = await self.citizens.by_ref(subject_ref)
                    if subject is not None:
                        return Acting(actor, subject, ActingAs.PARENT, until=comes_of_age(child.date_of_birth),
                                      on_end=on_end)
        if ActingAs.MANDATE.value in allowed:
            mandate = await self.mandates.acting_for(actor, subject_ref, service, self.now())
            if mandate is not None:
                subject = await self.citizens.by_ref(subject_ref)
                if subject is not None:
                    return Acting(actor, subject, ActingAs.MANDATE, mandate.id, until=mandate.valid_until,
                                  on_end=on_end)
        if ActingAs.GUARDIAN.value in allowed:
            guardianship = next((g for g in await self.wards(actor) if g.ward_ref == subject_ref), None)
            subject = await self.citizens.by_ref(subject_ref) if guardianship is not None else None
            if guardianship is not None and subject is not None:
                return Acting(actor, subject, ActingAs.GUARDIAN, until=guardianship.valid_until, on_end=on_end)
        raise _refuse()

    async def grant(self, principal: Principal, grantor: Citizen, *, grantee_hkid: str, grantee_name: str,
                    services: Sequence[str], themes: Sequence[str], items: Sequence[str],
                    valid_from: datetime | None, valid_until: datetime) -> Mandate:
        """Grant a mandate: needs a face-level sign-in within ``MANDATE_STEP_UP_MAX_AGE`` and a grantor of 18+."""
        catalogue = self.catalogue.catalogue
        ladder = catalogue.assurance
        now = self.now()
        require_assurance(principal, rank_of=ladder.rank_of, acr_of=ladder.acr_of, level=ladder.top.id,
                          max_age=MANDATE_STEP_UP_MAX_AGE, now=now)
        errors = []
        start = (valid_from or now).astimezone(UTC)
        until = valid_until.astimezone(UTC)
        if not services and not themes:
            errors.append(field_error(["services"], "Name at least one service or theme the mandate covers.",
                                      "REQUIRED"))
        errors += [field_error(["services", str(i)], f"There is no service {slug!r}.", "NOT_FOUND")
                   for i, slug in enumerate(services) if catalogue.service(slug) is None]
        known_themes = {theme.id for theme in catalogue.taxonomy.themes}
        errors += [field_error(["themes", str(i)], f"There is no theme {theme!r}.", "NOT_FOUND")
                   for i, theme in enumerate(themes) if theme not in known_themes]
        known_items = {f"{p.id}.{item}" for d in catalogue.departments.values() for p in d.providers
                       for item in (i.id for i in p.items)}
        errors += [field_error(["items", str(i)], f"There is no data item {item!r} (write provider.item).",
                               "NOT_FOUND") for i, item in enumerate(items) if item not in known_items]
        if until <= start or until <= now:
            errors.append(field_error(["validUntil"], "The mandate must end after it starts, and in the future.",
                                      "DATE_TOO_EARLY"))
        elif until - start > MANDATE_MAX_LENGTH:
            errors.append(field_error(["validUntil"], "A mandate lasts at most five years; grant a new one then.",
                                      "DATE_TOO_LATE"))
        name = " ".join(grantee_name.split())
        if not 1 <= len(name) <= 200:
            errors.append(field_error(["granteeName"], "Give the name of the person, as on their identity card.",
                                      "REQUIRED"))
        if errors:
            raise InvalidInput(errors)
        grantee_id = await self.births.citizen_with_hkid(grantee_hkid)
        if grantee_id is None or grantee_id == grantor.id:
            raise InvalidInput([field_error(["granteeHkid"], (
                "We cannot grant a mandate to this HKID: check the number, and that the person has signed in to "
                "the platform at least once (you cannot grant one to yourself)."), "INVALID_HKID")])
        age = await self._age(grantor, principal.acr, now)
        if age is None or age < ADULT_AGE:
            raise InvalidInput([field_error(["granteeHkid"], "Only a person aged 18 or over can grant a mandate.",
                                            "NOT_ELIGIBLE")])
        grantee = await self._citizen_by_id(grantee_id)
        profile = None
        async with self.profiles.database.session() as session:
            profile = await self.profiles.load(session, grantor.id)
        grantor_name = (profile.name_en if profile is not None else None) or ""
        scope = MandateScope(tuple(dict.fromkeys(services)), tuple(dict.fromkeys(themes)),
                             tuple(dict.fromkeys(items)))
        return await self.mandates.grant(grantor, grantee, scope, grantor_name=grantor_name, grantee_name=name,
                                         valid_from=start, valid_until=until, now=now)

    async def history_kinds(self, viewer: Citizen) -> tuple[str, ...]:
        """Whose applications made for ``viewer`` they see among their own: a mandate holder's always (acts done in
        their name), a parent's once they are 18 (the new adult sees their history)."""
        born = await self.births.born(viewer.id)
        adult = born is None or age_on(born, self.births.today()) >= ADULT_AGE
        return (ActingAs.MANDATE.value, ActingAs.PARENT.value) if adult else (ActingAs.MANDATE.value,)

    async def parties(self, application_id: str) -> Parties | None:
        """Who acts on the application and whom it is about; None when the applicant acts for themself."""
        if application_id in self._parties:
            self._parties.move_to_end(application_id)
            return self._parties[application_id]
        parties = await parties_of(self.births.database, application_id)
        if parties is not None or application_id in self._existing:
            _keep(self._parties, application_id, parties)
        return parties

    def exists(self, application_id: str, *, own: bool = False) -> None:
        """Note that ``application_id``'s workflow exists (an action on it succeeded): its parties are settled.
        ``own``: started by its applicant for themself, so it has none (its id is keyed apart from any acted
        for), and the next check need not read them."""
        _keep(self._existing, application_id, None)
        if own:
            _keep(self._parties, application_id, None)

    async def name_for(self, viewer_ref: str, viewer: Citizen | None, parties: Parties) -> str | None:
        """The subject's name as the actor may see it (the birth registration's, or the mandate's); None otherwise."""
        if viewer is None or viewer_ref != parties.actor_ref:
            return None
        if parties.acting_as is ActingAs.PARENT:
            return next((c.name for c in await self.births.children_of(viewer.id, minors_only=False)
                         if c.ref == parties.subject_ref), None)
        if parties.mandate_id is not None:
            return next((m.grantor_name for m in await self.mandates.received(viewer) if m.id == parties.mandate_id),
                        None)
        if parties.acting_as is ActingAs.GUARDIAN:
            return next((g.ward_name for g in await self.guardians.wards_of(viewer)
                         if g.ward_ref == parties.subject_ref), None)
        return None

    async def check_still_acting(self, application_id: str, actor: Citizen) -> None:
        """Refuse the actor's next action on an application for someone they no longer act for: the mandate was
        revoked or has expired, or the child has turned 18. The application itself is left as it is."""
        parties = await self.parties(application_id)
        if parties is None or parties.actor_ref != actor.ref or parties.subject_ref == actor.ref:
            return
        if parties.acting_as is ActingAs.PARENT:
            allowed = any(c.ref == parties.subject_ref for c in await self.births.children_of(actor.id))
        elif parties.acting_as is ActingAs.GUARDIAN:
            allowed = any(g.ward_ref == parties.subject_ref for g in await self.wards(actor))
        else:
            now = self.now()
            allowed = any(m.id == parties.mandate_id and m.status(now) is MandateStatus.ACTIVE
                          for m in await self.mandates.received(actor))
        if not allowed:
            raise InvalidInput([field_error(["applicationId"], (
                "You no longer act for the person this application is for: their mandate was revoked or has ended, "
                "your guardianship ended, or they have turned 18. The application is kept for them."),
                "CANNOT_ACT_FOR")])

    async def prefill_subject(self, application_id: str, citizen_ref: str, items: Sequence[str]) -> str:
        """Whose records a prefill of ``application_id`` reads: the subject's when the applicant acts for someone,
        under the relationship's rights (a mandate's data items only), else the applicant's own."""
        parties = await self.parties(application_id)
        if parties is None or parties.actor_ref != citizen_ref or parties.subject_ref == citizen_ref:
            return citizen_ref
        actor = await self.citizens.by_ref(citizen_ref)
        if actor is None:
            raise Forbidden("the applicant of this application is unknown")
        await self.check_still_acting(application_id, actor)
        if parties.acting_as is ActingAs.MANDATE:
            mandate = next(m for m in await self.mandates.received(actor) if m.id == parties.mandate_id)
            outside = sorted(set(items) - set(mandate.scope.items))
            if outside:
                raise Forbidden(f"the mandate does not cover the data items {', '.join(outside)}; the person who "
                                "granted it can grant a new one that does")
        return parties.subject_ref

    async def revoke(self, grantor: Citizen, mandate_id: str) -> Mandate:
        """Revoke at once; applications started under the mandate are handed to the grantor (``signals``)."""
        mandate = await self.mandates.revoke(grantor, mandate_id, self.now())
        await self._acting_ended(mandate.grantee_ref, mandate.grantor_ref, ActingAs.MANDATE, ActingEnd.REVOKED,
                                 mandate_id=mandate.id)
        return mandate

    async def _acting_ended(self, actor_ref: str, subject_ref: str, acting_as: ActingAs, reason: ActingEnd, *,
                            mandate_id: str | None = None, at: datetime | None = None) -> None:
        """Tell the open applications ``actor_ref`` started for ``subject_ref`` that the right ends: now (``at``
        None), handing them to the subject, or at ``at``, by their durable timer."""
        applications = await open_acted_for(self.births.database, actor_ref, subject_ref, acting_as, mandate_id)
        await self._tell(applications, reason, at)

    async def _tell(self, applications: list[ActedApplication], reason: ActingEnd, at: datetime | None) -> None:
        if self.signals is None or not applications:
            return
        catalogue = self.catalogue.catalogue
        for acted in applications:
            service = catalogue.service(acted.service_id)
            on_end = (service.when_acting_ends if service is not None else None) or "move"
            subject = acted.parties.subject_ref
            if at is None:
                await self.signals.end_acting([acted.application_id], reason, subject_ref=subject,
                                              on_end={acted.application_id: on_end})
            else:
                await self.signals.set_acting_term({acted.application_id: ActingTerm(subject, at, reason, on_end)})

    async def give_terms(self) -> int:
        """Tell every open application acted for someone when its actor's right ends, as a new one is told at its
        start: those started before applications had terms get their durable timer (or are handed over now, if
        the right has already ended). Safe to run again. Answers how many applications were told."""
        told = 0
        now = self.now()
        for acted in await open_acted(self.births.database):
            end = await self._end_of(acted.parties, now)
            if end is not None:
                await self._tell([acted], *end)
                told += 1
        return told

    async def _end_of(self, parties: Parties, now: datetime) -> tuple[ActingEnd, datetime | None] | None:
        """Why and when ``parties``' actor stops acting (None: now); None when nothing ends it (a guardianship
        with no end date) or the actor is unknown."""
        actor = await self.citizens.by_ref(parties.actor_ref)
        if actor is None:
            return None
        if parties.acting_as is ActingAs.PARENT:
            child = next((c for c in await self.births.children_of(actor.id, minors_only=False)
                          if c.ref == parties.subject_ref), None)
            return None if child is None else (ActingEnd.ADULT, comes_of_age(child.date_of_birth))
        if parties.acting_as is ActingAs.MANDATE:
            mandate = next((m for m in await self.mandates.received(actor) if m.id == parties.mandate_id), None)
            if mandate is None:
                return None
            if mandate.status(now) is MandateStatus.REVOKED:
                return ActingEnd.REVOKED, None
            return ActingEnd.EXPIRED, mandate.valid_until
        if parties.acting_as is ActingAs.GUARDIAN:
            theirs = [g for g in await self.guardians.wards_of(actor) if g.ward_ref == parties.subject_ref]
            if any(g.status(now) is GuardianshipStatus.ACTIVE and g.valid_until is None for g in theirs):
                return None  # in force with no end date: only ending it ends acting
            ends = [g.valid_until for g in theirs if g.status(now) is GuardianshipStatus.ACTIVE and g.valid_until]
            return ActingEnd.GUARDIANSHIP, max(ends) if ends else None
        return None

    async def appoint_guardian(self, staff: Principal, *, guardian_hkid: str, guardian_name: str, ward_hkid: str,
                               ward_name: str, order_reference: str, valid_until: datetime | None) -> Guardianship:
        """Record a guardian (SWD staff with the approving role; audited). Both people must be on the platform."""
        require_guardian_staff(staff)
        now = self.now()
        errors = []
        names = {"guardianName": " ".join(guardian_name.split()), "wardName": " ".join(ward_name.split())}
        errors += [field_error([key], "Give the name as on the identity card.", "REQUIRED")
                   for key, value in names.items() if not 1 <= len(value) <= 200]
        reference = " ".join(order_reference.split())
        if not 1 <= len(reference) <= 100:
            errors.append(field_error(["orderReference"], "Give the reference of the order or decision appointing "
                                      "the guardian (at most 100 characters).", "REQUIRED"))
        if valid_until is not None and valid_until.astimezone(UTC) <= now:
            errors.append(field_error(["validUntil"], "The guardianship must end in the future (or leave it open).",
                                      "DATE_TOO_EARLY"))
        guardian_id = await self.births.citizen_with_hkid(guardian_hkid)
        ward_id = await self.births.citizen_with_hkid(ward_hkid)
        for key, found in (("guardianHkid", guardian_id), ("wardHkid", ward_id)):
            if found is None:
                errors.append(field_error([key], "No citizen on the platform has this HKID; check the number (the "
                                          "person must have signed in at least once).", "INVALID_HKID"))
        if guardian_id is not None and guardian_id == ward_id:
            errors.append(field_error(["guardianHkid"], "A citizen cannot be their own guardian.", "INVALID_HKID"))
        if errors:
            raise InvalidInput(errors)
        assert guardian_id is not None
        assert ward_id is not None
        guardian, ward = await self._citizen_by_id(guardian_id), await self._citizen_by_id(ward_id)
        return await self.guardians.appoint(
            staff, guardian, ward, guardian_name=names["guardianName"], ward_name=names["wardName"],
            order_reference=reference, valid_until=None if valid_until is None else valid_until.astimezone(UTC),
            now=now)

    async def end_guardianship(self, staff: Principal, guardianship_id: str,
                               valid_until: datetime | None = None) -> Guardianship:
        """End a guardianship at once, or (``valid_until``) give it an end date. Either way the applications the
        guardian started for the ward learn it: handed to the ward now, or by a durable timer at the end date."""
        require_guardian_staff(staff)
        now = self.now()
        until = None if valid_until is None else valid_until.astimezone(UTC)
        if until is not None and until <= now:
            raise InvalidInput([field_error(["validUntil"], (
                "The end date must be in the future; to end the guardianship now, leave it out."), "DATE_TOO_EARLY")])
        ended = await self.guardians.end(staff, guardianship_id, now, until=until)
        guardian = await self.citizens.by_ref(ended.guardian_ref)
        if guardian is not None and any(g.ward_ref == ended.ward_ref and g.id != ended.id
                                        for g in await self.wards(guardian)):
            return ended  # another guardianship of the same ward: the guardian acts on under it
        at = ended.valid_until if ended.status(now) is GuardianshipStatus.ACTIVE else None
        await self._acting_ended(ended.guardian_ref, ended.ward_ref, ActingAs.GUARDIAN, ActingEnd.GUARDIANSHIP, at=at)
        return ended

    async def _age(self, citizen: Citizen, acr: str, now: datetime) -> int | None:
        facts = await self.gateway.eligibility_facts(citizen, [DATE_OF_BIRTH_ITEM], service_slug=GRANT_MANDATE_SERVICE,
                                                     service_hash="", department="IMMD", acr=acr, now=now)
        fetched = facts.items.get(DATE_OF_BIRTH_ITEM)
        try:
            return age_on(date.fromisoformat(str(fetched.value)), now.date()) if fetched is not None else None
        except ValueError:
            return None

    async def _citizen_by_id(self, citizen_id: str) -> Citizen:
        async with self.citizens.database.session() as session:
            row = await session.scalar(select(CitizenRow).where(CitizenRow.id == citizen_id))
        assert row is not None  # the identifier row references it (ON DELETE CASCADE)
        return Citizen(id=row.id, sub=row.sub, ref=row.ref)
