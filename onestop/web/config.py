"""How the web app reaches the API and the identity provider, and how it keeps sessions."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

CLIENT_ID = "onestop-web"


@dataclass(frozen=True)
class WebConfig:
    """``api_url`` is the API's base URL; ``transport`` (an ASGI transport) reaches it in process instead."""

    api_url: str
    issuer: str
    session_key: bytes
    secure_cookies: bool
    client_id: str = CLIENT_ID
    transport: httpx.AsyncBaseTransport | None = None
    development: bool = False

    def http_client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.api_url, transport=self.transport, timeout=60)
