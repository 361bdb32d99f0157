"""Telemetry against a real OTLP/HTTP receiver on 127.0.0.1 (tests/otlp_receiver.py decodes
the protobuf messages): ``validate run`` as a subprocess exports one trace and its metrics;
``validate run-check``, the entry point of a check's Kubernetes Job, run here with the
environment its manifest gives it, continues the run's trace.

The run uses real scikit-learn models (candidate and registered champion) on the small
test frame rather than the credit sample, to keep the test cheap; the path through the
runner is the same.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml
from conftest import base_config, make_frame, register_champion, run_cli
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from otlp_receiver import OtlpReceiver

from validate import telemetry, telemetry_checks
from validate.executors.k8s_manifests import JobRequest, build_job
from validate.executors.staging import MANIFEST_PATH, Stager, manifest_json, stage_inputs
from validate.kubernetes_settings import KubernetesSection
from validate.results import CheckResult, Status
from validate.runner import RunRequest, prepare

ERROR = 2  # opentelemetry.proto's STATUS_CODE_ERROR


@pytest.fixture(scope="module")
def receiver():
    with OtlpReceiver() as running:
        yield running


def otel_env(receiver: OtlpReceiver) -> dict[str, str]:
    return {
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_SERVICE_NAME": "validate-ci",
        "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=test,team=ml",
    }


def test_a_run_exports_its_trace_and_metrics(
    receiver, write_config, data_dir, models_dir, tmp_path
):
    receiver.clear()
    champion = register_champion(models_dir / "weak")
    config = base_config(
        data_dir,
        models_dir,
        **{
            "model.baseline": "models:/credit@champion",
            "promote": {"model": "credit", "alias": "champion"},
            "checks": {
                "accuracy": {"n_resamples": 50, "thresholds": {"roc_auc": {"min": 0.7}}},
                "bias": {
                    "blocking": False,
                    "sensitive_features": ["group"],
                    "n_resamples": 50,
                    "thresholds": {"demographic_parity_difference": {"max": 0.0001}},
                },
            },
        },
    )
    report_path = tmp_path / "report.json"
    done = run_cli(
        "run",
        "-c",
        str(write_config(config)),
        "--json",
        str(report_path),
        "--log-format",
        "json",
        env=otel_env(receiver),
    )
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(report_path.read_text())
    assert report["promotion"]["promoted"] is True

    spans = receiver.spans()
    (run,) = [s for s in spans if s["name"] == "validate.run"]
    assert {s["trace_id"] for s in spans} == {run["trace_id"]}
    assert run["parent_id"] is None
    assert run["resource"]["service.name"] == "validate-ci"
    assert run["resource"]["deployment.environment"] == "test"
    assert {s["scope"] for s in spans} == {"validate"}
    children = sorted(s["name"] for s in spans if s["parent_id"] == run["span_id"])
    assert children == [
        "validate.check",
        "validate.check",
        "validate.decide",
        "validate.load",
        "validate.promote",
        "validate.record",
    ]
    (load,) = [s for s in spans if s["name"] == "validate.load"]
    scores = [s for s in spans if s["name"] == "validate.score"]
    assert {s["attributes"]["validate.model.role"] for s in scores} == {"candidate", "baseline"}
    assert {s["parent_id"] for s in scores} == {load["span_id"]}
    assert all(s["attributes"]["validate.rows"] == 800 for s in scores)

    attributes = run["attributes"]
    assert attributes["validate.candidate.uri"] == str(models_dir / "good")
    assert attributes["validate.baseline.uri"] == "models:/credit@champion"
    assert attributes["validate.baseline.model"] == "credit"
    assert attributes["validate.baseline.version"] == champion
    assert attributes["validate.config.hash"] == report["config_hash"]
    assert attributes["validate.mlflow.run_id"] == report["mlflow"]["run_id"]
    assert attributes["validate.decision"] == "pass" and attributes["validate.exit_code"] == 0
    assert attributes["validate.promotion.outcome"] == "promoted"
    assert attributes["validate.promotion.version"] == report["promotion"]["version"]
    assert run["status"][0] != ERROR

    checks = {
        s["attributes"]["validate.check.name"]: s for s in spans if s["name"] == "validate.check"
    }
    by_report = {c["name"]: c for c in report["checks"]}
    accuracy, bias = checks["accuracy"], checks["bias"]
    assert accuracy["attributes"]["validate.check.status"] == "passed"
    (event,) = accuracy["events"]
    (expected,) = by_report["accuracy"]["assertions"]
    assert event["name"] == "validate.assertion"
    assert event["attributes"] == {
        "validate.assertion.metric": "roc_auc",
        "validate.assertion.op": ">=",
        "validate.assertion.value": expected["value"],
        "validate.assertion.threshold": 0.7,
        "validate.assertion.ci.lower": expected["ci"][0],
        "validate.assertion.ci.upper": expected["ci"][1],
        "validate.assertion.passed": True,
        "validate.assertion.sentence": expected["sentence"],
    }
    assert bias["attributes"]["validate.check.blocking"] is False
    assert bias["status"] == (ERROR, by_report["bias"]["message"])
    assert bias["events"][0]["attributes"]["validate.assertion.passed"] is False

    metrics = receiver.metrics()
    (runs,) = metrics["validate.runs"]
    assert runs["kind"] == "sum" and runs["unit"] == "{run}"
    assert runs["value"] == 1 and runs["attributes"] == {"validate.decision": "pass"}
    (promotions,) = metrics["validate.promotions"]
    assert promotions["value"] == 1
    assert promotions["attributes"] == {"validate.promotion.outcome": "promoted"}
    durations = {
        p["attributes"]["validate.check.name"]: p for p in metrics["validate.check.duration"]
    }
    assert durations["accuracy"]["kind"] == "histogram" and durations["accuracy"]["unit"] == "s"
    assert durations["accuracy"]["count"] == 1
    assert durations["accuracy"]["sum"] == pytest.approx(
        by_report["accuracy"]["duration_s"], abs=1e-3
    )
    values = {
        (p["attributes"]["validate.check.name"], p["attributes"]["validate.metric.name"]): p[
            "value"
        ]
        for p in metrics["validate.metric.value"]
    }
    assert values == {
        ("accuracy", "roc_auc"): expected["value"],
        ("bias", "demographic_parity_difference"): by_report["bias"]["assertions"][0]["value"],
    }
    (upper,) = [
        p
        for p in metrics["validate.metric.ci.upper"]
        if p["attributes"]["validate.check.name"] == "accuracy"
    ]
    assert upper["value"] == expected["ci"][1] and upper["kind"] == "gauge"

    # --log-format json: every line is one JSON object in the run's trace.
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert lines and all(line["trace_id"] == run["trace_id"] for line in lines)
    # The report table, and the notice that the candidate is a local model from outside the
    # config's repository.
    assert {line["kind"] for line in lines} == {"report", "notice"}
    assert any(line["message"].startswith("decision: PASS") for line in lines)
    assert all(len(line["span_id"]) == 16 for line in lines)
    assert all(json.loads(line)["trace_id"] == run["trace_id"] for line in done.stderr.splitlines())


def test_a_checks_job_continues_the_runs_trace(receiver, write_config, tmp_path, monkeypatch):
    """The runner side opens the run's and the check's spans (in-memory here), builds the
    Job manifest, and runs the Job's command locally with the manifest's environment: the
    pod's spans reach the receiver in the run's trace, under the check's span."""
    receiver.clear()
    make_frame(300).to_parquet(tmp_path / "eval.parquet")
    path = write_config(
        {
            "data": {"eval": "eval.parquet", "target": "label", "prediction": "score"},
            "checks": {"accuracy": {"n_resamples": 50, "thresholds": {"roc_auc": {"min": 0.7}}}},
            "mlflow": {"experiment": "otel-jobs"},
        }
    )
    for name, value in otel_env(receiver).items():
        monkeypatch.setenv(name, value)
    local = InMemorySpanExporter()
    telemetry.install(
        span_processor=SimpleSpanProcessor(local), metric_readers=(InMemoryMetricReader(),)
    )
    try:
        with telemetry.run_span(), tempfile.TemporaryDirectory() as artifacts:
            state = prepare(RunRequest(config_path=str(path)), artifacts)
            recorder = state.recorder
            stager = Stager(recorder.client, recorder.experiment_id)
            staged = stage_inputs(
                stager,
                state.context,
                data_files={
                    "eval": str(tmp_path / "eval.parquet"),
                    "reference": None,
                    "train": None,
                },
                checks={"accuracy": state.loaded.config.checks["accuracy"] or {}},
            )
            recorder.client.log_text(recorder.run_id, manifest_json(staged), MANIFEST_PATH)
            telemetry_checks.check_started("accuracy")
            job = build_job(
                KubernetesSection(image="validate:test"),
                JobRequest(
                    check="accuracy",
                    run_id=recorder.run_id,
                    inputs_uri=f"runs:/{recorder.run_id}/{MANIFEST_PATH}",
                    tracking_uri=recorder.tracking_uri,
                    environment=telemetry_checks.job_environment("accuracy"),
                ),
            )
            (container,) = job["spec"]["template"]["spec"]["containers"]
            env = {entry["name"]: entry["value"] for entry in container["env"]}
            assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == receiver.url
            # What the image has that this machine's pod stand-in needs too.
            env.update(
                PATH=os.environ["PATH"],
                PYTHONPATH=os.environ.get("PYTHONPATH", ""),
                HOME=str(tmp_path),
                MPLCONFIGDIR=str(tmp_path / "matplotlib"),
                VALIDATE_TERMINATION_LOG=str(tmp_path / "termination-log"),
            )
            command = [str(Path(sys.executable).parent / "validate"), *container["command"][1:]]
            pod = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True)
            assert pod.returncode == 0, pod.stdout + pod.stderr
            assert json.loads(pod.stdout.splitlines()[-1])["status"] == "passed"
            check = telemetry_checks._open_checks["accuracy"].get_span_context()
            run_trace, check_id = f"{check.trace_id:032x}", f"{check.span_id:016x}"
        (run,) = [s for s in local.get_finished_spans() if s.name == "validate.run"]
        assert f"{run.context.trace_id:032x}" == run_trace
    finally:
        telemetry.uninstall()

    spans = receiver.spans()
    (pod_span,) = [s for s in spans if s["name"] == "validate.pod"]
    assert pod_span["trace_id"] == run_trace
    assert pod_span["parent_id"] == check_id
    assert pod_span["attributes"]["validate.check.status"] == "passed"
    assert pod_span["events"][0]["attributes"]["validate.assertion.metric"] == "roc_auc"
    assert pod_span["resource"]["service.name"] == "validate-ci"
    inner = {s["name"] for s in spans if s["parent_id"] == pod_span["span_id"]}
    assert inner == {"validate.pod.inputs", "validate.pod.check", "validate.pod.record"}
    assert {s["trace_id"] for s in spans} == {run_trace}
    assert yaml.safe_dump(job)  # the manifest itself stays plain data


def test_grpc_protocol_exports_to_a_grpc_receiver(monkeypatch):
    """``OTEL_EXPORTER_OTLP_PROTOCOL=grpc`` uses the gRPC exporters (a real gRPC server on
    127.0.0.1 receives the same messages)."""
    from concurrent import futures

    import grpc
    from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2 as metrics_pb2
    from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2_grpc as metrics_grpc
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as trace_pb2
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc as trace_grpc

    received: list = []

    class Traces(trace_grpc.TraceServiceServicer):
        def Export(self, request, context):  # noqa: N802 - the service's name
            received.append(request)
            return trace_pb2.ExportTraceServiceResponse()

    class Metrics(metrics_grpc.MetricsServiceServicer):
        def Export(self, request, context):  # noqa: N802
            received.append(request)
            return metrics_pb2.ExportMetricsServiceResponse()

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    trace_grpc.add_TraceServiceServicer_to_server(Traces(), server)
    metrics_grpc.add_MetricsServiceServicer_to_server(Metrics(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{port}")
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_INSECURE", "true")
        telemetry.uninstall()
        with telemetry.run_span():
            telemetry_checks.check_started("accuracy")
            telemetry_checks.check_finished(
                CheckResult(name="accuracy", status=Status.FAILED, message="roc_auc 0.6 < min 0.7")
            )
    finally:
        telemetry.uninstall()
        server.stop(grace=None)
    names = [
        span.name
        for request in received
        if isinstance(request, trace_pb2.ExportTraceServiceRequest)
        for resource in request.resource_spans
        for scope in resource.scope_spans
        for span in scope.spans
    ]
    assert sorted(names) == ["validate.check", "validate.run"]
    metric_names = {
        metric.name
        for request in received
        if isinstance(request, metrics_pb2.ExportMetricsServiceRequest)
        for resource in request.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
    }
    assert {"validate.check.duration", "validate.runs"} <= metric_names
