"""What the API decides, shown by the pages: labels from the service's outline in the page's language, prefill
provenance (verified items read-only), predicates, computed values, structured consent, steps that do not apply,
and a failed delivery (received for the citizen, redeliverable in the console)."""

from __future__ import annotations

import re

import httpx
from test_web_apply import _follow, _heading, _press
from web_system import API_FEATURES, WebSystem, csrf_of, sign_in

from onestop.web.app import templates
from onestop.web.i18n import translate

CITIZEN = "wong-ka-fai"


def _rows(html: str) -> dict[str, str]:
    """A summary list's rows, label -> value (with its provenance note), tags stripped."""
    rows = re.findall(r"<dt>(.*?)</dt><dd>(.*?)</dd>", html, re.S)
    return {re.sub(r"<[^>]+>", "", k).strip(): re.sub(r"<[^>]+>", "", v).strip() for k, v in rows}


async def _to_check_answers(client: httpx.AsyncClient) -> httpx.Response:
    service = await client.get(f"/services/{API_FEATURES}")
    assert "Only if it applies to you." in service.text  # the outline says the step is conditional
    started = await client.post(f"/services/{API_FEATURES}/start", data={"csrf": csrf_of(service.text)})
    prefill = await _follow(client, await sign_in(client, citizen=CITIZEN,
                                                  start=await client.get(started.headers["location"])))
    assert _heading(prefill) == "Your records"
    items = re.search(r'class="usa-list onestop-items">(.*?)</ul>', prefill.text, re.S)
    assert items
    assert "eme." not in items.group(1)  # items by their description, not their ids
    assert "<li>" in items.group(1)
    assert re.search(r'class="usa-list onestop-predicates"><li>[^<]*18', prefill.text), prefill.text
    form = await _follow(client, await _press(client, prefill, ("action", "grant")))
    assert _heading(form) == "About you"
    assert 'id="f-applicantName-source"' in form.text  # "From <department>" beside a prefilled field
    assert re.search(r'id="f-applicantName"[^>]*readonly', form.text, re.S)  # a verified record's value
    assert "(only if it applies to you)" in form.text  # the spouse's name has a condition
    progress = re.search(r'class="usa-step-indicator__segments"(.*?)</ol>', form.text, re.S)
    assert progress
    assert "Over one hundred" not in progress.group(1)  # the API skipped the step that does not apply
    consent = await _follow(client, await _press(client, form, ("action", "submit"), f_savings="1000",
                                                 f_married="no"))
    assert _heading(consent) == "Sharing your tax records", consent.text
    assert re.search(r'class="usa-list onestop-recipients"><li>Inland Revenue Department</li>', consent.text)
    assert "To check your income is as you say." in consent.text
    assert "ird-tax." not in consent.text
    check = await _follow(client, await _press(client, consent, ("action", "grant")))
    assert _heading(check) == "Check your answers before sending"
    return check


async def test_check_answers_and_the_console_show_labels_provenance_and_computed_values(system: WebSystem) -> None:
    async with system.client() as citizen, system.client() as staff, system.client() as officer:
        check = await _to_check_answers(citizen)
        rows = _rows(check.text)
        assert rows["Your savings"] == "1000"
        assert rows["Are you married"] == "No"
        assert rows["Doubled savings"] == "2,000"  # a computed value, as the API computed it
        assert re.fullmatch(r"WONG, Ka Fai \(From \w+, verified\)", rows["Your full name"]), rows
        assert "applicantName" not in rows
        assert "savings" not in rows
        path = str(check.url.path)
        citizen.cookies.set("onestop_lang", "zh-HK")
        chinese = _rows((await citizen.get(path)).text)
        assert chinese["你的儲蓄"] == "1000"  # labels in the page's language, from the API
        assert chinese["你是否已婚"] == "否"
        citizen.cookies.set("onestop_lang", "en")
        done = await _follow(citizen, await _press(citizen, await citizen.get(path), ("action", "send")))
        reference = re.search(r'class="onestop-reference">([^<]+)<', done.text)
        assert reference, done.text

        inbox = await _follow(staff, await sign_in(staff, staff="td-supervisor", next_path="/console"))
        link = re.search(r'href="(/console/applications/[^"]+)">' + re.escape(reference.group(1)), inbox.text)
        assert link, inbox.text
        case = await staff.get(link.group(1))
        console_rows = _rows(case.text)
        assert console_rows["Your savings"] == "1000"
        assert console_rows["Doubled savings"] == "2,000"
        assert "verified" in console_rows["Your full name"]
        assert not [key for key in console_rows if key in ("applicantName", "savings", "married")]
        assert 'value="redeliver"' not in case.text  # only a DELIVERY_FAILED application is redelivered
        refused = await staff.post(link.group(1), data={"csrf": csrf_of(case.text), "action": "redeliver"})
        assert refused.status_code == 400  # the API's own answer: this one was delivered
        assert "There is a problem" in refused.text

        seen = await _follow(officer, await sign_in(officer, staff="td-officer", next_path=link.group(1)))
        assert "Your savings" in seen.text


def _render(template: str, **values: object) -> str:
    return templates().get_template(template).render(
        t=lambda key: translate("en", key), lang="en", languages={}, csrf="x", path="/", here="/", flash=None,
        session=None, errors={}, **values)


APPLICATION = {"id": "QXBw", "status": "DELIVERY_FAILED", "referenceNumber": "TD-1", "serviceSlug": "s",
               "service": {"title": "A service"}, "exitMessage": None, "computed": [], "provenance": [],
               "answers": {}, "timeline": [{"at": "2026-11-28T10:00:00", "status": "SUBMITTED", "message": None,
                                           "author": "CITIZEN"},
                                          {"at": "2026-11-28T11:00:00", "status": "DELIVERY_FAILED",
                                           "message": None, "author": "SYSTEM"}]}


def test_a_failed_delivery_reads_as_received_for_the_citizen() -> None:
    html = _render("status.html", app=APPLICATION, done=False)
    assert 'onestop-status">Received, being processed<' in html
    assert "DELIVERY_FAILED" not in html


def test_a_failed_delivery_offers_redelivery_to_an_operator_only() -> None:
    operator = _render("console_application.html", app=APPLICATION, summary=[], decisions=[], redeliver=True)
    assert 'onestop-status">DELIVERY_FAILED<' in operator
    assert 'value="redeliver"' in operator
    caseworker = _render("console_application.html", app=APPLICATION, summary=[], decisions=[], redeliver=False)
    assert 'value="redeliver"' not in caseworker
    assert "could not deliver" in caseworker
