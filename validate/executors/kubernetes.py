"""The Kubernetes executor: each check in its own ephemeral Job, watched to completion.

Flow: stage the inputs in MLflow (``staging``), create one Job per check (at most
``max_parallel`` at a time; manifests from ``k8s_manifests``), watch the Jobs and their
pods, read each result from the pod's termination message (the full result from the
check's nested MLflow run), and delete every Job this run created when it is
interrupted. A Job that fails for a Kubernetes reason (DeadlineExceeded,
BackoffLimitExceeded, OOMKilled, an image that cannot be pulled, a pod that cannot be
scheduled) becomes that check's ``error``, with the reason in its message.

Nothing here fails silently: a watch the API server refuses (401/403/404) ends the run's
unfinished checks as ``error`` with one line saying what to fix, a dropped watch is
retried a bounded number of times with backoff, and a pod's full result that cannot be
read back never turns into a pass without its assertions.
"""

from __future__ import annotations

import json
import queue
import threading
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from validate import telemetry_checks
from validate.check import CheckContext
from validate.errors import ConfigError, RecorderError
from validate.executors.k8s_manifests import RUN_LABEL, JobRequest, build_job, label_value
from validate.executors.staging import MANIFEST_PATH, Stager, manifest_json, stage_inputs
from validate.kubernetes_settings import KubernetesSection
from validate.recorder import MlflowRecorder
from validate.registry import SelectedCheck
from validate.results import CheckResult, Status
from validate.tracking import redact_uri, scrub_credentials

IMAGE_ERRORS = ("ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull")
CONFIG_ERRORS = ("CreateContainerConfigError", "CreateContainerError")
# How long past activeDeadlineSeconds we wait for the Job controller before acting ourselves.
DEADLINE_GRACE_SECONDS = 30
# Pauses (s) before re-establishing a watch after consecutive retryable failures; once
# they are spent the run's unfinished checks are errors (about a minute of API trouble).
WATCH_RETRY_DELAYS = (1.0, 2.0, 4.0, 8.0, 15.0, 30.0)
# What the API server means by refusing a watch, and what to do about it.
PERMANENT_WATCH_STATUSES = {
    401: "is not authorised (401 Unauthorized); the kubeconfig's credentials are missing or "
    "expired: refresh them",
    403: "is forbidden (403); grant the service account get, list and watch on jobs and pods "
    "(ci/k8s/role.yaml)",
    404: "failed: not found (404); check that the namespace exists and is the one in "
    "kubernetes.namespace",
}
# The compact verdicts that may stand without the full result: they can only block.
VERDICTS_THAT_BLOCK = ("failed", "error")


@dataclass
class _Job:
    check: SelectedCheck
    name: str
    created: float
    deadline_seconds: int | None = None
    started: float | None = None  # monotonic, when an event first showed status.startTime
    unschedulable_since: float | None = None
    result: CheckResult | None = None
    node: str | None = None


@dataclass
class KubernetesRun:
    """One validation's Jobs: created, watched, cleaned up."""

    settings: KubernetesSection
    progress: Callable[[str], None] | None = None
    created: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.batch, self.core = connect(self.settings)

    def execute(
        self,
        selected: Sequence[SelectedCheck],
        context: CheckContext,
        *,
        recorder: MlflowRecorder,
        data_files: Mapping[str, str | None],
        sections: Mapping[str, Mapping[str, Any] | None],
        on_result: Callable[[CheckResult], None] | None = None,
    ) -> list[CheckResult]:
        """Run every selected check as a Job; results in config order."""
        self.recorder = recorder
        run_id = recorder.run_id
        if run_id is None:
            raise RecorderError(
                f"{recorder.failure}; the Kubernetes executor stages its inputs in MLflow, so "
                "no check ran; try again when MLflow is back"
            )
        assert recorder.experiment_id is not None
        stager = Stager(recorder.client, recorder.experiment_id)
        manifest = stage_inputs(
            stager,
            context,
            data_files=data_files,
            checks={item.name: sections[item.name] or {} for item in selected},
        )
        recorder.client.log_text(run_id, manifest_json(manifest), MANIFEST_PATH)
        self._say(
            f"staged inputs: {len(stager.uploaded)} uploaded, {len(stager.reused)} already there"
        )
        inputs_uri = f"runs:/{run_id}/{MANIFEST_PATH}"
        return self._run_jobs(selected, run_id, inputs_uri, on_result)

    def _run_jobs(
        self,
        selected: Sequence[SelectedCheck],
        run_id: str,
        inputs_uri: str,
        on_result: Callable[[CheckResult], None] | None,
    ) -> list[CheckResult]:
        """Create the Jobs, judge them from the watch events; results in config order."""
        waiting = list(selected)
        running: dict[str, _Job] = {}
        finished: dict[str, CheckResult] = {}
        events: queue.Queue[tuple[str, Any]] = queue.Queue()
        stop = threading.Event()
        watchers = [
            threading.Thread(target=self._watch, args=(kind, run_id, events, stop), daemon=True)
            for kind in ("job", "pod")
        ]
        for watcher in watchers:
            watcher.start()
        limit = self.settings.run_timeout_seconds
        deadline = time.monotonic() + limit if limit else None
        try:
            while waiting or running:
                if deadline is not None and time.monotonic() > deadline:
                    message = f"the run exceeded kubernetes.run_timeout_seconds ({limit:g} s)"
                    self._abandon(message, waiting, running, finished, on_result)
                    break
                while waiting and len(running) < self.settings.max_parallel:
                    item = waiting.pop(0)
                    running[item.name] = self._create(item, run_id, inputs_uri)
                try:
                    kind, obj = events.get(timeout=5)
                except queue.Empty:
                    kind, obj = "tick", None
                if kind == "watch_error" or (
                    kind == "tick" and not all(w.is_alive() for w in watchers)
                ):
                    # Without a watch no Job can be judged: waiting would hang the run.
                    message = obj or "kubernetes: a watch on this run's Jobs ended unexpectedly"
                    self._abandon(
                        f"{message}; every Job of this run was deleted",
                        waiting,
                        running,
                        finished,
                        on_result,
                    )
                    break
                for name in list(running):
                    job = running[name]
                    result = self._judge(job, kind, obj)
                    if result is None:
                        continue
                    del running[name]
                    finished[name] = result
                    if on_result:
                        on_result(result)
        except BaseException:
            self.delete_all()
            raise
        finally:
            stop.set()
        return [finished[item.name] for item in selected]

    def _abandon(
        self,
        message: str,
        waiting: list[SelectedCheck],
        running: dict[str, _Job],
        finished: dict[str, CheckResult],
        on_result: Callable[[CheckResult], None] | None,
    ) -> None:
        """The run cannot go on (too long, no watch): every unfinished check is an error
        with ``message``, every Job goes."""
        self.delete_all()
        for item in [job.check for job in running.values()] + waiting:
            result = CheckResult(
                name=item.name, status=Status.ERROR, message=message, blocking=item.blocking
            )
            finished[item.name] = result
            if on_result:
                on_result(result)
        running.clear()
        waiting.clear()

    def delete_all(self) -> None:
        """Delete every Job this run created (their pods follow: background propagation)."""
        for name in self.created:
            self._delete(name)

    def _create(self, item: SelectedCheck, run_id: str, inputs_uri: str) -> _Job:
        extra: dict[str, str] = getattr(item.check, "resource_requests", dict)()
        telemetry_checks.check_started(item.name)
        manifest = build_job(
            self.settings,
            JobRequest(
                check=item.name,
                run_id=run_id,
                inputs_uri=inputs_uri,
                tracking_uri=self.recorder.tracking_uri,
                extra_limits=extra,
                environment=telemetry_checks.job_environment(item.name),
            ),
        )
        name = manifest["metadata"]["name"]
        self.batch.create_namespaced_job(self.settings.namespace, manifest)
        self.created.append(name)
        self._say(f"job {name}: created for check {item.name}")
        return _Job(
            check=item,
            name=name,
            created=time.monotonic(),
            deadline_seconds=manifest["spec"].get("activeDeadlineSeconds"),
        )

    def _judge(self, job: _Job, kind: str, obj: Any) -> CheckResult | None:
        """The job's result once it has one; None while it is still going."""
        if kind == "job" and obj.metadata.name == job.name:
            if job.started is None and obj.status.start_time and not obj.spec.suspend:
                job.started = time.monotonic()  # seen now: at or after the controller's start
            for condition in obj.status.conditions or []:
                if condition.status != "True":
                    continue
                if condition.type == "Complete":
                    return self._collect(job, failed_reason=None)
                if condition.type == "Failed":
                    return self._collect(job, failed_reason=condition.reason or "Failed")
        if kind == "pod" and (obj.metadata.labels or {}).get("job-name") == job.name:
            job.node = obj.spec.node_name or job.node
            return self._pod_problem(job, obj)
        if kind == "tick" and job.unschedulable_since is not None:
            return self._unschedulable(job, None)
        return self._past_deadline(job)

    def _past_deadline(self, job: _Job) -> CheckResult | None:
        """Backstop for a Job controller that lags behind activeDeadlineSeconds.

        The controller counts from the Job's ``status.startTime``; we count from the first
        event that showed us one (never earlier than that start, however late the event),
        so this can only fire later than Kubernetes itself should have. A Job never seen
        started (suspended, or a controller that never synced it) is left to
        ``run_timeout_seconds``.
        """
        if job.deadline_seconds is None or job.started is None:
            return None
        overdue = time.monotonic() - job.started - job.deadline_seconds
        if overdue < DEADLINE_GRACE_SECONDS:
            return None
        return self._error(
            job,
            f"DeadlineExceeded: the Job ran past its activeDeadlineSeconds "
            f"({job.deadline_seconds} s) and Kubernetes had not stopped it "
            f"{DEADLINE_GRACE_SECONDS} s later; the Job was deleted",
        )

    def _pod_problem(self, job: _Job, pod: Any) -> CheckResult | None:
        """Failures the Job controller would only see at its deadline."""
        for status in pod.status.container_statuses or []:
            waiting = status.state.waiting if status.state else None
            if waiting and waiting.reason in IMAGE_ERRORS + CONFIG_ERRORS:
                return self._error(
                    job, f"{waiting.reason}: {waiting.message or self.settings.image}"
                )
        for condition in pod.status.conditions or []:
            if condition.type == "PodScheduled" and condition.reason == "Unschedulable":
                if job.unschedulable_since is None:
                    job.unschedulable_since = time.monotonic()
                return self._unschedulable(job, condition.message)
        job.unschedulable_since = None
        return None

    def _unschedulable(self, job: _Job, message: str | None) -> CheckResult | None:
        assert job.unschedulable_since is not None
        if time.monotonic() - job.unschedulable_since < self.settings.unschedulable_timeout_seconds:
            return None
        detail = message or "no node can run it"
        return self._error(job, f"Unschedulable: {detail}")

    def _collect(self, job: _Job, failed_reason: str | None) -> CheckResult:
        """Read the result the pod handed back; failures keep the Kubernetes reason."""
        pod = self._pod(job)
        terminated = _terminated(pod)
        compact = _compact(terminated.message if terminated else None) or self._from_logs(pod)
        if compact is not None and failed_reason is None:
            return self._full_result(job, compact)
        reason = failed_reason or "Failed"
        if (
            terminated is not None
            and terminated.reason not in (None, "Error", "Completed")
            and reason in ("Failed", "BackoffLimitExceeded")
        ):
            # The pod's reason (OOMKilled, …) says more than the Job's generic one; a
            # Job-level reason such as DeadlineExceeded is kept even if the pod then ended.
            reason = terminated.reason
        exit_code = f" (exit code {terminated.exit_code})" if terminated is not None else ""
        message = f"Kubernetes job {job.name} failed: {reason}{exit_code}"
        if compact is not None and compact.get("message"):
            message += f"; the check said: {compact['message']}"
        elif terminated is not None and terminated.message:
            message += f"; {' '.join(terminated.message.split())[-300:]}"
        return self._error(job, message, already_final=True)

    def _full_result(self, job: _Job, compact: dict[str, Any]) -> CheckResult:
        """The pod's full result from its nested run, checked against the compact one.

        A full result that cannot be read (or says something else than the compact one)
        loses the assertions behind the verdict: a verdict that could pass the gate
        (passed, skipped) is then an error, as it cannot be verified; failed and error
        stand, with a warning that their assertions were lost.
        """
        nested = compact.get("nested_run_id")
        problem = None
        if not nested:
            problem = "the pod recorded no nested MLflow run"
        else:
            try:
                path = self.recorder.client.download_artifacts(nested, "check_result.json")
                with open(path, encoding="utf-8") as handle:
                    result = CheckResult.from_dict(json.load(handle))
            except Exception as exc:  # noqa: BLE001 - any failure loses the assertions
                text = " ".join((getattr(exc, "message", None) or str(exc)).split())[:200]
                problem = (
                    f"check_result.json of nested run {nested} could not be read "
                    f"({type(exc).__name__}: {scrub_credentials(text)})"
                )
            else:
                if (result.name, result.status.value) != (compact["name"], compact["status"]):
                    problem = (
                        f"check_result.json of nested run {nested} says {result.name} "
                        f"{result.status.value}, the pod said {compact['name']} "
                        f"{compact['status']}"
                    )
                else:
                    problem = self._foreign(nested, job)
                    if problem is None:
                        return self._finish(job, result, recorded_by_pod=True)
        if compact["status"] not in VERDICTS_THAT_BLOCK:
            return self._error(
                job,
                f"the pod reported {compact['status']}, but {problem}, so the assertions "
                "behind it cannot be verified; re-run the validation",
                already_final=True,
            )
        lost = f"its assertions were lost: {problem}; the verdict is the pod's compact result"
        result = CheckResult.from_dict({**compact, "assertions": [], "details": {}})
        result = result.with_updates(warnings=(*result.warnings, lost))
        return self._finish(job, result, recorded_by_pod=nested is not None)

    def _foreign(self, nested: str, job: _Job) -> str | None:
        """Why nested run ``nested`` is not this validation's record of ``job``'s check, or
        None when it is. A pod that names another run (an older pass, say, whose result
        matches) must not have that run's verdict count for this one."""
        try:
            tags = self.recorder.client.get_run(nested).data.tags
        except Exception as exc:  # noqa: BLE001 - unverifiable is as bad as wrong
            return f"nested run {nested} could not be read ({type(exc).__name__})"
        if tags.get("mlflow.parentRunId") != self.recorder.run_id:
            return f"nested run {nested} belongs to another validation run"
        if tags.get("validate.check") != job.check.name:
            return f"nested run {nested} records check {tags.get('validate.check')!r}"
        return None

    def _error(self, job: _Job, message: str, already_final: bool = False) -> CheckResult:
        if not already_final:
            self._delete(job.name)
        result = CheckResult(name=job.check.name, status=Status.ERROR, message=message)
        return self._finish(job, result)

    def _finish(self, job: _Job, result: CheckResult, recorded_by_pod: bool = False) -> CheckResult:
        elapsed = time.monotonic() - job.created
        details = {
            **dict(result.details),
            "kubernetes": {
                "job": job.name,
                "node": job.node,
                "create_to_result_s": round(elapsed, 3),
                "recorded_by_pod": recorded_by_pod,
            },
        }
        self._say(f"job {job.name}: {result.status.value} after {elapsed:.1f} s")
        return result.with_updates(
            name=job.check.name, blocking=job.check.blocking, details=details
        )

    def _pod(self, job: _Job) -> Any:
        pods = self.core.list_namespaced_pod(
            self.settings.namespace, label_selector=f"job-name={job.name}"
        ).items
        return max(pods, key=lambda p: p.metadata.creation_timestamp) if pods else None

    def _from_logs(self, pod: Any) -> dict[str, Any] | None:
        if pod is None:
            return None
        from kubernetes.client.rest import ApiException

        try:
            log = self.core.read_namespaced_pod_log(
                pod.metadata.name, self.settings.namespace, tail_lines=5
            )
        except ApiException:
            return None
        for line in reversed(log.strip().splitlines()):
            found = _compact(line)
            if found is not None:
                return found
        return None

    def _delete(self, name: str) -> None:
        from kubernetes.client import V1DeleteOptions
        from kubernetes.client.rest import ApiException

        try:
            self.batch.delete_namespaced_job(
                name, self.settings.namespace, body=V1DeleteOptions(propagation_policy="Background")
            )
            self._say(f"job {name}: deleted")
        except ApiException as exc:
            if exc.status != 404:  # already gone is fine; anything else is worth saying
                self._say(f"job {name}: could not delete ({exc.reason})")

    def _watch(self, kind: str, run_id: str, events: queue.Queue, stop: threading.Event) -> None:
        """Stream Job or pod events of this run into ``events`` until ``stop``.

        A dropped watch is re-established after a pause from :data:`WATCH_RETRY_DELAYS`;
        a refusal (401/403/404), an unexpected error, or retries spent put one
        ``("watch_error", message)`` on ``events`` and end the watch.
        """
        from kubernetes import watch

        lister = self.batch.list_namespaced_job if kind == "job" else self.core.list_namespaced_pod
        selector = f"{RUN_LABEL}={label_value(run_id)}"
        what = "jobs" if kind == "job" else "pods"
        failures = 0
        while not stop.is_set():
            stream = watch.Watch()
            try:
                for event in stream.stream(
                    lister, self.settings.namespace, label_selector=selector, timeout_seconds=10
                ):
                    failures = 0
                    events.put((kind, event["object"]))
                    if stop.is_set():
                        stream.stop()
                        break
                failures = 0  # ended at its timeout_seconds: healthy, watch again
            except Exception as exc:  # noqa: BLE001 - classified: retried, or ends the run
                if stop.is_set():
                    return
                retryable, why = watch_failure(exc, what=what, namespace=self.settings.namespace)
                if not retryable:
                    events.put(("watch_error", why))
                    return
                if failures == len(WATCH_RETRY_DELAYS):
                    waited = sum(WATCH_RETRY_DELAYS)
                    events.put(
                        (
                            "watch_error",
                            f"kubernetes: watching {what} in namespace "
                            f"{self.settings.namespace} failed {failures + 1} times in a row "
                            f"over {waited:g} s (last: {why}); check that the API server at "
                            f"{_api_host(self.batch)} is reachable and healthy",
                        )
                    )
                    return
                self._say(f"watch on {what}: {why}; retrying")
                stop.wait(WATCH_RETRY_DELAYS[failures])
                failures += 1

    def _say(self, line: str) -> None:
        if self.progress is not None:
            self.progress(line)


def connect(settings: KubernetesSection) -> tuple[Any, Any]:
    """Batch and core API clients, or one clear line (exit 2) when none can be had."""
    try:
        from kubernetes import client, config
        from kubernetes.config.config_exception import ConfigException
    except ImportError as exc:
        raise ConfigError(
            "executor: kubernetes needs the kubernetes client; pip install 'validate-gate[k8s]' "
            "(from a clone of validate: pip install '.[k8s]')"
        ) from exc
    try:
        if settings.kubeconfig or not _in_cluster():
            config.load_kube_config(config_file=settings.kubeconfig, context=settings.context)
        else:
            config.load_incluster_config()
    except (ConfigException, OSError, TypeError) as exc:
        where = settings.kubeconfig or "$KUBECONFIG or ~/.kube/config"
        raise ConfigError(
            f"kubernetes: no usable kubeconfig ({where}): {exc}; set kubernetes.kubeconfig or "
            "KUBECONFIG"
        ) from exc
    if not client.Configuration.get_default_copy().verify_ssl:
        # The kubeconfig says insecure-skip-tls-verify: the user chose it; say it once in
        # the README rather than on every request.
        warnings.filterwarnings("ignore", message="Unverified HTTPS request")
    batch, core = client.BatchV1Api(), client.CoreV1Api()
    try:
        core.list_namespaced_pod(settings.namespace, limit=1, _request_timeout=10)
    except Exception as exc:  # noqa: BLE001 - unreachable, refused, forbidden
        host = client.Configuration.get_default_copy().host
        reason = getattr(exc, "reason", None) or type(exc).__name__
        raise ConfigError(
            f"kubernetes: the API server at {host} cannot be used ({reason}); check the "
            f"kubeconfig and that namespace '{settings.namespace}' exists and is yours"
        ) from exc
    return batch, core


def watch_failure(exc: BaseException, *, what: str, namespace: str) -> tuple[bool, str]:
    """Whether a failed watch is worth re-establishing, and one line saying what failed.

    Retryable: a dropped or refused connection, a timeout, an expired resource version
    (410), throttling (429) and server errors (5xx). Permanent: 401, 403, 404 and other
    refusals, and anything unexpected (our bug or the client's: retrying cannot help).
    """
    import http.client

    from kubernetes.client.rest import ApiException
    from urllib3.exceptions import HTTPError as Urllib3Error

    where = f"watching {what} in namespace {namespace}"
    if isinstance(exc, ApiException):
        status = exc.status or 0
        reason = " ".join(str(exc.reason or "").split())[:200]
        if status in PERMANENT_WATCH_STATUSES:
            return False, f"kubernetes: {where} {PERMANENT_WATCH_STATUSES[status]}"
        if status in (0, 410, 429) or status >= 500:
            return True, f"{status} {reason}".strip()
        return False, f"kubernetes: {where} was refused ({status} {reason})"
    if isinstance(exc, (OSError, Urllib3Error, http.client.HTTPException)):
        # urllib3 wraps the telling error (refused, reset, timed out) in a long MaxRetryError.
        cause = getattr(exc, "reason", None)
        shown = cause if isinstance(cause, BaseException) else exc
        text = " ".join(str(shown).split())[:200]
        return True, scrub_credentials(f"{type(shown).__name__}: {text}")
    text = " ".join(str(exc).split())[:200]
    return False, (
        f"kubernetes: {where} failed with an unexpected {type(exc).__name__}: "
        f"{scrub_credentials(text)}; please report it"
    )


def _api_host(api: Any) -> str:
    client = getattr(api, "api_client", None)
    host = getattr(getattr(client, "configuration", None), "host", None)
    return redact_uri(host) if host else "the kubeconfig's server"


def _in_cluster() -> bool:
    import os

    return bool(os.environ.get("KUBERNETES_SERVICE_HOST"))


def _terminated(pod: Any) -> Any:
    if pod is None:
        return None
    for status in pod.status.container_statuses or []:
        if status.state and status.state.terminated:
            return status.state.terminated
    return None


def _compact(text: str | None) -> dict[str, Any] | None:
    if not text:
        return None
    try:
        found = json.loads(text.strip())
    except ValueError:
        return None
    return found if isinstance(found, dict) and "status" in found and "name" in found else None
