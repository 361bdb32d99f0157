"""The kopf handlers: a timer that reconciles every ModelValidation (level-triggered: the
world is re-read each time, nothing is remembered between calls) and a deletion handler
(kopf's finalizer) that deletes the resource's Jobs before it goes; with admission on, the
validating webhook's handler (the verdicts are ``validate.operator.admission``'s); and the
Prometheus metrics of all of them (``validate.operator.metrics``).

Replicas: with ``Peering`` (the shipped Deployment), kopf's peering decides which replica
acts; without it (``--peering`` not given) the operator runs standalone, as one process must.
Every replica serves admission and the registry webhook either way.

Imported only by ``validate operator``: kopf, the kubernetes client and prometheus-client
stay out of ``import validate`` and the CLI's start-up.
"""

from __future__ import annotations

import logging
import os
import random
import time
from dataclasses import dataclass
from typing import Any

import kopf

from validate.errors import ConfigError
from validate.operator import admission, metrics
from validate.operator import conditions as cond
from validate.operator import registry_webhook as registry_webhook_module
from validate.operator.policy import POLICY_PLURAL, reconcile_policy, request_poll
from validate.operator.reconcile import FINAL_PHASES, Cluster, Unavailable, delete_jobs, reconcile
from validate.operator.resource import GROUP, PLURAL, VERSION

STATE: dict[str, Any] = {}
# What the admission webhook reviews; an InferenceService only where KServe's CRD exists
# (kopf matches the handlers against the resources the API server offers at start-up).
WORKLOADS = (
    ("apps", "v1", "deployments"),
    ("apps", "v1", "statefulsets"),
    ("batch", "v1", "jobs"),
    ("serving.kserve.io", "v1beta1", "inferenceservices"),
)


@dataclass(frozen=True)
class Admission:
    """Where the admission webhook listens and how the API server reaches it."""

    port: int
    address: str = "0.0.0.0"
    host: str | None = None  # the name the API server uses (certificate and URL)
    configuration: str | None = "validate-admission"  # the ValidatingWebhookConfiguration
    by_url: bool = False  # write a URL clientConfig (outside a cluster) instead of the CA only


@dataclass(frozen=True)
class Peering:
    """Which KopfPeering object the replicas share, and how long a silent peer counts as
    alive (a killed replica's successor waits at most this long)."""

    name: str
    lifetime_s: int = 60


def start_priority(now_ns: int | None = None) -> int:
    """This replica's peering priority: the earlier it started, the higher.

    Why kopf peering rather than a Lease: kopf pauses its own watchers, timers and the
    finalizer handler while a peer of higher priority lives, and keeps serving admission,
    which is what a replica must and must not do; a Lease would need a guard in every
    handler. kopf pauses *every* replica when two share a priority, so each needs its own:
    the start time (milliseconds, a random tie-break) gives one, and makes the oldest replica
    the one that acts. A new replica (a rolling update, a rescheduled pod) then finds a live
    elder and starts paused instead of taking over mid-reconciliation; it acts once the
    elder leaves (an orderly exit removes its record at once, a killed one's record expires
    after the lifetime). Peering is no lock: should two act for a moment, every step is
    still idempotent (a Job's name is fixed, a run is found by its tags, promotion is a
    compare-and-set); peering keeps that from being the common case.
    """
    started_ms = (time.time_ns() if now_ns is None else now_ns) // 1_000_000
    return -(started_ms * 1000 + random.randrange(1000))  # about -1.8e15: exact in JSON


def configure(
    *,
    tracking_uri: str,
    interval_s: float,
    admission: Admission | None = None,
    peering: Peering | None = None,
    namespace: str | None = None,
) -> None:
    """Settings the handlers read; called by ``validate operator`` before kopf starts."""
    STATE["tracking_uri"] = tracking_uri
    STATE["interval_s"] = interval_s
    STATE["admission"] = admission
    STATE["peering"] = peering
    STATE["namespace"] = namespace


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
    # start-up, so the operator needs no ClusterRole for them (its one ClusterRole is for
    # its own webhook configuration).
    settings.scanning.disabled = True
    settings.watching.server_timeout = 60
    peering: Peering | None = STATE.get("peering")
    if peering is not None:
        settings.peering.lifetime = peering.lifetime_s
        settings.peering.stealth = True  # no log line per keep-alive
    served: Admission | None = STATE.get("admission")
    if served is not None:
        from kubernetes import client

        from validate.operator.webhook import AdmissionServer

        cluster = _cluster()  # loads the kubeconfig the admissionregistration client uses
        namespace = STATE.get("namespace")

        def replicas() -> list[str]:
            pods = cluster.core.list_namespaced_pod(namespace, _request_timeout=10).items
            return [pod.metadata.name for pod in pods]

        settings.admission.server = AdmissionServer(
            # In a cluster each replica's certificate names its pod (POD_ID): the CAs of
            # pods that are gone leave the bundle.
            replicas=replicas if os.environ.get("POD_ID") and namespace else None,
            addr=served.address,
            port=served.port,
            host=served.host,
            configuration=served.configuration,
            by_url=served.by_url,
            admissionregistration=client.AdmissionregistrationV1Api(),
        )


def _review(*, body: kopf.Body, dryrun: bool, logger: Any, **kwargs: Any) -> None:
    """The admission handler: raise kopf.AdmissionError to deny."""
    new = {"metadata": dict(body.metadata), "spec": dict(body.spec)}
    old = kwargs.get("old")
    previous = dict(old) if old is not None and kwargs.get("operation") == "UPDATE" else None
    verdict = admission.review(new, previous, _cluster().mlflow)
    if not dryrun:
        decision = "allowed" if verdict.allowed else "denied"
        metrics.ADMISSIONS.labels(decision, verdict.reason).inc()
    if not verdict.allowed:
        where = f"{body.metadata.get('namespace')}/{body.metadata.get('name')}"
        logger.info(f"denied {where}: {verdict.reason}: {verdict.message}")
        raise kopf.AdmissionError(f"{verdict.reason}: {verdict.message}", code=403)


def register_admission() -> None:
    """Register the admission handler for each workload kind (one handler id: the webhook's
    path, so the install's configuration can name it)."""
    from validate.operator.webhook import WEBHOOK_PATH

    for group, version, plural in WORKLOADS:
        kopf.on.validate(group, version, plural, id=WEBHOOK_PATH, operations=["CREATE", "UPDATE"])(
            _review
        )


@kopf.timer(GROUP, VERSION, PLURAL, interval=2.0, sharp=False)
def _reconcile(body: kopf.Body, patch: kopf.Patch, logger: Any, **_: Any) -> None:
    mv = {"metadata": dict(body.metadata), "spec": dict(body.spec), "status": dict(body.status)}
    if mv["metadata"].get("deletionTimestamp"):
        return
    try:
        status = reconcile(mv, _cluster())
    except Unavailable as exc:
        metrics.RECONCILES.labels(PLURAL, "Unavailable").inc()
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
    _count(mv, status)
    if status is None:
        return
    if status != {k: mv["status"].get(k) for k in status}:
        for key, value in status.items():
            patch.status[key] = value


def _count(mv: dict[str, Any], status: dict[str, Any] | None) -> None:
    """Metrics from one reconciliation: its result, the in-flight set, and, on the step
    from undecided to decided, the time since registration and the promotion outcome."""
    uid = mv["metadata"]["uid"]
    phase = status.get("phase") if status is not None else None
    metrics.RECONCILES.labels(PLURAL, phase or "Final").inc()
    metrics.set_running(uid, phase == "Running")
    if phase not in FINAL_PHASES or phase == "Invalid" or mv["status"].get("phase") == phase:
        return
    assert status is not None
    outcome = "none"
    if phase == "Promoted":
        outcome = "promoted"
    elif phase == "Passed":
        promoted: dict[str, Any] = next(
            (c for c in status.get("conditions", []) if c["type"] == cond.PROMOTED), {}
        )
        outcome = "manual" if promoted.get("reason") == "ManualPolicy" else "refused"
    metrics.PROMOTIONS.labels(outcome).inc()
    try:
        name = mv["spec"]["model"]["name"]
        registered = _cluster().mlflow.get_model_version(name, status["modelVersion"])
        since = time.time() - int(registered.creation_timestamp) / 1000
    except Exception:  # noqa: BLE001 - only a metric is lost; the decision stands
        return
    metrics.TO_DECISION.observe(max(since, 0.0))


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
        metrics.RECONCILES.labels(POLICY_PLURAL, "Unavailable").inc()
        patch.status["conditions"] = cond.set_condition(
            previous, "Ready", None, exc.reason, f"{exc}; retrying", generation
        )
        logger.warning(f"{exc.reason}: {exc}")
        return
    metrics.RECONCILES.labels(POLICY_PLURAL, "Waiting" if status is None else "Polled").inc()
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
    metrics.set_running(uid, False)
    deleted = delete_jobs(_cluster(), namespace, uid)
    if deleted:
        logger.info(f"deleted Jobs {', '.join(deleted)}")
    left = delete_jobs(_cluster(), namespace, uid)
    if [name for name in left if name not in deleted]:
        raise kopf.TemporaryError("Jobs appeared while deleting; trying again", delay=2)


def _poll_now(model: str, version: str) -> None:
    """A verified registry webhook's callback: ask the policies watching ``model`` to poll."""
    asked = request_poll(_cluster(), STATE["namespace"], model, now=time.time())
    if asked:
        logging.getLogger(__name__).info(
            f"registry webhook: {model} version {version}: poll requested for {asked}"
        )


def run(
    *,
    namespace: str,
    tracking_uri: str,
    liveness: str | None = None,
    admission: Admission | None = None,
    metrics_address: tuple[str, int] | None = None,
    peering: Peering | None = None,
    registry_webhook: registry_webhook_module.Serving | None = None,
) -> None:
    """Serve until interrupted (kopf handles SIGINT and SIGTERM); with ``admission``, the
    validating webhook too; with ``metrics_address``, Prometheus metrics on /metrics; with
    ``peering``, act only while no older replica lives; with ``registry_webhook``, receive
    MLflow's signed registry events (the secret comes from the environment)."""
    configure(
        tracking_uri=tracking_uri,
        interval_s=2.0,
        admission=admission,
        peering=peering,
        namespace=namespace,
    )
    # MLflow's client retries a dead server for minutes by default; the API server gives a
    # webhook 15 s, and each reconcile tick is already a retry. Fail fast, and say why.
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
    try:
        cluster = _cluster()
        cluster.batch.list_namespaced_job(namespace, limit=1, _request_timeout=10)
    except Exception as exc:  # noqa: BLE001 - no kubeconfig, unreachable, or refused
        reason = getattr(exc, "reason", None) or " ".join(str(exc).split())[:200]
        raise ConfigError(
            f"kubernetes: the operator cannot use the API server ({reason}); run it in the "
            "cluster as validate-operator (ci/operator) or set KUBECONFIG"
        ) from exc
    if admission is not None:
        register_admission()
    if metrics_address is not None:
        metrics.serve(*metrics_address)
    if registry_webhook is not None:
        secret = os.environ.get(registry_webhook_module.SECRET_ENV, "")
        try:
            registry_webhook_module.serve(secret, registry_webhook, _poll_now)
        except (ValueError, OSError) as exc:
            raise ConfigError(f"registry webhook: {exc}") from exc
    if peering is None:
        kopf.run(
            standalone=True, namespaces=[namespace], clusterwide=False, liveness_endpoint=liveness
        )
        return
    kopf.run(
        peering_name=peering.name,  # mandatory: without the peering object, stay paused
        priority=start_priority(),
        namespaces=[namespace],
        clusterwide=False,
        liveness_endpoint=liveness,
    )
