"""MLflow recorder: one parent run per validation, one nested run per check."""

from __future__ import annotations

import contextlib
import json
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from validate.errors import RecorderError, ValidateError
from validate.results import CheckResult
from validate.tracking import failure_kind, redact_uri, scrub_credentials

if TYPE_CHECKING:
    from validate.rest_store import RestStore
    from validate.sqlite_store import SqliteStore

REPORT_ARTIFACT = "validation_report.json"
_MAX_PARAM = 6000
_MAX_TAG = 5000
T = TypeVar("T")


class RecordingFailed(ValidateError):
    """Recording failed, and not because MLflow was down: MLflow refused what was sent, or
    a bug (ours, or a check result that breaks the JSON contract). Exit 3; never a pass,
    and never "sync later", which would fail the same way."""

    exit_code = 3


class MlflowRecorder:
    """Records a validation in MLflow through the tracking client (no global active run).

    The first outage of MLflow switches the recorder off for the rest of the run
    (``failure`` says what happened; MLflow's own HTTP retries with backoff have been
    spent by then), so an outage costs one bounded wait, not one per call. The run goes
    on, the gate fails closed, and the report is kept locally for ``validate sync``.
    With ``strict=True`` (sync) an outage raises :class:`RecorderError` instead. Any
    other failure (see :func:`validate.tracking.failure_kind`) raises
    :class:`RecordingFailed`: syncing later would not help, and calling it an outage
    would hide the bug.
    """

    def __init__(
        self,
        *,
        tracking_uri: str,
        experiment: str,
        strict: bool = False,
        native: SqliteStore | RestStore | None = None,
    ) -> None:
        self.tracking_uri = tracking_uri
        self.experiment = experiment
        self.strict = strict
        self.run_id: str | None = None
        self.failure: str | None = None
        self.check_runs: dict[str, str] = {}
        self._client: Any = None
        self._experiment_id: str | None = None
        # Writes go to the store directly where that is what MLflow would write
        # (validate.sqlite_store, validate.rest_store), else through MLflow's client.
        self._writer: Writer | None = native

    @property
    def writer(self) -> Writer:
        """Where this run's writes go (see ``native``)."""
        if self._writer is None:
            self._writer = _MlflowWriter(self)
        return self._writer

    @property
    def client(self) -> Any:
        if self._client is None:
            from mlflow import MlflowClient

            self._client = MlflowClient(
                tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri
            )
        return self._client

    @property
    def experiment_id(self) -> str | None:
        return self._experiment_id

    @property
    def offline(self) -> bool:
        return self.failure is not None

    def _attempt(self, what: str, action: Callable[[], T]) -> T | None:
        """Run one MLflow interaction; on failure remember why and stop recording."""
        if self.failure is not None:
            return None
        try:
            return action()
        except ValidateError:
            raise
        except Exception as exc:  # noqa: BLE001 - an outage fails closed; the rest raises
            kind = failure_kind(exc)
            if kind == "refused":
                raise RecordingFailed(
                    f"MLflow at {redact_uri(self.tracking_uri)} refused the request while "
                    f"{what}: {_first_line(exc)}; this is not an outage and nothing was "
                    "promoted: fix what MLflow says (report it if it names a value validate "
                    "sent)"
                ) from exc
            if kind == "bug":
                raise RecordingFailed(
                    f"internal error in the recorder while {what}: {type(exc).__name__}: "
                    f"{_first_line(exc)}; this is not an MLflow outage and nothing was "
                    "promoted; please report it (re-run with --debug for the traceback)"
                ) from exc
            self.fail(what, exc)
            if self.strict:
                raise RecorderError(str(self.failure)) from exc
            return None

    def fail(self, what: str, exc: BaseException) -> None:
        """Stop recording: MLflow failed while doing ``what``."""
        self.failure = (
            f"MLflow at {redact_uri(self.tracking_uri)} failed while {what}: {_first_line(exc)}"
        )

    def start(
        self, *, run_name: str, params: Mapping[str, Any], tags: Mapping[str, str]
    ) -> str | None:
        """Create the parent run and log its params and tags (None when MLflow is down)."""

        def create() -> str:
            writer = self.writer
            # A store's new experiment has its id once the run is created in it.
            self._experiment_id = writer.experiment_id or None
            with writer.together():  # a run is never seen without its params
                run_id = writer.create_run(
                    run_name=run_name, tags={"validate.kind": "validation", **tags}
                )
                self._experiment_id = self._experiment_id or writer.experiment_id
                writer.log_batch(
                    run_id,
                    params={k: str(v)[:_MAX_PARAM] for k, v in params.items()},
                    tags={k: str(v)[:_MAX_TAG] for k, v in tags.items()},
                )
            return run_id

        self.run_id = self._attempt("creating the validation run", create)
        return self.run_id

    def resume(self, run_id: str) -> None:
        """Record into an existing parent run (``validate sync`` finishing a broken run)."""

        def fetch() -> None:
            run = self.client.get_run(run_id)
            self._experiment_id = run.info.experiment_id

        self._attempt(f"reading run {run_id}", fetch)
        self.run_id = run_id

    def record_check(self, result: CheckResult, artifact_dir: str | None = None) -> str | None:
        """One nested run: metrics, assertion outcomes, status tag, the result as JSON."""
        if self.run_id is None:
            return None
        child_id = self._attempt(
            f"recording check {result.name}", lambda: self._record_check(result, artifact_dir)
        )
        if child_id is not None:
            self.check_runs[result.name] = child_id
        return child_id

    def _record_check(self, result: CheckResult, artifact_dir: str | None) -> str:
        assert self.run_id is not None and self._experiment_id is not None
        payload = _result_json(result)  # before the nested run: nothing half-written
        now = int(time.time() * 1000)
        writer = self.writer
        with writer.together():  # the nested run whole (created, logged, closed), or none
            return self._write_check(writer, result, artifact_dir, payload, now)

    def _write_check(
        self,
        writer: Writer,
        result: CheckResult,
        artifact_dir: str | None,
        payload: str,
        now: int,
    ) -> str:
        assert self.run_id is not None
        child_id = writer.create_run(
            run_name=result.name,
            tags={"mlflow.parentRunId": self.run_id, "validate.kind": "check"},
        )
        metrics = [(_metric_key(k), float(v), now) for k, v in result.metrics.items() if _finite(v)]
        for assertion in result.assertions:
            side = "min" if assertion.op == ">=" else "max"
            key = _metric_key(f"assertion.{assertion.metric}.{side}.passed")
            metrics.append((key, 1.0 if assertion.passed else 0.0, now))
        tags = {
            "validate.check": result.name,
            "validate.status": result.status.value,
            "validate.blocking": str(result.blocking).lower(),
            "validate.message": result.message[:_MAX_TAG],
        }
        writer.log_batch(child_id, metrics=metrics, tags=tags)
        writer.log_text(child_id, payload, "check_result.json")
        if artifact_dir and Path(artifact_dir).is_dir() and any(Path(artifact_dir).iterdir()):
            writer.log_artifacts(child_id, artifact_dir)
        status = "FINISHED" if result.status.value in ("passed", "skipped") else "FAILED"
        writer.set_terminated(child_id, status)
        return child_id

    def recorded_checks(self) -> dict[str, str]:
        """Check name → nested run id of the checks already recorded under the parent run."""
        if self.run_id is None:
            return {}
        parent = self.run_id

        def search() -> dict[str, str]:
            runs = self.client.search_runs(
                [self._experiment_id],
                f"tags.mlflow.parentRunId = '{parent}' and tags.`validate.kind` = 'check'",
            )
            # A nested run is complete once terminated; a half-written one is recorded again.
            return {
                r.data.tags["validate.check"]: r.info.run_id
                for r in runs
                if r.info.status != "RUNNING" and "validate.check" in r.data.tags
            }

        return self._attempt("listing recorded checks", search) or {}

    def find_validation(self, report_id: str) -> Any:
        """The parent run tagged with ``report_id``, if one exists (no duplicate on sync)."""

        def search() -> Any:
            experiment = self.client.get_experiment_by_name(self.experiment)
            if experiment is None:
                return None
            runs = self.client.search_runs(
                [experiment.experiment_id],
                f"tags.`validate.report_id` = '{report_id}' and tags.`validate.kind` = "
                "'validation'",
            )
            return runs[0] if runs else None

        return self._attempt("looking for the validation run", search)

    def set_tags(self, tags: Mapping[str, str]) -> None:
        if self.run_id is None:
            return
        run_id = self.run_id

        def tag() -> None:
            # One request (one transaction on sqlite), not one per tag.
            self.writer.set_tags(run_id, {k: str(v)[:_MAX_TAG] for k, v in tags.items()})

        self._attempt("tagging the validation run", tag)

    def finish(self, report: Mapping[str, Any], *, decision: str) -> None:
        """Attach the JSON report, tag the decision, close the parent run."""
        if self.run_id is None:
            return
        run_id = self.run_id

        def close() -> None:
            self._log_report(run_id, report)
            self.writer.set_terminated(
                run_id,
                "FINISHED" if decision == "pass" else "FAILED",
                {"validate.decision": decision},
            )

        self._attempt("closing the validation run", close)

    def attach_report(self, report: Mapping[str, Any]) -> None:
        """Replace the run's report artifact (after promotion, with its outcome)."""
        if self.run_id is None:
            return
        run_id = self.run_id
        self._attempt("attaching the report", lambda: self._log_report(run_id, report))

    def _log_report(self, run_id: str, report: Mapping[str, Any]) -> None:
        from validate.reporting.json_report import json_safe

        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / REPORT_ARTIFACT
            path.write_text(json.dumps(json_safe(report), indent=2), encoding="utf-8")
            self.writer.log_artifact(run_id, str(path))

    def kill(self, reason: str) -> None:
        """Ctrl-C or a crash: the run is marked KILLED, never passed."""
        if self.run_id is None or self.failure is not None:
            return
        with contextlib.suppress(Exception):  # best effort while already failing
            self.writer.set_terminated(
                self.run_id,
                "KILLED",
                {"validate.decision": "killed", "validate.killed_reason": reason[:_MAX_TAG]},
            )

    def _experiment_id_for(self, name: str) -> str:
        from mlflow.exceptions import MlflowException

        found = self.client.get_experiment_by_name(name)
        if found is not None:
            return found.experiment_id
        try:
            return self.client.create_experiment(name)
        except MlflowException:
            # Another validation created it between our lookup and create.
            found = self.client.get_experiment_by_name(name)
            if found is None:
                raise
            return found.experiment_id


class Writer(Protocol):
    """The writes a validation makes: :class:`validate.sqlite_store.SqliteStore`,
    :class:`validate.rest_store.RestStore` or :class:`_MlflowWriter`."""

    @property
    def experiment_id(self) -> str: ...

    def create_run(self, *, run_name: str, tags: Mapping[str, str]) -> str: ...

    def log_batch(
        self,
        run_id: str,
        *,
        metrics: Iterable[tuple[str, float, int]] = (),
        params: Mapping[str, str] | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> None: ...

    def set_tags(self, run_id: str, tags: Mapping[str, str]) -> None: ...

    def set_terminated(
        self, run_id: str, status: str, tags: Mapping[str, str] | None = None
    ) -> None: ...

    def log_text(self, run_id: str, text: str, artifact_file: str) -> None: ...

    def log_artifact(self, run_id: str, local_file: str) -> None: ...

    def log_artifacts(self, run_id: str, local_dir: str) -> None: ...

    def together(self) -> contextlib.AbstractContextManager[None]:
        """The writes made inside as one transaction where the store has them (sqlite)."""
        ...


class _MlflowWriter:
    """The same writes through MLflow's client: any store MLflow supports."""

    def __init__(self, recorder: MlflowRecorder) -> None:
        self._recorder = recorder

    @property
    def experiment_id(self) -> str:
        return self._recorder._experiment_id_for(self._recorder.experiment)

    def together(self) -> contextlib.nullcontext[None]:
        """MLflow's client commits each call on its own."""
        return contextlib.nullcontext()

    @property
    def _client(self) -> Any:
        return self._recorder.client

    def create_run(self, *, run_name: str, tags: Mapping[str, str]) -> str:
        experiment_id = self._recorder.experiment_id or self.experiment_id
        run = self._client.create_run(experiment_id, run_name=run_name, tags=dict(tags))
        return str(run.info.run_id)

    def log_batch(
        self,
        run_id: str,
        *,
        metrics: Iterable[tuple[str, float, int]] = (),
        params: Mapping[str, str] | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> None:
        from mlflow.entities import Metric, Param, RunTag

        self._client.log_batch(
            run_id,
            metrics=[Metric(key, value, stamp, 0) for key, value, stamp in metrics],
            params=[Param(key, value) for key, value in (params or {}).items()],
            tags=[RunTag(key, value) for key, value in (tags or {}).items()],
        )

    def set_tags(self, run_id: str, tags: Mapping[str, str]) -> None:
        self.log_batch(run_id, tags=tags)

    def set_terminated(
        self, run_id: str, status: str, tags: Mapping[str, str] | None = None
    ) -> None:
        if tags:
            self.set_tags(run_id, tags)
        self._client.set_terminated(run_id, status=status)

    def log_text(self, run_id: str, text: str, artifact_file: str) -> None:
        self._client.log_text(run_id, text, artifact_file)

    def log_artifact(self, run_id: str, local_file: str) -> None:
        self._client.log_artifact(run_id, local_file)

    def log_artifacts(self, run_id: str, local_dir: str) -> None:
        self._client.log_artifacts(run_id, local_dir)


def _result_json(result: CheckResult) -> str:
    """The check's result as JSON, or :class:`RecordingFailed` naming the check that broke
    the contract (plain JSON values; ``validate.testing`` checks it)."""
    try:
        return json.dumps(result.to_dict(), indent=2)
    except (TypeError, ValueError) as exc:
        raise RecordingFailed(
            f"check {result.name} returned a result that is not plain JSON "
            f"({type(exc).__name__}: {_first_line(exc)}); a check's metrics and details must "
            "be JSON values (validate.testing's conformance kit checks this); nothing was "
            "promoted"
        ) from exc


def _metric_key(name: str) -> str:
    """MLflow keys allow alphanumerics, _ - . space / only, and no path that could be
    normalised (an empty, ``.`` or ``..`` segment, a leading ``/``): a column or group
    name holding ``/../`` must not make the run unrecordable."""
    key = "".join(c if c.isalnum() or c in "_-./ " else "_" for c in name)
    segments = key.split("/")
    return "/".join(s if s.strip(".") else "_" * max(len(s), 1) for s in segments)


def _finite(value: Any) -> bool:
    try:
        return value == value and abs(float(value)) != float("inf")
    except (TypeError, ValueError):
        return False


def _first_line(exc: BaseException) -> str:
    text = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return scrub_credentials(" ".join(str(text).split()))[:300]
