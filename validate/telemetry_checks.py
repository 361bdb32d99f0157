"""OpenTelemetry for checks: a ``validate.check`` span per check (assertions as events,
an error status for a failed or errored check), the check metrics, and the trace context
a check's Kubernetes Job is given (``TRACEPARENT``) so the pod's spans join the run's
trace. Like ``validate.telemetry``, every function is a no-op while telemetry is off.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from validate import telemetry
from validate.telemetry import (
    ENDPOINT_VARS,
    TRACEPARENT_ENV,
    TRACESTATE_ENV,
    active_telemetry,
    harmless,
)

if TYPE_CHECKING:
    from validate.results import CheckResult
    from validate.telemetry import Telemetry

# What a check's Job inherits from the runner so its spans reach the same backend. Headers
# (API keys) and certificate paths are not copied: give them to Jobs through
# kubernetes.secrets.
INHERITED_VARS = (
    *ENDPOINT_VARS,
    "OTEL_EXPORTER_OTLP_PROTOCOL",
    "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
    "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL",
    "OTEL_SERVICE_NAME",
    "OTEL_RESOURCE_ATTRIBUTES",
    "OTEL_SDK_DISABLED",
    "OTEL_TRACES_EXPORTER",
    "OTEL_METRICS_EXPORTER",
    "OTEL_TRACES_SAMPLER",
    "OTEL_TRACES_SAMPLER_ARG",
)
MAX_METRICS_PER_CHECK = 32  # gauge series per check: asserted metrics only, and at most this

_open_checks: dict[str, Any] = {}


@harmless()
def check_started(name: str) -> None:
    """Open the span of check ``name`` (a child of the current span: the run's)."""
    active = active_telemetry()
    if active is None:
        return
    _open_checks[name] = active.tracer.start_span(
        "validate.check", attributes={"validate.check.name": name}
    )


def observe_results(
    on_result: Callable[[CheckResult], None] | None,
) -> Callable[[CheckResult], None] | None:
    """``on_result``, preceded by closing the check's span and recording its metrics."""
    if active_telemetry() is None:
        return on_result

    def observed(result: CheckResult) -> None:
        check_finished(result)
        if on_result is not None:
            on_result(result)

    return observed


@harmless()
def check_finished(result: CheckResult) -> None:
    """Close check ``result.name``'s span with its outcome (one that never started, such
    as a Job abandoned before creation, gets a span of its reported duration)."""
    active = active_telemetry()
    if active is None:
        return
    current = _open_checks.pop(result.name, None)
    if current is None:
        start = time.time_ns() - int(max(result.duration_s, 0.0) * 1e9)
        current = active.tracer.start_span(
            "validate.check", attributes={"validate.check.name": result.name}, start_time=start
        )
    describe_check(current, result)
    current.end()
    attributes = {"validate.check.name": result.name, "validate.check.status": result.status.value}
    active.check_duration.record(max(result.duration_s, 0.0), attributes)
    _record_metric_gauges(active, result)


@harmless()
def describe_check(current: Any, result: CheckResult) -> None:
    """A check's attributes, one event per assertion, and an error status unless it
    passed or was skipped."""
    from opentelemetry.trace import Status, StatusCode

    current.set_attributes(
        telemetry.clean_attributes(
            {
                "validate.check.name": result.name,
                "validate.check.status": result.status.value,
                "validate.check.blocking": result.blocking,
                "validate.check.message": result.message,
            }
        )
    )
    for assertion in result.assertions:
        ci = assertion.ci
        current.add_event(
            "validate.assertion",
            telemetry.clean_attributes(
                {
                    "validate.assertion.metric": assertion.metric,
                    "validate.assertion.op": assertion.op,
                    "validate.assertion.value": assertion.value,
                    "validate.assertion.threshold": assertion.threshold,
                    "validate.assertion.ci.lower": ci[0] if ci else None,
                    "validate.assertion.ci.upper": ci[1] if ci else None,
                    "validate.assertion.passed": assertion.passed,
                    "validate.assertion.sentence": assertion.sentence,
                }
            ),
        )
    if result.status.value in ("failed", "error"):
        current.set_status(Status(StatusCode.ERROR, result.message[:1000]))


def _record_metric_gauges(active: Telemetry, result: CheckResult) -> None:
    """Gauges for asserted metrics only: their names come from the config's thresholds, so
    the label set stays bounded whatever columns or groups the data holds."""
    seen: dict[str, Any] = {}
    for assertion in result.assertions:
        if assertion.metric not in seen and len(seen) < MAX_METRICS_PER_CHECK:
            seen[assertion.metric] = assertion
    for metric, assertion in seen.items():
        attributes = {"validate.check.name": result.name, "validate.metric.name": metric}
        if _finite(assertion.value):
            active.metric_value.set(float(assertion.value), attributes)
        if assertion.ci and _finite(assertion.ci[0]) and _finite(assertion.ci[1]):
            active.metric_lower.set(float(assertion.ci[0]), attributes)
            active.metric_upper.set(float(assertion.ci[1]), attributes)


@harmless(dict)
def job_environment(check: str) -> dict[str, str]:
    """Environment for check ``check``'s Kubernetes Job: ``TRACEPARENT`` (and
    ``TRACESTATE``) of its span, so the pod's spans join this trace, and the runner's
    OpenTelemetry settings (endpoints without credentials). Empty when telemetry is off."""
    active = active_telemetry()
    current = _open_checks.get(check)
    if active is None or current is None:
        return {}
    from opentelemetry import trace
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    from validate.tracking import redact_uri

    carrier: dict[str, str] = {}
    TraceContextTextMapPropagator().inject(carrier, context=trace.set_span_in_context(current))
    env = {name: os.environ[name] for name in INHERITED_VARS if os.environ.get(name)}
    for name in ENDPOINT_VARS:
        if name in env:
            env[name] = redact_uri(env[name])
    env[TRACEPARENT_ENV] = carrier["traceparent"]
    if carrier.get("tracestate"):
        env[TRACESTATE_ENV] = carrier["tracestate"]
    return env


def end_open_checks() -> None:
    """End the spans of checks that never reported (the run was interrupted)."""
    for name in list(_open_checks):
        _open_checks.pop(name).end()


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
