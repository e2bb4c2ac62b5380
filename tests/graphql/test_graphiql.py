"""GraphiQL in development comes entirely from this server: no third-party origin, no inline script."""

from __future__ import annotations

import base64
import hashlib
import re
from html.parser import HTMLParser

import pytest
from graphql_api import Api

from onestop.graphql.graphiql import ASSETS


class _References(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[tuple[str, str | None]] = []
        self.inline_scripts = 0
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        for name in ("src", "href"):
            if values.get(name) is not None:
                self.urls.append((str(values[name]), values.get("integrity")))
        self._in_script = tag == "script" and "src" not in values

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline_scripts += 1

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False


async def references(api: Api) -> _References:
    response = await api.client.get("/graphql", headers={"Accept": "text/html"})
    assert response.status_code == 200
    parser = _References()
    parser.feed(response.text)
    return parser


async def test_the_page_references_only_this_server(api: Api) -> None:
    page = await references(api)
    assert len(page.urls) >= 6  # React, ReactDOM, GraphiQL, explorer, start-up script, styles
    for url, _integrity in page.urls:
        assert url.startswith("/graphql/static/"), url
        assert "//" not in url
    assert page.inline_scripts == 0


async def test_every_referenced_asset_is_served_and_matches_its_integrity(api: Api) -> None:
    for url, integrity in (await references(api)).urls:
        response = await api.client.get(url)
        assert response.status_code == 200, url
        assert response.headers["content-type"].split(";")[0] in {"text/javascript", "application/javascript",
                                                                 "text/css"}
        assert response.headers["cache-control"].startswith("public")
        if integrity is not None:
            digest = base64.b64encode(hashlib.sha384(response.content).digest()).decode()
            assert integrity == f"sha384-{digest}", url


def test_the_vendored_files_name_their_licences() -> None:
    notes = (ASSETS / "README.md").read_text(encoding="utf-8")
    for path in ASSETS.iterdir():
        if path.suffix in {".js", ".css"}:
            assert f"`{path.name}`" in notes, path.name
    assert {p.name for p in ASSETS.glob("LICENSE.*")} == {"LICENSE.react.txt", "LICENSE.graphiql.txt"}


async def test_the_example_query_runs(api: Api) -> None:
    start = (ASSETS / "start.js").read_text(encoding="utf-8")
    match = re.search(r'parameters\.q \|\| "(.*?)"\)', start)
    assert match is not None
    await api.data(match.group(1).encode().decode("unicode_escape"))


@pytest.mark.parametrize("path", ["/graphql/static/graphiql.min.js", "/graphql/static/start.js"])
async def test_production_serves_no_graphiql_assets(production_api: Api, path: str) -> None:
    assert (await production_api.client.get(path)).status_code == 404
