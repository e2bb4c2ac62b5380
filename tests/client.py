"""The one GraphQL test client every suite uses: GraphQL and development-IdP calls over httpx, to the ASGI app in
process or to a real server over HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

import httpx

STANDARD = "urn:onestop:acr:standard"
FACE = "urn:onestop:acr:face"
BASE_URL = "http://onestop.test"


class Api:
    """A GraphQL client bound to one app.

    ``isolated`` sends every call from a fresh HTTP client, so nothing (cookies, connections) carries over between
    calls, as between two devices.
    """

    def __init__(self, client: httpx.AsyncClient | None = None, *,
                 connect: Callable[[], httpx.AsyncClient] | None = None, engine: Any = None) -> None:
        if client is None and connect is None:
            raise ValueError("give a client, or connect= to open a fresh client per call")
        self._client = client
        self._connect = connect
        self.engine = engine  # the in-process engine behind the app, when there is one

    @classmethod
    def in_process(cls, app: Any, engine: Any = None) -> Api:
        return cls(httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE_URL), engine=engine)

    @classmethod
    def isolated(cls, app: Any, engine: Any = None) -> Api:
        return cls(connect=lambda: httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE_URL),
                   engine=engine)

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            raise AttributeError("an isolated Api has no lasting client")
        return self._client

    @asynccontextmanager
    async def _http(self) -> AsyncIterator[httpx.AsyncClient]:
        if self._client is not None:
            yield self._client
            return
        assert self._connect is not None
        async with self._connect() as client:
            yield client

    async def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        async with self._http() as client:
            return await client.request(method, path, **kwargs)

    async def post(self, query: str, variables: Mapping[str, Any] | None = None,
                   headers: Mapping[str, str] | None = None, *, status: int | None = 200) -> dict[str, Any]:
        """The JSON answer to a GraphQL request; ``status`` is the HTTP status expected (None: any)."""
        body: dict[str, Any] = {"query": query, "variables": dict(variables or {})}
        response = await self.request("POST", "/graphql", json=body, headers=dict(headers or {}))
        if status is not None:
            assert response.status_code == status, response.text
        result: dict[str, Any] = response.json()
        return result

    async def data(self, query: str, variables: Mapping[str, Any] | None = None,
                   headers: Mapping[str, str] | None = None) -> dict[str, Any]:
        """The ``data`` of an answer that must have no errors."""
        result = await self.post(query, variables, headers)
        assert "errors" not in result, result["errors"]
        data: dict[str, Any] = result["data"]
        return data

    async def token(self, body: Mapping[str, Any], lang: str | None = "en") -> dict[str, str]:
        """Headers with an access token from the development IdP, obtained over HTTP as a frontend would."""
        response = await self.request("POST", "/dev-idp/token", json=dict(body))
        assert response.status_code == 200, response.text
        headers = {"Authorization": f"Bearer {response.json()['access_token']}"}
        if lang is not None:
            headers["Accept-Language"] = lang
        return headers

    async def citizens(self) -> list[dict[str, Any]]:
        response = await self.request("GET", "/dev-idp/citizens")
        assert response.status_code == 200, response.text
        listing: list[dict[str, Any]] = response.json()["citizens"]
        return listing

    async def face_token(self, citizen: str, binding: str | None) -> dict[str, str]:
        """A face-level token for ``citizen``, made with their test selfie and bound to one step when ``binding``."""
        sample = next(c for c in await self.citizens() if c["id"] == citizen)["faceSamples"]["match"]
        body: dict[str, Any] = {"citizen": citizen, "acr": FACE, "selfie": sample}
        if binding is not None:
            body["binding"] = binding
        return await self.token(body)


async def login(api: Api, *, citizen: str | None = None, staff: str | None = None, acr: str = STANDARD
                ) -> dict[str, str]:
    """Headers for a citizen (at ``acr``) or a member of staff."""
    body: dict[str, Any] = {"staff": staff} if staff else {"citizen": citizen, "acr": acr}
    return await api.token(body, lang=None)


def errors_of(result: Mapping[str, Any]) -> list[dict[str, Any]]:
    errors: list[dict[str, Any]] = result.get("errors") or []
    assert errors, f"expected errors, got {result}"
    return errors


def codes_of(result: Mapping[str, Any]) -> list[str]:
    return [error.get("extensions", {}).get("code") for error in errors_of(result)]


BEGIN_PAYMENT = """mutation($id: ID!, $step: String!) {
  beginPayment(input: {applicationId: $id, stepId: $step}) { paymentUrl userErrors { field message code } } }"""
CURRENT_STEP = "query($id: ID!) { application(id: $id) { currentStep { id } payment { status receiptId } } }"


async def pay_fee(api: Api, application_id: str, step_id: str, headers: Mapping[str, str], *,
                  within: float = 30.0) -> None:
    """Pay a payment step as a citizen would: beginPayment, then "Pay" on the development provider's hosted page
    (``/dev-pay/``, whose signed webhook moves the application on); returns once the step is done."""
    import asyncio
    from urllib.parse import urlsplit

    begun = (await api.data(BEGIN_PAYMENT, {"id": application_id, "step": step_id}, headers))["beginPayment"]
    assert begun["userErrors"] == [], begun["userErrors"]
    path = urlsplit(begun["paymentUrl"]).path
    answered = await api.request("POST", path, data={"outcome": "succeeded", "method": "fps"})
    assert answered.status_code in (200, 303), answered.text
    deadline = asyncio.get_running_loop().time() + within
    while True:
        app = (await api.data(CURRENT_STEP, {"id": application_id}, headers))["application"]
        if app["payment"]["receiptId"] and (app["currentStep"] or {}).get("id") != step_id:
            return
        assert asyncio.get_running_loop().time() < deadline, f"the payment of {step_id} did not complete: {app}"
        await asyncio.sleep(0.1)
