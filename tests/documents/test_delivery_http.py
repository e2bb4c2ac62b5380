"""A department endpoint over HTTP receives each attached file's content beside the signed submission, and can
check every file against the SHA-256 the signature covers."""

from __future__ import annotations

import asyncio
import base64
import hashlib
from datetime import UTC, datetime
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from onestop.engine.applications.delivery import DeliveryClient, deliver_http
from onestop.engine.crypto.signing import Signer
from onestop.engine.documents.kinds import media_type


async def test_an_http_department_receives_the_files_it_can_check_against_the_signed_hashes() -> None:
    received: list[dict[str, Any]] = []

    async def submissions(request: Request) -> Response:
        received.append(await request.json())
        return Response(status_code=202)

    server = uvicorn.Server(uvicorn.Config(Starlette(routes=[Route("/submissions", submissions, methods=["POST"])]),
                                           host="127.0.0.1", port=0, log_level="error", lifespan="off"))
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn exposes only a flag
        await asyncio.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    files = {"doc-" + "1" * 32: b"%PDF-1.7 the report", "doc-" + "2" * 32: b"\x89PNG\r\n\x1a\n the photo"}
    signer = Signer(bytes(range(32)))
    signed = signer.sign_submission(
        application_id="app-1", service_slug="renew-driving-licence", service_hash="h", department="TD",
        citizen_ref="c", answers={"medicalReport": "doc-" + "1" * 32}, consents=[], assurance="standard",
        auth_time=None, submitted_at=datetime.now(UTC),
        documents=[{"id": key, "sha256": hashlib.sha256(content).hexdigest(), "mediaType": media_type("pdf")}
                   for key, content in files.items()])
    try:
        async with DeliveryClient(timeout=10) as client:
            assert await deliver_http(client, f"http://127.0.0.1:{port}/submissions", application_id="app-1",
                                      jws=signed.jws, files=files)
    finally:
        server.should_exit = True
        await task
    [body] = received
    payload = signer.verify_submission(body["jws"])
    for entry in payload["documents"]:
        content = base64.b64decode(body["documents"][entry["id"]])
        assert hashlib.sha256(content).hexdigest() == entry["sha256"]
    assert set(body["documents"]) == set(files)
