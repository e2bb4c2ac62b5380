"""The read API over the real seed catalogue (definitions/): what a frontend sees on a fresh install."""

from __future__ import annotations

import pytest
from graphql_api import Api

SEARCH = """
query Search($search: String, $theme: ID, $ageGroup: ID, $department: ID, $first: Int) {
  services(search: $search, theme: $theme, ageGroup: $ageGroup, department: $department, first: $first) {
    totalCount edges { node { slug title themes { id } ageGroups { id } department { code } } }
  }
}
"""


def slugs(data: dict) -> list[str]:
    return [edge["node"]["slug"] for edge in data["services"]["edges"]]


@pytest.mark.parametrize(("query", "first_hit"), [
    ("driving licence", "renew-driving-licence"),
    ("駕駛執照", "renew-driving-licence"),
    ("驾驶执照", "renew-driving-licence"),
    ("drivng", "renew-driving-licence"),
    ("public housing", "public-rental-housing"),
    ("senior citizen card", "senior-citizen-card"),
])
async def test_search_finds_the_right_seed_service_first(seed_api: Api, query: str, first_hit: str) -> None:
    assert slugs(await seed_api.data(SEARCH, {"search": query}))[0] == first_hit


async def test_searching_elderly_in_chinese_finds_services_for_the_elderly(seed_api: Api) -> None:
    data = await seed_api.data(SEARCH, {"search": "長者"})
    top = data["services"]["edges"][:3]
    assert top
    assert all(any(g["id"] == "elderly" for g in edge["node"]["ageGroups"]) for edge in top)


async def test_search_results_come_back_in_the_request_language(seed_api: Api) -> None:
    data = await seed_api.data(SEARCH, {"search": "driving licence"}, headers={"Accept-Language": "zh-HK"})
    assert "駕駛執照" in data["services"]["edges"][0]["node"]["title"]


@pytest.mark.parametrize(("argument", "value", "path"), [
    ("theme", "transport", ("themes", "id")),
    ("ageGroup", "elderly", ("ageGroups", "id")),
])
async def test_seed_filters_only_return_matching_services(seed_api: Api, argument: str, value: str,
                                                          path: tuple[str, str]) -> None:
    data = await seed_api.data(SEARCH, {argument: value, "first": 100})
    assert data["services"]["totalCount"] > 0
    for edge in data["services"]["edges"]:
        assert value in {item[path[1]] for item in edge["node"][path[0]]}


async def test_department_filter_on_the_seed(seed_api: Api) -> None:
    data = await seed_api.data(SEARCH, {"department": "TD", "first": 100})
    assert {edge["node"]["department"]["code"] for edge in data["services"]["edges"]} == {"TD"}
    assert "renew-driving-licence" in slugs(data)


async def test_the_seed_catalogue_is_served_whole(seed_api: Api) -> None:
    data = await seed_api.data("{ services(first: 100) { totalCount } themes { id } departments { code } }")
    assert data["services"]["totalCount"] >= 24
    assert len(data["themes"]) >= 8
    assert len(data["departments"]) >= 8


async def test_every_step_type_appears_in_the_seed_outlines(seed_api: Api) -> None:
    data = await seed_api.data("{ services(first: 100) { edges { node { steps { type } } } } }")
    types = {step["type"] for edge in data["services"]["edges"] for step in edge["node"]["steps"]}
    assert types == {"FORM", "PREFILL", "CONSENT", "STEP_UP", "REVIEW", "SUBMIT", "EXIT", "APPOINTMENT", "PAYMENT"}


async def test_platform_signing_keys_are_published(seed_api: Api) -> None:
    response = await seed_api.client.get("/.well-known/jwks.json")
    assert response.status_code == 200
    keys = response.json()["keys"]
    assert keys
    assert all("d" not in key for key in keys)  # public halves only
    assert {key["kid"] for key in keys}


async def test_dev_idp_is_mounted_in_development(seed_api: Api) -> None:
    response = await seed_api.client.get("/dev-idp/.well-known/openid-configuration")
    assert response.status_code == 200
    assert response.json()["issuer"]
