"""One reconciliation of a ModelValidation: level-triggered, idempotent, restart-safe.

Each call reads the world (the runner Job, the MLflow run it started, the registry) and
returns the status that world implies; it never remembers anything itself. Two facts make
a restart (or a second replica) harmless:

- the runner Job's name is a function of the resource's uid and generation, so creating it
  again is a 409 and a restarted operator finds the Job its predecessor created;
- the Job never retries (``backoffLimit: 0``), so one generation is at most one
  ``validate run``: one MLflow run, one set of check Jobs, at most one promotion (which the
  runner itself does, through the compare-and-set promotion, after the run is sealed).

The verdict is re-derived from MLflow with the same rules ``validate promote`` applies
(``require_promotable``: complete, live, sealed, passing); a decision tag alone is not a
pass. Anything the operator cannot establish (MLflow down, two runs claiming the same
generation, a runner that died) is never ``Passed``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from validate.errors import ConfigError, PromotionError
from validate.operator import conditions as cond
from validate.operator.resource import (
    MODEL_VERSION_LABEL,
    OWNER_LABEL,
    RUN_GENERATION_TAG,
    RUN_UID_TAG,
    ModelValidationSpec,
    check_runner_config,
    config_from_text,
    parse_spec,
    runner_config,
    runner_job,
    runner_job_name,
)

FINAL_PHASES = ("Promoted", "Passed", "Failed", "Error", "Invalid")
BLOCKING_STATUSES = ("failed", "error")


class Unavailable(Exception):
    """MLflow or the API server could not be asked: retry later, decide nothing."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass
class Cluster:
    """What a reconciliation talks to: the API server (as the operator's service account)
    and the operator's own MLflow tracking server."""

    batch: Any
    core: Any
    tracking_uri: str
    custom: Any = None  # CustomObjectsApi: the policy watcher creates ModelValidations
    _mlflow: Any = field(default=None, repr=False)

    @property
    def mlflow(self) -> Any:
        if self._mlflow is None:
            from mlflow.tracking import MlflowClient

            self._mlflow = MlflowClient(
                tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri
            )
        return self._mlflow


def reconcile(mv: Mapping[str, Any], cluster: Cluster) -> dict[str, Any] | None:
    """The status ``mv`` should have now, or None when its current status is final."""
    meta = mv["metadata"]
    status = dict(mv.get("status") or {})
    generation = int(meta["generation"])
    if status.get("observedGeneration") == generation and status.get("phase") in FINAL_PHASES:
        return None
    conditions = list(status.get("conditions") or [])
    out: dict[str, Any] = {"observedGeneration": generation}
    if status.get("observedGeneration") == generation:
        for key in ("modelVersion", "runnerJob", "mlflowRunId"):
            if key in status:
                out[key] = status[key]

    def say(kind: str, value: bool | None, reason: str, message: str) -> None:
        nonlocal conditions
        conditions = cond.set_condition(conditions, kind, value, reason, message, generation)

    def finish(phase: str) -> dict[str, Any]:
        out["phase"] = phase
        out["conditions"] = conditions
        return out

    try:
        spec = parse_spec(mv.get("spec") or {})
    except ConfigError as exc:
        say(cond.ACCEPTED, False, "InvalidSpec", str(exc))
        return finish("Invalid")
    if spec.suspend:
        say(cond.ACCEPTED, True, "Suspended", "spec.suspend is true: no validation is started")
        say(cond.CHECKS_RUNNING, False, "Suspended", "suspended")
        return finish("Suspended")

    namespace = meta["namespace"]
    job_name = runner_job_name(meta["name"], meta["uid"], generation)
    out["runnerJob"] = job_name
    # The Job first, then the run: a Job seen finished means its run was already sealed.
    job = _read_job(cluster, namespace, job_name)
    labelled = (job.metadata.labels or {}).get(MODEL_VERSION_LABEL) if job is not None else None
    version = str(labelled) if labelled else _resolve_version(cluster, spec)
    out["modelVersion"] = version
    try:
        base = _base_config(cluster, namespace, spec)
        config = runner_config(mv, spec, base, version=version, tracking_uri=cluster.tracking_uri)
        kubernetes = check_runner_config(config)
    except ConfigError as exc:
        say(cond.ACCEPTED, False, "InvalidConfig", str(exc))
        return finish("Invalid")
    say(
        cond.ACCEPTED,
        True,
        "Valid",
        f"validating models:/{spec.model.name}/{version} with policy {spec.promotion.policy}",
    )
    run = _find_run(cluster, config["mlflow"].get("experiment", "validate"), meta, generation)

    if job is None:
        if run is not None:
            if run.info.status == "RUNNING":
                say(
                    cond.CHECKS_RUNNING,
                    False,
                    "RunnerGone",
                    f"the runner Job {job_name} is "
                    f"gone while MLflow run {run.info.run_id} is unfinished",
                )
                say(
                    cond.PASSED,
                    False,
                    "RunnerGone",
                    "the validation did not finish; nothing "
                    "was promoted; change the spec (a new generation) to validate again",
                )
                out["mlflowRunId"] = run.info.run_id
                return finish("Error")
            return _verdict(out, conditions, run, spec, version, cluster, generation)
        _create_job(
            cluster, namespace, runner_job(mv, spec, config, version=version, kubernetes=kubernetes)
        )
        say(cond.CHECKS_RUNNING, True, "JobCreated", f"runner Job {job_name} created")
        return finish("Running")

    if run is not None:
        out["mlflowRunId"] = run.info.run_id
    finished = _job_finished(job)
    if finished is None:
        where = f"; MLflow run {run.info.run_id}" if run is not None else ""
        say(cond.CHECKS_RUNNING, True, "Running", f"runner Job {job_name} is running{where}")
        return finish("Running")
    if run is None or run.info.status == "RUNNING":
        why = _termination_message(cluster, namespace, job_name) or finished
        say(cond.CHECKS_RUNNING, False, "RunnerFailed", f"runner Job {job_name}: {why}")
        say(
            cond.PASSED,
            False,
            "RunnerFailed",
            f"no decision was recorded ({why}); nothing was promoted",
        )
        return finish("Error")
    return _verdict(out, conditions, run, spec, version, cluster, generation)


def _verdict(
    out: dict[str, Any],
    conditions: list[dict[str, Any]],
    run: Any,
    spec: ModelValidationSpec,
    version: str,
    cluster: Cluster,
    generation: int,
) -> dict[str, Any]:
    """The final status from a finished run: Passed only when ``validate promote`` would
    accept the run as it stands in MLflow now."""
    from validate.promotion import ref_from_json
    from validate.promotion_step import nested_check_results, require_promotable

    run_id = run.info.run_id
    out["mlflowRunId"] = run_id
    tags = run.data.tags
    decision = tags.get("validate.decision") or "unfinished"
    out["decision"] = decision
    try:
        nested = nested_check_results(cluster.mlflow, run)
    except PromotionError as exc:
        nested = {}
        refused: str | None = str(exc)
    else:
        refused = None
    out["checks"] = [
        {
            "name": name,
            "status": result.status.value,
            "blocking": result.blocking,
            "message": " ".join(result.message.split())[:300],
        }
        for name, result in sorted(nested.items())
    ]
    if refused is None:
        try:
            require_promotable(cluster.mlflow, run, require_signature=False)
            ref = ref_from_json(tags.get("validate.candidate_ref", "{}"))
            pinned = (ref.registry.name, str(ref.registry.version)) if ref.registry else None
            if pinned != (spec.model.name, version):
                refused = (
                    f"run {run_id} validated {ref.uri}, not models:/{spec.model.name}/{version}"
                )
        except (PromotionError, ValueError, TypeError, KeyError) as exc:
            refused = str(exc)

    def say(kind: str, value: bool | None, reason: str, message: str) -> None:
        nonlocal conditions
        conditions = cond.set_condition(conditions, kind, value, reason, message, generation)

    say(cond.CHECKS_RUNNING, False, "Finished", f"every check finished (MLflow run {run_id})")
    blocking = [
        f"{c['name']}: {c['message']}"
        for c in out["checks"]
        if c["blocking"] and c["status"] in BLOCKING_STATUSES
    ]
    if refused is None:
        say(cond.PASSED, True, "ChecksPassed", f"every blocking check passed (MLflow run {run_id})")
    elif decision == "fail" and blocking:
        say(cond.PASSED, False, "ChecksFailed", "; ".join(blocking))
    else:
        say(cond.PASSED, False, "NotPromotable", refused)
    phase = "Passed" if refused is None else ("Failed" if decision == "fail" else "Error")
    target_model = spec.promotion.model or spec.model.name
    if spec.promotion.policy == "manual":
        say(
            cond.PROMOTED,
            False,
            "ManualPolicy",
            f"promotion.policy is manual: run `validate "
            f"promote {run_id}` to move alias '{spec.promotion.alias}'",
        )
    elif refused is not None:
        say(cond.PROMOTED, False, "NotPassed", "nothing is promoted without a pass")
    else:
        holder = _alias_holder(cluster, target_model, spec.promotion.alias)
        digest = tags.get("validate.candidate_digest")
        if holder is not None and (
            holder[1].get("validate.validation_run_id") == run_id
            or (digest and holder[1].get("validate.candidate_digest") == digest)
        ):
            out["promotedVersion"] = holder[0]
            say(
                cond.PROMOTED,
                True,
                "Promoted",
                f"alias '{spec.promotion.alias}' of "
                f"'{target_model}' points at version {holder[0]} (MLflow run {run_id})",
            )
            phase = "Promoted"
        else:
            said = _promotion_message(tags) or "the alias does not point at the candidate"
            say(cond.PROMOTED, False, "PromotionRefused", said)
    out["phase"] = phase
    out["conditions"] = conditions
    return out


def delete_jobs(cluster: Cluster, namespace: str, uid: str) -> list[str]:
    """Delete every Job of the ModelValidation ``uid`` (the runner's and the checks'), their
    pods with them; returns their names."""
    from kubernetes.client import V1DeleteOptions
    from kubernetes.client.rest import ApiException

    selector = f"{OWNER_LABEL}={uid}"
    names = [
        j.metadata.name
        for j in cluster.batch.list_namespaced_job(namespace, label_selector=selector).items
    ]
    for name in names:
        try:
            cluster.batch.delete_namespaced_job(
                name, namespace, body=V1DeleteOptions(propagation_policy="Background")
            )
        except ApiException as exc:
            if exc.status != 404:
                raise
    return names


def _read_job(cluster: Cluster, namespace: str, name: str) -> Any:
    from kubernetes.client.rest import ApiException

    try:
        return cluster.batch.read_namespaced_job(name, namespace)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise Unavailable(
            "ApiServerError", f"reading Job {name}: {exc.status} {exc.reason}"
        ) from exc


def _create_job(cluster: Cluster, namespace: str, manifest: dict[str, Any]) -> None:
    from kubernetes.client.rest import ApiException

    try:
        cluster.batch.create_namespaced_job(namespace, manifest)
    except ApiException as exc:
        if exc.status == 409:  # another replica, or our predecessor: the same Job
            return
        raise Unavailable(
            "ApiServerError",
            f"creating Job {manifest['metadata']['name']}: {exc.status} {exc.reason}",
        ) from exc


def _job_finished(job: Any) -> str | None:
    for condition in (job.status.conditions or []) if job.status else []:
        if condition.status == "True" and condition.type in ("Complete", "Failed"):
            return (
                condition.type
                if condition.type == "Complete"
                else (f"Failed: {condition.reason or ''} {condition.message or ''}".strip())
            )
    return None


def _termination_message(cluster: Cluster, namespace: str, job_name: str) -> str | None:
    try:
        pods = cluster.core.list_namespaced_pod(namespace, label_selector=f"job-name={job_name}")
    except Exception:  # noqa: BLE001 - only a better message is lost
        return None
    for pod in pods.items:
        for status in pod.status.container_statuses or []:
            done = status.state.terminated if status.state else None
            if done is not None:
                lines = (done.message or "").strip().splitlines()
                last = lines[-1] if lines else ""
                return f"exit code {done.exit_code}" + (f": {last[-400:]}" if last else "")
    return None


def _resolve_version(cluster: Cluster, spec: ModelValidationSpec) -> str:
    if spec.model.version is not None:
        return spec.model.version
    try:
        found = cluster.mlflow.get_model_version_by_alias(spec.model.name, spec.model.alias)
    except Exception as exc:  # noqa: BLE001 - MLflow down or alias missing
        raise Unavailable(
            "ModelNotFound",
            f"alias '{spec.model.alias}' of '{spec.model.name}': "
            f"{' '.join(str(exc).split())[:200]}",
        ) from exc
    return str(found.version)


def _base_config(cluster: Cluster, namespace: str, spec: ModelValidationSpec) -> dict[str, Any]:
    if spec.config.inline is not None:
        return dict(spec.config.inline)
    ref = spec.config.config_map_ref
    assert ref is not None
    from kubernetes.client.rest import ApiException

    try:
        config_map = cluster.core.read_namespaced_config_map(ref.name, namespace)
    except ApiException as exc:
        if exc.status == 404:
            raise ConfigError(f"spec.config.configMapRef: ConfigMap {ref.name} not found") from exc
        raise Unavailable("ApiServerError", f"reading ConfigMap {ref.name}: {exc.reason}") from exc
    text = (config_map.data or {}).get(ref.key)
    if text is None:
        raise ConfigError(f"spec.config.configMapRef: ConfigMap {ref.name} has no key {ref.key}")
    return config_from_text(text, f"ConfigMap {ref.name} key {ref.key}")


def _find_run(cluster: Cluster, experiment: str, meta: Mapping[str, Any], generation: int) -> Any:
    """The one validation run this generation's Job started, or None; two is doubt."""
    try:
        found = cluster.mlflow.get_experiment_by_name(experiment)
        if found is None:
            return None
        runs = cluster.mlflow.search_runs(
            [found.experiment_id],
            f"tags.`{RUN_UID_TAG}` = '{meta['uid']}' and tags.`{RUN_GENERATION_TAG}` = "
            f"'{generation}' and tags.`validate.kind` = 'validation'",
            max_results=10,
        )
    except Exception as exc:  # noqa: BLE001 - any MLflow failure: decide nothing, retry
        raise Unavailable(
            "MlflowUnavailable",
            f"MLflow at the operator's tracking URI: {type(exc).__name__}: "
            f"{' '.join(str(exc).split())[:200]}",
        ) from exc
    if len(runs) > 1:
        ids = ", ".join(r.info.run_id for r in runs)
        raise Unavailable(
            "AmbiguousRuns",
            f"more than one MLflow run claims generation {generation} ({ids}); "
            "nothing is decided until that is explained",
        )
    return runs[0] if runs else None


def _alias_holder(cluster: Cluster, model: str, alias: str) -> tuple[str, dict[str, str]] | None:
    try:
        version = cluster.mlflow.get_model_version_by_alias(model, alias)
    except Exception as exc:  # noqa: BLE001 - RESOURCE_DOES_NOT_EXIST, or MLflow down
        if "RESOURCE_DOES_NOT_EXIST" in str(exc) or "not found" in str(exc).lower():
            return None
        raise Unavailable("MlflowUnavailable", f"reading alias '{alias}': {exc}") from exc
    return str(version.version), dict(version.tags or {})


def _promotion_message(tags: Mapping[str, str]) -> str | None:
    text = tags.get("validate.promotion")
    if not text:
        return None
    try:
        outcome = json.loads(text)
    except ValueError:
        return None
    return outcome.get("message") if isinstance(outcome, dict) else None
