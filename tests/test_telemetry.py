"""validate.telemetry with the SDK's in-memory span exporter and metric reader: the span tree
of a run, its attributes, one event per assertion, error statuses, the metrics; trace
context for Kubernetes Jobs; and nothing imported or exported when OpenTelemetry is off."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from conftest import make_frame
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from validate import telemetry, telemetry_checks
from validate.errors import ConfigError
from validate.executors.k8s_manifests import JobRequest, build_job
from validate.kubernetes_settings import KubernetesSection
from validate.runner import RunRequest, run_validation
from validate.sqlite_store import THROUGH_MLFLOW_ENV

CONFIG = """\
data:
  eval: eval.parquet
  target: label
  prediction: score
  baseline_prediction: weak_score
checks:
  accuracy:
    n_resamples: 50
    thresholds: {roc_auc: {min: 0.7}, accuracy: {min: 0.6}}
  bias:
    sensitive_features: [group]
    n_resamples: 50
    thresholds: {demographic_parity_difference: {max: 0.0001}}
mlflow: {experiment: telemetry}
"""


@pytest.fixture
def otel():
    """In-memory exporter and reader for the duration of a test."""
    spans, reader = InMemorySpanExporter(), InMemoryMetricReader()
    telemetry.install(span_processor=SimpleSpanProcessor(spans), metric_readers=(reader,))
    yield spans, reader
    telemetry.uninstall()


def metric_points(reader: InMemoryMetricReader) -> dict[str, list]:
    data = reader.get_metrics_data()
    found: dict[str, list] = {}
    for resource_metrics in data.resource_metrics:
        for scope in resource_metrics.scope_metrics:
            for metric in scope.metrics:
                found.setdefault(metric.name, []).extend(metric.data.data_points)
    return found


def test_a_run_is_one_trace_with_a_span_per_stage_and_check(otel, tmp_path):
    spans, reader = otel
    make_frame(400).to_parquet(tmp_path / "eval.parquet")
    (tmp_path / "validation.yaml").write_text(CONFIG, encoding="utf-8")
    outcome = run_validation(RunRequest(config_path=str(tmp_path / "validation.yaml")))
    assert outcome.exit_code == 1  # bias fails its impossible threshold

    finished = spans.get_finished_spans()
    by_name: dict[str, list] = {}
    for span in finished:
        by_name.setdefault(span.name, []).append(span)
    (run,) = by_name["validate.run"]
    assert {span.context.trace_id for span in finished} == {run.context.trace_id}
    assert run.parent is None
    children = {s.name for s in finished if s.parent and s.parent.span_id == run.context.span_id}
    assert children == {"validate.load", "validate.check", "validate.record", "validate.decide"}
    (load,) = by_name["validate.load"]
    scored = {s.attributes["validate.model.role"] for s in by_name["validate.score"]}
    assert scored == {"candidate", "baseline"}
    assert all(s.parent.span_id == load.context.span_id for s in by_name["validate.score"])

    assert run.attributes["validate.mlflow.run_id"] == outcome.run_id
    assert run.attributes["validate.decision"] == "fail"
    assert run.attributes["validate.exit_code"] == 1
    assert run.attributes["validate.config.hash"] == outcome.report["config_hash"]
    assert run.status.status_code.name == "ERROR"
    assert "demographic_parity_difference" in run.status.description

    checks = {s.attributes["validate.check.name"]: s for s in by_name["validate.check"]}
    accuracy, bias = checks["accuracy"], checks["bias"]
    assert accuracy.attributes["validate.check.status"] == "passed"
    assert accuracy.status.status_code.name == "UNSET"
    assert [e.attributes["validate.assertion.metric"] for e in accuracy.events] == [
        "roc_auc",
        "accuracy",
    ]
    event = accuracy.events[0]
    assertion = next(c for c in outcome.report["checks"] if c["name"] == "accuracy")
    expected = assertion["assertions"][0]
    assert event.name == "validate.assertion"
    assert event.attributes["validate.assertion.value"] == expected["value"]
    assert event.attributes["validate.assertion.threshold"] == 0.7
    assert event.attributes["validate.assertion.op"] == ">="
    assert event.attributes["validate.assertion.passed"] is True
    assert [
        event.attributes["validate.assertion.ci.lower"],
        event.attributes["validate.assertion.ci.upper"],
    ] == expected["ci"]
    assert bias.attributes["validate.check.status"] == "failed"
    assert bias.status.status_code.name == "ERROR"
    assert bias.status.description.startswith("demographic_parity_difference")
    assert bias.events[0].attributes["validate.assertion.passed"] is False

    points = metric_points(reader)
    durations = {p.attributes["validate.check.name"]: p for p in points["validate.check.duration"]}
    assert set(durations) == {"accuracy", "bias"} and durations["bias"].count == 1
    assert durations["bias"].attributes["validate.check.status"] == "failed"
    (runs,) = points["validate.runs"]
    assert runs.value == 1 and dict(runs.attributes) == {"validate.decision": "fail"}
    values = {
        (p.attributes["validate.check.name"], p.attributes["validate.metric.name"]): p.value
        for p in points["validate.metric.value"]
    }
    assert values[("accuracy", "roc_auc")] == expected["value"]
    assert set(values) == {
        ("accuracy", "roc_auc"),
        ("accuracy", "accuracy"),
        ("bias", "demographic_parity_difference"),
    }
    lower = {
        p.attributes["validate.metric.name"]: p.value for p in points["validate.metric.ci.lower"]
    }
    assert lower["roc_auc"] == expected["ci"][0]
    assert "validate.promotions" not in points  # no promotion was asked for

    # `validate promote RUN_ID` (its body, as validate/cli.py runs it) on that failed run:
    # refused, in a trace of its own.
    from validate.errors import PromotionError
    from validate.promotion_step import promote_recorded_run

    spans.clear()
    with (
        pytest.raises(PromotionError),
        telemetry.promote_span(outcome.run_id, dry_run=False) as told,
    ):
        told(promote_recorded_run(outcome.run_id))
    (promote,) = spans.get_finished_spans()
    assert promote.name == "validate.promote" and promote.parent is None
    assert promote.attributes["validate.mlflow.run_id"] == outcome.run_id
    assert promote.status.status_code.name == "ERROR"
    assert promote.status.description.startswith("PromotionError")
    (promotions,) = metric_points(reader)["validate.promotions"]
    assert promotions.value == 1
    assert dict(promotions.attributes) == {"validate.promotion.outcome": "refused"}


def test_a_refused_config_is_counted_as_invalid_with_an_error_span(otel, tmp_path):
    spans, reader = otel
    (tmp_path / "validation.yaml").write_text("checks: {nope: {}}\n", encoding="utf-8")
    with pytest.raises(ConfigError):
        run_validation(RunRequest(config_path=str(tmp_path / "validation.yaml")))
    run = next(s for s in spans.get_finished_spans() if s.name == "validate.run")
    assert run.status.status_code.name == "ERROR" and run.attributes["validate.exit_code"] == 2
    (runs,) = metric_points(reader)["validate.runs"]
    assert dict(runs.attributes) == {"validate.decision": "invalid"}


def test_job_environment_carries_the_check_span_and_no_credentials(otel, monkeypatch):
    spans, _ = otel
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "https://user:s3cret@otel.example.com:4318")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-honeycomb-team=s3cret")
    monkeypatch.setenv("OTEL_SERVICE_NAME", "gate")
    with telemetry.run_span():
        telemetry_checks.check_started("accuracy")
        env = telemetry_checks.job_environment("accuracy")
        assert telemetry_checks.job_environment("bias") == {}  # no span: nothing to continue
        check = telemetry_checks._open_checks["accuracy"]
    assert telemetry_checks._open_checks == {}  # the run's end closes what it left open
    version, trace_id, span_id, flags = env["TRACEPARENT"].split("-")
    assert version == "00" and int(flags, 16) & 1  # sampled
    assert int(trace_id, 16) == check.context.trace_id
    assert int(span_id, 16) == check.context.span_id
    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "https://otel.example.com:4318"
    assert env["OTEL_SERVICE_NAME"] == "gate"
    assert "OTEL_EXPORTER_OTLP_HEADERS" not in env and "s3cret" not in json.dumps(env)

    settings = KubernetesSection.model_validate(
        {
            "image": "ghcr.io/acme/validate:1.0",
            "secrets": [
                {"secret": "otel", "key": "endpoint", "env": "OTEL_EXPORTER_OTLP_ENDPOINT"}
            ],
        }
    )
    request = JobRequest(
        check="accuracy",
        run_id="r",
        inputs_uri="runs:/r/validate-inputs/manifest.json",
        tracking_uri="http://mlflow:5000",
        environment={**env, "MLFLOW_TRACKING_URI": "http://elsewhere"},
    )
    (container,) = build_job(settings, request)["spec"]["template"]["spec"]["containers"]
    names = [entry["name"] for entry in container["env"]]
    assert len(names) == len(set(names))
    values = {entry["name"]: entry for entry in container["env"]}
    assert values["TRACEPARENT"]["value"] == env["TRACEPARENT"]
    assert values["MLFLOW_TRACKING_URI"]["value"] == "http://mlflow:5000"  # never overridden
    # The cluster's own endpoint (a keyed secret) wins over the runner's.
    assert values["OTEL_EXPORTER_OTLP_ENDPOINT"]["valueFrom"]["secretKeyRef"]["key"] == "endpoint"


def test_pod_span_continues_the_trace_from_traceparent(otel, monkeypatch):
    spans, _ = otel
    parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    monkeypatch.setenv("TRACEPARENT", parent)
    with telemetry.pod_span("accuracy", "run-1") as span, telemetry.span("validate.pod.check"):
        pass
    assert span is not None
    pod = next(s for s in spans.get_finished_spans() if s.name == "validate.pod")
    assert f"{pod.context.trace_id:032x}" == "0af7651916cd43dd8448eb211c80319c"
    assert f"{pod.parent.span_id:016x}" == "b7ad6b7169203331" and pod.parent.is_remote


def test_a_bad_protocol_is_one_clear_line(monkeypatch):
    telemetry.uninstall()
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")
    with pytest.raises(
        ConfigError, match="'http/json' is not supported; use http/protobuf or grpc"
    ):
        telemetry.setup()
    assert telemetry.active_telemetry() is None


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/v1/traces"}, True),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_SDK_DISABLED": "TRUE"}, False),
        ({"OTEL_SERVICE_NAME": "x"}, False),
    ],
)
def test_configured_only_by_an_endpoint_and_not_when_disabled(monkeypatch, env, expected):
    for name in (*telemetry.ENDPOINT_VARS, "OTEL_SDK_DISABLED"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert telemetry.configured() is expected


def _otel_modules_after(code: str, cwd, env) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport sys, json; print(json.dumps(sorted(sys.modules)))"],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        check=True,
    )
    return {m for m in json.loads(done.stdout.splitlines()[-1]) if m.startswith("opentelemetry")}


def importers_of_opentelemetry(importtime: str) -> dict[str, set[str]]:
    """From ``-X importtime`` output: for each top-level import (a module imported by a
    statement run at that moment, not by another module's import), the opentelemetry
    modules it brought in. Children print before their parent, one level deeper."""
    tree = []
    for line in importtime.splitlines():
        if line.startswith("import time:") and "self [us]" not in line:
            name = line.split("|")[-1]
            tree.append(((len(name) - len(name.lstrip(" "))) // 2, name.strip()))
    found: dict[str, set[str]] = {}
    pending: set[str] = set()
    for depth, name in tree:
        if name.startswith("opentelemetry"):
            pending.add(name)
        if depth == 0 and pending:
            found.setdefault(name, set()).update(pending)
            pending = set()
    return found


def test_help_and_an_unconfigured_run_import_nothing_of_opentelemetry(tmp_path):
    """``validate --help`` imports no opentelemetry module at all, nor does a run that
    creates its sqlite store without MLflow. A run through MLflow imports parts of
    opentelemetry (MLflow's GenAI tracing does): every opentelemetry module comes in under
    an MLflow import, none under validate's (no exporter, nothing of ours)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env.pop(THROUGH_MLFLOW_ENV, None)
    helped = _otel_modules_after(
        "from validate.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass",
        tmp_path,
        env,
    )
    assert helped == set()

    make_frame(300).to_parquet(tmp_path / "eval.parquet")
    (tmp_path / "validation.yaml").write_text(CONFIG, encoding="utf-8")
    for through_mlflow in (False, True):
        done = subprocess.run(
            [sys.executable, "-m", "validate", "run", "-c", "validation.yaml"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            env={
                **env,
                "PYTHONPROFILEIMPORTTIME": "1",
                **({THROUGH_MLFLOW_ENV: "1"} if through_mlflow else {}),
            },
        )
        assert done.returncode == 1, done.stdout + done.stderr[-3000:]
        assert "| validate.runner\n" in done.stderr  # the run process's imports were read
        importers = importers_of_opentelemetry(done.stderr)
        if not through_mlflow:
            assert "| mlflow\n" not in done.stderr and importers == {}
            continue
        assert importers, "MLflow imports opentelemetry: the parsing above found none"
        assert {name for name in importers if not name.startswith("mlflow")} == set()
        imported = set().union(*importers.values())
        assert not {m for m in imported if m.startswith("opentelemetry.exporter")}


def test_a_collector_that_is_down_changes_no_outcome(tmp_path):
    """Export failures are the SDK's to log; the exit code and the report stay the gate's."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]  # nothing listens once the socket is closed
    make_frame(300).to_parquet(tmp_path / "eval.parquet")
    (tmp_path / "validation.yaml").write_text(CONFIG, encoding="utf-8")
    env = {
        **os.environ,
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{closed}",
        "OTEL_EXPORTER_OTLP_TIMEOUT": "1",
    }
    done = subprocess.run(
        [sys.executable, "-m", "validate", "run", "-c", "validation.yaml", "--json", "r.json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
    )
    assert done.returncode == 1, done.stderr[-2000:]  # bias fails, as without telemetry
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["decision"] == "fail" and report["exit_code"] == 1
    assert "decision: FAIL" in done.stdout


def test_a_telemetry_failure_changes_no_outcome(otel, tmp_path, monkeypatch):
    spans, _ = otel

    def broken(*args, **kwargs):
        raise RuntimeError("a bug in telemetry")

    monkeypatch.setattr(telemetry_checks, "_record_metric_gauges", broken)
    monkeypatch.setattr(telemetry, "promotion_outcome", broken)
    monkeypatch.setattr(telemetry, "clean_attributes", broken)
    make_frame(300).to_parquet(tmp_path / "eval.parquet")
    (tmp_path / "validation.yaml").write_text(CONFIG, encoding="utf-8")
    seen = []
    outcome = run_validation(
        RunRequest(config_path=str(tmp_path / "validation.yaml")), on_result=seen.append
    )
    assert outcome.exit_code == 1 and outcome.decision.verdict == "fail"
    assert [r.name for r in seen] == ["accuracy", "bias"]  # the caller's callback still runs
    assert {s.name for s in spans.get_finished_spans()} >= {"validate.run", "validate.check"}


def test_json_log_lines_carry_the_current_span(otel):
    from validate import log_lines

    assert log_lines.render("a\nb", kind="report") == "a\nb"  # text: unchanged
    log_lines.set_format("json")
    try:
        with telemetry.run_span(), telemetry.span("validate.check") as current:
            lines = log_lines.render("kubernetes: job x: created\nsecond", kind="kubernetes")
        after = json.loads(log_lines.render("decision: PASS", kind="report"))
    finally:
        log_lines.set_format("text")
    first, second = (json.loads(line) for line in lines.splitlines())
    context = current.get_span_context()
    assert first["trace_id"] == f"{context.trace_id:032x}"
    assert first["span_id"] == f"{context.span_id:016x}"
    assert first["kind"] == "kubernetes" and first["message"] == "kubernetes: job x: created"
    assert second["message"] == "second" and first["timestamp"].endswith("Z")
    run = next(s for s in otel[0].get_finished_spans() if s.name == "validate.run")
    assert after["span_id"] == f"{run.context.span_id:016x}"  # after the run: its root span


def test_json_logs_make_the_one_line_error_json_too(tmp_path):
    (tmp_path / "validation.yaml").write_text("checks: {nope: {}}\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    done = subprocess.run(
        [sys.executable, "-m", "validate", "run", "-c", "validation.yaml", "--log-format", "json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
    )
    assert done.returncode == 2 and done.stdout == ""
    (line,) = done.stderr.splitlines()
    entry = json.loads(line)
    assert entry["level"] == "error" and entry["kind"] == "problem"
    assert entry["message"].startswith("validate: error: validation.yaml: data: required")
    assert len(entry["trace_id"]) == 32 and len(entry["span_id"]) == 16  # ids, nothing exported
