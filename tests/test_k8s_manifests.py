"""Every Job the Kubernetes executor can build, and every manifest in ci/k8s, is valid
against the Kubernetes 1.30 and 1.37 schemas (strict: no unknown fields), hardened,
and free of local paths and secret values."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from checks.latency import LatencyCheck
from validate.executors.k8s_manifests import JobRequest, build_job, job_name
from validate.kubernetes_settings import KubernetesSection

kubernetes_validate = pytest.importorskip("kubernetes_validate")

REPO = Path(__file__).resolve().parent.parent
VERSIONS = ("1.30.0", "1.37.0")
MINIMAL = {"image": "ghcr.io/acme/validate:1.0"}
EVERYTHING = {
    "image": "ghcr.io/acme/validate:1.0",
    "namespace": "ml-validation",
    "service_account": "validate-runner",
    "image_pull_secrets": ["regcred"],
    "node_selector": {"pool": "cpu"},
    "tolerations": [
        {"key": "dedicated", "operator": "Equal", "value": "ml", "effect": "NoSchedule"}
    ],
    "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"memory": "4Gi"}},
    "active_deadline_seconds": 900,
    "backoff_limit": 1,
    "ttl_seconds_after_finished": 60,
    "max_parallel": 6,
    "secrets": [
        {"secret": "mlflow-credentials"},
        {"secret": "object-store", "key": "secret-key", "env": "AWS_SECRET_ACCESS_KEY"},
    ],
    "volume": {"claim": "shared-data", "mount_path": "/data"},
    "checks": {
        "latency": {
            "node_selector": {"pool": "gpu"},
            "tolerations": [
                {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
            ],
            "active_deadline_seconds": 300,
        }
    },
}
REQUEST = JobRequest(
    check="accuracy",
    run_id="0123456789abcdef0123456789abcdef",
    inputs_uri="mlflow-artifacts:/1/0123456789abcdef0123456789abcdef/artifacts/validate-inputs/manifest.json",
    tracking_uri="https://mlflow.example.com",
)


def all_jobs() -> list[tuple[str, dict]]:
    gpu = LatencyCheck.from_config("latency", {"device": "gpu"}, task="binary")
    jobs = []
    for label, raw in (("minimal", MINIMAL), ("everything", EVERYTHING)):
        settings = KubernetesSection.model_validate(raw)
        for check, limits in (
            ("accuracy", {}),
            ("bias", {}),
            ("drift", {}),
            ("mindiff", {}),
            ("latency", gpu.resource_requests()),
            ("a-very-long-third-party-check-name-that-goes-on.and_on", {}),
        ):
            request = JobRequest(
                check=check,
                run_id=REQUEST.run_id,
                inputs_uri=REQUEST.inputs_uri,
                tracking_uri=REQUEST.tracking_uri,
                extra_limits=limits,
            )
            jobs.append((f"{label}-{check[:20]}", build_job(settings, request)))
    traced = JobRequest(
        check="accuracy",
        run_id=REQUEST.run_id,
        inputs_uri=REQUEST.inputs_uri,
        tracking_uri=REQUEST.tracking_uri,
        environment=TRACE_ENVIRONMENT,
    )
    jobs.append(("traced", build_job(KubernetesSection.model_validate(EVERYTHING), traced)))
    return jobs


TRACE_ENVIRONMENT = {
    "TRACEPARENT": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    "TRACESTATE": "vendor=opaque",
    "OTEL_EXPORTER_OTLP_ENDPOINT": "http://otel-collector.observability:4318",
    "OTEL_SERVICE_NAME": "validate",
    "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=prod",
}


JOBS = all_jobs()


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize(("label", "job"), JOBS, ids=[label for label, _ in JOBS])
def test_every_job_is_valid_and_strict(label, job, version):
    kubernetes_validate.validate(job, version, strict=True)


@pytest.mark.parametrize(("label", "job"), JOBS, ids=[label for label, _ in JOBS])
def test_every_job_is_hardened(label, job):
    spec = job["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    assert spec["automountServiceAccountToken"] is False
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]
    assert spec["restartPolicy"] == "Never"
    assert len(job["metadata"]["name"]) <= 63
    labels = job["metadata"]["labels"]
    assert labels["app.kubernetes.io/name"] == "validate"
    assert labels["validate.dev/run-id"] == REQUEST.run_id
    assert all(len(v) <= 63 for v in labels.values())


def test_no_local_path_or_secret_value_in_any_job(tmp_path):
    text = json.dumps([job for _, job in JOBS])
    assert "/home/" not in text and "/work/" not in text and str(REPO) not in text
    settings = KubernetesSection.model_validate(EVERYTHING)
    leaky = JobRequest(
        check="accuracy",
        run_id="r",
        inputs_uri=REQUEST.inputs_uri,
        tracking_uri="https://user:hunter2-token@mlflow.example.com",
    )
    job = json.dumps(build_job(settings, leaky))
    assert "hunter2" not in job
    assert '"secretKeyRef": {"name": "object-store", "key": "secret-key"}' in job


def test_gpu_latency_job_asks_for_a_gpu_on_the_gpu_pool():
    by_label = dict(JOBS)
    latency = by_label["everything-latency"]["spec"]["template"]["spec"]
    (container,) = latency["containers"]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert latency["nodeSelector"] == {"pool": "gpu"}
    assert latency["tolerations"][0]["key"] == "nvidia.com/gpu"
    assert by_label["everything-latency"]["spec"]["activeDeadlineSeconds"] == 300
    accuracy = by_label["everything-accuracy"]["spec"]["template"]["spec"]
    assert "nvidia.com/gpu" not in accuracy["containers"][0]["resources"].get("limits", {})
    assert accuracy["nodeSelector"] == {"pool": "cpu"}


def test_job_names_are_unique_per_check_and_run():
    names = {job_name(c, r) for c in ("accuracy", "bias") for r in ("a" * 32, "b" * 32)}
    assert len(names) == 4


CI_MANIFESTS = sorted(
    p for p in (REPO / "ci" / "k8s").glob("*.yaml") if p.name != "kustomization.yaml"
)


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("path", CI_MANIFESTS, ids=[p.name for p in CI_MANIFESTS])
def test_ci_manifests_are_valid(path, version):
    for document in yaml.safe_load_all(path.read_text()):
        kubernetes_validate.validate(document, version, strict=True)


def test_kustomization_lists_every_manifest():
    kustomization = yaml.safe_load((REPO / "ci" / "k8s" / "kustomization.yaml").read_text())
    assert sorted(kustomization["resources"]) == [p.name for p in CI_MANIFESTS]


def test_role_grants_exactly_what_the_executor_needs():
    role = yaml.safe_load((REPO / "ci" / "k8s" / "role.yaml").read_text())
    rules = {(tuple(r["apiGroups"]), tuple(r["resources"])): set(r["verbs"]) for r in role["rules"]}
    assert rules == {
        (("batch",), ("jobs",)): {"create", "get", "list", "watch", "delete"},
        (("",), ("pods",)): {"get", "list", "watch"},
        (("",), ("pods/log",)): {"get"},
    }


def test_settings_reject_bad_quantities_and_namespaces():
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="not a Kubernetes quantity: memory: 2 GB"):
        KubernetesSection.model_validate({**MINIMAL, "resources": {"limits": {"memory": "2 GB"}}})
    with pytest.raises(ValidationError, match="is not a namespace name"):
        KubernetesSection.model_validate({**MINIMAL, "namespace": "ML_Validation"})


def test_the_validator_is_not_a_no_op():
    _, job = JOBS[0]
    broken = json.loads(json.dumps(job))
    broken["spec"]["template"]["spec"]["containers"][0]["securityContext"]["readOnlyRoot"] = True
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, "1.37.0", strict=True)


def test_a_traced_job_carries_the_trace_context_and_keeps_its_own_settings():
    (container,) = dict(JOBS)["traced"]["spec"]["template"]["spec"]["containers"]
    env = {entry["name"]: entry for entry in container["env"]}
    for name, value in TRACE_ENVIRONMENT.items():
        assert env[name] == {"name": name, "value": value}
    assert len(env) == len(container["env"])  # no variable twice
    settings = KubernetesSection.model_validate(
        {
            "image": "ghcr.io/acme/validate:1.0",
            "secrets": [{"secret": "otel", "key": "url", "env": "OTEL_EXPORTER_OTLP_ENDPOINT"}],
        }
    )
    hostile = JobRequest(
        check="accuracy",
        run_id="r",
        inputs_uri=REQUEST.inputs_uri,
        tracking_uri=REQUEST.tracking_uri,
        environment={
            **TRACE_ENVIRONMENT,
            "MLFLOW_TRACKING_URI": "http://attacker.example.com",
            "HOME": "/",
        },
    )
    (container,) = build_job(settings, hostile)["spec"]["template"]["spec"]["containers"]
    env = {entry["name"]: entry for entry in container["env"]}
    assert len(env) == len(container["env"])
    assert env["MLFLOW_TRACKING_URI"]["value"] == REQUEST.tracking_uri  # fixed ones stay
    assert env["HOME"]["value"] == "/tmp"
    # The cluster's own collector, from a keyed Secret, wins over the runner's endpoint.
    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"]["valueFrom"]["secretKeyRef"]["key"] == "url"


def test_an_untraced_job_has_no_trace_variables():
    (container,) = dict(JOBS)["minimal-accuracy"]["spec"]["template"]["spec"]["containers"]
    assert not [e for e in container["env"] if e["name"].startswith(("OTEL_", "TRACE"))]
