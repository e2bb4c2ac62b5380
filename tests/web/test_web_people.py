"""Acting for others in the web app over real HTTP: "Who is this for?" at the start of a service that allows it,
the person's name on the application's pages and actor and subject in the department's console; "People I act for"
with a mandate granted after a face confirmation and revoked, which hands the carer's draft to the grantor."""

from __future__ import annotations

import html
import re
from datetime import date, timedelta

import httpx
from test_web_apply import _follow, _heading, _press
from web_system import ACTING, FACE, WebSystem, csrf_of, selfie_of, sign_in

PARENT = "tsang-chi-keung"
GRANDFATHER = "tsang-kam-po"
CARER = "yip-suk-fan"


def _choices(page: httpx.Response) -> dict[str, str]:
    """The "Who is this for?" radios: label -> value."""
    found = re.findall(r'type="radio" name="for" value="([^"]+)">\s*<label[^>]*>([^<]+?)\s*(?:<span|</label>)',
                       page.text)
    return {html.unescape(label.strip()): value for value, label in found}


async def _who_for(client: httpx.AsyncClient, citizen: str) -> httpx.Response:
    service = await client.get(f"/services/{ACTING}")
    page = await client.post(f"/services/{ACTING}/start", data={"csrf": csrf_of(service.text)})
    if page.status_code == 303:  # signed out: sign in first, then the choice
        assert page.headers["location"].startswith("/sign-in?next=")
        signed = await sign_in(client, citizen=citizen, start=await client.get(page.headers["location"]))
        page = await _follow(client, signed)
    assert _heading(page) == "Who is this application for?", page.text
    return page


async def test_a_parent_applies_for_a_child_and_the_department_sees_who_acted(system: WebSystem) -> None:
    async with system.client() as parent, system.client() as staff:
        page = await _who_for(parent, PARENT)
        choices = _choices(page)
        # Himself (an `either` service) and his children under 18; his father's health mandate does not cover it.
        assert set(choices) == {"Myself", "TSANG, Ho Yin", "TSANG, Hoi Ching"}
        assert "your child, aged" in page.text

        unchosen = await parent.post(f"/services/{ACTING}/start", data={"csrf": csrf_of(page.text), "choosing": "1"})
        assert unchosen.status_code == 400
        assert "Choose who the application is for." in unchosen.text

        step = await _follow(parent, await parent.post(f"/services/{ACTING}/start", data={
            "csrf": csrf_of(page.text), "for": choices["TSANG, Ho Yin"]}))
        assert _heading(step) == "About the application"
        assert "You are applying for <strong>TSANG, Ho Yin</strong> (as their parent)" in step.text
        check = await _follow(parent, await _press(parent, step, ("action", "submit"), f_note="For Ho Yin"))
        assert "You are applying for <strong>TSANG, Ho Yin</strong>" in check.text
        done = await _follow(parent, await _press(parent, check, ("action", "send")))
        reference = re.search(r'class="onestop-reference">([^<]+)<', done.text)
        assert reference, done.text
        assert "You are applying for <strong>TSANG, Ho Yin</strong>" in done.text

        console = await staff.get("/console")
        inbox = await _follow(staff, await sign_in(staff, staff="td-supervisor", start=await staff.get(
            console.headers["location"])))
        row = re.search(re.escape(reference.group(1)) + r"</a></td>(.*?)</tr>", inbox.text, re.S)
        assert row, inbox.text
        assert "A parent, for their child under 18" in row.group(1)
        link = re.search(r'href="(/console/applications/[^"]+)">' + re.escape(reference.group(1)), inbox.text)
        assert link
        case = await staff.get(link.group(1))
        assert "Made by: A parent, for their child under 18" in case.text
        assert "TSANG, Ho Yin" not in case.text.split("<h2")[0]  # staff see the answers, not the parent's view


async def test_choosing_someone_one_cannot_act_for_is_refused_with_the_apis_message(system: WebSystem) -> None:
    async with system.client() as parent:
        page = await _who_for(parent, PARENT)
        refused = await parent.post(f"/services/{ACTING}/start", data={"csrf": csrf_of(page.text),
                                                                       "for": "someone-else"})
        assert refused.status_code == 400
        assert "You cannot act for this person in this service" in refused.text


async def _people(client: httpx.AsyncClient, citizen: str) -> httpx.Response:
    first = await client.get("/my/people")
    assert first.headers["location"].startswith("/sign-in?next=")
    return await _follow(client, await sign_in(client, citizen=citizen, start=await client.get(
        first.headers["location"])))


async def test_a_mandate_is_granted_after_a_face_confirmation_and_revoking_it_hands_the_draft_back(
        system: WebSystem) -> None:
    until = (date.today() + timedelta(days=365)).isoformat()
    async with system.client() as grandfather, system.client() as carer:
        people = await _people(grandfather, GRANDFATHER)
        assert _heading(people) == "People I act for"
        assert "TSANG, Chi Keung" in people.text  # the mandate he granted his son (seeded)
        assert f'value="{ACTING}"' in people.text  # services that accept a mandate can be chosen

        no_date = await grandfather.post("/my/people/mandates", data={
            "csrf": csrf_of(people.text), "granteeHkid": "P562019(1)", "granteeName": "YIP, Suk Fan",
            "services": ACTING})
        assert no_date.status_code == 400
        assert "Give the last day of the mandate" in no_date.text

        to_idp = await grandfather.post("/my/people/mandates", data={
            "csrf": csrf_of(people.text), "granteeHkid": "P562019(1)", "granteeName": "YIP, Suk Fan",
            "services": ACTING, "validUntil": until})
        assert to_idp.status_code == 303
        assert "acr_values=urn%3Aonestop%3Aacr%3Aface" in to_idp.headers["location"]
        assert "P562019" not in to_idp.headers["location"]  # the form waits server-side, not in the URL
        granted = await _follow(grandfather, await sign_in(grandfather, citizen=GRANDFATHER, acr=FACE,
                                                           selfie=await selfie_of(grandfather, GRANDFATHER),
                                                           start=to_idp))
        assert "The mandate is granted." in granted.text
        row = re.search(r"<td[^>]*>YIP, Suk Fan</td>(.*?)</tr>", granted.text, re.S)
        assert row, granted.text
        assert "Acting test service" in row.group(1)
        assert "ACTIVE" in row.group(1)
        mandate = re.search(r'name="mandate" value="([^"]+)">\s*<button[^>]*>Revoke<span class="usa-sr-only"> '
                            r"YIP, Suk Fan", granted.text)
        assert mandate

        # The carer now sees him among the people she can act for, and applies for him.
        mine = await _people(carer, CARER)
        assert "TSANG, Kam Po" in mine.text
        page = await _who_for(carer, CARER)
        # Their children are hers too.
        assert set(_choices(page)) == {"Myself", "TSANG, Ho Yin", "TSANG, Hoi Ching", "TSANG, Kam Po"}
        step = await _follow(carer, await carer.post(f"/services/{ACTING}/start", data={
            "csrf": csrf_of(page.text), "for": _choices(page)["TSANG, Kam Po"]}))
        assert "You are applying for <strong>TSANG, Kam Po</strong> (under the mandate they granted you)" in step.text
        application = str(step.url.path)

        revoked = await _follow(grandfather, await grandfather.post("/my/people/mandates/revoke", data={
            "csrf": csrf_of(granted.text), "mandate": mandate.group(1)}))
        assert "The mandate is revoked." in revoked.text
        assert "REVOKED" in revoked.text
        # Her next action is refused with the API's message; the draft is his now.
        refused = await _press(carer, step, ("action", "submit"), f_note="For him")
        assert refused.status_code in (400, 404)
        assert "no longer act for the person" in refused.text or "your right to act for them may have ended" in \
            refused.text
        for _ in range(50):
            his = await grandfather.get(application)
            if his.status_code == 200:
                break
        assert his.status_code == 200
        assert "This application was started for you by someone acting for you" in his.text
        assert application.rsplit("/", 1)[1] in (await grandfather.get("/my/applications")).text
