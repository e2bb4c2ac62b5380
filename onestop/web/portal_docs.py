"""The sandbox portal's documentation: the getting-started guide, the generated references, and the programme's
news as a page and as an Atom feed (both from ``publicInfo.sandboxNews``, itself read from ``definitions/``)."""

from __future__ import annotations

import functools
import re
from datetime import UTC, datetime
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

from markdown_it import MarkdownIt
from starlette.requests import Request
from starlette.responses import Response

from onestop.web.context import Page

REFERENCE = Path(__file__).resolve().parent / "reference"
"""The generated references (``onestop reference`` writes them; a test keeps them in sync)."""
REFERENCES = {"definitions": "definitions_reference", "graphql": "graphql_reference"}
GUIDE_STEPS = 6
ATOM = "http://www.w3.org/2005/Atom"
_ATOM_LANG = {"en": "en", "zh-HK": "zh-HK", "zh-CN": "zh-CN"}


@functools.cache
def reference_html(name: str) -> str:
    """A reference rendered once per process; raw HTML in the Markdown is escaped, not passed through."""
    markdown = MarkdownIt("commonmark", {"html": False}).enable("table")
    html: str = markdown.render((REFERENCE / f"{name}.md").read_text(encoding="utf-8"))
    # Headings get the ids the references' own links (#formstep, #providersandbox) point at.
    return _HEADING.sub(lambda m: f'<h{m[1]} id="{_anchor(m[2])}">{m[2]}</h{m[1]}>', html)


_HEADING = re.compile(r"<h([1-4])>(.*?)</h\1>")


def _anchor(heading: str) -> str:
    return re.sub(r"[^a-z0-9_-]", "", re.sub(r"<[^>]+>", "", heading).strip().lower().replace(" ", "-"))


async def guide(request: Request) -> Response:
    page = await Page.open(request)
    steps = [(page.t(f"guide_{n}_title"), page.t(f"guide_{n}_body")) for n in range(1, GUIDE_STEPS + 1)]
    return page.render("sandbox_guide.html", steps=steps)


async def reference(request: Request) -> Response:
    page = await Page.open(request)
    name = request.path_params["name"]
    if name not in REFERENCES:
        return page.render("error.html", status=404, heading=page.t("not_found"), message=None)
    return page.render("sandbox_reference.html", heading=page.t(REFERENCES[name]), body=reference_html(name))


async def news(request: Request) -> Response:
    page = await Page.open(request)
    data = await page.api.execute("SandboxNews", None, page.caller)
    return page.render("sandbox_news.html", feed=data["publicInfo"]["sandboxNews"])


def atom_document(feed: dict[str, object] | None, *, base: str, language: str, title: str) -> str:
    """The news as an Atom 1.0 document (RFC 4287): ids from the source feed, links made absolute."""
    items = list(feed["items"]) if feed is not None and isinstance(feed["items"], list) else []
    stamps = [str(item["publishedAt"]) for item in items if item.get("publishedAt")]
    updated = max(stamps) if stamps else datetime(2026, 1, 1, tzinfo=UTC).isoformat()
    feed_title = str(feed["title"]) if feed is not None and feed.get("title") else title
    entries = []
    for item in items:
        link = str(item.get("link") or "/sandbox/news")
        href = base + link if link.startswith("/") else link
        stamp = str(item.get("publishedAt") or updated)
        entries.append(
            f"  <entry>\n    <id>{escape(str(item['id']))}</id>\n    <title>{escape(str(item['title']))}</title>\n"
            f'    <updated>{escape(stamp)}</updated>\n    <link rel="alternate" href={quoteattr(href)}/>\n'
            f"    <summary>{escape(str(item.get('summary') or ''))}</summary>\n  </entry>\n"
        )
    return (
        f'<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="{ATOM}" xml:lang="{_ATOM_LANG[language]}">\n'
        f"  <id>{escape(base)}/sandbox/news.atom</id>\n  <title>{escape(feed_title)}</title>\n"
        f"  <updated>{escape(updated)}</updated>\n  <author><name>onestop</name></author>\n"
        f'  <link rel="self" href={quoteattr(base + "/sandbox/news.atom")}/>\n'
        f'  <link rel="alternate" href={quoteattr(base + "/sandbox/news")}/>\n' + "".join(entries) + "</feed>\n"
    )


async def news_atom(request: Request) -> Response:
    page = await Page.begin(request)
    data = await page.api.execute("SandboxNews", None, page.caller)
    base = str(request.base_url).rstrip("/")
    body = atom_document(
        data["publicInfo"]["sandboxNews"], base=base, language=page.language, title=page.t("sandbox_news")
    )
    return Response(
        body, media_type="application/atom+xml; charset=utf-8", headers={"Cache-Control": "public, max-age=300"}
    )
