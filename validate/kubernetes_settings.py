"""The ``kubernetes:`` section of validation.yaml: where and how check Jobs run."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

_QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|k|Ki|Mi|Gi|Ti|Pi|Ei|M|G|T|P|E)?$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Resources(_Strict):
    """Container requests and limits, as in a pod spec (``cpu: "1"``, ``memory: 2Gi``)."""

    requests: dict[str, str] = Field(default_factory=dict)
    limits: dict[str, str] = Field(default_factory=dict)

    @field_validator("requests", "limits", mode="before")
    @classmethod
    def _quantities(cls, value: Any) -> Any:
        if isinstance(value, dict):
            value = {str(k): str(v) for k, v in value.items()}
            bad = [f"{k}: {v}" for k, v in value.items() if not _QUANTITY.match(v)]
            if bad:
                raise ValueError(
                    f"not a Kubernetes quantity: {', '.join(bad)} (write 500m, 2, 512Mi, 4Gi)"
                )
        return value


class Toleration(_Strict):
    key: str | None = None
    operator: Literal["Exists", "Equal"] = "Equal"
    value: str | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None
    toleration_seconds: int | None = None


class SecretEnv(_Strict):
    """Environment from a Kubernetes Secret, by reference: the value never enters the
    manifest. Without ``key``, every key of the Secret becomes a variable (envFrom)."""

    secret: str
    key: str | None = None
    env: str | None = Field(default=None, description="Variable name for key (default: key).")


class ClaimVolume(_Strict):
    """A PersistentVolumeClaim for teams whose data lives on shared storage."""

    claim: str
    mount_path: str = "/data"
    read_only: bool = True


class CheckPlacement(_Strict):
    """Per-check overrides (the latency check on a GPU node, say)."""

    resources: Resources | None = None
    node_selector: dict[str, str] | None = None
    tolerations: list[Toleration] | None = None
    active_deadline_seconds: int | None = Field(default=None, ge=1)


class OwnerReference(_Strict):
    """The object a validation's Jobs belong to (the operator's ModelValidation): deleting
    it lets Kubernetes' garbage collector delete them."""

    api_version: str
    kind: str
    name: str
    uid: str


# What the executor sets and reads back (its watch selects on the run label).
_OWN_LABELS = {
    "app.kubernetes.io/name",
    "app.kubernetes.io/component",
    "validate.dev/run-id",
    "validate.dev/check",
}
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")


class KubernetesSection(_Strict):
    image: str = Field(description="The runner image (ci/Dockerfile), with validate installed.")
    namespace: str = "default"
    service_account: str | None = None
    image_pull_secrets: list[str] = Field(default_factory=list)
    node_selector: dict[str, str] = Field(default_factory=dict)
    tolerations: list[Toleration] = Field(default_factory=list)
    resources: Resources = Field(
        default_factory=lambda: Resources(requests={"cpu": "1", "memory": "2Gi"})
    )
    active_deadline_seconds: int = Field(default=1800, ge=1, description="Per-check timeout.")
    backoff_limit: int = Field(default=0, ge=0)
    ttl_seconds_after_finished: int = Field(default=600, ge=0)
    max_parallel: int = Field(default=4, ge=1)
    run_timeout_seconds: float | None = Field(
        default=None, gt=0, description="The whole run's limit: past it, every Job is deleted."
    )
    unschedulable_timeout_seconds: float = Field(
        default=60, gt=0, description="A pod no node can take for this long is an error."
    )
    secrets: list[SecretEnv] = Field(default_factory=list)
    volume: ClaimVolume | None = None
    checks: dict[str, CheckPlacement] = Field(default_factory=dict)
    labels: dict[str, str] = Field(
        default_factory=dict, description="Extra labels on every check Job and its pod."
    )
    owner: OwnerReference | None = Field(
        default=None, description="Owner of the check Jobs (set by the operator)."
    )
    kubeconfig: str | None = Field(default=None, description="Default: $KUBECONFIG, in-cluster.")
    context: str | None = None

    @field_validator("namespace")
    @classmethod
    def _namespace(cls, value: str) -> str:
        if not _DNS_LABEL.match(value) or len(value) > 63:
            raise ValueError(f"'{value}' is not a namespace name (lowercase letters, digits, -)")
        return value

    @field_validator("labels")
    @classmethod
    def _labels(cls, value: dict[str, str]) -> dict[str, str]:
        bad = [k for k, v in value.items() if len(v) > 63 or not _LABEL_VALUE.match(v)]
        if bad:
            raise ValueError(
                f"label values of {', '.join(sorted(bad))} are not label values (at most 63 "
                "of A-Z a-z 0-9 - _ . starting and ending alphanumeric)"
            )
        taken = sorted(set(value) & _OWN_LABELS)
        if taken:
            raise ValueError(f"labels {', '.join(taken)} are set by validate; remove them")
        return value
