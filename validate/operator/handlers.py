"""The kopf handlers: a timer that reconciles every ModelValidation (level-triggered: the
world is re-read each time, nothing is remembered between calls) and a deletion handler
(kopf's finalizer) that deletes the resource's Jobs before it goes.

Imported only by ``validate operator``: kopf and the kubernetes client stay out of
``import validate`` and the CLI's start-up.
"""

from __future__ import annotations

import logging
from typing import Any

import kopf

from validate.errors import ConfigError
from validate.operator import conditions as cond
from validate.operator.policy import POLICY_PLURAL, reconcile_policy
from validate.operator.reconcile import Cluster, Unavailable, delete_jobs, reconcile
from validate.operator.resource import GROUP, PLURAL, VERSION

STATE: dict[str, Any] = {}


def configure(*, tracking_uri: str, interval_s: float) -> None:
    """Settings the handlers read; called by ``validate operator`` before kopf starts."""
    STATE["tracking_uri"] = tracking_uri
    STATE["interval_s"] = interval_s


def _cluster() -> Cluster:
    if "cluster" not in STATE:
        from kubernetes import client, config

        try:
            config.load_incluster_config()
        except config.ConfigException:
            config.load_kube_config()
        STATE["cluster"] = Cluster(
            batch=client.BatchV1Api(),
            core=client.CoreV1Api(),
            tracking_uri=STATE["tracking_uri"],
            custom=client.CustomObjectsApi(),
        )
    cluster: Cluster = STATE["cluster"]
    return cluster


@kopf.on.startup()
def _startup(settings: kopf.OperatorSettings, **_: Any) -> None:
    # Keep kopf's bookkeeping in annotations under our own prefix: the CRD's status is a
    # structural schema, so kopf's default status.kopf field would be pruned.
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=GROUP, key="last-handled-configuration"
    )
    settings.persistence.finalizer = f"{GROUP}/jobs"
    settings.posting.level = logging.WARNING
    # No cluster-wide observation of CRDs and namespaces: the resources are found once at
    # start-up, so the operator needs no ClusterRole at all (ci/operator has none).
    settings.scanning.disabled = True
    settings.watching.server_timeout = 60


@kopf.timer(GROUP, VERSION, PLURAL, interval=2.0, sharp=False)
def _reconcile(body: kopf.Body, patch: kopf.Patch, logger: Any, **_: Any) -> None:
    mv = {"metadata": dict(body.metadata), "spec": dict(body.spec), "status": dict(body.status)}
    if mv["metadata"].get("deletionTimestamp"):
        return
    try:
        status = reconcile(mv, _cluster())
    except Unavailable as exc:
        # Our own trouble, said in the conditions; the next tick is the retry.
        generation = int(mv["metadata"]["generation"])
        conditions = cond.set_condition(
            mv["status"].get("conditions") or [],
            cond.CHECKS_RUNNING,
            None,
            exc.reason,
            f"{exc}; retrying",
            generation,
        )
        patch.status["conditions"] = conditions
        logger.warning(f"{exc.reason}: {exc}")
        return
    if status is None:
        return
    if status != {k: mv["status"].get(k) for k in status}:
        for key, value in status.items():
            patch.status[key] = value


@kopf.timer(GROUP, VERSION, POLICY_PLURAL, interval=2.0, sharp=False)
def _poll(body: kopf.Body, patch: kopf.Patch, logger: Any, **_: Any) -> None:
    policy = {"metadata": dict(body.metadata), "spec": dict(body.spec), "status": dict(body.status)}
    if policy["metadata"].get("deletionTimestamp"):
        return
    generation = int(policy["metadata"]["generation"])
    previous = policy["status"].get("conditions") or []
    try:
        status = reconcile_policy(policy, _cluster())
    except Unavailable as exc:
        patch.status["conditions"] = cond.set_condition(
            previous, "Ready", None, exc.reason, f"{exc}; retrying", generation
        )
        logger.warning(f"{exc.reason}: {exc}")
        return
    if status is None:
        return
    status["conditions"] = cond.set_condition(
        previous,
        "Ready",
        True,
        "Polling",
        f"watching '{policy['spec']['model']}' for versions after {status['baselineVersion']}",
        generation,
    )
    for key, value in status.items():
        patch.status[key] = value


@kopf.on.delete(GROUP, VERSION, PLURAL)
def _delete(meta: kopf.Meta, logger: Any, **_: Any) -> None:
    namespace, uid = meta["namespace"], meta["uid"]
    deleted = delete_jobs(_cluster(), namespace, uid)
    if deleted:
        logger.info(f"deleted Jobs {', '.join(deleted)}")
    left = delete_jobs(_cluster(), namespace, uid)
    if [name for name in left if name not in deleted]:
        raise kopf.TemporaryError("Jobs appeared while deleting; trying again", delay=2)


def run(*, namespace: str, tracking_uri: str, liveness: str | None = None) -> None:
    """Serve until interrupted (kopf handles SIGINT and SIGTERM)."""
    configure(tracking_uri=tracking_uri, interval_s=2.0)
    try:
        cluster = _cluster()
        cluster.batch.list_namespaced_job(namespace, limit=1, _request_timeout=10)
    except Exception as exc:  # noqa: BLE001 - no kubeconfig, unreachable, or refused
        reason = getattr(exc, "reason", None) or " ".join(str(exc).split())[:200]
        raise ConfigError(
            f"kubernetes: the operator cannot use the API server ({reason}); run it in the "
            "cluster as validate-operator (ci/operator) or set KUBECONFIG"
        ) from exc
    kopf.run(
        standalone=True,
        namespaces=[namespace],
        clusterwide=False,
        liveness_endpoint=liveness,
    )
