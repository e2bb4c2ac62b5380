"""How the API process serves HTTP: one uvicorn configuration for ``serve``, ``api`` and the benchmarks, so that what
is measured is what runs.

uvicorn writes a response's head and its body in two writes. Holding the head for the body (the ASGI spec allows
it) was tried: it saved 10-20 us of kernel time per answer, within the bench's noise, and needed a hook into
uvicorn's private request cycle, so it is not done.
"""

from __future__ import annotations

from typing import Any

import uvicorn


def api_config(app: Any, *, host: str, port: int, **options: Any) -> uvicorn.Config:
    """uvicorn's configuration for the API (``serve``, ``api``, and the benchmarks, which measure what they run)."""
    return uvicorn.Config(app, host=host, port=port, http="httptools", log_level="warning", lifespan="off",
                          # Forwarded headers are resolved by the rate limiter, against ONESTOP_TRUSTED_PROXIES only.
                          proxy_headers=False,
                          # The app logs each request itself (``onestop.http``, by route template); uvicorn's own
                          # line, below the warning level anyway, would still format its arguments per answer.
                          access_log=False, **options)


__all__ = ["api_config"]
