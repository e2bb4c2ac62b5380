from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from onestop.catalogue.predicates import predicate_ref
from onestop.config import Settings
from onestop.engine.data import gateway as gateway_module
from onestop.engine.data.gateway import SELF_ACCESS_SERVICE, DataServices
from onestop.engine.data.providers import ProviderSpec, SqlRegistryProvider
from onestop.engine.db import ConsentRow, Database
from onestop.engine.errors import (
    ConsentExpired,
    ConsentRequired,
    ConsentRevoked,
    InvalidInput,
    ItemsNotConsented,
    NotFound,
    ProviderUnavailable,
    PurposeMismatch,
)

PURPOSE = {"en": "Renew your driving licence", "tc": "續領駕駛執照"}
SLUG = "renew-driving-licence"
ITEMS = ["td-licensing.driving-licence", "eme.nameEn"]
UPDATED = datetime(2026, 10, 1, tzinfo=UTC)
HKID = "K305518(3)"
NAME = "WONG, Ka Fai"


async def _citizen_with_data(services: DataServices, sub: str = "sub-a") -> None:
    await services.profiles.update(sub, {"nameEn": NAME, "hkid": HKID}, now=UPDATED)
    citizen = await services.citizens.ensure(sub)
    registry = services.providers.get("td-licensing")
    assert isinstance(registry, SqlRegistryProvider)
    await registry.put(citizen.id, "driving-licence", {"number": "DL123", "classes": ["1", "2"]}, UPDATED)
    await registry.put(citizen.id, "driving-offence-points", 6, UPDATED)


async def _grant(services: DataServices, sub: str = "sub-a", **overrides: Any) -> str:
    args: dict[str, Any] = {"service_slug": SLUG, "service_hash": "h" * 64, "department": "TD", "items": ITEMS,
                            "purpose": PURPOSE, "acr": "urn:onestop:acr:standard", "application_id": "app-1"}
    args.update(overrides)
    return (await services.consents.grant(sub, **args)).id


async def _fetch(services: DataServices, consent_id: str | None, sub: str = "sub-a", **overrides: Any) -> Any:
    args: dict[str, Any] = {"consent_id": consent_id, "service_slug": SLUG, "purpose": PURPOSE, "items": ITEMS,
                            "application_id": "app-1"}
    args.update(overrides)
    return await services.gateway.fetch(sub, **args)


async def test_grant_fetch_log_revoke_refuse(data_services: DataServices) -> None:
    await _citizen_with_data(data_services)
    consent_id = await _grant(data_services)

    result = await _fetch(data_services, consent_id)
    assert set(result.items) == set(ITEMS)
    licence = result.items["td-licensing.driving-licence"]
    assert licence.value == {"number": "DL123", "classes": ["1", "2"]}
    assert (licence.source_department, licence.updated_at) == ("TD", UPDATED)
    name = result.items["eme.nameEn"]
    assert (name.value, name.source_department, name.updated_at) == (NAME, "DPO", UPDATED)

    log = (await data_services.access_log.list("sub-a")).entries
    assert {(e.provider_id, e.items, e.outcome, e.consent_id, e.department, e.service_slug) for e in log} == {
        ("td-licensing", ("td-licensing.driving-licence",), "allowed", consent_id, "TD", SLUG),
        ("eme", ("eme.nameEn",), "allowed", consent_id, "TD", SLUG),
    }

    await data_services.consents.revoke("sub-a", consent_id)
    with pytest.raises(ConsentRevoked):
        await _fetch(data_services, consent_id)  # the same application that obtained it
    latest = (await data_services.access_log.list("sub-a", first=2)).entries
    assert {(e.outcome, e.reason) for e in latest} == {("refused", "CONSENT_REVOKED")}
    citizen = await data_services.citizens.ensure("sub-a")
    assert await data_services.access_log.verify_chain(citizen.id) == 4


async def test_fetch_returns_only_requested_consented_items(data_services: DataServices) -> None:
    await _citizen_with_data(data_services)
    consent_id = await _grant(data_services)
    result = await _fetch(data_services, consent_id, items=["td-licensing.driving-licence"])
    assert set(result.items) == {"td-licensing.driving-licence"}


@pytest.mark.parametrize(("overrides", "error", "reason"), [
    ({"purpose": {"en": "Marketing", "tc": "推廣"}}, PurposeMismatch, "PURPOSE_MISMATCH"),
    ({"service_slug": "another-service"}, PurposeMismatch, "PURPOSE_MISMATCH"),
    ({"application_id": "app-2"}, PurposeMismatch, "PURPOSE_MISMATCH"),
    ({"items": [*ITEMS, "td-licensing.driving-offence-points"]}, ItemsNotConsented, "ITEMS_NOT_CONSENTED"),
    ({"now": datetime.now(UTC) + timedelta(days=31)}, ConsentExpired, "CONSENT_EXPIRED"),
])
async def test_fetch_outside_the_consent_is_refused_and_logged(data_services: DataServices,
                                                               overrides: dict[str, Any],
                                                               error: type[Exception], reason: str) -> None:
    await _citizen_with_data(data_services)
    consent_id = await _grant(data_services)
    with pytest.raises(error):
        await _fetch(data_services, consent_id, **overrides)
    entries = (await data_services.access_log.list("sub-a")).entries
    assert entries
    assert all((e.outcome, e.reason, e.consent_id) == ("refused", reason, consent_id) for e in entries)


async def test_purpose_matching_ignores_whitespace_and_derived_simplified_text(data_services: DataServices) -> None:
    await _citizen_with_data(data_services)
    consent_id = await _grant(data_services)
    purpose = {"en": "Renew  your driving\nlicence", "tc": "續領駕駛執照", "sc": "续领驾驶执照"}
    assert (await _fetch(data_services, consent_id, purpose=purpose)).items


async def test_another_citizens_consent_cannot_be_used(data_services: DataServices) -> None:
    await _citizen_with_data(data_services, "sub-a")
    await _citizen_with_data(data_services, "sub-b")
    consent_a = await _grant(data_services, "sub-a")
    with pytest.raises(ConsentRequired) as caught:
        await _fetch(data_services, consent_a, sub="sub-b")
    assert type(caught.value) is ConsentRequired
    assert [e.outcome for e in (await data_services.access_log.list("sub-b")).entries] == ["refused", "refused"]
    assert (await data_services.access_log.list("sub-a")).entries == ()


async def test_fetch_without_consent_is_refused(data_services: DataServices) -> None:
    await _citizen_with_data(data_services)
    with pytest.raises(ConsentRequired):
        await _fetch(data_services, None)
    with pytest.raises(ConsentRequired):
        await _fetch(data_services, "no-such-consent")


RECEIVED: list[dict[str, Any]] = []


@pytest.fixture
def greedy_department() -> Iterator[str]:
    """A department endpoint that answers with more than it was asked for."""
    RECEIVED.clear()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            RECEIVED.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            body = json.dumps({"items": {
                "driving-licence": {"value": {"number": "DL9"}, "updatedAt": "2026-09-30"},
                "driving-offence-points": {"value": 15, "updatedAt": "2026-09-30"},
                "criminal-record": {"value": "none", "updatedAt": "2026-09-30"},
            }}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


async def test_provider_answering_extra_items_is_trimmed(services_with: Callable[..., DataServices],
                                                         greedy_department: str) -> None:
    spec = ProviderSpec("td-http", "TD", "http", ("driving-licence", "driving-offence-points"),
                        greedy_department, 2.0)
    services = services_with(**{"td-http": spec})
    consent_id = await _grant(services, items=["td-http.driving-licence"])
    result = await _fetch(services, consent_id, items=["td-http.driving-licence"])
    assert set(result.items) == {"td-http.driving-licence"}
    assert result.items["td-http.driving-licence"].value == {"number": "DL9"}
    assert result.items["td-http.driving-licence"].updated_at == datetime(2026, 9, 30, tzinfo=UTC)
    # The department receives the signed consent artefact and can check it against the platform's JWKS.
    (request,) = RECEIVED
    artefact = services.signer.verify(request["consent"], typ="onestop-consent+jws").payload
    assert artefact["id"] == consent_id
    assert artefact["items"] == ["td-http.driving-licence"]
    assert request["subject"] == artefact["citizen"]


async def test_provider_down_is_logged_as_failed(services_with: Callable[..., DataServices]) -> None:
    spec = ProviderSpec("td-http", "TD", "http", ("driving-licence",), "http://127.0.0.1:9/", 0.5)
    services = services_with(**{"td-http": spec})
    consent_id = await _grant(services, items=["td-http.driving-licence"])
    services.providers.get("td-http").backoff = 0.01  # type: ignore[attr-defined]
    with pytest.raises(ProviderUnavailable):
        await _fetch(services, consent_id, items=["td-http.driving-licence"])
    (entry,) = (await services.access_log.list("sub-a")).entries
    assert (entry.outcome, entry.reason) == ("failed", "PROVIDER_UNAVAILABLE")


async def test_missing_values_are_reported_not_invented(data_services: DataServices) -> None:
    await data_services.citizens.ensure("sub-a")
    consent_id = await _grant(data_services)
    result = await _fetch(data_services, consent_id)
    assert result.items == {}
    assert set(result.missing) == set(ITEMS)


async def test_personal_data_is_a_consented_logged_self_access(data_services: DataServices) -> None:
    await _citizen_with_data(data_services)
    result = await data_services.gateway.personal_data("sub-a", "td-licensing", acr="urn:onestop:acr:basic")
    assert result.items["td-licensing.driving-offence-points"].value == 6
    assert set(result.missing) == {"td-licensing.vehicle-registrations"}
    (entry,) = (await data_services.access_log.list("sub-a")).entries
    assert (entry.service_slug, entry.outcome, entry.consent_id) == (SELF_ACCESS_SERVICE, "allowed",
                                                                      result.consent_id)
    assert await data_services.consents.list("sub-a") == []
    (self_access,) = await data_services.consents.list("sub-a", include_self_access=True)
    assert self_access.lawful_basis == "data-subject-access"


async def test_no_personal_data_in_logs(data_services: DataServices, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    await _citizen_with_data(data_services)
    consent_id = await _grant(data_services)
    await _fetch(data_services, consent_id)
    await data_services.consents.revoke("sub-a", consent_id)
    with pytest.raises(ConsentRevoked) as caught:
        await _fetch(data_services, consent_id)
    text = caplog.text + str(caught.value)
    for secret in (HKID, "K305518", NAME, "DL123"):
        assert secret not in text


async def test_prefill_grants_once_and_fetches_by_citizen_ref(data_services: DataServices) -> None:
    await _citizen_with_data(data_services)
    citizen = await data_services.citizens.ensure("sub-a")
    args: dict[str, Any] = {"application_id": "app-1", "step_id": "prefill", "service_slug": SLUG,
                            "service_hash": "h" * 64, "department": "TD", "items": ITEMS, "purpose": PURPOSE,
                            "acr": "urn:onestop:acr:standard"}
    consent, result = await data_services.gateway.prefill(citizen.ref, **args)
    assert result.items["eme.nameEn"].value == NAME
    assert consent.application_id == "app-1"
    retried, _ = await data_services.gateway.prefill(citizen.ref, **args)
    assert retried.id == consent.id
    assert len(await data_services.consents.list("sub-a")) == 1
    other_step, _ = await data_services.gateway.prefill(citizen.ref, **{**args, "step_id": "prefill-2"})
    assert other_step.id != consent.id


async def test_prefill_for_unknown_citizen_ref_is_not_found(data_services: DataServices) -> None:
    with pytest.raises(NotFound):
        await data_services.gateway.prefill("no-such-ref", application_id="a", step_id="s", service_slug=SLUG,
                                            service_hash="", department="TD", items=ITEMS, purpose=PURPOSE,
                                            acr="basic")


async def test_standing_consent_serves_later_applications_of_the_same_service(data_services: DataServices) -> None:
    await _citizen_with_data(data_services)
    consent_id = await _grant(data_services, mode="standing", application_id="app-1",
                              valid_for=timedelta(days=365))
    result = await _fetch(data_services, consent_id, application_id="app-2")
    assert set(result.items) == set(ITEMS)
    with pytest.raises(PurposeMismatch):
        await _fetch(data_services, consent_id, application_id="app-2", service_slug="another-service")


async def test_services_build_from_settings_and_the_real_catalogue(database: Database, tmp_path: Path,
                                                                   definitions_dir: Path) -> None:
    from onestop.catalogue import load_catalogue

    settings = Settings(env="development", data_dir=tmp_path)
    services = DataServices.build(settings, load_catalogue(definitions_dir), database)
    assert "eme" in services.providers
    assert services.providers.get("td-licensing").spec.department == "TD"
    with pytest.raises(InvalidInput) as caught:  # districts come from the catalogue's option list
        await services.profiles.update("sub-a", {"residentialAddress": {"building": "X", "district": "atlantis",
                                                                        "region": "HK"}})
    assert caught.value.errors[0].path == ["residentialAddress", "district"]
    assert services.signer.verify(services.signer.sign({"a": 1}, typ="t")).payload == {"a": 1}


async def test_providers_added_by_a_catalogue_reload_are_served(database: Database, tmp_path: Path,
                                                                definitions_dir: Path) -> None:
    import shutil

    from onestop.catalogue import load_catalogue

    tree = tmp_path / "definitions"
    shutil.copytree(definitions_dir, tree)
    current = [load_catalogue(tree)]
    services = DataServices.build(Settings(env="development", data_dir=tmp_path), lambda: current[0], database)
    with pytest.raises(InvalidInput) as caught:
        await _grant(services, items=["td-permits.parking-permit"])
    assert caught.value.errors[0].code == "UNKNOWN_PROVIDER"

    td = tree / "departments" / "td.yaml"
    td.write_text(td.read_text(encoding="utf-8") + """\
  - id: td-permits
    name: {en: Parking permits, tc: 泊車許可證}
    source: {kind: sql}
    items:
      - id: parking-permit
        type: object
        description: {en: Your parking permit, tc: 你的泊車許可證}
        sensitivity: personal
""", encoding="utf-8")
    current[0] = load_catalogue(tree)
    await _grant(services, items=["td-permits.parking-permit"])
    result = await services.gateway.personal_data("sub-a", "td-permits", acr="basic")
    assert result.missing == ("td-permits.parking-permit",)


async def test_prefill_reuses_a_live_standing_consent_for_a_later_application(data_services: DataServices) -> None:
    await _citizen_with_data(data_services)
    citizen = await data_services.citizens.ensure("sub-a")
    args: dict[str, Any] = {"step_id": "prefill", "service_slug": SLUG, "service_hash": "h" * 64,
                            "department": "TD", "items": ITEMS, "purpose": PURPOSE, "acr": "acr",
                            "mode": "standing", "valid_for": timedelta(days=365)}
    first, _ = await data_services.gateway.prefill(citizen.ref, application_id="app-1", **args)
    second, result = await data_services.gateway.prefill(citizen.ref, application_id="app-2", **args)
    assert second.id == first.id
    assert result.items
    await data_services.consents.revoke("sub-a", first.id)
    third, _ = await data_services.gateway.prefill(citizen.ref, application_id="app-3", **args)
    assert third.id != first.id  # a revoked standing consent is never reused; the citizen granted anew


def _prefill_args(application_id: str = "app-1", **overrides: Any) -> dict[str, Any]:
    args: dict[str, Any] = {"application_id": application_id, "step_id": "prefill", "service_slug": SLUG,
                            "service_hash": "h" * 64, "department": "TD", "items": ITEMS, "purpose": PURPOSE,
                            "acr": "urn:onestop:acr:standard"}
    args.update(overrides)
    return args


async def test_a_retried_prefill_writes_its_consent_and_access_log_once(data_services: DataServices) -> None:
    await _citizen_with_data(data_services)
    citizen = await data_services.citizens.ensure("sub-a")
    first, _ = await data_services.gateway.prefill(citizen.ref, **_prefill_args(fetch_id="run-1/1"))
    retried, result = await data_services.gateway.prefill(citizen.ref, **_prefill_args(fetch_id="run-1/1"))
    assert retried.id == first.id
    assert result.items["eme.nameEn"].value == NAME
    entries = (await data_services.access_log.list("sub-a")).entries
    assert sorted(e.provider_id for e in entries) == ["eme", "td-licensing"]
    # The next prefill of the step (the citizen went back and granted again) is a new access, logged again.
    await data_services.gateway.prefill(citizen.ref, **_prefill_args(fetch_id="run-1/2"))
    assert await data_services.access_log.count(citizen.id) == 4
    assert await data_services.access_log.verify_chain(citizen.id) == 4


async def test_a_prefill_records_its_consent_and_log_entries_with_the_fewest_statements_under_the_lock(
        data_services: DataServices, statements: Callable[[Database], list[str]], crossings: Counter[str]) -> None:
    # SQLite locks the whole database at a transaction's first write, so the consent's insert is the chain's lock
    # there, and the log's insert commits in its own trip; PostgreSQL locks the citizen's row first (see the
    # gateway), as before.
    await _citizen_with_data(data_services)
    citizen = await data_services.citizens.ensure("sub-a")
    await data_services.consents.citizens.by_ref(citizen.ref)
    seen = statements(data_services.database)
    crossings.clear()
    await data_services.gateway.prefill(citizen.ref, **_prefill_args(fetch_id="run-1/1"))
    consent = seen.index("INSERT INTO CONSENTS")
    if data_services.database.engine.dialect.name == "sqlite":
        assert not any(s.startswith(("INSERT", "UPDATE", "DELETE")) for s in seen[:consent]), seen
        assert not any(s.startswith("UPDATE CITIZENS") for s in seen), seen
    else:
        assert seen[consent - 1].startswith("SELECT CITIZENS.ID"), seen  # FOR UPDATE: the citizen's row
    assert [s for s in seen[consent:] if s.startswith("INSERT")] == ["INSERT INTO CONSENTS", "INSERT INTO ACCESS_LOG"]
    if data_services.database.engine.dialect.name == "sqlite":
        assert crossings["_end"] == 0  # no trip of its own for the commit
    assert await data_services.access_log.verify_chain(citizen.id) == 2


async def test_concurrent_attempts_of_one_grant_record_one_consent(data_services: DataServices) -> None:
    citizen = await data_services.citizens.ensure("sub-a")
    args = {"service_slug": SLUG, "service_hash": "h" * 64, "department": "TD", "items": ITEMS,
            "purpose": PURPOSE, "acr": "urn:onestop:acr:standard", "application_id": "app-1",
            "step_id": "prefill", "grant_key": "k" * 64}
    granted = await asyncio.gather(*(data_services.consents.grant(citizen, **args) for _ in range(5)))
    assert len({c.id for c in granted}) == 1
    assert len(await data_services.consents.list("sub-a")) == 1


@pytest.mark.parametrize("citizens", [40, 4])
async def test_forty_concurrent_prefills_keep_every_chain_intact(data_services: DataServices, citizens: int) -> None:
    # 40 applications at once: 40 citizens, or 4 citizens with 10 applications each (one chain, many writers).
    subs = [f"sub-{n}" for n in range(citizens)]
    refs = []
    for sub in subs:
        await _citizen_with_data(data_services, sub)
        refs.append((await data_services.citizens.ensure(sub)).ref)
    await asyncio.gather(*(
        data_services.gateway.prefill(refs[n % citizens], **_prefill_args(f"app-{n}", fetch_id=f"run-{n}/1"))
        for n in range(40)
    ))
    per_citizen = 40 // citizens * 2  # two providers per prefill
    for sub in subs:
        citizen = await data_services.citizens.ensure(sub)
        assert await data_services.access_log.verify_chain(citizen.id) == per_citizen


@pytest.mark.parametrize(("check", "expected"), [("value <= 12", True), ("value < 6", False)])
async def test_a_predicate_hands_on_only_whether_the_record_satisfies_it(data_services: DataServices, check: str,
                                                                         expected: bool) -> None:
    await _citizen_with_data(data_services)  # 6 driving-offence points
    citizen = await data_services.citizens.ensure("sub-a")
    predicate = predicate_ref("td-licensing.driving-offence-points", check)
    consent, result = await data_services.gateway.prefill(
        citizen.ref, application_id="app-1", step_id="prefill", service_slug=SLUG, service_hash="h" * 64,
        department="TD", items=["eme.nameEn", predicate], purpose=PURPOSE, acr="urn:onestop:acr:standard")
    assert {ref: item.value for ref, item in result.items.items()} == {"eme.nameEn": NAME, predicate: expected}
    assert predicate in consent.items
    assert "td-licensing.driving-offence-points" not in consent.items
    logged = {e.provider_id: e.items for e in (await data_services.access_log.list("sub-a")).entries}
    assert logged["td-licensing"] == (predicate,)


async def test_a_predicate_that_cannot_be_evaluated_is_missing_never_false(data_services: DataServices) -> None:
    await _citizen_with_data(data_services)
    citizen = await data_services.citizens.ensure("sub-a")
    predicate = predicate_ref("td-licensing.driving-offence-points", "value / 0 > 1")
    _, result = await data_services.gateway.prefill(
        citizen.ref, application_id="app-1", step_id="prefill", service_slug=SLUG, service_hash="h" * 64,
        department="TD", items=[predicate], purpose=PURPOSE, acr="urn:onestop:acr:standard")
    assert result.items == {}
    assert result.missing == (predicate,)


async def _consent_rows(database: Database, application_id: str) -> list[ConsentRow]:
    async with database.session() as session:
        return list(await session.scalars(select(ConsentRow).where(ConsentRow.application_id == application_id)))


async def test_a_prefill_whose_access_log_cannot_be_written_leaves_no_consent(
        data_services: DataServices, monkeypatch: pytest.MonkeyPatch) -> None:
    await _citizen_with_data(data_services)
    citizen = await data_services.citizens.ensure("sub-a")

    async def failing(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the access log is unavailable")

    monkeypatch.setattr(gateway_module, "append_entries", failing)
    with pytest.raises(RuntimeError):
        await data_services.gateway.prefill(citizen.ref, **_prefill_args(fetch_id="run-1/1"))
    assert await _consent_rows(data_services.database, "app-1") == []
    assert await data_services.access_log.count(citizen.id) == 0

    monkeypatch.undo()  # the retry of the same prefill records both, once
    consent, _ = await data_services.gateway.prefill(citizen.ref, **_prefill_args(fetch_id="run-1/1"))
    assert [row.id for row in await _consent_rows(data_services.database, "app-1")] == [consent.id]
    assert {e.consent_id for e in (await data_services.access_log.list("sub-a")).entries} == {consent.id}


async def test_a_prefill_whose_provider_fails_records_its_consent_with_the_failure(
        services_with: Callable[..., DataServices]) -> None:
    spec = ProviderSpec("td-http", "TD", "http", ("driving-licence",), "http://127.0.0.1:9/", 0.5)
    services = services_with(**{"td-http": spec})
    services.providers.get("td-http").backoff = 0.01  # type: ignore[attr-defined]
    citizen = await services.citizens.ensure("sub-a")
    with pytest.raises(ProviderUnavailable):
        await services.gateway.prefill(citizen.ref, **_prefill_args(items=["td-http.driving-licence"],
                                                                    fetch_id="run-1/1"))
    (row,) = await _consent_rows(services.database, "app-1")
    (entry,) = (await services.access_log.list("sub-a")).entries
    assert (entry.consent_id, entry.outcome, entry.reason) == (row.id, "failed", "PROVIDER_UNAVAILABLE")


async def test_concurrent_attempts_of_one_prefill_record_one_consent_and_log_it_once(
        data_services: DataServices) -> None:
    await _citizen_with_data(data_services)
    citizen = await data_services.citizens.ensure("sub-a")
    done = await asyncio.gather(*(data_services.gateway.prefill(citizen.ref, **_prefill_args(fetch_id="run-1/1"))
                                  for _ in range(4)))
    assert len({consent.id for consent, _ in done}) == 1
    assert all(result.items["eme.nameEn"].value == NAME for _, result in done)
    assert len(await _consent_rows(data_services.database, "app-1")) == 1
    assert await data_services.access_log.verify_chain(citizen.id) == 2  # one entry per provider
