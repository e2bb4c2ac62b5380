"""The name of each sandbox's own Temporal task queue (its applications never run on the live one)."""

from __future__ import annotations

SANDBOX_QUEUE_PREFIX = "sandbox-"


def sandbox_task_queue(provider_id: str) -> str:
    """The task queue of sandbox ``provider_id``'s applications."""
    return f"{SANDBOX_QUEUE_PREFIX}{provider_id}"
