"""The web app's only way to the system: named GraphQL operation documents, sent over HTTP with httpx."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

OPERATIONS = Path(__file__).resolve().parent / "operations"
_FRAGMENTS = "_fragments.graphql"


@functools.cache
def _fragments() -> dict[str, str]:
    """Each fragment of ``_fragments.graphql`` by name, so a document carries only the ones it spreads."""
    text = (OPERATIONS / _FRAGMENTS).read_text(encoding="utf-8")
    chunks = ["fragment " + chunk.strip() for chunk in text.split("fragment ") if chunk.strip()]
    return {chunk.split()[1]: chunk for chunk in chunks}


@functools.cache
def document(name: str) -> str:
    """The operation ``name`` (its file stem) with the fragments it uses, transitively."""
    text = (OPERATIONS / f"{name}.graphql").read_text(encoding="utf-8")
    included: list[str] = []
    pending = [text]
    while pending:
        source = pending.pop()
        for fragment, body in _fragments().items():
            if f"...{fragment}" in source and fragment not in included:
                included.append(fragment)
                pending.append(body)
    return "\n".join([text, *(_fragments()[f] for f in included)])


def operation_names() -> list[str]:
    return sorted(p.stem for p in OPERATIONS.glob("*.graphql") if p.name != _FRAGMENTS)


@dataclass(frozen=True)
class Caller:
    """Who a request is made for: a bearer token and/or a resume token, and the page language."""

    language: str = "en"
    token: str | None = None
    resume_token: str | None = None


class ApiError(Exception):
    """A top-level GraphQL error (auth, not found, limits, faults); ``code`` is its ``extensions.code``."""

    def __init__(self, code: str, message: str, extensions: Mapping[str, Any]) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.extensions = dict(extensions)


@dataclass(frozen=True)
class Result:
    data: dict[str, Any]
    errors: list[dict[str, Any]] = field(default_factory=list)


class ApiClient:
    """Runs operation documents against ``/graphql`` of one API (in process or remote)."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def execute(self, name: str, variables: Mapping[str, Any] | None, caller: Caller) -> dict[str, Any]:
        """The operation's data; the first top-level error raises ``ApiError``."""
        headers = {"Accept-Language": caller.language}
        if caller.token:
            headers["Authorization"] = f"Bearer {caller.token}"
        if caller.resume_token:
            headers["X-Resume-Token"] = caller.resume_token
        response = await self.http.post("/graphql", json={
            "query": document(name), "operationName": name, "variables": dict(variables or {})}, headers=headers)
        if response.status_code == 429:
            raise ApiError("RATE_LIMITED", "too many requests; try again shortly", {})
        body: dict[str, Any] = response.json()
        errors: list[dict[str, Any]] = body.get("errors") or []
        if errors:
            first = errors[0]
            extensions = first.get("extensions") or {}
            raise ApiError(str(extensions.get("code", "INTERNAL_SERVER_ERROR")), str(first.get("message", "")),
                           extensions)
        data: dict[str, Any] = body.get("data") or {}
        return data

    async def upload(self, application_id: str, field_id: str, name: str, content: bytes,
                     caller: Caller) -> tuple[str | None, str | None]:
        """Upload one file for a file field (``POST /documents``): its document id, or the API's message why not."""
        from urllib.parse import quote

        headers = {"Accept-Language": caller.language, "X-File-Name": quote(name),
                   "Content-Type": "application/octet-stream"}
        if caller.token:
            headers["Authorization"] = f"Bearer {caller.token}"
        response = await self.http.post("/documents", params={"applicationId": application_id, "fieldId": field_id},
                                        content=content, headers=headers)
        body: dict[str, Any] = response.json()
        if response.status_code == 201:
            return str(body["document"]["id"]), None
        problems = body.get("userErrors") or body.get("errors") or [{"message": "The file could not be uploaded."}]
        return None, str(problems[0].get("message", ""))
