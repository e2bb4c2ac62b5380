"""The sandbox portal for service providers: join, my sandbox, upload definitions, preview, test applications,
and the platform team's inbox of applications to join. Everything goes through the sandbox GraphQL operations."""

from __future__ import annotations

import base64
import uuid
from typing import Any
from urllib.parse import quote

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response

from onestop.web.client import ApiError
from onestop.web.context import Page, query_params

JOIN_SERVICE = "join-sandbox-programme"
PLATFORM_ROLE = "platform"
PROVIDER_ROLE = "provider"
MAX_UPLOAD_BYTES = 10 * 1024 * 1024
"""What the portal forwards at most; the sandbox's own (smaller) limit is the API's to enforce and explain."""
INBOX_PAGE = 20
# The HTML language of each language the API renders a preview in.
RENDERING_LANG = {"en": "en", "tc": "zh-HK", "sc": "zh-CN"}


def _provider(page: Page) -> bool:
    return page.session.signed_in and page.session.kind == "staff" and PROVIDER_ROLE in page.session.roles


def _refuse(page: Page, message_key: str) -> Response:
    if not page.session.signed_in:
        return page.redirect(page.sign_in_url())
    return page.render("error.html", status=403, heading=page.t("sandbox_portal"), message=page.t(message_key))


async def home(request: Request) -> Response:
    page = await Page.open(request)
    return page.render("sandbox_home.html", provider=_provider(page), platform=PLATFORM_ROLE in page.session.roles)


async def join(request: Request) -> Response:
    """Joining is itself a service: its page, with the guided form every service has."""
    page = await Page.open(request)
    return page.redirect(f"/services/{JOIN_SERVICE}")


async def _my_sandbox(page: Page) -> dict[str, Any] | None:
    try:
        data = await page.api.execute("MySandbox", None, page.caller)
    except ApiError as error:
        if error.code in ("FORBIDDEN", "NOT_FOUND", "UNAUTHENTICATED"):
            return None
        raise
    sandbox: dict[str, Any] = data["mySandbox"]
    return sandbox


async def mine(request: Request) -> Response:
    page = await Page.open(request)
    if not _provider(page):
        return _refuse(page, "provider_only")
    sandbox = await _my_sandbox(page)
    if sandbox is None:
        return _refuse(page, "provider_only")
    latest = sandbox["versions"][-1] if sandbox["versions"] else None
    return page.render("sandbox_mine.html", sandbox=sandbox, latest=latest, new_secret=None, errors=[])


async def rotate_secret(request: Request) -> Response:
    """A new client secret, shown on this response only (never kept in the session or a flash message)."""
    page = await Page.open(request)
    if not _provider(page):
        return _refuse(page, "provider_only")
    data = await page.api.execute("RotateSandboxClientSecret", {"cmid": uuid.uuid4().hex}, page.caller)
    payload = data["rotateSandboxClientSecret"]
    sandbox = await _my_sandbox(page)
    if sandbox is None:
        return _refuse(page, "provider_only")
    latest = sandbox["versions"][-1] if sandbox["versions"] else None
    return page.render(
        "sandbox_mine.html",
        sandbox=sandbox,
        latest=latest,
        new_secret=payload["clientSecret"],
        errors=[e["message"] for e in payload["userErrors"]],
    )


async def upload_form(request: Request) -> Response:
    page = await Page.open(request)
    if not _provider(page):
        return _refuse(page, "provider_only")
    return page.render("sandbox_upload.html", problems=[], errors=[], version=None, filename=None)


async def upload(request: Request) -> Response:
    page = await Page.open(request)
    try:
        return await _upload(page)
    finally:
        await page.form.close()  # an uploaded file spools to a temporary file until closed


async def _upload(page: Page) -> Response:
    if not _provider(page):
        return _refuse(page, "provider_only")
    sent = page.form.get("definitions")
    if not isinstance(sent, UploadFile) or not sent.filename:
        return page.render(
            "sandbox_upload.html", status=400, problems=[], errors=[page.t("choose_file")], version=None, filename=None
        )
    content = await sent.read(MAX_UPLOAD_BYTES + 1)
    if len(content) > MAX_UPLOAD_BYTES:
        return page.render(
            "sandbox_upload.html",
            status=413,
            problems=[],
            errors=[page.t("upload_too_large")],
            version=None,
            filename=sent.filename,
        )
    data = await page.api.execute(
        "UploadSandboxDefinitions",
        {"filename": sent.filename, "content": base64.b64encode(content).decode("ascii"), "cmid": uuid.uuid4().hex},
        page.caller,
    )
    payload = data["uploadSandboxDefinitions"]
    failed = bool(payload["problems"] or payload["userErrors"]) or payload["version"] is None
    return page.render(
        "sandbox_upload.html",
        status=422 if failed else 200,
        problems=payload["problems"],
        errors=[e["message"] for e in payload["userErrors"]],
        version=payload["version"],
        filename=sent.filename,
    )


def _int(text: str | None) -> int | None:
    return int(text) if text and text.isdigit() and len(text) < 10 else None


async def preview(request: Request) -> Response:
    page = await Page.open(request)
    if not _provider(page):
        return _refuse(page, "provider_only")
    slug = request.path_params["slug"]
    step = request.query_params.get("step") or None
    version = _int(request.query_params.get("version"))
    try:
        data = await page.api.execute("SandboxPreview", {"slug": slug, "step": step, "version": version}, page.caller)
    except ApiError as error:
        if error.code in ("NOT_FOUND", "BAD_USER_INPUT"):
            return page.render("error.html", status=404, heading=page.t("not_found"), message=error.message)
        raise
    shown = data["sandboxPreview"]
    # The page's own language first, then the others: each rendering is marked with its language.
    order = [code for code, lang in RENDERING_LANG.items() if lang == page.language]
    for entry in shown["steps"]:
        entry["renderings"].sort(key=lambda r: (r["language"] not in order, r["language"]))
        for rendering in entry["renderings"]:
            rendering["lang"] = RENDERING_LANG.get(rendering["language"], "en")
    return page.render(
        "sandbox_preview.html",
        shown=shown,
        step=step,
        whole_url=f"/sandbox/services/{quote(slug)}/preview"
        + query_params({"version": str(version) if version else None}),
    )


async def test_application(request: Request) -> Response:
    """The page from which a sandbox's test citizen starts an application of one of its services."""
    page = await Page.open(request)
    slug = request.path_params["slug"]
    return page.render(
        "sandbox_start.html", slug=slug, citizen=page.session.signed_in and page.session.kind == "citizen", error=None
    )


async def start(request: Request) -> Response:
    page = await Page.open(request)
    slug = request.path_params["slug"]
    if not page.session.signed_in or page.session.kind != "citizen":
        return page.redirect(page.sign_in_url(f"/sandbox/services/{quote(slug)}/test"))
    try:
        data = await page.api.execute("StartSandboxApplication", {"slug": slug, "cmid": uuid.uuid4().hex}, page.caller)
    except ApiError as error:
        if error.code != "FORBIDDEN":
            raise
        return page.render(
            "sandbox_start.html", status=403, slug=slug, citizen=True, error=page.t("test_citizens_only")
        )
    payload = data["startSandboxApplication"]
    if payload["userErrors"] or payload["application"] is None:
        return page.render(
            "sandbox_start.html",
            status=400,
            slug=slug,
            citizen=True,
            error="; ".join(e["message"] for e in payload["userErrors"]),
        )
    return page.redirect(f"/applications/{quote(payload['application']['id'])}")


async def inbox(request: Request) -> Response:
    """The platform team's inbox: applications to join (and everything else sent to the platform team)."""
    page = await Page.open(request)
    if not (page.session.signed_in and page.session.kind == "staff" and PLATFORM_ROLE in page.session.roles):
        return _refuse(page, "platform_only")
    status = request.query_params.get("status") or None
    status = status if status in ("SUBMITTED", "IN_REVIEW", "NEEDS_INFO", "APPROVED", "REJECTED") else None
    after = request.query_params.get("after") or None
    data = await page.api.execute(
        "DepartmentInbox", {"first": INBOX_PAGE, "after": after, "status": status}, page.caller
    )
    connection = data["departmentInbox"]
    return page.render(
        "sandbox_inbox.html",
        inbox=connection,
        selected=status,
        after=after,
        first_url="/sandbox/inbox" + query_params({"status": status}),
        next_url="/sandbox/inbox" + query_params({"status": status, "after": connection["pageInfo"]["endCursor"]}),
    )
