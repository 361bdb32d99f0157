"""ModelValidationPolicy: watch a registered model and create one ModelValidation for each
new version, never two.

"Never two" rests on the name and a high-water mark: the ModelValidation for version N of
policy P is always ``<P>-v<N>``, so a second replica or a restart creating it again gets a
409; and the status remembers the last version handled, so one deleted on purpose is not
created again. "New" means registered after the policy started watching: the first poll
records the newest version then (``status.baselineVersion``, or
``spec.startAfterVersion``), and only later versions are validated.

A poll comes every ``pollSeconds``, or sooner when asked: a verified MLflow registry webhook
(``validate.operator.registry_webhook``) sets ``status.pollRequestedEpoch`` on the policies
watching the model, and the replica that acts polls at its next tick. The request is in the
policy's status, not in the memory of whichever replica received the webhook, so it works
whichever replica that was.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from typing import Any

from validate.operator.reconcile import Cluster, Unavailable
from validate.operator.resource import GROUP, KIND, PLURAL, VERSION

POLICY_PLURAL = "modelvalidationpolicies"
POLICY_KIND = "ModelValidationPolicy"
POLICY_LABEL = "validate.dev/policy"


def validation_name(policy: str, version: int) -> str:
    """``<policy>-v<version>``, cut to a valid object name of at most 63 characters."""
    suffix = f"-v{version}"
    stem = re.sub(r"[^a-z0-9-]+", "-", policy.lower()).strip("-")[: 63 - len(suffix)]
    return f"{stem.rstrip('-') or 'policy'}{suffix}"


def reconcile_policy(
    policy: Mapping[str, Any], cluster: Cluster, *, now: float | None = None
) -> dict[str, Any] | None:
    """Poll the registry when the policy's period has passed; create the missing
    ModelValidations; return the new status, or None when it is not time yet."""
    meta, spec = policy["metadata"], policy.get("spec") or {}
    status = dict(policy.get("status") or {})
    now = time.time() if now is None else now
    period = max(int(spec.get("pollSeconds", 30)), 5)
    last = float(status.get("lastPolledEpoch", 0))
    requested = status.get("pollRequestedEpoch")
    # A request in the second of the last poll may have come after it: one more poll, a
    # second later (whole seconds on both sides).
    asked = requested is not None and int(requested) >= int(last) and now - last >= 1
    if now - last < period and not asked:
        return None
    model = str(spec["model"])
    if "'" in model or "\\" in model:  # it goes into an MLflow filter string
        raise Unavailable("InvalidSpec", f"spec.model {model!r}: not a registered model name")
    try:
        found = cluster.mlflow.search_model_versions(f"name='{model}'")
    except Exception as exc:  # noqa: BLE001 - MLflow down: say so, poll again
        raise Unavailable("MlflowUnavailable", f"listing versions of '{model}': {exc}") from exc
    versions = sorted(int(v.version) for v in found)
    baseline = status.get("baselineVersion")
    if baseline is None:
        start = spec.get("startAfterVersion")
        baseline = int(start) if start is not None else (versions[-1] if versions else 0)
    # A high-water mark, not the list of what exists: a ModelValidation someone deleted is
    # not created again (that would be a second validation of the same version).
    handled = max(int(baseline), int(status.get("lastCreatedVersion") or 0))
    created = list(status.get("created") or [])
    for version in (v for v in versions if v > handled):
        name = validation_name(meta["name"], version)
        if _create(cluster, meta, spec, name, version):
            created.append(name)
        handled = version
    return {
        "baselineVersion": int(baseline),
        "lastPolledEpoch": int(now),
        "latestVersion": versions[-1] if versions else None,
        "lastCreatedVersion": handled,
        "created": created[-50:],
        "observedGeneration": meta.get("generation"),
    }


def request_poll(cluster: Cluster, namespace: str, model: str, *, now: float) -> list[str]:
    """Ask every policy in ``namespace`` that watches ``model`` to poll at its next tick;
    returns their names. Only a time is written: what to create is the poll's to find."""
    found = cluster.custom.list_namespaced_custom_object(GROUP, VERSION, namespace, POLICY_PLURAL)
    asked = []
    for item in found.get("items", []):
        if (item.get("spec") or {}).get("model") != model:
            continue
        name = item["metadata"]["name"]
        cluster.custom.patch_namespaced_custom_object_status(
            GROUP,
            VERSION,
            namespace,
            POLICY_PLURAL,
            name,
            {"status": {"pollRequestedEpoch": int(now)}},
        )
        asked.append(name)
    return asked


def _create(
    cluster: Cluster, meta: Mapping[str, Any], spec: Mapping[str, Any], name: str, version: int
) -> bool:
    """Create the ModelValidation for ``version``; False when it already exists."""
    from kubernetes.client.rest import ApiException

    template = dict(spec.get("template") or {})
    body = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": KIND,
        "metadata": {
            "name": name,
            "namespace": meta["namespace"],
            "labels": {POLICY_LABEL: meta["uid"]},
            "ownerReferences": [
                {
                    "apiVersion": f"{GROUP}/{VERSION}",
                    "kind": POLICY_KIND,
                    "name": meta["name"],
                    "uid": meta["uid"],
                }
            ],
        },
        "spec": {**template, "model": {"name": spec["model"], "version": str(version)}},
    }
    try:
        cluster.custom.create_namespaced_custom_object(
            GROUP, VERSION, meta["namespace"], PLURAL, body
        )
    except ApiException as exc:
        if exc.status == 409:
            return False
        raise Unavailable(
            "ApiServerError", f"creating ModelValidation {name}: {exc.status} {exc.reason}"
        ) from exc
    return True
