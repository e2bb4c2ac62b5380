"""The catalogue read API over real HTTP: pagination, search, filters, languages, node refetch."""

from __future__ import annotations

import pytest
from graphql_api import Api, codes_of, errors_of

SLUGS = """
query Page($first: Int, $after: String, $search: String, $theme: ID, $ageGroup: ID, $department: ID) {
  services(first: $first, after: $after, search: $search, theme: $theme, ageGroup: $ageGroup,
           department: $department) {
    totalCount
    edges { cursor node { slug } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}
"""


def slugs(data: dict) -> list[str]:
    return [edge["node"]["slug"] for edge in data["services"]["edges"]]


async def test_cursor_walk_visits_every_service_once_in_stable_order(api: Api) -> None:
    everything = await api.data(SLUGS, {"first": 100})
    expected = slugs(everything)
    assert everything["services"]["totalCount"] == len(expected) == 4

    seen: list[str] = []
    after = None
    pages = 0
    while True:
        page = (await api.data(SLUGS, {"first": 3, "after": after}))["services"]
        assert page["totalCount"] == 4
        assert page["pageInfo"]["hasPreviousPage"] is (after is not None)
        seen += [edge["node"]["slug"] for edge in page["edges"]]
        pages += 1
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
        assert after == page["edges"][-1]["cursor"]
    assert seen == expected
    assert pages == 2


@pytest.mark.parametrize("first", [0, -1, 101, 1000])
async def test_page_size_out_of_range_is_bad_user_input(api: Api, first: int) -> None:
    result = await api.post(SLUGS, {"first": first})
    assert codes_of(result) == ["BAD_USER_INPUT"]
    error = errors_of(result)[0]
    assert error["extensions"]["argument"] == "first"
    assert "between 1 and 100" in error["message"]
    assert result["data"] is None


async def test_a_cursor_that_is_not_ours_is_bad_user_input(api: Api) -> None:
    result = await api.post(SLUGS, {"first": 2, "after": "not-a-cursor"})
    assert codes_of(result) == ["BAD_USER_INPUT"]
    assert errors_of(result)[0]["extensions"]["argument"] == "after"


@pytest.mark.parametrize("query", ["driving licence", "駕駛執照", "drivng", "驾驶执照", "licence renewal"])
async def test_search_ranks_the_driving_licence_service_first(api: Api, query: str) -> None:
    data = await api.data(SLUGS, {"search": query})
    assert slugs(data)[0] == "renew-driving-licence"
    assert data["services"]["totalCount"] == len(slugs(data))


async def test_search_for_elderly_in_chinese_finds_the_seniors_service(api: Api) -> None:
    assert "elderly-vaccination" in slugs(await api.data(SLUGS, {"search": "長者"}))


async def test_search_with_no_match_is_an_empty_connection(api: Api) -> None:
    data = await api.data(SLUGS, {"search": "zzzzqqqq"})
    assert data["services"] == {"totalCount": 0, "edges": [], "pageInfo": {
        "hasNextPage": False, "hasPreviousPage": False, "startCursor": None, "endCursor": None}}


@pytest.mark.parametrize(("filters", "expected"), [
    ({"theme": "health"}, {"elderly-vaccination", "youth-health-check"}),
    ({"ageGroup": "elderly"}, {"renew-driving-licence", "renew-vehicle-licence", "elderly-vaccination"}),
    ({"department": "TD"}, {"renew-driving-licence", "renew-vehicle-licence"}),
    ({"theme": "health", "ageGroup": "youth"}, {"youth-health-check"}),
    ({"theme": "housing"}, set()),
    ({"theme": "transport", "search": "vehicle"}, {"renew-vehicle-licence"}),
])
async def test_filters_combine_with_and(api: Api, filters: dict, expected: set[str]) -> None:
    data = await api.data(SLUGS, {"first": 100, **filters})
    assert set(slugs(data)) == expected
    assert data["services"]["totalCount"] == len(expected)


@pytest.mark.parametrize(("argument", "value"), [("theme", "space-travel"), ("ageGroup", "toddler"),
                                                 ("department", "XYZ")])
async def test_unknown_filter_value_is_bad_user_input_naming_the_argument(api: Api, argument: str,
                                                                          value: str) -> None:
    result = await api.post(SLUGS, {argument: value})
    assert codes_of(result) == ["BAD_USER_INPUT"]
    error = errors_of(result)[0]
    assert error["extensions"]["argument"] == argument
    assert value in error["message"]


SERVICE = """
query One($slug: String!) {
  service(slug: $slug) {
    id slug version contentHash title summary keywords
    themes { id name } ageGroups { id name minAge maxAge }
    department { code name contact { phone email website } }
    loginRequired assuranceLevel { id acr rank name } draftExpiry eligibility
    steps { id type title }
  }
}
"""


async def test_service_exposes_its_outline_and_requirements(api: Api) -> None:
    service = (await api.data(SERVICE, {"slug": "renew-driving-licence"}))["service"]
    assert service["slug"] == "renew-driving-licence"
    assert service["version"] == 1
    assert len(service["contentHash"]) == 64
    assert service["title"] == "Renew a full driving licence"
    assert service["themes"] == [{"id": "transport", "name": "Transport"}]
    assert [g["id"] for g in service["ageGroups"]] == ["adult", "elderly"]
    assert service["ageGroups"][1]["maxAge"] is None
    assert service["department"]["code"] == "TD"
    assert service["department"]["contact"]["phone"] == "+852 2804 2600"
    assert service["loginRequired"] is True
    assert service["assuranceLevel"] == {"id": "standard", "acr": "urn:onestop:acr:standard", "rank": 1,
                                         "name": "Standard"}
    assert service["draftExpiry"] == "P30D"
    assert service["eligibility"] == "You must be 18 or over."
    assert [(s["id"], s["type"]) for s in service["steps"]] == [
        ("details", "FORM"), ("verify", "STEP_UP"), ("send", "SUBMIT")]
    assert "driving" in service["keywords"]


async def test_unknown_slug_is_null_not_an_error(api: Api) -> None:
    result = await api.post(SERVICE, {"slug": "no-such-service"})
    assert result == {"data": {"service": None}}


async def test_login_none_service_does_not_require_login(api: Api) -> None:
    service = (await api.data(SERVICE, {"slug": "elderly-vaccination"}))["service"]
    assert service["loginRequired"] is False


LOCALIZED = """
{ service(slug: "renew-driving-licence") { title themes { name } department { name } steps { title } }
  themes { name } }
"""


@pytest.mark.parametrize(("header", "title", "department"), [
    ("en", "Renew a full driving licence", "Transport Department"),
    ("zh-HK", "續領正式駕駛執照", "運輸署"),
    ("zh-Hant", "續領正式駕駛執照", "運輸署"),
    ("zh-CN", "续领正式驾驶执照", "运输署"),
    ("zh-Hans-CN,zh;q=0.8", "续领正式驾驶执照", "运输署"),
    ("fr-FR, de;q=0.5", "Renew a full driving licence", "Transport Department"),
])
async def test_texts_follow_accept_language_with_english_fallback(api: Api, header: str, title: str,
                                                                  department: str) -> None:
    data = await api.data(LOCALIZED, headers={"Accept-Language": header})
    assert data["service"]["title"] == title
    assert data["service"]["department"]["name"] == department


async def test_no_accept_language_means_english(api: Api) -> None:
    data = await api.data(LOCALIZED)
    assert data["service"]["steps"][0]["title"] == "Your details"


NODE = """
query Refetch($id: ID!) {
  node(id: $id) { __typename id ... on Service { slug title } ... on Department { code } }
}
"""


async def test_node_refetches_a_service_by_its_global_id(api: Api) -> None:
    service = (await api.data(SERVICE, {"slug": "elderly-vaccination"}))["service"]
    node = (await api.data(NODE, {"id": service["id"]}))["node"]
    assert node == {"__typename": "Service", "id": service["id"], "slug": "elderly-vaccination",
                    "title": "Book a vaccination for seniors"}


async def test_node_refetches_a_department(api: Api) -> None:
    department = (await api.data('{ department(code: "dh") { id code } }'))["department"]
    node = (await api.data(NODE, {"id": department["id"]}))["node"]
    assert node["code"] == "DH"


@pytest.mark.parametrize("bad_id", ["garbage", "U2VydmljZTpub3Bl", "", "VW5rbm93bjp4"])
async def test_node_with_an_unknown_id_is_null(api: Api, bad_id: str) -> None:
    assert (await api.data(NODE, {"id": bad_id})) == {"node": None}


async def test_global_ids_are_opaque_and_distinct_per_type(api: Api) -> None:
    service = (await api.data(SERVICE, {"slug": "renew-driving-licence"}))["service"]
    assert "renew-driving-licence" not in service["id"]
    department = (await api.data('{ department(code: "TD") { id } }'))["department"]
    assert department["id"] != service["id"]


async def test_taxonomy_lists_come_in_file_order(api: Api) -> None:
    data = await api.data("{ themes { id } ageGroups { id minAge } assuranceLevels { id rank } "
                          "departments { code } }")
    assert [t["id"] for t in data["themes"]] == ["transport", "health", "housing"]
    assert [g["id"] for g in data["ageGroups"]] == ["youth", "adult", "elderly"]
    assert [(a["id"], a["rank"]) for a in data["assuranceLevels"]] == [("basic", 0), ("standard", 1),
                                                                       ("face", 2)]
    assert {d["code"] for d in data["departments"]} == {"TD", "DH", "DPO"}


async def test_catalogue_status_reports_the_served_version(api: Api) -> None:
    status = (await api.data("{ catalogueStatus { version services problems { code } } }"))["catalogueStatus"]
    assert status["version"] == api.engine.catalogue.catalogue.version
    assert status["services"] == 4
    assert status["problems"] == []
