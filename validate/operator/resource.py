"""The ModelValidation resource: its spec, and what the operator derives from it.

Pure functions from a ModelValidation (a plain dict, as the API server returns it) to the
validation config the runner receives and the runner Job that runs it, so every manifest
the operator can build is validated against the Kubernetes schemas in the main suite.

Trust: the spec chooses the model, the checks and the thresholds, never where results
are read from or written to. The MLflow tracking URI is the operator's own (its
``--tracking-uri`` or ``MLFLOW_TRACKING_URI``), whatever the config says: a namespace user
who could point the operator at their own tracking server could forge a passing record
there, and the operator reads its conditions from MLflow.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from validate.errors import ConfigError
from validate.executors.k8s_manifests import (
    APP_LABEL,
    COMPONENT_LABEL,
    RUNNER_UID,
    hardened_security_context,
)
from validate.kubernetes_settings import KubernetesSection, Resources
from validate.tracking import redact_uri

GROUP = "validate.dev"
VERSION = "v1alpha1"
PLURAL = "modelvalidations"
KIND = "ModelValidation"
# On the runner Job and on every check Job: how the finalizer finds them all.
OWNER_LABEL = "validate.dev/model-validation"
GENERATION_LABEL = "validate.dev/generation"
MODEL_VERSION_LABEL = "validate.dev/model-version"
# On the MLflow run: how a restarted operator finds the run its Job started.
RUN_UID_TAG = "k8s.modelvalidation.uid"
RUN_GENERATION_TAG = "k8s.modelvalidation.generation"
RUN_NAME_TAG = "k8s.modelvalidation.name"
CONFIG_ENV = "VALIDATE_CONFIG"
RUNNER_SERVICE_ACCOUNT = "validate-runner"  # ci/k8s: manages check Jobs, nothing else
RUNNER_CONTAINER = "runner"
# The runner writes the config it is handed to its own emptyDir and runs it; HOME is that
# emptyDir (/tmp), so nothing is written to the read-only root file system.
RUNNER_SCRIPT = (
    'printf "%s" "$VALIDATE_CONFIG" > "$HOME/validation.yaml" && '
    'exec validate run -c "$HOME/validation.yaml" --json "$HOME/report.json"'
)


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class ModelSpec(_Spec):
    name: str
    version: str | None = None
    alias: str | None = None

    @model_validator(mode="after")
    def _one(self) -> ModelSpec:
        if (self.version is None) == (self.alias is None):
            raise ValueError("give exactly one of spec.model.version and spec.model.alias")
        return self


class ConfigMapRef(_Spec):
    name: str
    key: str = "validation.yaml"


class ConfigSpec(_Spec):
    inline: dict[str, Any] | None = None
    config_map_ref: ConfigMapRef | None = Field(default=None, alias="configMapRef")

    @model_validator(mode="after")
    def _one(self) -> ConfigSpec:
        if (self.inline is None) == (self.config_map_ref is None):
            raise ValueError("give exactly one of spec.config.inline and spec.config.configMapRef")
        return self


class PromotionSpec(_Spec):
    policy: Literal["auto", "manual"] = "manual"
    model: str | None = None
    alias: str = "champion"


class RunnerSpec(_Spec):
    image: str
    resources: Resources = Field(
        default_factory=lambda: Resources(
            requests={"cpu": "500m", "memory": "1Gi"}, limits={"memory": "4Gi"}
        )
    )
    check_resources: Resources | None = Field(default=None, alias="checkResources")
    active_deadline_seconds: int = Field(default=3600, ge=1, alias="activeDeadlineSeconds")


class ModelValidationSpec(_Spec):
    """``spec`` of a ModelValidation; the CRD's OpenAPI schema says the same."""

    model: ModelSpec
    config: ConfigSpec
    promotion: PromotionSpec = Field(default_factory=PromotionSpec)
    runner: RunnerSpec
    suspend: bool = False
    ttl_seconds_after_finished: int | None = Field(
        default=None, ge=0, alias="ttlSecondsAfterFinished"
    )


def parse_spec(spec: Mapping[str, Any]) -> ModelValidationSpec:
    """The spec, or ConfigError with one line naming the field."""
    try:
        return ModelValidationSpec.model_validate(dict(spec))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"spec.{where}: {first['msg']}") from exc


def runner_job_name(name: str, uid: str, generation: int) -> str:
    """``validate-mv-<name>-<uid>-g<generation>``: the same for every operator replica and
    restart, so creating it twice is a 409, never a second run."""
    slug = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")[:28].strip("-") or "mv"
    return f"validate-mv-{slug}-{uid[:8].lower()}-g{generation}"


def runner_config(
    mv: Mapping[str, Any],
    spec: ModelValidationSpec,
    base: Mapping[str, Any],
    *,
    version: str,
    tracking_uri: str,
) -> dict[str, Any]:
    """The validation.yaml the runner receives: the user's config with what the resource
    decides (candidate, promotion, executor, namespace, ownership, tracking) put over it."""
    meta = mv["metadata"]
    config = {key: value for key, value in base.items()}
    model = dict(config.get("model") or {})
    model["candidate"] = f"models:/{spec.model.name}/{version}"
    config["model"] = model
    mlflow = dict(config.get("mlflow") or {})
    mlflow["tracking_uri"] = redact_uri(tracking_uri)
    mlflow["tags"] = {
        **dict(mlflow.get("tags") or {}),
        RUN_UID_TAG: meta["uid"],
        RUN_GENERATION_TAG: str(meta["generation"]),
        RUN_NAME_TAG: f"{meta['namespace']}/{meta['name']}",
    }
    config["mlflow"] = mlflow
    promote = dict(config.get("promote") or {})
    promote.update(
        model=spec.promotion.model or spec.model.name,
        alias=spec.promotion.alias,
        enabled=spec.promotion.policy == "auto",
    )
    config["promote"] = promote
    config["executor"] = "kubernetes"
    kubernetes = dict(config.get("kubernetes") or {})
    kubernetes.pop("kubeconfig", None)  # the runner pod's own service account
    kubernetes.pop("context", None)
    kubernetes["image"] = spec.runner.image
    kubernetes["namespace"] = meta["namespace"]
    kubernetes["labels"] = {**dict(kubernetes.get("labels") or {}), OWNER_LABEL: meta["uid"]}
    kubernetes["owner"] = {
        "api_version": f"{GROUP}/{VERSION}",
        "kind": KIND,
        "name": meta["name"],
        "uid": meta["uid"],
    }
    if spec.runner.check_resources is not None:
        kubernetes["resources"] = spec.runner.check_resources.model_dump()
    config["kubernetes"] = kubernetes
    return config


def check_runner_config(config: Mapping[str, Any]) -> KubernetesSection:
    """Validate the runner's config as ``validate run`` will (ConfigError, one line); the
    kubernetes section is returned for the runner Job (secrets, volume)."""
    from validate.config import parse_config

    loaded = parse_config(dict(config), source=Path("/tmp/validation.yaml"))
    section = loaded.config.kubernetes
    assert section is not None  # executor: kubernetes was set above
    return section


def config_from_text(text: str, where: str) -> dict[str, Any]:
    """A ConfigMap's validation.yaml, through the same bounded loader as a file."""
    from validate import yaml_loader

    try:
        raw = yaml_loader.load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{where}: not valid YAML ({' '.join(str(exc).split())[:160]})") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a validation.yaml mapping")
    return raw


def runner_job(
    mv: Mapping[str, Any],
    spec: ModelValidationSpec,
    config: Mapping[str, Any],
    *,
    version: str,
    kubernetes: KubernetesSection,
    service_account: str = RUNNER_SERVICE_ACCOUNT,
) -> dict[str, Any]:
    """The Job that runs ``validate run`` for one generation of ``mv``: owned by it,
    hardened like the check Jobs, never retried (a retry would be a second validation)."""
    meta = mv["metadata"]
    text = yaml.safe_dump(dict(config), sort_keys=False)
    labels = {
        APP_LABEL: "validate",
        COMPONENT_LABEL: "runner",
        OWNER_LABEL: meta["uid"],
        GENERATION_LABEL: str(meta["generation"]),
        MODEL_VERSION_LABEL: _label(version),
    }
    env: list[dict[str, Any]] = [
        {"name": CONFIG_ENV, "value": text},
        {"name": "MLFLOW_TRACKING_URI", "value": config["mlflow"]["tracking_uri"]},
        {"name": "HOME", "value": "/tmp"},
        {"name": "TF_CPP_MIN_LOG_LEVEL", "value": "2"},
        {"name": "TF_USE_LEGACY_KERAS", "value": "1"},
        {"name": "MPLCONFIGDIR", "value": "/tmp/matplotlib"},
    ]
    for secret in kubernetes.secrets:  # MLflow credentials: by reference, never by value
        if secret.key is not None:
            env.append(
                {
                    "name": secret.env or secret.key,
                    "valueFrom": {"secretKeyRef": {"name": secret.secret, "key": secret.key}},
                }
            )
    resources: dict[str, Any] = {}
    if spec.runner.resources.requests:
        resources["requests"] = dict(spec.runner.resources.requests)
    if spec.runner.resources.limits:
        resources["limits"] = dict(spec.runner.resources.limits)
    container: dict[str, Any] = {
        "name": RUNNER_CONTAINER,
        "image": spec.runner.image,
        "imagePullPolicy": "IfNotPresent",
        "command": ["sh", "-c", RUNNER_SCRIPT],
        "workingDir": "/tmp",
        "env": env,
        "resources": resources,
        "securityContext": hardened_security_context(),
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }
    env_from = [{"secretRef": {"name": s.secret}} for s in kubernetes.secrets if s.key is None]
    if env_from:
        container["envFrom"] = env_from
    volumes: list[dict[str, Any]] = [{"name": "tmp", "emptyDir": {"sizeLimit": "4Gi"}}]
    if kubernetes.volume is not None:  # data on shared storage: the runner reads it too
        volumes.append(
            {
                "name": "data",
                "persistentVolumeClaim": {
                    "claimName": kubernetes.volume.claim,
                    "readOnly": kubernetes.volume.read_only,
                },
            }
        )
        container["volumeMounts"].append(
            {
                "name": "data",
                "mountPath": kubernetes.volume.mount_path,
                "readOnly": kubernetes.volume.read_only,
            }
        )
    pod_spec: dict[str, Any] = {
        "restartPolicy": "Never",
        # The operator's choice, never the spec's: a spec that named the service account
        # would run its own model code with any token of the namespace.
        "serviceAccountName": service_account,
        # The runner creates and watches the check Jobs: it needs its token (and only the
        # runner Role of ci/k8s); the check pods it creates mount none.
        "automountServiceAccountToken": True,
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
    if kubernetes.image_pull_secrets:
        pod_spec["imagePullSecrets"] = [{"name": n} for n in kubernetes.image_pull_secrets]
    if kubernetes.node_selector:
        pod_spec["nodeSelector"] = dict(kubernetes.node_selector)
    job_spec: dict[str, Any] = {
        "backoffLimit": 0,
        "activeDeadlineSeconds": spec.runner.active_deadline_seconds,
        "template": {"metadata": {"labels": labels}, "spec": pod_spec},
    }
    if spec.ttl_seconds_after_finished is not None:
        job_spec["ttlSecondsAfterFinished"] = spec.ttl_seconds_after_finished
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": runner_job_name(meta["name"], meta["uid"], int(meta["generation"])),
            "namespace": meta["namespace"],
            "labels": labels,
            "annotations": {"validate.dev/config-sha256": _sha(text)},
            "ownerReferences": [
                {
                    "apiVersion": f"{GROUP}/{VERSION}",
                    "kind": KIND,
                    "name": meta["name"],
                    "uid": meta["uid"],
                    "controller": True,
                }
            ],
        },
        "spec": job_spec,
    }


def _label(value: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9_.-]+", "_", value)[:63]
    return cleaned.strip("_.-") or "x"


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
