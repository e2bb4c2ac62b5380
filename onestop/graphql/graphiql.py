"""GraphiQL (development only) from files in the package: no CDN, so it works offline and under a strict CSP.

Strawberry's page loads React and GraphiQL from unpkg.com and starts them with an inline script; offline it
shows "Loading..." forever. The same builds (byte for byte: the integrity hashes are strawberry's) are vendored
in ``static/graphiql/`` with their licences, and the start-up script is a file too.
"""

from __future__ import annotations

import os
from html import escape
from pathlib import Path

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

ASSETS = Path(__file__).resolve().parent / "static" / "graphiql"
PREFIX = "/graphql/static"

# In load order; the integrity values are those of the npm packages (and of strawberry's template).
_STYLES = (
    ("graphiql.min.css", "sha384-Mq3vbRBY71jfjQAt/DcjxUIYY33ksal4cgdRt9U/hNPvHBCaT2JfJ/PTRiPKf0aM"),
    ("plugin-explorer.css", "sha384-5DFJlDPW2tSATRbM8kzoP1j194jexLswuNmClWoRr2Q0x7R68JIQzPHZ02Faktwi"),
    ("page.css", None),
)
_SCRIPTS = (
    ("react.production.min.js", "sha384-tMH8h3BGESGckSAVGZ82T9n90ztNXxvdwvdM6UoR56cYcf+0iGXBliJ29D+wZ/x8"),
    ("react-dom.production.min.js", "sha384-bm7MnzvK++ykSwVJ2tynSE5TRdN+xL418osEVF2DE/L/gfWHj91J2Sphe582B1Bh"),
    ("graphiql.min.js", "sha384-HbRVEFG0JGJZeAHCJ9Xm2+tpknBQ7QZmNlO/DgZtkZ0aJSypT96YYGRNod99l9Ie"),
    ("plugin-explorer.umd.js", "sha384-2oonKe47vfHIZnmB6ZZ10vl7T0Y+qrHQF2cmNTaFDuPshpKqpUMGMc9jgj9MLDZ9"),
    ("start.js", None),
)


def _integrity(value: str | None) -> str:
    return f' integrity="{value}"' if value else ""


def page(request: Request) -> Response:
    """The GraphiQL page; every URL in it is on this server, under the app's root path."""
    base = escape(request.scope.get("root_path", "") + PREFIX)
    styles = "".join(f'<link rel="stylesheet" href="{base}/{name}"{_integrity(sri)}>' for name, sri in _STYLES)
    scripts = "".join(f'<script src="{base}/{name}"{_integrity(sri)}></script>' for name, sri in _SCRIPTS)
    return HTMLResponse(
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>onestop — GraphiQL</title>'
        f'{styles}</head><body><div id="graphiql">Loading...</div>{scripts}</body></html>'
    )


class Assets(StaticFiles):
    """The vendored files, cacheable: they change only with the package."""

    def __init__(self) -> None:
        super().__init__(directory=ASSETS)

    def file_response(self, full_path: str | os.PathLike[str], stat_result: os.stat_result, scope: Scope,
                      status_code: int = 200) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers["Cache-Control"] = "public, max-age=86400"
        return response
