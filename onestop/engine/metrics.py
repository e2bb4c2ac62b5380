"""Every Prometheus metric onestop exports, defined once; the engine and the GraphQL layer record into them.

One registry per process (prometheus_client's default, which also carries the process and GC collectors), served
at ``GET /metrics`` by the API and by ``ONESTOP_METRICS_PORT`` on a worker. Adding a metric: define it here with
the ``onestop_`` prefix and record it with one line at the call site.

Labels must stay bounded and free of personal data: never a citizen, application or consent id, a raw path or a
client-chosen GraphQL operation name. Service, department and provider ids are bounded by the catalogue;
GraphQL field names by the schema; codes and outcomes by the code's own enums.
"""

from __future__ import annotations

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

# Seconds; from a cached catalogue query (~ms) to a mutation waiting on a workflow update (~s).
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

HTTP_REQUESTS = Counter(
    "onestop_http_requests", "HTTP requests answered, by route template and status code.",
    ["method", "route", "status"])
HTTP_LATENCY = Histogram(
    "onestop_http_request_duration_seconds", "Time to answer an HTTP request, by route template.",
    ["method", "route"], buckets=LATENCY_BUCKETS)

GRAPHQL_FIELD_LATENCY = Histogram(
    "onestop_graphql_field_duration_seconds",
    "Time to resolve a top-level GraphQL field (the operation), by operation type and field name.",
    ["type", "field"], buckets=LATENCY_BUCKETS)
GRAPHQL_ERRORS = Counter(
    "onestop_graphql_errors", "Top-level GraphQL errors, by extensions.code.", ["code"])
GRAPHQL_USER_ERRORS = Counter(
    "onestop_graphql_user_errors", "userErrors returned in mutation payloads, by mutation and code.",
    ["field", "code"])
RATE_LIMITED = Counter(
    "onestop_rate_limited", "Requests refused by a rate limit, by the limited route.", ["route"])

ACTIVITY_LATENCY = Histogram(
    "onestop_activity_duration_seconds", "Time one Temporal activity attempt took, by activity and outcome.",
    ["activity", "outcome"], buckets=LATENCY_BUCKETS)

APPLICATIONS_STARTED = Counter(
    "onestop_applications_started", "Applications started (or resumed by a repeated start), by service.",
    ["service"])
APPLICATIONS_SUBMITTED = Counter(
    "onestop_applications_submitted", "Submissions delivered to a department for the first time, by service.",
    ["service"])
APPLICATIONS_DECIDED = Counter(
    "onestop_applications_decided", "Department status updates applied, by service and new status.",
    ["service", "status"])

STEPUP_CHALLENGES = Counter(
    "onestop_stepup_challenges", "Step-up challenges sent (RFC 9470), by reason (acr, max_age, binding).",
    ["reason"])
STEPUP_SUCCESSES = Counter("onestop_stepup_successes", "Step-up steps completed.")
FACE_CHECKS = Counter(
    "onestop_face_checks", "Face checks at sign-in, by outcome (match, face_mismatch, face_not_enrolled, ...).",
    ["outcome"])

CONSENTS_GRANTED = Counter("onestop_consents_granted", "Consent artefacts granted, by department.", ["department"])
CONSENTS_REVOKED = Counter("onestop_consents_revoked", "Consents revoked by the citizen.")
GATEWAY_FETCHES = Counter(
    "onestop_gateway_fetches", "Data gateway fetches, by provider and outcome (allowed, refused, failed).",
    ["provider", "outcome"])

DELIVERIES = Counter(
    "onestop_deliveries", "Submission delivery attempts, by channel and outcome (delivered, duplicate, failed).",
    ["channel", "outcome"])

CATALOGUE_RELOADS = Counter(
    "onestop_catalogue_reloads", "Catalogue reload attempts, by outcome (ok, failed).", ["outcome"])
CATALOGUE_PROBLEMS = Gauge(
    "onestop_catalogue_problems", "Problems found by the most recent catalogue reload (0 when it loaded).")


def metrics_exposition(registry: CollectorRegistry = REGISTRY) -> tuple[bytes, str]:
    """The registry in the Prometheus text format, with its content type."""
    return generate_latest(registry), CONTENT_TYPE_LATEST


def record_catalogue_reload(problems: int) -> None:
    """One reload attempt: ``problems`` is 0 when the new tree loaded."""
    CATALOGUE_RELOADS.labels("failed" if problems else "ok").inc()
    CATALOGUE_PROBLEMS.set(problems)


def bounded_label(value: str, allowed: frozenset[str] | set[str], other: str = "OTHER") -> str:
    """``value`` when it is one of ``allowed``, else ``other``: keeps a label's values a closed set."""
    return value if value in allowed else other


__all__ = [
    "ACTIVITY_LATENCY",
    "APPLICATIONS_DECIDED",
    "APPLICATIONS_STARTED",
    "APPLICATIONS_SUBMITTED",
    "CATALOGUE_PROBLEMS",
    "CATALOGUE_RELOADS",
    "CONSENTS_GRANTED",
    "CONSENTS_REVOKED",
    "DELIVERIES",
    "FACE_CHECKS",
    "GATEWAY_FETCHES",
    "GRAPHQL_ERRORS",
    "GRAPHQL_FIELD_LATENCY",
    "GRAPHQL_USER_ERRORS",
    "HTTP_LATENCY",
    "HTTP_REQUESTS",
    "LATENCY_BUCKETS",
    "RATE_LIMITED",
    "REGISTRY",
    "STEPUP_CHALLENGES",
    "STEPUP_SUCCESSES",
    "bounded_label",
    "metrics_exposition",
    "record_catalogue_reload",
]
