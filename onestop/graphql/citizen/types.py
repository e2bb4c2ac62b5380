"""The citizen's own view: e-ME profile, consents, who read their data, what departments hold about them."""

from __future__ import annotations

from datetime import UTC, date, datetime
from enum import Enum
from typing import Any

import strawberry
from strawberry.scalars import JSON

from onestop.engine import AccessLogEntry, Citizen, FetchResult, InvalidInput, NotFound, Principal
from onestop.engine import ActingAs as ActingAsKind
from onestop.engine import Consent as ConsentRecord
from onestop.engine import Profile as ProfileRecord
from onestop.graphql.applications.queries import viewer_applications
from onestop.graphql.applications.types import Application, ApplicationStatus
from onestop.graphql.catalogue.types import ConsentItem, Department, Service, split_item
from onestop.graphql.citizen.services import citizen_services
from onestop.graphql.context import Info_
from onestop.graphql.errors import BadUserInput
from onestop.graphql.fields import field
from onestop.graphql.operations.types import CitizenSecurityAlert
from onestop.graphql.relationships.types import ApplicationParty, Dependent, Mandate, data_parties
from onestop.graphql.relay import Connection, Edge, Node, PageInfo, page_of, register_node, to_global_id


@strawberry.enum
class Region(Enum):
    HK = "HK"
    KLN = "KLN"
    NT = "NT"


@strawberry.enum
class Gender(Enum):
    M = "M"
    F = "F"
    X = "X"


@strawberry.enum(description="Whether a consent still allows access.")
class ConsentStatus(Enum):
    ACTIVE = "active"
    REVOKED = "revoked"
    EXPIRED = "expired"


@strawberry.enum
class ConsentMode(Enum):
    ONE_OFF = "one-off"
    STANDING = "standing"


@strawberry.type(description="A structured Hong Kong address.")
class Address:
    flat: str | None
    floor: str | None
    block: str | None
    building: str | None
    street: str | None
    district: str = strawberry.field(description="A value of the `districts` option list.")
    region: Region

    @classmethod
    def of(cls, value: Any) -> Address | None:
        if value is None:
            return None
        return cls(flat=value.flat, floor=value.floor, block=value.block, building=value.building,
                   street=value.street, district=value.district, region=Region(value.region))


@strawberry.type(description="Where a verified e-ME item comes from: it is read-only, shown from this record.")
class VerifiedItem:
    item: str = strawberry.field(description="The profile field's e-ME item id, e.g. dateOfBirth.")
    source: str = strawberry.field(description="Code of the department holding the authoritative record, e.g. IMMD.")
    verified_at: datetime | None = strawberry.field(description="When that record was last updated.")


@strawberry.type(description="The citizen's e-ME profile. Items listed in `verified` come from an authoritative "
                             "record and cannot be changed with updateProfile; the others are self-declared.")
class Profile:
    name_en: str | None
    name_zh: str | None
    date_of_birth: date | None
    hkid: str | None
    gender: Gender | None
    phone: str | None
    email: str | None
    residential_address: Address | None
    correspondence_address: Address | None
    updated_at: datetime | None
    verified: list[VerifiedItem] = strawberry.field(description=(
        "The verified (read-only) items with their source; every other item is self-declared."))

    @classmethod
    def of(cls, record: ProfileRecord) -> Profile:
        return cls(
            name_en=record.name_en, name_zh=record.name_zh, date_of_birth=record.date_of_birth,
            hkid=record.hkid, gender=Gender(record.gender) if record.gender else None, phone=record.phone,
            email=record.email, residential_address=Address.of(record.residential_address),
            correspondence_address=Address.of(record.correspondence_address), updated_at=record.updated_at,
            verified=[VerifiedItem(item=v.item, source=v.source, verified_at=v.verified_at) for v in record.verified],
        )


@strawberry.type(description="A consent artefact: who may read which of your data, for what, until when.")
class Consent(Node):
    record: strawberry.Private[ConsentRecord]

    @field(description="Opaque global id; pass it to revokeConsent.")
    def id(self) -> strawberry.ID:
        return strawberry.ID(to_global_id("Consent", self.record.id))

    @field(description="The artefact's own id, as in its signature.")
    def consent_id(self) -> str:
        return self.record.id

    @field(description="The service the consent was given to; null when it left the catalogue.")
    def service(self, info: Info_) -> Service | None:
        found = info.context.snapshot.catalogue.service(self.record.service_slug)
        return None if found is None else Service(model=found)

    @field()
    def service_slug(self) -> str:
        return self.record.service_slug

    @field(description="The department that receives the data.")
    def department(self, info: Info_) -> Department | None:
        found = info.context.snapshot.catalogue.departments.get(self.record.department)
        return None if found is None else Department(model=found)

    @field()
    def providers(self) -> list[str]:
        return list(self.record.providers)

    @field()
    def items(self) -> list[ConsentItem]:
        return [split_item(reference) for reference in self.record.items]

    @field(description="Why the data is needed, in the request's language.")
    def purpose(self, info: Info_) -> str:
        purpose = self.record.purpose
        lang = info.context.lang.value
        return purpose.get(lang) or purpose.get("tc" if lang == "sc" else "en") or purpose.get("en", "")

    @field()
    def lawful_basis(self) -> str:
        return self.record.lawful_basis

    @field()
    def mode(self) -> ConsentMode:
        return ConsentMode(self.record.mode)

    @field(description="The `acr` of the login that granted it.")
    def granted_with_acr(self) -> str:
        return self.record.acr

    @field()
    def application_id(self) -> str | None:
        return self.record.application_id

    @field()
    def granted_at(self) -> datetime:
        return self.record.granted_at

    @field()
    def expires_at(self) -> datetime:
        return self.record.expires_at

    @field()
    def revoked_at(self) -> datetime | None:
        return self.record.revoked_at

    @field()
    def status(self) -> ConsentStatus:
        return ConsentStatus(self.record.status())

    @field(description="The platform's JWS over the artefact; verify with /.well-known/jwks.json.")
    def signature(self) -> str:
        return self.record.jws

    @field(description="Who gave the consent: you, or a parent, carer or guardian acting for you.")
    async def actor(self, info: Info_) -> ApplicationParty:
        return (await self._parties(info))[0]

    @field(description="Whose data the consent covers: always you; a consent given for someone else is in theirs.")
    async def subject(self, info: Info_) -> ApplicationParty:
        return (await self._parties(info))[1]

    async def _parties(self, info: Info_) -> tuple[ApplicationParty, ApplicationParty]:
        engine = info.context.engine
        owner = await engine.data.citizens.by_ref(self.record.citizen_ref)
        if owner is None:
            alone = ApplicationParty(relationship=ActingAsKind.SELF, is_you=True, name=None)
            return alone, alone
        return await data_parties(info, owner, self.record.actor_ref, self.record.application_id, owner.ref)


@strawberry.type(description="One read of the citizen's data, from the tamper-evident access log.")
class DataAccessEntry:
    entry: strawberry.Private[AccessLogEntry]
    owner: strawberry.Private[Citizen]  # whose log it is (the subject)
    viewer_ref: strawberry.Private[str]  # who reads it: the owner, or their parent or guardian

    @field(description="Who the data was read for: the subject themself, or a parent, carer or guardian acting for "
                       "them.")
    async def actor(self, info: Info_) -> ApplicationParty:
        return (await data_parties(info, self.owner, self.entry.actor_ref, self.entry.application_id,
                                   self.viewer_ref))[0]

    @field(description="Whose data was read (the owner of this log).")
    async def subject(self, info: Info_) -> ApplicationParty:
        return (await data_parties(info, self.owner, self.entry.actor_ref, self.entry.application_id,
                                   self.viewer_ref))[1]

    @field()
    def at(self) -> datetime:
        return self.entry.at

    @field(description="The service that asked; null when it left the catalogue (see serviceSlug).")
    def service(self, info: Info_) -> Service | None:
        found = info.context.snapshot.catalogue.service(self.entry.service_slug)
        return None if found is None else Service(model=found)

    @field()
    def service_slug(self) -> str:
        return self.entry.service_slug

    @field()
    def department(self, info: Info_) -> Department | None:
        found = info.context.snapshot.catalogue.departments.get(self.entry.department)
        return None if found is None else Department(model=found)

    @field()
    def department_code(self) -> str:
        return self.entry.department

    @field()
    def provider(self) -> str:
        return self.entry.provider_id

    @field()
    def items(self) -> list[ConsentItem]:
        return [split_item(reference) if "." in reference else ConsentItem(provider=self.entry.provider_id,
                                                                            item=reference)
                for reference in self.entry.items]

    @field(description="Global id of the consent it was made under.")
    def consent_id(self) -> strawberry.ID | None:
        cid = self.entry.consent_id
        return None if cid is None else strawberry.ID(to_global_id("Consent", cid))

    @field()
    def application_id(self) -> str | None:
        return self.entry.application_id

    @field(description="What happened: e.g. `granted`, `refused`, `failed`.")
    def outcome(self) -> str:
        return self.entry.outcome

    @field()
    def reason(self) -> str | None:
        return self.entry.reason

    @field(description="This entry's link in the hash chain.")
    def hash(self) -> str:
        return self.entry.hash


@strawberry.type(description="One value a department holds about the citizen, with its provenance.")
class PersonalDataItem:
    item: str
    value: JSON | None
    source_department: str
    updated_at: datetime | None

    @field()
    def description(self, info: Info_) -> str | None:
        provider_id, _, item_id = self.item.partition(".")
        provider = info.context.snapshot.catalogue.providers.get(provider_id)
        data_item = provider.item(item_id) if provider is not None else None
        return None if data_item is None else data_item.description.get(info.context.lang)


@strawberry.type(description="What one data provider holds about the citizen (this read is itself logged).")
class PersonalData:
    provider: str
    items: list[PersonalDataItem]
    missing: list[str] = strawberry.field(description="Items the provider holds no value for.")

    @classmethod
    def of(cls, provider: str, result: FetchResult) -> PersonalData:
        return cls(
            provider=provider,
            items=[PersonalDataItem(item=key, value=value.value, source_department=value.source_department,
                                    updated_at=value.updated_at) for key, value in result.items.items()],
            missing=list(result.missing),
        )


@strawberry.type(description="The logged-in citizen.")
class Viewer:
    principal: strawberry.Private[Principal]

    @field(description="The citizen's pairwise subject identifier.")
    def sub(self) -> strawberry.ID:
        return strawberry.ID(self.principal.sub)

    @field(description="The `acr` of the current login.")
    def acr(self) -> str:
        return self.principal.acr

    @field()
    async def profile(self, info: Info_) -> Profile | None:
        return Profile.of(await info.context.profile(self.principal.sub))

    @field(description="Security alerts about the citizen (unusual access, failed face confirmations), newest first, "
                       "in plain language; answer each with answerSecurityAlert.")
    async def security_alerts(self, info: Info_) -> list[CitizenSecurityAlert]:
        engine = info.context.engine
        citizen_ref = await engine.applicants.ref_of(self.principal)
        return [CitizenSecurityAlert(record=alert, lang=info.context.lang)
                for alert in await engine.security.alerts.for_citizen(citizen_ref)]

    @field(description="People you may act for: your children under 18 (from the birth registration) and the "
                       "people whose mandate you hold, in force now.")
    async def dependents(self, info: Info_) -> list[Dependent]:
        engine = info.context.engine
        citizen = await engine.data.citizens.ensure(self.principal.sub)
        today = datetime.now(UTC).date()
        return [Dependent(record=d, today=today) for d in await engine.relationships.dependents(citizen)]

    @field(description="Mandates you granted, newest first (revoked and expired ones included).")
    async def mandates_granted(self, info: Info_) -> list[Mandate]:
        engine = info.context.engine
        citizen = await engine.data.citizens.ensure(self.principal.sub)
        now = datetime.now(UTC)
        return [Mandate(record=m, now=now) for m in await engine.relationships.mandates.granted(citizen)]

    @field(description="Mandates others granted you, newest first (revoked and expired ones included).")
    async def mandates_received(self, info: Info_) -> list[Mandate]:
        engine = info.context.engine
        citizen = await engine.data.citizens.ensure(self.principal.sub)
        now = datetime.now(UTC)
        return [Mandate(record=m, now=now) for m in await engine.relationships.mandates.received(citizen)]

    @field(description="Every consent the citizen gave, newest first (revoked and expired ones included).")
    async def consents(self, info: Info_) -> list[Consent]:
        return [Consent(record=r) for r in await citizen_services(info).consents.list(self.principal.sub)]

    @field(description="Who read the citizen's data, newest first (page size 1-100).")
    async def data_access_log(self, info: Info_, first: int | None = None,
                              after: str | None = None) -> Connection[DataAccessEntry]:
        citizen = await citizen_services(info).citizens.ensure(self.principal.sub)
        return await _access_log(info, citizen, citizen.ref, first, after)

    @field(description="The data-access log of your child under 18 or of your ward, as they would see it, newest "
                       "first (page size 1-100); dependentId is a Dependent's id. Null for anyone else, including "
                       "the grantor of a mandate you hold (their log is theirs alone).")
    async def dependent_access_log(self, info: Info_, dependent_id: strawberry.ID, first: int | None = None,
                                   after: str | None = None) -> Connection[DataAccessEntry] | None:
        engine = info.context.engine
        viewer = await engine.data.citizens.ensure(self.principal.sub)
        owner_id = await engine.relationships.log_owner(viewer, str(dependent_id))
        owner = None if owner_id is None else await engine.data.citizens.by_ref(str(dependent_id))
        if owner is None:
            page_of(first, None)  # a bad page size is still reported as such
            return None
        return await _access_log(info, owner, viewer.ref, first, after)

    @field(description="The citizen's applications, newest first (page size 1-100).")
    async def applications(self, info: Info_, first: int | None = None, after: str | None = None,
                           status: ApplicationStatus | None = None) -> Connection[Application]:
        # The applications domain resolves it; the Viewer type only hosts the field.
        return await viewer_applications(info, self.principal, first, after, status)

    @field(description="Everything one provider holds about the citizen. The read is logged like any other.")
    async def personal_data(self, info: Info_, provider: strawberry.ID) -> PersonalData | None:
        result = await citizen_services(info).gateway.personal_data(
            self.principal.sub, str(provider), acr=self.principal.acr)
        return PersonalData.of(str(provider), result)


async def _access_log(info: Info_, owner: Citizen, viewer_ref: str, first: int | None,
                      after: str | None) -> Connection[DataAccessEntry]:
    page_of(first, None)  # the same page-size rule and error as every connection
    log = citizen_services(info).access_log
    try:
        page = await log.list_for(owner.id, first=first or 20, after=after)
    except InvalidInput as exc:
        raise BadUserInput(f"'after' is not a cursor of this list: {exc.errors[0].message}",
                           argument="after") from exc
    total = await log.count(owner.id)
    edges = [Edge(cursor=entry.cursor, node=DataAccessEntry(entry=entry, owner=owner, viewer_ref=viewer_ref))
             for entry in page.entries]
    return Connection(total_count=total, edges=edges, page_info=PageInfo(
        has_next_page=page.has_next_page, has_previous_page=after is not None,
        start_cursor=edges[0].cursor if edges else None, end_cursor=page.end_cursor))


async def _consent_node(info: Info_, key: str) -> Consent | None:
    principal = await info.context.principal()
    if principal is None or not principal.is_citizen:
        return None
    consents = citizen_services(info).consents
    try:
        return Consent(record=await consents.get(principal.sub, key))
    except NotFound:  # another citizen's consent looks exactly like an unknown id
        return None


register_node("Consent", _consent_node)
