"""batch/v1 Job manifests for checks: one Job per check, hardened by default.

Pure functions from settings to plain dicts (what ``kubectl apply`` would take), so
every manifest the executor can build is validated against the Kubernetes schemas in
the tests, and no manifest ever carries a path of the runner's machine or a secret
value: data and models arrive as MLflow artifact URIs, secrets as references.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from validate.kubernetes_settings import (
    KubernetesSection,
    OwnerReference,
    Resources,
    Toleration,
)
from validate.tracking import redact_uri

APP_LABEL = "app.kubernetes.io/name"
COMPONENT_LABEL = "app.kubernetes.io/component"
RUN_LABEL = "validate.dev/run-id"
CHECK_LABEL = "validate.dev/check"
RUNNER_UID = 10001  # the non-root user of ci/Dockerfile


def hardened_security_context() -> dict[str, Any]:
    """The container security context of every pod validate creates (check Jobs, the
    operator's runner Jobs): non-root, no privilege escalation, read-only root, no
    capabilities, the runtime's default seccomp profile."""
    return {
        "runAsNonRoot": True,
        "runAsUser": RUNNER_UID,
        "runAsGroup": RUNNER_UID,
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "privileged": False,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


CONTAINER = "check"
WORK_DIR = "/tmp/work"  # an empty folder on the pod's own emptyDir


@dataclass(frozen=True)
class JobRequest:
    """What one check's Job needs to know; nothing here is a local path."""

    check: str
    run_id: str  # the MLflow parent run
    inputs_uri: str  # the staged inputs manifest, an MLflow artifact URI
    tracking_uri: str
    extra_limits: Mapping[str, str] = field(default_factory=dict)  # e.g. nvidia.com/gpu
    # Trace context (TRACEPARENT) and OpenTelemetry settings, from validate.telemetry.
    environment: Mapping[str, str] = field(default_factory=dict)


def job_name(check: str, run_id: str) -> str:
    """``validate-<check>-<run>``: a DNS-1123 name of at most 63 characters."""
    slug = re.sub(r"[^a-z0-9-]+", "-", check.lower()).strip("-") or "check"
    digest = hashlib.sha256(f"{check}/{run_id}".encode()).hexdigest()[:6]
    return f"validate-{slug[:34]}-{run_id[:12].lower()}-{digest}"


def label_value(value: str) -> str:
    """Label values: at most 63 of [A-Za-z0-9_.-], starting and ending alphanumeric."""
    cleaned = re.sub(r"[^A-Za-z0-9_.-]+", "_", value)[:63]
    return cleaned.strip("_.-") or "x"


def build_job(settings: KubernetesSection, request: JobRequest) -> dict[str, Any]:
    """The Job for one check, with the settings' placement and the check's overrides."""
    override = settings.checks.get(request.check)
    resources = _resources(
        override.resources if override and override.resources else settings.resources,
        request.extra_limits,
    )
    labels = {
        **settings.labels,
        APP_LABEL: "validate",
        COMPONENT_LABEL: "check",
        RUN_LABEL: label_value(request.run_id),
        CHECK_LABEL: label_value(request.check),
    }
    container: dict[str, Any] = {
        "name": CONTAINER,
        "image": settings.image,
        "imagePullPolicy": "IfNotPresent",
        "command": [
            "validate",
            "run-check",
            "--inputs",
            request.inputs_uri,
            "--check",
            request.check,
            "--parent-run",
            request.run_id,
        ],
        "workingDir": WORK_DIR,
        "env": _environment(settings, request),
        "resources": resources,
        "securityContext": hardened_security_context(),
        # The result comes back as the termination message (compact JSON, under 4 KiB).
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }
    env_from = [{"secretRef": {"name": s.secret}} for s in settings.secrets if s.key is None]
    if env_from:
        container["envFrom"] = env_from
    volumes: list[dict[str, Any]] = [{"name": "tmp", "emptyDir": {"sizeLimit": "4Gi"}}]
    if settings.volume is not None:
        volumes.append(
            {
                "name": "data",
                "persistentVolumeClaim": {
                    "claimName": settings.volume.claim,
                    "readOnly": settings.volume.read_only,
                },
            }
        )
        container["volumeMounts"].append(
            {
                "name": "data",
                "mountPath": settings.volume.mount_path,
                "readOnly": settings.volume.read_only,
            }
        )
    pod_spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": RUNNER_UID,
            "runAsGroup": RUNNER_UID,
            "fsGroup": RUNNER_UID,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [container],
        "volumes": volumes,
    }
    if settings.service_account:
        pod_spec["serviceAccountName"] = settings.service_account
    if settings.image_pull_secrets:
        pod_spec["imagePullSecrets"] = [{"name": n} for n in settings.image_pull_secrets]
    node_selector = override.node_selector if override and override.node_selector else None
    if node_selector or settings.node_selector:
        pod_spec["nodeSelector"] = dict(node_selector or settings.node_selector)
    tolerations = override.tolerations if override and override.tolerations else None
    if tolerations or settings.tolerations:
        pod_spec["tolerations"] = [_toleration(t) for t in tolerations or settings.tolerations]
    deadline = (
        override.active_deadline_seconds
        if override and override.active_deadline_seconds
        else settings.active_deadline_seconds
    )
    metadata: dict[str, Any] = {
        "name": job_name(request.check, request.run_id),
        "namespace": settings.namespace,
        "labels": labels,
    }
    if settings.owner is not None:
        metadata["ownerReferences"] = [owner_reference(settings.owner)]
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": metadata,
        "spec": {
            "backoffLimit": settings.backoff_limit,
            "activeDeadlineSeconds": deadline,
            "ttlSecondsAfterFinished": settings.ttl_seconds_after_finished,
            "template": {"metadata": {"labels": labels}, "spec": pod_spec},
        },
    }


def owner_reference(owner: OwnerReference) -> dict[str, Any]:
    """An ownerReference without blockOwnerDeletion (which would need update rights on the
    owner's finalizers): the garbage collector deletes the Job after its owner."""
    return {
        "apiVersion": owner.api_version,
        "kind": owner.kind,
        "name": owner.name,
        "uid": owner.uid,
    }


def _environment(settings: KubernetesSection, request: JobRequest) -> list[dict[str, Any]]:
    env: list[dict[str, Any]] = [
        # Credentials never ride in the URI: they come from the referenced Secrets.
        {"name": "MLFLOW_TRACKING_URI", "value": redact_uri(request.tracking_uri)},
        {"name": "HOME", "value": "/tmp"},
        {"name": "TF_CPP_MIN_LOG_LEVEL", "value": "2"},
        {"name": "TF_USE_LEGACY_KERAS", "value": "1"},
        {"name": "MPLCONFIGDIR", "value": "/tmp/matplotlib"},
    ]
    fixed = {entry["name"] for entry in env}
    # A variable a keyed secret sets (an OTLP endpoint of the cluster's own) wins over the
    # one inherited from the runner; nothing inherited replaces the fixed ones above.
    from_secrets = {secret.env or secret.key for secret in settings.secrets if secret.key}
    env.extend(
        {"name": name, "value": value}
        for name, value in sorted(request.environment.items())
        if name not in fixed and name not in from_secrets
    )
    for secret in settings.secrets:
        if secret.key is not None:
            env.append(
                {
                    "name": secret.env or secret.key,
                    "valueFrom": {"secretKeyRef": {"name": secret.secret, "key": secret.key}},
                }
            )
    return env


def _resources(resources: Resources, extra_limits: Mapping[str, str]) -> dict[str, Any]:
    # A check asks for what it needs (a GPU); an explicit setting for the check wins.
    limits = {**extra_limits, **resources.limits}
    requests = dict(resources.requests)
    for name in extra_limits:
        requests.setdefault(name, limits[name])  # extended resources: request equals limit
    out: dict[str, Any] = {}
    if requests:
        out["requests"] = requests
    if limits:
        out["limits"] = limits
    return out


def _toleration(toleration: Toleration) -> dict[str, Any]:
    out: dict[str, Any] = {"operator": toleration.operator}
    for key, name in (
        ("key", "key"),
        ("value", "value"),
        ("effect", "effect"),
        ("toleration_seconds", "tolerationSeconds"),
    ):
        value = getattr(toleration, key)
        if value is not None:
            out[name] = value
    return out
