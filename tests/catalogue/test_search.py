"""Catalogue search: English with typos and prefixes, Chinese in either script, ranking, filters, recommendations.

A small hand-built document set pins the behaviour; the real seed catalogue shows it on the services citizens
will actually search.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from onestop.catalogue import Catalogue, load_catalogue
from onestop.catalogue.search import SearchDocument, SearchHit, SearchIndex, tokenize


def doc(id: str, title_en: str, title_tc: str, summary_en: str = "", summary_tc: str = "", *,
        keywords_en: tuple[str, ...] = (), keywords_tc: tuple[str, ...] = (), themes: tuple[str, ...] = (),
        age_groups: tuple[str, ...] = (), department: str | None = None) -> SearchDocument:
    return SearchDocument(
        id=id, title={"en": title_en, "tc": title_tc}, summary={"en": summary_en, "tc": summary_tc},
        keywords={"en": keywords_en, "tc": keywords_tc}, themes=themes, age_groups=age_groups,
        department=department)


DOCS = [
    doc("renew-driving-licence", "Renew a full driving licence", "續領正式駕駛執照",
        "Renew your full driving licence before it expires.", "在駕駛執照屆滿前續領。",
        keywords_en=("license", "car"), keywords_tc=("車牌",), themes=("transport",),
        age_groups=("adult", "elderly"), department="TD"),
    doc("learner-driving-licence", "Apply for a learner driving licence", "申請學習駕駛執照",
        "Learn to drive a private car.", "學習駕駛私家車。", themes=("transport",), age_groups=("youth", "adult"),
        department="TD"),
    doc("senior-citizen-card", "Apply for a Senior Citizen Card", "申請長者咭",
        "A card for residents aged 65 or above.", "供65歲或以上長者使用。", keywords_tc=("長者",),
        themes=("welfare",), age_groups=("elderly",), department="SWD"),
    doc("elderly-health-care-voucher", "Elderly Health Care Voucher", "長者醫療券",
        "Vouchers for private primary care.", "資助長者使用私營基層醫療服務。", themes=("health",),
        age_groups=("elderly",), department="DH"),
    doc("diving-permit", "Marine park diving permit", "海岸公園潛水許可證",
        "Dive in a marine park. Holders of a driving licence still need this permit.", "於海岸公園潛水。",
        themes=("leisure",), age_groups=("youth", "adult"), department="AFCD"),
    doc("hair-salon-licence", "Licence for a hair salon", "理髮店牌照",
        "Open a hair salon.", "開設理髮店。", themes=("business",), age_groups=("adult",), department="FEHD"),
    doc("simplified-only", "Vehicle examination", "验车预约",
        "Book a vehicle examination.", "预约车辆检验。", themes=("transport",), age_groups=("adult",),
        department="TD"),
]


@pytest.fixture(scope="module")
def index() -> SearchIndex:
    return SearchIndex.build(DOCS)


def ids(hits: list[SearchHit]) -> list[str]:
    return [hit.id for hit in hits]


# --- tokenisation ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "terms"),
    [
        ("Driving licences", ["driv", "licens"]),
        ("driving license", ["driv", "licens"]),
        ("the card of a citizen", ["card", "citizen"]),
        ("Ｂ２ ＨＫＩＤ", ["b2", "hkid"]),
        ("駕駛執照", ["驾驶", "驶执", "执照", "驾", "驶", "执", "照"]),
        ("驾驶执照", ["驾驶", "驶执", "执照", "驾", "驶", "执", "照"]),
        ("理髮", ["理发", "理", "发"]),
        ("咭", ["咭"]),
        ("renew 車牌", ["renew", "车牌", "车", "牌"]),
    ],
)
def test_tokenize_stems_english_and_folds_chinese_to_one_script(text: str, terms: list[str]) -> None:
    assert tokenize(text) == terms


# --- English -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "first"),
    [
        ("driving licence", "renew-driving-licence"),
        ("Driving License", "renew-driving-licence"),
        ("renew licence", "renew-driving-licence"),
        ("drivng licence", "renew-driving-licence"),
        ("renw drivng", "renew-driving-licence"),
        ("licen", "renew-driving-licence"),
        ("senior citizen", "senior-citizen-card"),
        ("senoir", "senior-citizen-card"),
        ("vouchers", "elderly-health-care-voucher"),
    ],
)
def test_english_queries_with_typos_and_prefixes_find_the_service(index: SearchIndex, query: str,
                                                                    first: str) -> None:
    assert ids(index.search(query))[0] == first


def test_a_typo_finds_the_nearest_word_only(index: SearchIndex) -> None:
    # "drivng" is one edit from "driving" and two from "diving": only the closer word counts.
    assert "diving-permit" not in ids(index.search("drivng"))[:2]
    assert set(ids(index.search("drivng"))) == {"renew-driving-licence", "learner-driving-licence",
                                                "diving-permit"}  # diving-permit mentions a driving licence


@pytest.mark.parametrize("query", ["xq", "cra", "zzzzzzz", "the of and"])
def test_short_or_unrelated_words_match_nothing(index: SearchIndex, query: str) -> None:
    assert index.search(query) == []


def test_a_very_long_query_is_answered_from_its_first_words(index: SearchIndex) -> None:
    query = "driving licence " + " ".join(f"word{n}" for n in range(200))

    assert ids(index.search(query))[0] == "renew-driving-licence"


@pytest.mark.parametrize("query", ["", "   ", "!!!"])
def test_a_blank_query_matches_nothing(index: SearchIndex, query: str) -> None:
    assert index.search(query) == []


# --- Chinese -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "first"),
    [
        ("駕駛執照", "renew-driving-licence"),
        ("驾驶执照", "renew-driving-licence"),
        ("續領駕駛執照", "renew-driving-licence"),
        ("续领驾驶执照", "renew-driving-licence"),
        ("長者咭", "senior-citizen-card"),
        ("长者卡", "senior-citizen-card"),
        ("醫療券", "elderly-health-care-voucher"),
        ("理发店", "hair-salon-licence"),
        ("驗車", "simplified-only"),
        ("車牌", "renew-driving-licence"),
    ],
)
def test_chinese_in_either_script_finds_text_in_either_script(index: SearchIndex, query: str, first: str) -> None:
    assert ids(index.search(query))[0] == first


def test_elderly_in_chinese_finds_the_elderly_services(index: SearchIndex) -> None:
    assert set(ids(index.search("長者"))) == {"senior-citizen-card", "elderly-health-care-voucher"}
    assert ids(index.search("長者")) == ids(index.search("长者"))


def test_an_unknown_chinese_compound_falls_back_to_its_characters(index: SearchIndex) -> None:
    # No indexed text has the bigram 照續, but its characters are in the licence services.
    assert "renew-driving-licence" in ids(index.search("照續"))


@pytest.mark.parametrize(("query", "expected"), [("咭", "senior-citizen-card"), ("券", "elderly-health-care-voucher")])
def test_a_single_chinese_character_finds_words_containing_it(index: SearchIndex, query: str,
                                                              expected: str) -> None:
    assert ids(index.search(query)) == [expected]


def test_a_mixed_language_query_uses_both(index: SearchIndex) -> None:
    assert ids(index.search("renew 駕駛執照"))[0] == "renew-driving-licence"


# --- ranking -----------------------------------------------------------------------------------------------


def test_title_matches_outrank_summary_matches() -> None:
    summary_heavy = doc("summary", "Marine notices", "海事通告",
                        "Passport passport passport: holders of a passport must carry the passport.")
    in_title = doc("title", "Replace a lost passport", "補領遺失護照", "Apply online.")
    index = SearchIndex.build([summary_heavy, in_title])

    hits = index.search("passport")

    assert ids(hits) == ["title", "summary"]
    assert hits[0].score > hits[1].score


def test_keywords_outrank_summary_when_neither_is_in_the_title() -> None:
    in_summary = doc("summary", "Permit A", "許可證甲", "For anglers who fish.")
    in_keywords = doc("keywords", "Permit B", "許可證乙", "Other things.", keywords_en=("fishing",))
    index = SearchIndex.build([in_summary, in_keywords])

    assert ids(index.search("fishing")) == ["keywords", "summary"]


def test_an_exact_title_word_outranks_a_misspelt_match() -> None:
    exact = doc("exact", "Drive safely", "安全駕駛")
    nearby = doc("nearby", "Driver records", "駕駛記錄")
    index = SearchIndex.build([nearby, exact])

    assert ids(index.search("drive"))[0] == "exact"


def test_documents_matching_more_query_words_rank_higher(index: SearchIndex) -> None:
    hits = ids(index.search("learner driving licence"))

    assert hits[0] == "learner-driving-licence"
    assert hits.index("renew-driving-licence") < hits.index("diving-permit")


def test_equal_scores_keep_catalogue_order() -> None:
    docs = [doc(f"twin-{n}", "Library card", "借書證") for n in range(5)]

    assert ids(SearchIndex.build(docs).search("library card")) == [f"twin-{n}" for n in range(5)]
    assert ids(SearchIndex.build(docs).search("library card", limit=3)) == ["twin-0", "twin-1", "twin-2"]


def test_limit_keeps_the_best_hits(index: SearchIndex) -> None:
    everything = index.search("licence")

    assert index.search("licence", limit=2) == everything[:2]


@pytest.mark.parametrize(("offset", "limit"), [(0, 2), (1, 2), (2, 10), (10, 5), (0, 0)])
def test_search_page_is_a_window_of_the_full_ranking(index: SearchIndex, offset: int, limit: int) -> None:
    everything = index.search("licence", theme="transport")

    page = index.search_page("licence", offset=offset, limit=limit, theme="transport")

    assert page.total == len(everything)
    assert page.hits == everything[offset: offset + limit]


# --- filters and recommendations ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"theme": "transport"}, ["renew-driving-licence", "learner-driving-licence", "simplified-only"]),
        ({"age_group": "elderly"}, ["renew-driving-licence", "senior-citizen-card", "elderly-health-care-voucher"]),
        ({"department": "TD", "age_group": "youth"}, ["learner-driving-licence"]),
        ({"theme": "transport", "department": "SWD"}, []),
        ({"theme": "astrology"}, []),
        ({}, [d.id for d in DOCS]),
    ],
)
def test_filter_lists_matching_services_in_catalogue_order(index: SearchIndex, filters: dict[str, str],
                                                           expected: list[str]) -> None:
    assert index.filter(**filters) == expected


@pytest.mark.parametrize(
    ("query", "filters", "expected"),
    [
        ("licence", {"theme": "transport"}, {"renew-driving-licence", "learner-driving-licence"}),
        ("licence", {"age_group": "elderly"}, {"renew-driving-licence"}),
        ("licence", {"department": "FEHD"}, {"hair-salon-licence"}),
        ("駕駛執照", {"age_group": "youth"}, {"learner-driving-licence"}),
        ("licence", {"department": "NOPE"}, set()),
    ],
)
def test_search_respects_filters(index: SearchIndex, query: str, filters: dict[str, Any],
                                 expected: set[str]) -> None:
    assert set(ids(index.search(query, **filters))) == expected


def test_recommend_puts_the_age_group_first_then_the_rest(index: SearchIndex) -> None:
    assert index.recommend("elderly") == [
        "renew-driving-licence", "senior-citizen-card", "elderly-health-care-voucher",
        "learner-driving-licence", "diving-permit", "hair-salon-licence", "simplified-only"]


@pytest.mark.parametrize("age_group", [None, "martians"])
def test_recommend_without_a_known_age_group_is_catalogue_order(index: SearchIndex, age_group: str | None) -> None:
    assert index.recommend(age_group) == [d.id for d in DOCS]


def test_duplicate_document_ids_are_refused() -> None:
    with pytest.raises(ValueError, match="duplicate search document id 'x'"):
        SearchIndex.build([doc("x", "A", "甲"), doc("x", "B", "乙")])


def test_an_empty_index_answers_everything_with_nothing() -> None:
    index = SearchIndex.build([])

    assert (index.search("licence"), index.filter(theme="transport"), index.recommend("adult")) == ([], [], [])


# --- the real seed catalogue -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def seed(definitions_dir: Path) -> Catalogue:
    return load_catalogue(definitions_dir)


@pytest.fixture(scope="module")
def seed_index(seed: Catalogue) -> SearchIndex:
    return SearchIndex.build(seed)


def test_the_seed_index_covers_every_service(seed: Catalogue, seed_index: SearchIndex) -> None:
    assert len(seed_index) == len(seed.services)
    assert seed_index.filter() == list(seed.services)


@pytest.mark.parametrize("query", ["driving licence", "駕駛執照", "drivng", "驾驶执照", "renew drivng licence",
                                   "licen"])
def test_seed_driving_licence_queries_find_the_renewal(seed_index: SearchIndex, query: str) -> None:
    assert "renew-driving-licence" in ids(seed_index.search(query, limit=3))


@pytest.mark.parametrize("query", ["driving licence", "駕駛執照", "drivng", "驾驶执照"])
def test_seed_driving_licence_renewal_ranks_first(seed_index: SearchIndex, query: str) -> None:
    assert ids(seed_index.search(query))[0] == "renew-driving-licence"


@pytest.mark.parametrize("query", ["長者", "长者"])
def test_seed_elderly_query_finds_services_for_the_elderly(seed: Catalogue, seed_index: SearchIndex,
                                                           query: str) -> None:
    top = ids(seed_index.search(query, limit=5))

    assert {"senior-citizen-card", "elderly-health-care-voucher", "old-age-living-allowance"} <= set(top)
    for slug in top[:3]:
        service = seed.services[slug]
        assert "elderly" in service.age_groups
        assert "長者" in service.title.tc


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("senior citizen card", "senior-citizen-card"),
        ("醫療券", "elderly-health-care-voucher"),
        ("医疗券", "elderly-health-care-voucher"),
        ("passport", "hksar-passport"),
        ("身份證", "hkid-replacement-appointment"),
        ("public rental housing", "public-rental-housing"),
        ("公共租住房屋", "public-rental-housing"),
        ("tax return", "salaries-tax-return"),
        ("primary one", "primary-one-admission"),
    ],
)
def test_seed_queries_find_the_right_service_first(seed_index: SearchIndex, query: str, expected: str) -> None:
    assert ids(seed_index.search(query))[0] == expected


def test_seed_filters_agree_with_the_services(seed: Catalogue, seed_index: SearchIndex) -> None:
    transport = seed_index.filter(theme="transport")
    elderly_td = seed_index.filter(age_group="elderly", department="TD")

    assert transport == [s.id for s in seed.services.values() if "transport" in s.themes]
    assert "renew-driving-licence" in transport
    assert elderly_td == [s.id for s in seed.services.values() if "elderly" in s.age_groups and s.department == "TD"]
    assert all(seed.services[hit.id].department == "TD" for hit in seed_index.search("licence", department="TD"))


def test_seed_recommendations_for_children_start_with_childrens_services(seed: Catalogue,
                                                                          seed_index: SearchIndex) -> None:
    order = seed_index.recommend("children")
    children = [s.id for s in seed.services.values() if "children" in s.age_groups]

    assert children
    assert order[: len(children)] == children
    assert sorted(order) == sorted(seed.services)
