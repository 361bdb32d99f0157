"""The operator's Prometheus metrics, served on ``/metrics`` (prometheus-client).

Every label takes values from a fixed set (phases, admission reasons, outcomes): no model
names, versions or run ids, so the series count stays bounded however many versions are
validated. Imported only by ``validate operator``.
"""

from __future__ import annotations

import threading

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

REGISTRY = CollectorRegistry()
RECONCILES = Counter(
    "validate_operator_reconciles",
    "Reconciliations, by resource kind and result (the phase written, 'Final' when the "
    "resource was already decided, 'Unavailable' when MLflow or the API server failed).",
    ["resource", "result"],
    registry=REGISTRY,
)
IN_FLIGHT = Gauge(
    "validate_operator_validations_in_flight",
    "ModelValidations whose runner is running now.",
    registry=REGISTRY,
)
TO_DECISION = Histogram(
    "validate_operator_registration_to_decision_seconds",
    "Time from a model version's registration in MLflow to the operator's decision on it.",
    buckets=(30, 60, 90, 120, 180, 300, 600, 1200, 3600, 7200),
    registry=REGISTRY,
)
PROMOTIONS = Counter(
    "validate_operator_promotions",
    "Decided validations by promotion outcome: promoted, refused (passed, but the alias "
    "could not be moved), manual (passed, policy manual), none (did not pass).",
    ["outcome"],
    registry=REGISTRY,
)
ADMISSIONS = Counter(
    "validate_operator_admission_reviews",
    "Admission reviews of workloads, by decision (allowed, denied) and reason.",
    ["decision", "reason"],
    registry=REGISTRY,
)

_running: set[str] = set()
_lock = threading.Lock()


def set_running(uid: str, running: bool) -> None:
    """Record whether the ModelValidation ``uid`` is running (the in-flight gauge)."""
    with _lock:
        if running:
            _running.add(uid)
        else:
            _running.discard(uid)
        IN_FLIGHT.set(len(_running))


def serve(address: str, port: int) -> None:
    """Serve ``/metrics`` on ``address:port`` from a daemon thread."""
    start_http_server(port, addr=address, registry=REGISTRY)
