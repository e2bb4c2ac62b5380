"""A notice's text in the recipient's language: the templates' ``{name}`` placeholders filled, nothing else."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from onestop.catalogue.functions import PLACEHOLDER
from onestop.catalogue.text import localized
from onestop.workflows.contracts import NoticeRequest, Status

STATUS_LABELS: Mapping[str, Mapping[str, str]] = {
    Status.SUBMITTED: {"en": "submitted", "tc": "已遞交", "sc": "已递交"},
    Status.IN_REVIEW: {"en": "being reviewed", "tc": "審核中", "sc": "审核中"},
    Status.NEEDS_INFO: {"en": "more information needed", "tc": "需要補充資料", "sc": "需要补充资料"},
    Status.APPROVED: {"en": "approved", "tc": "已批准", "sc": "已批准"},
    Status.REJECTED: {"en": "not approved", "tc": "不獲批准", "sc": "不获批准"},
}

# An identity card number has no place in a notice; a computed value that would put one there is withheld.
_HKID = re.compile(r"\b[A-Z]{1,2}\s?[0-9]{6}\s?\(?[0-9A]\)?")
WITHHELD = "[withheld]"
BILINGUAL = ("en", "tc")
"""A citizen with no language preference gets both, English first (as Hong Kong government notices are)."""

FOOTER = {
    "en": "This is an automatic message from GovHK onestop; please do not reply. It never asks for passwords, "
          "identity card numbers or payment details.",
    "tc": "此乃香港政府一站通自動發出的訊息，請勿回覆。我們不會要求你提供密碼、身份證號碼或付款資料。",
    "sc": "此乃香港政府一站通自动发出的讯息，请勿回复。我们不会要求你提供密码、身份证号码或付款资料。",
}


@dataclass(frozen=True)
class Rendered:
    subject: str
    body: str
    sms: str


def _fill(template: str, values: Mapping[str, str]) -> str:
    text = PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), template)
    return _HKID.sub(WITHHELD, text)


def _values(request: NoticeRequest, lang: str) -> dict[str, str]:
    values = dict(request.values)
    values["service"] = localized(request.service_title, lang) or request.service_id
    if request.reference_number:
        values["reference"] = request.reference_number
    label = STATUS_LABELS.get(values.get("status", ""))
    if label is not None:
        values["status"] = label[lang]
    return values


def render(request: NoticeRequest, language: str | None, *, link: str | None = None) -> Rendered:
    """The notice in ``language`` (en, tc, sc), or in English and Traditional Chinese when it is None."""
    langs = (language,) if language else BILINGUAL
    parts = {lang: _values(request, lang) for lang in langs}

    def each(text: Mapping[str, str], lang: str) -> str:
        return _fill(localized(text, lang) or "", parts[lang])

    subject = " / ".join(each(request.subject, lang) for lang in langs)
    bodies = []
    for lang in langs:
        body = each(request.body, lang)
        if link:
            body += "\n\n" + link
        bodies.append(f"{body}\n\n{FOOTER[lang]}")
    sms = " ".join(each(request.sms, lang) for lang in langs)
    return Rendered(subject=subject, body="\n\n----\n\n".join(bodies), sms=sms)
