"""OpenTelemetry traces and metrics of a run, configured by OpenTelemetry's own variables.

Telemetry is on when an OTLP endpoint is set (``OTEL_EXPORTER_OTLP_ENDPOINT`` or a
per-signal ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` / ``..._METRICS_ENDPOINT``) and
``OTEL_SDK_DISABLED`` is not ``true``. Off, every function here is a no-op and no
opentelemetry module is imported (``tests/test_telemetry.py`` checks it). Checks' spans,
their metrics and the trace context of Kubernetes Jobs are in ``telemetry_checks``. On, the SDK
reads everything else itself: service name and resource attributes, headers, timeouts,
compression, sampler. Only the choice of exporter by ``OTEL_EXPORTER_OTLP_PROTOCOL``
(``http/protobuf``, the specification's default, or ``grpc``) is made here: the SDK
makes it only inside its private auto-configuration.

Providers are this process's own (not the global ones), so model code or MLflow that set
up OpenTelemetry for themselves are neither overridden nor overriding. The README's
"Observability" section lists every span, attribute, event and metric.

Telemetry never decides anything: a collector that is down costs at most the exporter's
timeout at the end of the run, and nothing here raises into the run.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import os
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar, cast

from validate.errors import ConfigError

ENDPOINT_VARS = (
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
)
TRACEPARENT_ENV = "TRACEPARENT"  # the environment carrier of W3C trace context
TRACESTATE_ENV = "TRACESTATE"
EXPORTER_MODULES = {
    "http/protobuf": "opentelemetry.exporter.otlp.proto.http",
    "grpc": "opentelemetry.exporter.otlp.proto.grpc",
}
SCOPE = "validate"

F = TypeVar("F", bound=Callable[..., Any])


def harmless(default: Callable[[], Any] = lambda: None) -> Callable[[F], F]:
    """Telemetry never changes a run's outcome: a failure in describing it (a bug here, an
    SDK that misbehaves) loses that piece of telemetry, nothing else."""

    def wrap(function: F) -> F:
        @functools.wraps(function)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            try:
                return function(*args, **kwargs)
            except Exception:  # noqa: BLE001 - see above
                return default()

        return cast(F, guarded)

    return wrap


def configured() -> bool:
    """Whether OpenTelemetry's variables ask for export (read without importing it)."""
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    return any(os.environ.get(name, "").strip() for name in ENDPOINT_VARS)


class Telemetry:
    """This process's tracer and meter, with the run's instruments."""

    def __init__(
        self,
        *,
        span_processor: Any = None,
        metric_readers: tuple[Any, ...] = (),
    ) -> None:
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider

        resource = Resource.create()
        if str(resource.attributes.get("service.name", "")).startswith("unknown_service"):
            resource = resource.merge(Resource({"service.name": "validate"}))
        # Each run flushes at its end; exporting again at interpreter exit would only repeat
        # it (and retry for seconds against a collector that went away).
        self.tracer_provider = TracerProvider(resource=resource, shutdown_on_exit=False)
        if span_processor is not None:
            self.tracer_provider.add_span_processor(span_processor)
        self.meter_provider = MeterProvider(
            resource=resource, metric_readers=metric_readers, shutdown_on_exit=False
        )
        self.tracer = self.tracer_provider.get_tracer(SCOPE)
        meter = self.meter_provider.get_meter(SCOPE)
        self.check_duration = meter.create_histogram(
            "validate.check.duration", unit="s", description="How long each check took."
        )
        self.runs = meter.create_counter(
            "validate.runs", unit="{run}", description="Validation runs, by decision."
        )
        self.metric_value = meter.create_gauge(
            "validate.metric.value", unit="1", description="An asserted metric's value."
        )
        self.metric_lower = meter.create_gauge(
            "validate.metric.ci.lower", unit="1", description="Lower end of its interval."
        )
        self.metric_upper = meter.create_gauge(
            "validate.metric.ci.upper", unit="1", description="Upper end of its interval."
        )
        self.promotions = meter.create_counter(
            "validate.promotions", unit="{promotion}", description="Promotions, by outcome."
        )

    def flush(self) -> None:
        """Export what is buffered now (the run process ends with ``os._exit``)."""
        self.tracer_provider.force_flush()
        self.meter_provider.force_flush()


_state: list[Telemetry] = []
_ids_wanted: list[bool] = []
_last_run: list[tuple[str, str] | None] = []  # the last run's root span (log lines after it)


def _exporters() -> tuple[Any, tuple[Any, ...]]:
    """A batching span processor and a metric reader for the configured OTLP protocol."""
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    def module(signal: str, kind: str) -> Any:
        name = f"OTEL_EXPORTER_OTLP_{signal.upper()}_PROTOCOL"
        protocol = (
            os.environ.get(name) or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL") or "http/protobuf"
        ).strip()
        package = EXPORTER_MODULES.get(protocol)
        if package is None:
            raise ConfigError(
                f"OTEL_EXPORTER_OTLP_PROTOCOL '{protocol}' is not supported; use "
                f"{' or '.join(EXPORTER_MODULES)} (or unset the OTEL_EXPORTER_OTLP_* variables)"
            )
        try:
            return importlib.import_module(f"{package}.{kind}")
        except ImportError as exc:
            raise ConfigError(
                f"OpenTelemetry export ({protocol}) needs {exc.name or package}: pip install "
                "'validate-gate[otel]' (from a clone: pip install '.[otel]'), or unset "
                "OTEL_EXPORTER_OTLP_ENDPOINT"
            ) from None

    processor: Any = None
    readers: tuple[Any, ...] = ()
    if _signal_wanted("traces"):
        processor = BatchSpanProcessor(module("traces", "trace_exporter").OTLPSpanExporter())
    if _signal_wanted("metrics"):
        exporter = module("metrics", "metric_exporter").OTLPMetricExporter()
        # One export at the end of the run (flush); the interval only matters for long runs.
        readers = (PeriodicExportingMetricReader(exporter),)
    return processor, readers


def _signal_wanted(signal: str) -> bool:
    exporter = os.environ.get(f"OTEL_{signal.upper()}_EXPORTER", "otlp").strip().lower()
    endpoint = os.environ.get(f"OTEL_EXPORTER_OTLP_{signal.upper()}_ENDPOINT") or os.environ.get(
        "OTEL_EXPORTER_OTLP_ENDPOINT"
    )
    return exporter != "none" and bool(endpoint and endpoint.strip())


def setup() -> Telemetry | None:
    """This process's telemetry, created on first use when configured; None when off.

    A bad protocol or a missing exporter package is a :class:`ConfigError` (exit 2)."""
    if _state:
        return _state[0]
    if not configured():
        if _ids_wanted:  # JSON log lines carry trace ids: spans without export
            _state.append(Telemetry())
            return _state[0]
        return None
    processor, readers = _exporters()
    _state.append(Telemetry(span_processor=processor, metric_readers=readers))
    return _state[0]


def want_trace_ids() -> None:
    """Create spans even without export, so log lines can carry trace and span ids."""
    _ids_wanted.append(True)


def install(*, span_processor: Any = None, metric_readers: tuple[Any, ...] = ()) -> None:
    """Use these processors and readers (tests: the SDK's in-memory exporter and reader)."""
    _state[:] = [Telemetry(span_processor=span_processor, metric_readers=metric_readers)]


def uninstall() -> None:
    """Back to unconfigured (tests)."""
    _state.clear()


def active_telemetry() -> Telemetry | None:
    return _state[0] if _state else None


# --------------------------------------------------------------------------- spans


@contextlib.contextmanager
def run_span(name: str = "validate.run") -> Iterator[RunSpan]:
    """The root span of one validation, current while the body runs; flushed at its end.

    Its parent is the context in ``TRACEPARENT`` when the caller passed one."""
    telemetry = setup()
    if telemetry is None:
        yield RunSpan(None, None)
        return
    run = RunSpan(telemetry, None)
    try:
        with telemetry.tracer.start_as_current_span(
            name,
            context=_parent_from_environment(),
            record_exception=False,
            set_status_on_exception=False,
        ) as current:
            run.span = current
            _last_run.clear()
            _last_run.append(_ids_of(current))
            try:
                yield run
            except BaseException as exc:
                run.failed(exc)
                raise
    finally:
        from validate.telemetry_checks import end_open_checks

        end_open_checks()  # interrupted: checks that never reported
        run.count()
        with contextlib.suppress(Exception):  # see harmless
            telemetry.flush()


@contextlib.contextmanager
def pod_span(check: str, parent_run: str) -> Iterator[Any]:
    """Inside a check's Job: the pod's span, a child of the check's span in the runner (from
    ``TRACEPARENT``); flushed at its end. Yields None when telemetry is off."""
    telemetry = setup()
    if telemetry is None:
        yield None
        return
    try:
        with telemetry.tracer.start_as_current_span(
            "validate.pod",
            context=_parent_from_environment(),
            attributes={"validate.check.name": check, "validate.mlflow.run_id": parent_run},
        ) as current:
            yield current
    finally:
        with contextlib.suppress(Exception):  # see harmless
            telemetry.flush()


@contextlib.contextmanager
def promote_span(run_id: str, *, dry_run: bool) -> Iterator[Callable[[Mapping[str, Any]], None]]:
    """``validate promote RUN_ID``: a ``validate.promote`` root span, and one count of
    ``validate.promotions`` (not for a dry run). The body hands the promotion's outcome
    to the function it is given."""
    telemetry = setup()
    if telemetry is None:
        yield lambda outcome: None
        return
    from validate.errors import PromotionError

    told: dict[str, Any] = {}
    outcome = "failed"
    try:
        with telemetry.tracer.start_as_current_span(
            "validate.promote",
            context=_parent_from_environment(),
            attributes={"validate.mlflow.run_id": run_id, "validate.promotion.dry_run": dry_run},
            record_exception=False,
            set_status_on_exception=False,
        ) as current:
            try:
                yield told.update
            except BaseException as exc:
                outcome = "refused" if isinstance(exc, PromotionError) else "failed"
                _fail_span(current, exc)
                raise
            outcome = "promoted" if told.get("promoted") else "refused"
            _describe_promotion(current, outcome, told)
    finally:
        if not dry_run:
            with contextlib.suppress(Exception):
                telemetry.promotions.add(1, {"validate.promotion.outcome": outcome})
        with contextlib.suppress(Exception):  # see harmless
            telemetry.flush()


@harmless()
def _fail_span(current: Any, exc: BaseException) -> None:
    from opentelemetry.trace import Status, StatusCode

    current.set_status(Status(StatusCode.ERROR, _described(exc)))


def _described(exc: BaseException) -> str:
    from validate.tracking import scrub_credentials

    return scrub_credentials(f"{type(exc).__name__}: {exc}")[:1000]


@harmless()
def _describe_promotion(current: Any, outcome: str, promotion: Mapping[str, Any]) -> None:
    current.set_attributes(
        clean_attributes(
            {
                "validate.promotion.outcome": outcome,
                "validate.promotion.model": promotion.get("model"),
                "validate.promotion.alias": promotion.get("alias"),
                "validate.promotion.version": promotion.get("version"),
            }
        )
    )


class RunSpan:
    """The run's root span: attributes as the run learns them, and its decision."""

    def __init__(self, telemetry: Telemetry | None, span: Any) -> None:
        self.telemetry = telemetry
        self.span = span
        self.outcome = "error"  # until a decision or a refusal says otherwise

    @harmless()
    def started(self, state: Any) -> None:
        """What prepare() resolved: the models, the config hash, the MLflow run."""
        if self.span is None:
            return
        attributes: dict[str, Any] = {
            "validate.config.hash": state.loaded.digest,
            "validate.checks": [item.name for item in state.selected],
            "validate.mlflow.run_id": state.recorder.run_id,
        }
        for role, ref in (("candidate", state.candidate), ("baseline", state.baseline)):
            if ref is None:
                continue
            attributes[f"validate.{role}.uri"] = ref.uri
            if ref.registry is not None:
                attributes[f"validate.{role}.model"] = ref.registry.name
                attributes[f"validate.{role}.version"] = ref.registry.version
        self.span.set_attributes(clean_attributes(attributes))

    @harmless()
    def finished(self, state: Any) -> None:
        """The decision, the exit code, the promotion."""
        self.outcome = {0: "pass", 1: "fail"}.get(state.exit_code, "error")
        if self.span is None or self.telemetry is None:
            return
        attributes: dict[str, Any] = {
            "validate.decision": state.decision.verdict if state.complete else "partial",
            "validate.exit_code": state.exit_code,
            "validate.complete": state.complete,
        }
        if state.promotion is not None:
            outcome = promotion_outcome(state)
            self.telemetry.promotions.add(1, {"validate.promotion.outcome": outcome})
            attributes.update(
                {
                    "validate.promotion.outcome": outcome,
                    "validate.promotion.model": state.promotion.get("model"),
                    "validate.promotion.alias": state.promotion.get("alias"),
                    "validate.promotion.version": state.promotion.get("version"),
                }
            )
        self.span.set_attributes(clean_attributes(attributes))
        if state.exit_code != 0:
            from opentelemetry.trace import Status, StatusCode

            reasons = list(getattr(state.decision, "reasons", ()) or ())
            why = state.problem or (reasons[0] if reasons else f"exit {state.exit_code}")
            from validate.tracking import scrub_credentials

            self.span.set_status(Status(StatusCode.ERROR, scrub_credentials(str(why))[:1000]))

    @harmless()
    def failed(self, exc: BaseException) -> None:
        from opentelemetry.trace import Status, StatusCode

        if isinstance(exc, KeyboardInterrupt):
            self.outcome = "interrupted"
        else:
            code = getattr(exc, "exit_code", 3)
            self.outcome = "invalid" if code == 2 else "error"
            self.span.set_attribute("validate.exit_code", code)
        self.span.set_status(Status(StatusCode.ERROR, _described(exc)))

    @harmless()
    def count(self) -> None:
        if self.telemetry is not None:
            self.telemetry.runs.add(1, {"validate.decision": self.outcome})


@contextlib.contextmanager
def span(name: str, **attributes: Any) -> Iterator[Any]:
    """A child of the current span (a no-op when telemetry is off); an exception sets its
    status to error and propagates."""
    manager = _span_manager(name, attributes)
    if manager is None:
        yield None
        return
    with manager as current:
        yield current


@harmless()
def _span_manager(name: str, attributes: Mapping[str, Any]) -> Any:
    telemetry = active_telemetry()
    if telemetry is None:
        return None
    return telemetry.tracer.start_as_current_span(name, attributes=clean_attributes(attributes))


def _parent_from_environment() -> Any:
    """The context a Kubernetes Job was given (``TRACEPARENT``), or None."""
    carrier = {
        key.lower(): os.environ[env]
        for key, env in (("traceparent", TRACEPARENT_ENV), ("tracestate", TRACESTATE_ENV))
        if os.environ.get(env)
    }
    if not carrier:
        return None
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    return TraceContextTextMapPropagator().extract(carrier)


def promotion_outcome(state: Any) -> str:
    """What became of a promotion the run was asked for: ``promoted``; ``blocked`` (the
    gate failed, only some checks ran, MLflow could not record); ``refused`` (attempted:
    the alias moved, the candidate's bytes changed); ``failed`` (attempted or due, but
    MLflow went away or a report could not be written)."""
    promotion = state.promotion or {}
    if promotion.get("promoted"):
        return "promoted"
    attempted = state.decision.passed and state.complete and not state.recorder.offline
    if not attempted:
        return "blocked"
    return "refused" if state.exit_code == 1 else "failed"


# --------------------------------------------------------------------------- ids


@harmless()
def current_ids() -> tuple[str, str] | None:
    """The current span's trace and span ids (hex), for log lines; after a run, its root
    span's; None when telemetry is off."""
    if active_telemetry() is None:
        return None
    from opentelemetry import trace

    return _ids_of(trace.get_current_span()) or (_last_run[0] if _last_run else None)


def _ids_of(current: Any) -> tuple[str, str] | None:
    from opentelemetry import trace

    context = current.get_span_context()
    if not context.is_valid:
        return None
    return trace.format_trace_id(context.trace_id), trace.format_span_id(context.span_id)


def clean_attributes(attributes: Mapping[str, Any]) -> dict[str, Any]:
    """Attributes the SDK accepts (no None: it drops them with a warning); URIs without
    credentials."""
    from validate.tracking import redact_uri

    return {
        key: redact_uri(value) if key.endswith(".uri") and isinstance(value, str) else value
        for key, value in attributes.items()
        if value is not None
    }
