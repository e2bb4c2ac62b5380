from __future__ import annotations

import pytest
from pydantic import ValidationError

from onestop.catalogue.text import Lang, LocalizedList, LocalizedText


@pytest.mark.parametrize(
    ("header", "lang"),
    [
        ("en", Lang.EN),
        ("en-GB,en;q=0.9", Lang.EN),
        ("zh-HK", Lang.TC),
        ("zh-TW", Lang.TC),
        ("zh-Hant", Lang.TC),
        ("zh-Hant-HK", Lang.TC),
        ("zh-CN", Lang.SC),
        ("zh-SG", Lang.SC),
        ("zh-Hans", Lang.SC),
        ("zh-Hans-CN,zh;q=0.5", Lang.SC),
        ("fr-FR, zh-CN;q=0.4, en;q=0.8", Lang.EN),
        ("en;q=0.3, zh-HK;q=0.7", Lang.TC),
        ("zh-HK;q=0, zh-CN", Lang.SC),
        ("fr, de", Lang.EN),
        ("", Lang.EN),
        (None, Lang.EN),
        ("zh-CN;q=bad, zh-TW", Lang.TC),
    ],
)
def test_accept_language_picks_the_best_served_language(header: str | None, lang: Lang) -> None:
    assert Lang.from_accept_language(header) is lang


def test_simplified_is_derived_from_traditional_when_omitted() -> None:
    text = LocalizedText.model_validate({"en": "Renew a driving licence", "tc": "續領駕駛執照"})
    assert text.sc == "续领驾驶执照"
    assert text.get(Lang.SC) == "续领驾驶执照"
    assert text.get("tc") == "續領駕駛執照"
    assert text.get(Lang.EN) == "Renew a driving licence"


def test_explicit_simplified_is_kept() -> None:
    text = LocalizedText.model_validate({"en": "x", "tc": "長者", "sc": "老人"})
    assert text.sc == "老人"


@pytest.mark.parametrize(("data", "missing"), [({"en": "x"}, "tc"), ({"tc": "x"}, "en"), ({}, "en and tc")])
def test_missing_required_language_is_a_missing_translation(data: dict[str, str], missing: str) -> None:
    with pytest.raises(ValidationError) as info:
        LocalizedText.model_validate(data)
    error = info.value.errors()[0]
    assert error["type"] == "missing_translation"
    assert f"missing translation: {missing}" in error["msg"]


def test_blank_text_is_a_missing_translation() -> None:
    with pytest.raises(ValidationError) as info:
        LocalizedText.model_validate({"en": "  ", "tc": "x"})
    assert info.value.errors()[0]["type"] == "missing_translation"
    assert info.value.errors()[0]["loc"] == ("en",)


def test_unknown_language_key_is_rejected() -> None:
    with pytest.raises(ValidationError) as info:
        LocalizedText.model_validate({"en": "x", "tc": "y", "fr": "z"})
    assert info.value.errors()[0]["type"] == "extra_forbidden"


def test_keywords_derive_simplified_and_list_all_words() -> None:
    words = LocalizedList.model_validate({"en": ["elderly"], "tc": ["長者", "長者卡"]})
    assert words.sc == ("长者", "长者卡")
    assert words.get(Lang.SC) == ("长者", "长者卡")
    assert set(words.all()) == {"elderly", "長者", "長者卡", "长者", "长者卡"}


def test_text_round_trips_through_json() -> None:
    text = LocalizedText.model_validate({"en": "x", "tc": "長"})
    assert LocalizedText.model_validate(text.model_dump(mode="json")) == text


def test_importing_the_package_reads_no_dictionaries() -> None:
    # The workflow sandbox re-imports the catalogue: OpenCC's dictionary files must load only on first use.
    import subprocess
    import sys

    code = ("import onestop.catalogue, onestop.catalogue.text as t; "
            "assert t._t2s.cache_info().currsize == 0; "
            "t.to_simplified('長'); assert t._t2s.cache_info().currsize == 1")
    subprocess.run([sys.executable, "-c", code], check=True)  # noqa: S603 - fixed argv, our interpreter


def test_a_repeated_traditional_text_is_converted_once() -> None:
    from onestop.catalogue.text import _derived_sc

    first = LocalizedText.model_validate({"en": "Name", "tc": "英文姓名（轉換快取測試）"})
    before = _derived_sc.cache_info()
    again = LocalizedText.model_validate({"en": "Name again", "tc": "英文姓名（轉換快取測試）"})
    after = _derived_sc.cache_info()
    assert again.sc == first.sc == "英文姓名（转换快取测试）"
    assert (after.hits, after.misses) == (before.hits + 1, before.misses)


@pytest.mark.parametrize("lang", [Lang.EN, Lang.TC, Lang.SC, "en", "tc", "sc"])
def test_localized_falls_back_in_the_same_order_for_a_language_or_its_code(lang: Lang | str) -> None:
    from onestop.catalogue.text import localized

    assert localized({"en": "E", "tc": "T", "sc": "S"}, lang) == {"en": "E", "tc": "T", "sc": "S"}[str(lang)]
    assert localized({"en": "E", "tc": "", "sc": "S"}, lang) == ("E" if lang == "en" else "S")
    assert localized({"en": "E"}, lang) == "E"
    assert localized({}, lang) is None
    assert localized(None, lang) is None
    assert localized({"tc": ""}, lang) is None
