"""Process logging: JSON lines in production, text in development, each line with its request, trace and operation.

The request id and the operation name travel in context variables, set by the HTTP layer (per request) and by
the worker (per activity), so every line logged underneath carries them without being passed along. Nothing
here adds personal data: the fields are ids the process generated and names bounded by the schema and the code.
"""

from __future__ import annotations

import json
import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from opentelemetry import trace

from onestop.config import LogFormat, Settings

LOG_REQUEST_ID: ContextVar[str | None] = ContextVar("onestop_request_id", default=None)
LOG_OPERATION: ContextVar[str | None] = ContextVar("onestop_operation", default=None)

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s %(operation)s]: %(message)s"


class ContextFilter(logging.Filter):
    """Stamps ``request_id``, ``trace_id`` and ``operation`` on every record the handler emits."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = LOG_REQUEST_ID.get() or "-"
        record.operation = LOG_OPERATION.get() or "-"
        context = trace.get_current_span().get_span_context()
        # A zero trace id means no span is recording (tracing off): say so rather than print zeros.
        record.trace_id = format(context.trace_id, "032x") if context.trace_id else "-"
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: what log shippers (Fluent Bit, Vector, Loki) parse without a pattern."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
            "trace_id": getattr(record, "trace_id", "-"),
            "operation": getattr(record, "operation", "-"),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def handler_for(log_format: LogFormat) -> logging.Handler:
    """A stderr handler in ``log_format`` that adds the context fields."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(ContextFilter())
    handler.setFormatter(JsonFormatter() if log_format is LogFormat.JSON else logging.Formatter(TEXT_FORMAT))
    return handler


def configure_logging(settings: Settings, level: int = logging.INFO) -> None:
    """Replace the root logger's handlers with one in the configured format (called once per process)."""
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler_for(settings.resolved_log_format))
    root.setLevel(level)


__all__ = ["LOG_OPERATION", "LOG_REQUEST_ID", "ContextFilter", "JsonFormatter", "configure_logging", "handler_for"]
