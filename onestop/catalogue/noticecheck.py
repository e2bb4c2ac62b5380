"""Checks of a service's ``notices:``: placeholders its events offer, ``before`` where it means something, and
contact fields that exist and collect the right kind of value."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import replace

from onestop.catalogue.functions import PLACEHOLDER
from onestop.catalogue.loader import did_you_mean
from onestop.catalogue.notices import PLACEHOLDERS, TIMED, Notice, NoticeEvent
from onestop.catalogue.problems import Problem
from onestop.catalogue.services import Service
from onestop.catalogue.yamlsource import Loc, Source


def check_notices(service: Service, source: Source, computed: Collection[str]) -> list[Problem]:
    notices = service.notices
    if notices is None:
        return []
    problems: list[Problem] = []
    for event, notice in notices.declared():
        problems += _templates(source, ("notices", event.value), event, notice, computed)
    contact = notices.contact
    if contact is not None:
        if service.login_required:
            problems.append(source.problem(
                ("notices", "contact"), "INVALID_VALUE",
                "`contact` is for services used without a sign-in; a signed-in citizen gets notices at the email "
                "and phone of their e-ME profile", "remove `contact`, or set `login: none`"))
        fields = {field.id: field.type for field in service.all_fields()}
        for key, wanted in (("email", "email"), ("phone", "phone")):
            field_id = getattr(contact, key)
            if field_id is None:
                continue
            loc = ("notices", "contact", key)
            if field_id not in fields:
                hint = did_you_mean(field_id, sorted(fields))
                problems.append(source.problem(loc, "UNKNOWN_REFERENCE", f"unknown field '{field_id}'", hint))
            elif fields[field_id] != wanted:
                problems.append(source.problem(
                    loc, "INVALID_VALUE", f"field '{field_id}' is a {fields[field_id]} field; the {key} contact "
                    f"must be a `type: {wanted}` field"))
    return problems


def _at_placeholder(problem: Problem, style: str | None, written: str, name: str) -> Problem:
    """The problem moved onto the placeholder itself when the text is one line written as read (plain or quoted
    without escapes); else it stays at the start of the text."""
    offset = written.find(f"{{{name}}}")
    if offset < 0 or "\n" in written or "\\" in written or "'" in written or style not in (None, "'", '"'):
        return problem
    return replace(problem, col=problem.col + offset + (0 if style is None else 1))


def _templates(source: Source, loc: Loc, event: NoticeEvent, notice: Notice,
               computed: Collection[str]) -> Iterable[Problem]:
    offered = PLACEHOLDERS[event] | set(computed)
    for part in ("subject", "body", "sms"):
        text = getattr(notice, part)
        if text is None:
            continue
        reported: set[str] = set()
        for lang in ("en", "tc", "sc"):
            for name in PLACEHOLDER.findall(getattr(text, lang)):
                if name in offered or name in reported:
                    continue
                reported.add(name)
                hint = did_you_mean(name, sorted(offered)) or f"{event.value} offers: {', '.join(sorted(offered))}"
                problem = source.problem((*loc, part, lang), "UNKNOWN_REFERENCE",
                                         f"unknown placeholder '{{{name}}}' in the {event.value} notice's {part}", hint)
                yield _at_placeholder(problem, source.value_mark((*loc, part, lang)).style,
                                      getattr(text, lang), name)
    if notice.before is not None and event not in TIMED:
        yield source.problem((*loc, "before"), "INVALID_VALUE",
                             f"`before` means nothing for {event.value}: it is sent when it happens",
                             f"only {' and '.join(sorted(e.value for e in TIMED))} are sent ahead of time")
