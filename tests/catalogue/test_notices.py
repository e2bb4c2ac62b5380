"""`notices:` in a service: templates per event, checked placeholders, platform defaults, contact fields."""

from __future__ import annotations

import pytest

from onestop.catalogue.notices import PLACEHOLDERS, NoticeEvent, default_notices
from onestop.workflows.compile import snapshot_from_service

from .conftest import SERVICE, Tree

LINE = SERVICE.count("\n") + 1  # the line `notices:` is written on

NOTICES = """\
compute:
  fee: '"HK$" + string(answers.years)'
notices:
  submitted:
    subject: {en: "Received {reference}", tc: "已收到 {reference}"}
    body: {en: "Your {service} application {reference} costs {fee}.", tc: "你的{service}申請 {reference}，費用 {fee}。"}
  draftExpiring:
    before: P1D
    subject: {en: "Expires {expiresOn}", tc: "{expiresOn} 失效"}
    body: {en: "Finish by {expiresOn}.", tc: "請於 {expiresOn} 前完成。"}
"""


def with_notices(tree: Tree, text: str = NOTICES) -> None:
    tree.edit_service("    title: {en: Submit, tc: 遞交}\n", "    title: {en: Submit, tc: 遞交}\n" + text)


def test_declared_notices_load_and_every_other_event_gets_the_platform_default(tree: Tree) -> None:
    with_notices(tree)
    service = tree.load().service("renew-licence")
    assert service is not None
    snapshot = snapshot_from_service(service)
    by_event = {spec.event: spec for spec in snapshot.notices}
    assert set(by_event) == {event.value for event in NoticeEvent}
    assert by_event["submitted"].subject["en"] == "Received {reference}"
    assert by_event["submitted"].sms == by_event["submitted"].subject  # no sms text: the subject
    assert by_event["draftExpiring"].before_seconds == 86400
    default = default_notices()[NoticeEvent.STATUS_CHANGED]
    assert by_event["statusChanged"].body["tc"] == default.body.tc
    # Simplified Chinese is derived from the Traditional, like every other text.
    assert by_event["submitted"].body["sc"].startswith("你的")


def test_a_service_without_notices_sends_the_platform_defaults(tree: Tree) -> None:
    service = tree.load().service("renew-licence")
    assert service is not None
    assert len(snapshot_from_service(service).notices) == len(NoticeEvent)


@pytest.mark.parametrize(("old", "new", "line", "col", "message"), [
    ("costs {fee}.", "costs {feee}.", LINE + 5, 62, "unknown placeholder '{feee}' in the submitted notice's body"),
    ('"Expires {expiresOn}"', '"Expires {reference}"', LINE + 8, 28,
     "unknown placeholder '{reference}' in the draftExpiring notice's subject"),
    ("費用 {fee}。", "費用 {answers}。", LINE + 5, 105,
     "unknown placeholder '{answers}' in the submitted notice's body"),
])
def test_an_unknown_placeholder_is_refused_at_its_file_line_and_column(
        tree: Tree, old: str, new: str, line: int, col: int, message: str) -> None:
    with_notices(tree, NOTICES.replace(old, new))
    problems = [p for p in tree.problems() if p.code == "UNKNOWN_REFERENCE"]
    assert [(p.path.endswith("renew-licence.yaml"), p.line, p.col, p.message) for p in problems] == [
        (True, line, col, message)]


def test_before_is_refused_on_an_event_sent_when_it_happens(tree: Tree) -> None:
    with_notices(tree, NOTICES.replace("  submitted:\n", "  submitted:\n    before: P1D\n"))
    problems = [p for p in tree.problems() if p.code == "INVALID_VALUE"]
    assert [(p.line, p.message) for p in problems] == [
        (LINE + 4, "`before` means nothing for submitted: it is sent when it happens")]


def test_a_contact_needs_a_login_free_service_and_fields_of_the_right_type(tree: Tree) -> None:
    with_notices(tree, "notices:\n  contact: {email: district, phone: nowhere}\n")
    found = {(p.code, p.message) for p in tree.problems()}
    assert ("INVALID_VALUE", "field 'district' is a choice field; the email contact must be a `type: email` "
            "field") in found
    assert ("UNKNOWN_REFERENCE", "unknown field 'nowhere'") in found
    assert any(code == "INVALID_VALUE" and "`contact` is for services used without a sign-in" in message
               for code, message in found)


def test_every_default_template_uses_only_what_its_event_offers() -> None:
    from onestop.catalogue.functions import PLACEHOLDER

    for event, notice in default_notices().items():
        for text in (notice.subject, notice.body, notice.sms):
            assert text is not None
            for lang in ("en", "tc", "sc"):
                assert set(PLACEHOLDER.findall(getattr(text, lang))) <= PLACEHOLDERS[event], (event, lang)
