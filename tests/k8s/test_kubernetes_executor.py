"""The Kubernetes executor against a real control plane: the real Job controller,
scheduler, TTL and garbage collectors, with the node agent as the kubelet and a real
MLflow server for staging and results; the checks' pods export their spans into the
run's trace (a real OTLP/HTTP receiver on 127.0.0.1)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from kubernetes import client, config
from otlp_receiver import OtlpReceiver
from processes import start_validate, wait_for

from validate.executors.k8s_manifests import RUN_LABEL, label_value

REPO = Path(__file__).resolve().parents[2]
VALIDATE = str(Path(sys.executable).parent / "validate")
NAMESPACE = "ml-validation"


@pytest.fixture(scope="module")
def apis(cluster):
    config.load_kube_config(str(cluster.kubeconfig))
    core, batch = client.CoreV1Api(), client.BatchV1Api()
    for path in sorted((REPO / "ci" / "k8s").glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for document in yaml.safe_load_all(path.read_text()):
            _apply(document)
    return core, batch


def credit_config(sample: Path, mlflow_url: str, cluster, name: str, **kubernetes) -> Path:
    config_data = yaml.safe_load((REPO / "sample_models/credit/good.yaml").read_text())
    config_data["mlflow"] = {"tracking_uri": mlflow_url, "experiment": "k8s"}
    config_data["promote"] = {"model": "credit", "enabled": False}
    config_data["checks"]["latency"].update({"iterations": 30, "warmup": 3})
    config_data["executor"] = "kubernetes"
    config_data["kubernetes"] = {
        "image": "ghcr.io/acme/validate:test",
        "namespace": NAMESPACE,
        "kubeconfig": str(cluster.kubeconfig),
        "max_parallel": 6,
        "ttl_seconds_after_finished": 3,
        "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}},
        **kubernetes,
    }
    path = sample / name
    path.write_text(yaml.safe_dump(config_data, sort_keys=False))
    return path


def validate(*args: str, env: dict | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [VALIDATE, *args],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **(env or {})},
    )


def verdict(report: dict) -> dict:
    """What must not depend on where checks ran: decision, statuses, judged sentences."""
    return {
        "decision": report["decision"],
        "checks": [
            (c["name"], c["status"], c["blocking"], [a["passed"] for a in c["assertions"]])
            for c in report["checks"]
        ],
    }


def test_sample_model_same_verdict_as_local(sample, mlflow_url, cluster, apis, tmp_path):
    path = credit_config(sample, mlflow_url, cluster, "k8s.yaml")
    env = {"MLFLOW_TRACKING_URI": mlflow_url}
    local = validate(
        "run",
        "-c",
        str(path),
        "--executor",
        "local",
        "--json",
        str(tmp_path / "local.json"),
        env=env,
    )
    assert local.returncode == 0, local.stdout + local.stderr
    # Traced to a real OTLP/HTTP receiver on 127.0.0.1, which the pods (local processes
    # under the node agent) reach too: their spans must join the run's trace.
    with OtlpReceiver() as receiver:
        otel = {"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url, "OTEL_SERVICE_NAME": "validate-k8s"}
        started = time.monotonic()
        remote = validate(
            "run", "-c", str(path), "--json", str(tmp_path / "k8s.json"), env={**env, **otel}
        )
        wall = time.monotonic() - started
        assert remote.returncode == 0, remote.stdout + remote.stderr
        spans = receiver.spans()
    assert_pod_spans_join_the_run(spans, {"accuracy", "bias", "mindiff", "drift", "latency"})
    local_report = json.loads((tmp_path / "local.json").read_text())
    k8s_report = json.loads((tmp_path / "k8s.json").read_text())
    assert verdict(k8s_report) == verdict(local_report)
    by_name = {c["name"]: c for c in k8s_report["checks"]}
    for name in ("accuracy", "bias", "mindiff", "drift"):  # deterministic: equal figures
        local_metrics = next(c for c in local_report["checks"] if c["name"] == name)["metrics"]
        assert by_name[name]["metrics"] == pytest.approx(local_metrics, rel=1e-9, abs=1e-12)
    for check in k8s_report["checks"]:
        placement = check["details"]["kubernetes"]
        assert placement["node"] == "validate-node-0" and placement["recorded_by_pod"] is True
    assert "kubernetes: job validate-accuracy-" in remote.stdout
    overheads = {
        c["name"]: c["details"]["kubernetes"]["create_to_result_s"] for c in k8s_report["checks"]
    }
    print(f"\nk8s: wall {wall:.1f} s; create→result per check: {overheads}")

    # The Jobs carried no path of this machine, and TTL-after-finished removed them.
    run_id = k8s_report["mlflow"]["run_id"]
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and _jobs(apis, run_id):
        time.sleep(1)
    assert _jobs(apis, run_id) == []


def assert_pod_spans_join_the_run(spans: list[dict], checks: set[str]) -> None:
    """One trace: each check's ``validate.pod`` span (exported from its Job's pod) is a
    child of that check's ``validate.check`` span in the runner, and the pod's own spans
    are children of ``validate.pod``."""
    (run,) = [s for s in spans if s["name"] == "validate.run"]
    assert {s["trace_id"] for s in spans} == {run["trace_id"]}, {s["name"] for s in spans}
    check_spans = {
        s["attributes"]["validate.check.name"]: s for s in spans if s["name"] == "validate.check"
    }
    pods = {s["attributes"]["validate.check.name"]: s for s in spans if s["name"] == "validate.pod"}
    assert set(check_spans) == set(pods) == checks, (sorted(check_spans), sorted(pods))
    for name, pod in pods.items():
        assert pod["parent_id"] == check_spans[name]["span_id"], name
        assert check_spans[name]["parent_id"] == run["span_id"], name
        status = pod["attributes"]["validate.check.status"]
        assert status == check_spans[name]["attributes"]["validate.check.status"], name
        children = {s["name"] for s in spans if s["parent_id"] == pod["span_id"]}
        assert children == {"validate.pod.inputs", "validate.pod.check", "validate.pod.record"}
        assert pod["resource"]["service.name"] == "validate-k8s"


def waiter_secret(apis, plugin_env) -> dict:
    """The waiter check's variables reach its pod the way real settings do: a Secret."""
    core, _ = apis
    data = {k: plugin_env[k] for k in ("WAITER_STARTED", "WAITER_RELEASE")}
    body = {"metadata": {"name": "waiter-env"}, "stringData": data}
    try:
        core.create_namespaced_secret(NAMESPACE, body)
    except client.exceptions.ApiException as exc:
        if exc.status != 409:
            raise
        core.replace_namespaced_secret("waiter-env", NAMESPACE, body)
    return {"secret": "waiter-env"}


def test_failures_keep_their_kubernetes_reason(
    sample, mlflow_url, cluster, apis, tmp_path, plugin_env, monkeypatch
):
    for key, value in plugin_env.items():  # the node agent's pods see these too
        monkeypatch.setenv(key, value)
    path = credit_config(
        sample,
        mlflow_url,
        cluster,
        "failures.yaml",
        checks={
            "waiter": {"active_deadline_seconds": 8},
            "accuracy": {
                "resources": {"requests": {"memory": "64Mi"}, "limits": {"memory": "64Mi"}}
            },
            "latency": {"resources": {"limits": {"nvidia.com/gpu": "2"}}},
        },
        unschedulable_timeout_seconds=5,
        secrets=[waiter_secret(apis, plugin_env)],
    )
    data = yaml.safe_load(path.read_text())
    data["checks"] = {
        "accuracy": data["checks"]["accuracy"],
        "bias": {
            **data["checks"]["bias"],
            "thresholds": {"demographic_parity_difference": {"max": 0.0001}},
        },
        "latency": {"device": "gpu"},
        "waiter": {},
    }
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    done = validate(
        "run",
        "-c",
        str(path),
        "--json",
        str(tmp_path / "r.json"),
        env={"MLFLOW_TRACKING_URI": mlflow_url},
    )
    assert done.returncode == 3, done.stdout + done.stderr
    report = {c["name"]: c for c in json.loads((tmp_path / "r.json").read_text())["checks"]}
    assert report["bias"]["status"] == "failed"  # a failing check is judged, not errored
    assert report["accuracy"]["status"] == "error"
    assert "OOMKilled" in report["accuracy"]["message"]
    assert report["waiter"]["status"] == "error"
    assert "DeadlineExceeded" in report["waiter"]["message"]
    assert report["latency"]["status"] == "error"
    assert report["latency"]["message"].startswith("Unschedulable: 0/1 nodes are available")
    assert "nvidia.com/gpu" in report["latency"]["message"]


def test_ctrl_c_deletes_every_job(
    sample, mlflow_url, cluster, apis, tmp_path, plugin_env, monkeypatch
):
    path = credit_config(
        sample,
        mlflow_url,
        cluster,
        "cancel.yaml",
        ttl_seconds_after_finished=600,
        secrets=[waiter_secret(apis, plugin_env)],
    )
    data = yaml.safe_load(path.read_text())
    data["checks"] = {"waiter": {}, "accuracy": data["checks"]["accuracy"]}
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    for key, value in plugin_env.items():  # the node agent's pods see these too
        monkeypatch.setenv(key, value)
    process = start_validate("run", "-c", str(path), env={"MLFLOW_TRACKING_URI": mlflow_url})
    try:
        wait_for(Path(plugin_env["WAITER_STARTED"]), process=process)
        _, batch = apis
        jobs = batch.list_namespaced_job(
            NAMESPACE, label_selector="app.kubernetes.io/name=validate"
        ).items
        assert jobs
        # No path of the runner's machine in any Job (the pod fetches through MLflow).
        spec_text = json.dumps([client.ApiClient().sanitize_for_serialization(j) for j in jobs])
        assert str(sample) not in spec_text and str(tmp_path) not in spec_text
        assert "/tmp/pytest" not in spec_text
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, stdout + stderr
    assert "deleted" in stdout
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and _jobs(apis, None):
        time.sleep(0.5)
    assert _jobs(apis, None) == []


def test_six_checks_in_parallel(
    sample, mlflow_url, cluster, apis, tmp_path, plugin_env, monkeypatch
):
    """Six Jobs at once, against the slowest of them alone: the figures go in the notes."""
    for key, value in plugin_env.items():
        monkeypatch.setenv(key, value)
    # The Jobs stay after they finish so that their recorded start and completion can be read.
    path = credit_config(sample, mlflow_url, cluster, "six.yaml", ttl_seconds_after_finished=600)
    data = yaml.safe_load(path.read_text())
    data["checks"]["skipper"] = {}
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    env = {"MLFLOW_TRACKING_URI": mlflow_url}
    started = time.monotonic()
    done = validate("run", "-c", str(path), "--json", str(tmp_path / "six.json"), env=env)
    parallel = time.monotonic() - started
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads((tmp_path / "six.json").read_text())
    checks = report["checks"]
    assert len(checks) == 6
    # Parallel means all six were running at one moment: the last Job to start started
    # before the first one to finish had finished (Kubernetes' own timestamps, not ours).
    _, batch = apis
    selector = f"{RUN_LABEL}={label_value(report['mlflow']['run_id'])}"
    jobs = []
    try:
        jobs = batch.list_namespaced_job(NAMESPACE, label_selector=selector).items
        assert len(jobs) == 6
        last_start = max(j.status.start_time for j in jobs)
        first_end = min(j.status.completion_time for j in jobs)
        assert last_start < first_end, "the six Jobs did not run at the same time"
    finally:
        for job in jobs:
            batch.delete_namespaced_job(
                job.metadata.name, NAMESPACE, propagation_policy="Background"
            )
    overheads = {c["name"]: c["details"]["kubernetes"]["create_to_result_s"] for c in checks}
    slowest = max(overheads, key=overheads.get)
    started = time.monotonic()
    alone = validate("run", "-c", str(path), "--check", slowest, env=env)
    single = time.monotonic() - started
    assert alone.returncode == 0, alone.stdout + alone.stderr
    # Per-Job overhead: a check that does nothing, alone on the node.
    trivial = validate(
        "run",
        "-c",
        str(path),
        "--check",
        "skipper",
        "--json",
        str(tmp_path / "one.json"),
        env=env,
    )
    assert trivial.returncode == 0, trivial.stdout + trivial.stderr
    (one,) = json.loads((tmp_path / "one.json").read_text())["checks"]
    print(
        f"\nk8s: 6 checks in parallel {parallel:.1f} s; slowest ({slowest}) alone {single:.1f} s;"
        f" create→result: {overheads}; a trivial check alone: "
        f"{one['details']['kubernetes']['create_to_result_s']} s"
    )


def test_result_from_the_log_when_the_message_is_lost_and_run_timeout(
    sample, mlflow_url, cluster, apis, tmp_path, plugin_env, monkeypatch
):
    """With no termination message, the result comes from the pod's last log line, read
    through the API server's pod-log endpoint (served by the node agent); a run past its
    timeout deletes its Jobs and reports the unfinished checks as errors."""
    for key, value in plugin_env.items():
        monkeypatch.setenv(key, value)
    core, _ = apis
    body = {
        "metadata": {"name": "lost-message"},
        "stringData": {"VALIDATE_TERMINATION_LOG": "/nonexistent/termination-log"},
    }
    try:
        core.create_namespaced_secret(NAMESPACE, body)
    except client.exceptions.ApiException as exc:
        assert exc.status == 409
    path = credit_config(
        sample, mlflow_url, cluster, "lost.yaml", secrets=[{"secret": "lost-message"}]
    )
    data = yaml.safe_load(path.read_text())
    data["checks"] = {"drift": data["checks"]["drift"]}
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    env = {"MLFLOW_TRACKING_URI": mlflow_url}
    done = validate("run", "-c", str(path), "--json", str(tmp_path / "lost.json"), env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    (check,) = json.loads((tmp_path / "lost.json").read_text())["checks"]
    assert check["status"] == "failed" and "income" in check["message"]
    assert check["details"]["kubernetes"]["recorded_by_pod"] is True

    timed = credit_config(
        sample,
        mlflow_url,
        cluster,
        "timeout.yaml",
        run_timeout_seconds=8,
        ttl_seconds_after_finished=600,
        secrets=[waiter_secret(apis, plugin_env)],
    )
    data = yaml.safe_load(timed.read_text())
    data["checks"] = {"waiter": {}}
    timed.write_text(yaml.safe_dump(data, sort_keys=False))
    done = validate("run", "-c", str(timed), "--json", str(tmp_path / "t.json"), env=env)
    assert done.returncode == 3, done.stdout + done.stderr
    (check,) = json.loads((tmp_path / "t.json").read_text())["checks"]
    assert check["status"] == "error" and "run_timeout_seconds (8 s)" in check["message"]
    run_id = json.loads((tmp_path / "t.json").read_text())["mlflow"]["run_id"]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and _jobs(apis, run_id):
        time.sleep(0.5)
    assert _jobs(apis, run_id) == []


def test_server_side_dry_run_of_every_manifest(apis):
    sys.path.insert(0, str(REPO / "tests"))
    from test_k8s_manifests import JOBS

    _, batch = apis
    for _, job in JOBS:
        body = json.loads(json.dumps(job))
        body["metadata"]["namespace"] = NAMESPACE
        batch.create_namespaced_job(NAMESPACE, body, dry_run="All")


def _jobs(apis, run_id: str | None) -> list[str]:
    _, batch = apis
    selector = f"{RUN_LABEL}={run_id}" if run_id else "app.kubernetes.io/name=validate"
    return [
        j.metadata.name for j in batch.list_namespaced_job(NAMESPACE, label_selector=selector).items
    ]


def _apply(document: dict) -> None:
    from kubernetes import utils
    from kubernetes.utils import FailToCreateError

    try:
        utils.create_from_dict(client.ApiClient(), document)
    except FailToCreateError as exc:
        if not all(e.status == 409 for e in exc.api_exceptions):
            raise
