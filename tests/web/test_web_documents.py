"""A file field in the web app over real HTTP: the step page offers an upload input, the multipart post goes to
the web app (the backend-for-frontend), which forwards each file to the API's upload endpoint."""

from __future__ import annotations

import datetime

import httpx
from sqlalchemy import select
from test_web_apply import _follow, _heading
from web_system import WebSystem, csrf_of, form_fields, replace, sign_in

from onestop.engine.db import DocumentRow

PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


async def _upload(client: httpx.AsyncClient, page: httpx.Response, name: str, content: bytes,
                  **values: str) -> httpx.Response:
    fields = replace(form_fields(page.text, ("action", "submit")), **values)
    return await client.post(str(page.url.path), data=dict(fields),
                             files={"f.proofOfAddress": (name, content, "application/octet-stream")})


async def test_a_citizen_uploads_proof_of_address_from_the_step_page(system: WebSystem) -> None:
    async with system.client() as client:
        service = await client.get("/services/change-of-address")
        started = await client.post("/services/change-of-address/start", data={"csrf": csrf_of(service.text)})
        signed = await sign_in(client, citizen="wong-ka-fai", start=await client.get(started.headers["location"]))
        prefill = await _follow(client, signed)
        form = await _follow(client, await client.post(str(prefill.url.path), data=dict(
            form_fields(prefill.text, ("action", "grant")))))
        assert _heading(form) == "Your new address"
        assert 'enctype="multipart/form-data"' in form.text
        assert 'type="file"' in form.text
        assert 'accept="application/pdf,image/jpeg,image/png"' in form.text
        today = datetime.date.today()
        answers = {"f_newAddress_building": "Harbour View", "f_newAddress_street": "1 Harbour Road",
                   "f_newAddress_district": "wan-chai", "f_newAddress_region": "HK",
                   "f_movedOn_day": str(today.day), "f_movedOn_month": str(today.month),
                   "f_movedOn_year": str(today.year), "f_sameForCorrespondence": "yes", "f_notify": "IRD"}

        refused = await _upload(client, form, "bill.pdf", b"not a pdf at all, just text", **answers)
        assert refused.status_code == 400
        assert "This file&#39;s content is" in refused.text or "This file's content is" in refused.text

        check = await _follow(client, await _upload(client, refused, "電費單.pdf", PDF, **answers))
        assert _heading(check) == "Check your new address", check.text
        async with system.engine.database.session() as session:
            rows = list(await session.scalars(select(DocumentRow).where(DocumentRow.field_id == "proofOfAddress",
                                                                       DocumentRow.deleted_at.is_(None))))
        stored = await system.engine.documents.for_application(rows[0].application_id)
        assert [(d.name, d.size, d.kind) for d in stored] == [("電費單.pdf", len(PDF), "pdf")]
