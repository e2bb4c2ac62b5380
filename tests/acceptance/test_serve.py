"""Issue 2 and 4 "done when", from the outside: the README's run command (`onestop serve`) as a real process.

Everything goes over real HTTP to the served port: the catalogue, public information, the dev IdP, a citizen
completing renew-driving-licence through every step type, the department deciding it, consents and the access
log; then SIGTERM stops the server, its Temporal child with it, and a restart on the same data dir still has
the application.
"""

from __future__ import annotations

import asyncio
import base64
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from client import STANDARD, Api, pay_fee
from temporalio.testing import WorkflowEnvironment

from onestop.graphql.relay import from_global_id

from .answers import Run, advance, drive
from .conftest import ACCESS_LOG, CONSENTS, DECIDE, GET, GRANT, INBOX, REVOKE, START, STEP_UP, SUBMIT, free_port

pytestmark = pytest.mark.slow

ONESTOP = Path(sys.executable).parent / "onestop"
CITIZEN = "wong-ka-fai"
SLUG = "renew-driving-licence"


@dataclass
class Served:
    process: subprocess.Popen[bytes]
    base_url: str
    data_dir: Path
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def temporal_processes(data_dir: Path) -> list[int]:
    """Pids of `temporal server` processes whose command line names this data dir."""
    marker = str(data_dir.resolve())
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        text = [a.decode(errors="replace") for a in argv]
        if "server" in text and any(marker in a for a in text) and any(a.endswith("temporal") for a in text[:1]):
            found.append(int(entry.name))
    return found


def start(data_dir: Path, log: Path, definitions: Path, **settings: str) -> Served:
    port = free_port()
    env = {**os.environ, "ONESTOP_TEMPORAL_UI_PORT": "0", **settings}
    env.pop("ONESTOP_TEMPORAL_ADDRESS", None)
    env.pop("ONESTOP_DATABASE_URL", None)
    out = log.open("ab")
    process = subprocess.Popen(  # noqa: S603 - our own console script
        [str(ONESTOP), "serve", "--port", str(port), "--data-dir", str(data_dir), "--definitions", str(definitions)],
        stdout=out, stderr=subprocess.STDOUT, env=env,
    )
    out.close()
    served = Served(process, f"http://127.0.0.1:{port}", data_dir, log)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"onestop serve exited with {process.returncode}:\n{served.output()}")
        try:
            if httpx.get(f"{served.base_url}/healthz", timeout=1).status_code == 200:
                return served
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    stop(served)
    pytest.fail(f"onestop serve did not answer /healthz within 90 s:\n{served.output()}")


def stop(served: Served, sig: signal.Signals = signal.SIGTERM) -> int:
    if served.process.poll() is None:
        served.process.send_signal(sig)
    try:
        return served.process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        served.process.kill()
        served.process.wait()
        for pid in temporal_processes(served.data_dir):
            os.kill(pid, signal.SIGKILL)
        pytest.fail(f"onestop serve ignored SIGTERM for 30 s:\n{served.output()}")


def printed(served: Served, pattern: str) -> str:
    """The server's output once a line matches ``pattern`` (the URLs are printed just after uvicorn answers)."""
    deadline = time.monotonic() + 10
    while not re.search(pattern, output := served.output(), re.MULTILINE) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert re.search(pattern, output, re.MULTILINE), output
    return output


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("serve-data")


@pytest.fixture(scope="module")
def definitions(definitions_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private copy of the seed tree, so a test can edit it under the running server."""
    target = tmp_path_factory.mktemp("serve-definitions") / "definitions"
    shutil.copytree(definitions_dir, target)
    return target


@pytest.fixture(scope="module")
def served(data_dir: Path, definitions: Path) -> Iterator[Served]:
    first = start(data_dir, data_dir.parent / "serve-1.log", definitions)
    yield first
    if first.process.poll() is None:
        stop(first)


@pytest.fixture(scope="module")
async def api(served: Served) -> AsyncIterator[Api]:
    async with httpx.AsyncClient(base_url=served.base_url, timeout=60) as client:
        yield Api(client)


@dataclass
class Shared:
    """What the ordered steps of this module hand on to each other."""

    application_id: str = ""
    reference: str = ""
    draft_id: str = ""


SHARED = Shared()


async def test_serve_prints_its_urls_and_answers_health(served: Served) -> None:
    for _ in range(100):  # the URLs are printed just after uvicorn starts answering
        output = served.output()
        if "Dev identity" in output:
            break
        await asyncio.sleep(0.1)
    for label in ["Web", "GraphQL API", "Temporal", "Temporal UI", "Health", "Dev identity"]:
        assert label in output, output
    # uvloop is a runtime dependency on Linux, and ONESTOP_EVENT_LOOP's default (auto) runs on it
    assert re.search(r"^Event loop\s+uvloop$", output, re.MULTILINE), output
    assert f"{served.base_url}/graphql" in output
    async with httpx.AsyncClient(timeout=10) as client:
        home = await client.get(f"{served.base_url}/")
    assert home.status_code == 200
    assert 'href="/themes/transport"' in home.text  # the web app, served at / beside the API
    ui = re.search(r"Temporal UI\s+(http://\S+)", output)
    assert ui, output
    async with httpx.AsyncClient(timeout=10) as client:
        assert (await client.get(f"{served.base_url}/healthz")).status_code == 200
        ui_status: int | str = "never tried"
        for _ in range(100):  # the UI server may come up a moment after the frontend
            try:
                ui_status = (await client.get(ui.group(1))).status_code
            except httpx.HTTPError as exc:
                ui_status = repr(exc)
            if ui_status == 200:
                break
            await asyncio.sleep(0.2)
        assert ui_status == 200, output


@pytest.mark.parametrize(("query", "expected"), [
    ("driving licence", SLUG), ("駕駛執照", SLUG), ("驾驶执照", SLUG), ("drivng", SLUG), ("driv", SLUG),
    ("長者", "senior-citizen-card"), ("长者", "senior-citizen-card"), ("senior citzen card", "senior-citizen-card"),
])
async def test_catalogue_search_finds_the_right_service(api: Api, query: str, expected: str) -> None:
    data = await api.data(
        "query($q: String!) { services(search: $q, first: 5) { totalCount edges { node { slug } } } }", {"q": query})
    slugs = [e["node"]["slug"] for e in data["services"]["edges"]]
    assert expected in slugs[:3], slugs


async def test_the_seed_catalogue_is_served_in_both_languages(api: Api) -> None:
    query = """{ services(first: 100) { totalCount }
      service(slug: "renew-driving-licence") { title department { code } } }"""
    english = await api.data(query)
    assert english["services"]["totalCount"] >= 24
    assert english["service"]["title"] == "Renew a full driving licence"
    assert english["service"]["department"]["code"] == "TD"
    chinese = await api.data(query, headers={"Accept-Language": "zh-HK"})
    assert chinese["service"]["title"] == "續領正式駕駛執照"


async def test_public_info_needs_no_login(api: Api) -> None:
    data = await api.data("""{ publicInfo { weather { updateTime temperatures { place value } stale }
      trafficNews { items { headline } } foodSafetyAlerts { title items { title } }
      announcements { title items { title } } } }""")
    info = data["publicInfo"]
    assert info["weather"] is not None
    assert info["weather"]["temperatures"]
    for feed in ["trafficNews", "foodSafetyAlerts", "announcements"]:
        assert info[feed] is not None, feed


async def test_a_citizen_completes_every_step_of_renew_driving_licence(api: Api) -> None:
    citizen = await api.token({"citizen": CITIZEN, "acr": STANDARD})
    started = (await api.data(START, {"slug": SLUG, "cmid": uuid.uuid4().hex}, citizen))["startApplication"]
    assert started["userErrors"] == []
    app = started["application"]
    assert app["status"] == "DRAFT"
    assert app["currentStep"]["type"] == "PREFILL"
    assert "eme.hkid" in app["currentStep"]["items"]
    app_id = app["id"]

    # prefill: the consent fetches e-ME and TD data, which arrive prefilled with their source
    app = await _ok(api, GRANT, {"id": app_id, "step": "your-details"}, citizen, "grantConsent")
    assert app["currentStep"]["id"] == "licence"
    fields = {f["id"]: f for f in app["currentStep"]["fields"]}
    for prefilled in ["applicantName", "hkid", "licenceNumber", "licenceExpiry", "mailingAddress", "phone"]:
        assert fields[prefilled]["prefilled"] is True, prefilled
        assert fields[prefilled]["value"] not in (None, ""), prefilled
        assert fields[prefilled]["source"], prefilled
    assert fields["hkid"]["value"] == "K305518(3)"
    assert fields["period"]["prefilled"] is False

    answers = {f["id"]: f["value"] for f in fields.values() if f["value"] is not None} | {"period": "10"}
    app = await _ok(api, SUBMIT, {"id": app_id, "step": "licence", "answers": answers}, citizen, "submitStep")
    assert app["currentStep"]["id"] == "share-with-police"  # the medical form is for 70 and over
    app = await _ok(api, GRANT, {"id": app_id, "step": "share-with-police"}, citizen, "grantConsent")
    assert app["currentStep"]["id"] == "verify-face"
    assert app["currentStep"]["type"] == "STEP_UP"

    # step-up: a standard token gets the RFC 9470 challenge
    refused = await api.post(STEP_UP, {"id": app_id, "step": "verify-face"}, citizen)
    assert (refused.get("data") or {}).get("completeStepUp") is None
    extensions = refused["errors"][0]["extensions"]
    assert extensions["code"] == "INSUFFICIENT_USER_AUTHENTICATION"
    assert extensions["acr_values"] == "urn:onestop:acr:face"
    assert extensions["max_age"] == 300
    # a face token with the matching selfie but without the binding is still refused, and says what to bind
    unbound = await api.face_token(CITIZEN, None)
    refused = await api.post(STEP_UP, {"id": app_id, "step": "verify-face"}, unbound)
    extensions = refused["errors"][0]["extensions"]
    assert extensions["code"] == "INSUFFICIENT_USER_AUTHENTICATION"
    binding = extensions.get("binding")
    assert binding, extensions
    face = await api.face_token(CITIZEN, binding)
    app = await _ok(api, STEP_UP, {"id": app_id, "step": "verify-face"}, face, "completeStepUp")
    assert app["currentStep"]["id"] == "check"
    assert app["currentStep"]["type"] == "REVIEW"

    app = await _ok(api, SUBMIT, {"id": app_id, "step": "check", "answers": {"declaration": True}}, citizen,
                    "submitStep")
    assert app["currentStep"]["type"] == "PAYMENT"
    # The fee on the development provider's hosted page at /dev-pay/; its signed webhook moves the application on.
    await pay_fee(api, app_id, "fee", citizen)
    app = await _ok(api, SUBMIT, {"id": app_id, "step": "send", "answers": {}}, citizen, "submitStep")
    assert app["status"] == "SUBMITTED"
    assert app["referenceNumber"]
    assert app["referenceNumber"].startswith("TD-")
    assert all(s["state"] in ("DONE", "SKIPPED") for s in app["steps"]), app["steps"]
    SHARED.application_id, SHARED.reference = app_id, app["referenceNumber"]


async def test_the_department_sees_and_approves_it_and_the_citizen_sees_the_decision(api: Api) -> None:
    assert SHARED.application_id, "needs the completed application"
    officer = await api.token({"staff": "td-officer"})
    nodes: list[dict[str, Any]] = []
    for _ in range(100):
        nodes = [e["node"] for e in (await api.data(INBOX, {}, officer))["departmentInbox"]["edges"]]
        if any(n["id"] == SHARED.application_id for n in nodes):
            break
        await asyncio.sleep(0.1)
    mine = next(n for n in nodes if n["id"] == SHARED.application_id)
    assert mine["referenceNumber"] == SHARED.reference
    assert mine["serviceSlug"] == SLUG

    other = await api.token({"staff": "immd-officer"})
    assert SHARED.application_id not in [
        e["node"]["id"] for e in (await api.data(INBOX, {}, other))["departmentInbox"]["edges"]]

    supervisor = await api.token({"staff": "td-supervisor"})  # only an approver decides
    decided = (await api.data(DECIDE, {"id": SHARED.application_id, "status": "APPROVED"}, supervisor)
               )["updateApplicationStatus"]
    assert decided["userErrors"] == []
    assert decided["application"]["status"] == "APPROVED"

    citizen = await api.token({"citizen": CITIZEN, "acr": STANDARD})
    seen = (await api.data(GET, {"id": SHARED.application_id}, citizen))["application"]
    assert seen["status"] == "APPROVED"
    statuses = [t["status"] for t in seen["timeline"]]
    assert statuses[0] == "DRAFT", statuses
    assert statuses[-2:] == ["SUBMITTED", "APPROVED"], statuses


async def test_the_citizen_sees_the_prefill_consent_and_access_and_can_revoke_it(api: Api) -> None:
    assert SHARED.application_id, "needs the completed application"
    citizen = await api.token({"citizen": CITIZEN, "acr": STANDARD})
    consents = (await api.data(CONSENTS, {}, citizen))["viewer"]["consents"]
    ours = [c for c in consents if c["serviceSlug"] == SLUG and c["status"] == "ACTIVE"]
    assert ours, consents
    consent = ours[0]
    assert {"provider": "td-licensing", "item": "driving-licence"} in consent["items"]
    assert {"provider": "eme", "item": "hkid"} in consent["items"]

    app_key = from_global_id(SHARED.application_id)
    assert app_key is not None
    assert consent["applicationId"] == app_key[1]
    log = (await api.data(ACCESS_LOG, {}, citizen))["viewer"]["dataAccessLog"]
    entries = [e["node"] for e in log["edges"] if e["node"]["applicationId"] == app_key[1]]
    assert {e["provider"] for e in entries} == {"eme", "td-licensing"}, entries
    for entry in entries:
        assert entry["serviceSlug"] == SLUG
        assert entry["outcome"] == "allowed", entry
        assert entry["consentId"] == consent["id"], entry
    assert {(i["provider"], i["item"]) for e in entries for i in e["items"]} >= {
        ("eme", "hkid"), ("eme", "nameEn"), ("td-licensing", "driving-licence")}

    revoked = (await api.data(REVOKE, {"id": consent["id"]}, citizen))["revokeConsent"]
    assert revoked["userErrors"] == []
    assert revoked["consent"]["status"] == "REVOKED"
    assert revoked["consent"]["revokedAt"]
    assert revoked["receipt"]["signature"].count(".") == 2
    after = (await api.data(CONSENTS, {}, citizen))["viewer"]["consents"]
    assert next(c for c in after if c["id"] == consent["id"])["status"] == "REVOKED"

    # the revoked consent is never used again: the next application asks afresh and reads under a new consent
    fresh = (await api.data(START, {"slug": SLUG, "cmid": uuid.uuid4().hex}, citizen))["startApplication"]
    assert fresh["application"]["currentStep"]["type"] == "PREFILL"
    await _ok(api, GRANT, {"id": fresh["application"]["id"], "step": "your-details"}, citizen, "grantConsent")
    log = (await api.data(ACCESS_LOG, {}, citizen))["viewer"]["dataAccessLog"]
    fresh_key = from_global_id(fresh["application"]["id"])
    assert fresh_key is not None
    fresh_entries = [e["node"] for e in log["edges"] if e["node"]["applicationId"] == fresh_key[1]]
    assert fresh_entries
    assert all(e["consentId"] not in (None, consent["id"]) for e in fresh_entries), fresh_entries


STATUS = """{ catalogueStatus { version services problems { path line column code message } }
  service(slug: "renew-vehicle-licence") { title } }"""


async def _status_after_sighup(api: Api, served: Served, before: str, *, broken: bool) -> dict[str, Any]:
    served.process.send_signal(signal.SIGHUP)
    for _ in range(100):
        data = await api.data(STATUS)
        status = data["catalogueStatus"]
        if (status["problems"] if broken else status["version"] != before):
            return data
        await asyncio.sleep(0.1)
    pytest.fail(f"SIGHUP did not reload the definitions: {data}")


async def test_sighup_reloads_definitions_and_a_broken_tree_keeps_the_last_good_catalogue(
        api: Api, served: Served, definitions: Path) -> None:
    first = await api.data(STATUS)
    version = first["catalogueStatus"]["version"]
    assert first["catalogueStatus"]["problems"] == []
    path = definitions / "services" / "transport" / "renew-vehicle-licence.yaml"
    good = path.read_text(encoding="utf-8")
    assert "themes: [transport]" in good

    path.write_text(good.replace("themes: [transport]", "themes: [transprt]"), encoding="utf-8")
    broken = await _status_after_sighup(api, served, version, broken=True)
    assert broken["catalogueStatus"]["version"] == version  # still the last good catalogue
    assert broken["service"] == first["service"]
    problem = broken["catalogueStatus"]["problems"][0]
    assert problem["code"] == "UNKNOWN_THEME"
    assert problem["path"].endswith("renew-vehicle-licence.yaml")
    assert problem["line"] == good.splitlines().index("themes: [transport]") + 1

    # a draft started on the old version keeps it; a new application gets the new one
    citizen = await api.token({"citizen": CITIZEN, "acr": STANDARD})
    old_draft = (await api.data(START, {"slug": "renew-vehicle-licence", "cmid": uuid.uuid4().hex}, citizen)
                 )["startApplication"]["application"]
    assert old_draft["currentStep"]["title"] == "Your vehicles"

    title = "Renew a vehicle licence online"
    new_text = _retitle(good, title).replace("title: {en: Your vehicles, tc:", "title: {en: Your cars, tc:")
    assert new_text.count("Your cars") == 1
    path.write_text(new_text, encoding="utf-8")
    fixed = await _status_after_sighup(api, served, version, broken=False)
    assert fixed["catalogueStatus"]["problems"] == []
    assert fixed["catalogueStatus"]["version"] != version
    assert fixed["service"]["title"] == title

    kept = (await api.data(GET, {"id": old_draft["id"]}, citizen))["application"]
    assert kept["definitionHash"] == old_draft["definitionHash"]
    assert kept["currentStep"]["title"] == "Your vehicles"
    new_draft = (await api.data(START, {"slug": "renew-vehicle-licence", "cmid": uuid.uuid4().hex}, citizen)
                 )["startApplication"]["application"]
    assert new_draft["definitionHash"] != old_draft["definitionHash"]
    assert new_draft["currentStep"]["title"] == "Your cars"


def _retitle(text: str, title: str) -> str:
    lines = text.splitlines(keepends=True)
    at = next(i for i, line in enumerate(lines) if line.startswith("title: {en: "))
    rest = lines[at].split(",", 1)[1]
    lines[at] = f"title: {{en: {title},{rest}"
    return "".join(lines)


async def test_sigterm_stops_everything_and_a_restart_keeps_the_application(
        served: Served, data_dir: Path, definitions: Path) -> None:
    assert SHARED.application_id, "needs the completed application"
    # a draft left half-way, with prefilled data, to resume after the restart
    async with httpx.AsyncClient(base_url=served.base_url, timeout=60) as client:
        draft = await drive(Api(client), SLUG, CITIZEN, datetime.now(UTC).date(), stop_at="CONSENT")
    assert draft.application["currentStep"]["id"] == "share-with-police"
    SHARED.draft_id = draft.application["id"]
    draft_answers = draft.application["answers"]
    assert draft_answers["hkid"] == "K305518(3)"
    assert temporal_processes(data_dir), "the embedded Temporal server should be running before SIGTERM"
    code = stop(served)
    assert code in (0, -signal.SIGTERM), f"exit code {code}:\n{served.output()}"
    assert "Traceback" not in served.output(), served.output()
    for _ in range(50):
        if not temporal_processes(data_dir):
            break
        await asyncio.sleep(0.1)
    assert temporal_processes(data_dir) == [], "the Temporal child outlived onestop serve"

    # the restart runs on asyncio's own loop (ONESTOP_EVENT_LOOP=asyncio turns uvloop off): the same state, the
    # same application, the same clean stop
    again = start(data_dir, data_dir.parent / "serve-2.log", definitions, ONESTOP_EVENT_LOOP="asyncio")
    try:
        printed(again, r"^Event loop\s+asyncio$")
        async with httpx.AsyncClient(base_url=again.base_url, timeout=60) as client:
            api = Api(client)
            citizen = await api.token({"citizen": CITIZEN, "acr": STANDARD})
            seen = (await api.data(GET, {"id": SHARED.application_id}, citizen))["application"]
            assert seen is not None
            assert seen["status"] == "APPROVED"
            assert seen["referenceNumber"] == SHARED.reference
            mine = (await api.data("{ viewer { applications(first: 10) { edges { node { id status } } } } }",
                                   {}, citizen))["viewer"]["applications"]["edges"]
            assert {"id": SHARED.application_id, "status": "APPROVED"} in [e["node"] for e in mine]

            # the draft resumes where it was, answers intact, and goes on to submission
            resumed = (await api.data(GET, {"id": SHARED.draft_id}, citizen))["application"]
            assert resumed["status"] == "DRAFT"
            assert resumed["currentStep"]["id"] == "share-with-police"
            assert resumed["answers"] == draft_answers
            finished = await advance(api, Run(resumed), CITIZEN, datetime.now(UTC).date(), headers=citizen)
            assert finished.application["status"] == "SUBMITTED"
            assert finished.application["referenceNumber"] not in (None, SHARED.reference)
    finally:
        code = stop(again, signal.SIGINT)  # Ctrl-C stops it as cleanly as SIGTERM
    assert code in (0, -signal.SIGINT), again.output()
    assert "Traceback" not in again.output(), again.output()
    assert temporal_processes(data_dir) == []


async def _ok(api: Api, query: str, variables: dict[str, Any], headers: dict[str, str], name: str
              ) -> dict[str, Any]:
    payload = (await api.data(query, variables, headers))[name]
    assert payload["userErrors"] == [], payload["userErrors"]
    application: dict[str, Any] = payload["application"]
    return application


@pytest.mark.parametrize("command", ["serve", "api"])
def test_a_busy_port_is_a_clear_error_not_a_hang(command: str, tmp_path: Path, temporal: WorkflowEnvironment) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        env = {**os.environ, "ONESTOP_TEMPORAL_UI_PORT": "0", "ONESTOP_ENV": "development"}
        if command == "api":
            env["ONESTOP_TEMPORAL_ADDRESS"] = temporal.client.service_client.config.target_host
            subprocess.run([str(ONESTOP), "migrate", "--data-dir", str(tmp_path)], env=env,  # noqa: S603
                           check=True, capture_output=True, timeout=60)
        process = subprocess.Popen(  # noqa: S603 - our own console script
            [str(ONESTOP), command, "--port", str(port), "--data-dir", str(tmp_path)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
        try:
            output, _ = process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            output, _ = process.communicate()
            for pid in temporal_processes(tmp_path):
                os.kill(pid, signal.SIGKILL)
            pytest.fail(f"onestop {command} hung on a busy port:\n{output.decode(errors='replace')}")
    text = output.decode(errors="replace")
    assert process.returncode not in (0, None), text
    assert str(port) in text, text
    assert "Traceback" not in text, text
    assert temporal_processes(tmp_path) == []


def _run_to_exit(args: list[str], data_dir: Path, timeout: float = 60, **extra_env: str) -> tuple[int, str]:
    env = {**os.environ, "ONESTOP_TEMPORAL_UI_PORT": "0", **extra_env}
    for name in ("ONESTOP_DATA_KEY", "ONESTOP_CODEC_KEY", "ONESTOP_SIGNING_KEY", "ONESTOP_ENV"):
        if name not in extra_env:
            env.pop(name, None)
    process = subprocess.Popen([str(ONESTOP), *args, "--data-dir", str(data_dir)],  # noqa: S603
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
        for pid in temporal_processes(data_dir):
            os.kill(pid, signal.SIGKILL)
        pytest.fail(f"onestop {args[0]} did not exit within {timeout:.0f} s:\n{output.decode(errors='replace')}")
    assert temporal_processes(data_dir) == [], "the Temporal child outlived the failed start"
    return process.returncode, output.decode(errors="replace")


def test_broken_definitions_at_start_up_are_listed_without_a_traceback(definitions_dir: Path, tmp_path: Path) -> None:
    tree = tmp_path / "definitions"
    shutil.copytree(definitions_dir, tree)
    path = tree / "services" / "transport" / "renew-vehicle-licence.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("themes: [transport]", "themes: [transprt]"), encoding="utf-8")
    line = text.splitlines().index("themes: [transport]") + 1
    code, output = _run_to_exit(["serve", "--port", str(free_port()), "--definitions", str(tree)], tmp_path / "data")
    assert code not in (0, None), output
    assert f"renew-vehicle-licence.yaml:{line}:10: error[UNKNOWN_THEME]" in output, output
    assert "Traceback" not in output, output


def test_production_without_keys_stops_at_once_naming_the_setting(tmp_path: Path) -> None:
    started = time.monotonic()
    code, output = _run_to_exit(["serve", "--port", str(free_port()), "--env", "production"], tmp_path, timeout=45)
    assert code not in (0, None), output
    assert re.search(r"ONESTOP_(DATA|CODEC|SIGNING)_KEY is required in production", output), output
    assert "Traceback" not in output, output
    assert time.monotonic() - started < 30, f"took {time.monotonic() - started:.0f} s to say so:\n{output}"


def test_production_without_an_oidc_issuer_is_named_without_a_traceback(tmp_path: Path) -> None:
    key = base64.urlsafe_b64encode(bytes(range(32))).decode().rstrip("=")
    code, output = _run_to_exit(["serve", "--port", str(free_port()), "--env", "production"], tmp_path, timeout=45,
                                ONESTOP_DATA_KEY=key, ONESTOP_CODEC_KEY=key, ONESTOP_SIGNING_KEY=key)
    assert code not in (0, None), output
    assert "ONESTOP_OIDC_ISSUER is required in production" in output, output
    assert "Traceback" not in output, output
