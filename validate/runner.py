"""The pipeline, as explicit stages over one state: prepare → execute → conclude → publish.

* **prepare**: config, outputs, checks, data, models (loaded and scored under a guard and
  a deadline), the candidate's content digest, the promotion target, the MLflow run.
* **execute**: the checks, local or on Kubernetes; each check's failure is its own.
* **conclude**: record every check, decide, seal the decision record (signed with a key),
  close the run; the reports are written atomically; only then may promotion happen,
  and only for a complete, live, passed run whose candidate bytes still match. Promotion
  is the last side effect; the reports are rewritten atomically with its outcome.

MLflow is reached through one explicit client (the recorder's), never a global one.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from validate import control, evidence, telemetry, telemetry_checks
from validate.background import Background
from validate.check import Input
from validate.config import Config, LoadedConfig, load_config, sqlite_database
from validate.data import load_datasets, load_plain_datasets, prefetch_datasets
from validate.digest import candidate_digest, model_source
from validate.errors import (
    ConfigError,
    ModelError,
    PromotionError,
    RecorderError,
    ValidateError,
)
from validate.executors.local import artifact_folder, execute_local
from validate.gate import EXIT_ERROR, EXIT_GATE_FAILED, Decision, decide
from validate.inputs import (
    build_context,
    needs_of,
    require_check_inputs,
    require_configured_inputs,
    resolve_models,
    who_needs,
    with_reference_scores,
)
from validate.interrupts import Interrupted, signals_deferred
from validate.models.adapter import ModelRef
from validate.models.guard import call_model_code
from validate.promotion import PromotionTarget, current_alias_version, ref_to_json
from validate.recorder import MlflowRecorder
from validate.registry import SelectedCheck, select_checks
from validate.reporting.json_report import build_report, ensure_writable, write_report
from validate.results import CheckResult
from validate.sqlite_store import SqliteStore
from validate.tracking import (
    git_checkout,
    is_unreachable,
    package_versions,
    redact_uri,
    tracking_uri_for,
    use_tracking_uri,
)

if TYPE_CHECKING:
    from validate.check import CheckContext
    from validate.data import Datasets
    from validate.executors.kubernetes import KubernetesRun
    from validate.rest_store import RestStore

DEFAULT_SCORING_TIMEOUT_S = 3600.0
DATABASE_SCHEMES = ("sqlite", "postgresql", "mysql", "mssql")  # MLflow's SQLAlchemy store
SERVER_SCHEMES = ("http", "https")  # a client for a server contacts nothing when made


@dataclass(frozen=True)
class RunRequest:
    """What the user asked for on the command line (or through the pytest plugin)."""

    config_path: str
    only_checks: tuple[str, ...] = ()
    jobs: int = 1
    json_path: str | None = None
    junit_path: str | None = None
    html_path: str | None = None
    promote: bool = False
    executor: str | None = None
    allow_promotion: bool = True  # False: never promote (pytest runs on pull requests)
    notify: Callable[[str], None] | None = None  # one-line notices (foreign model code)
    progress: Callable[[str], None] | None = None  # a line per Kubernetes Job event


@dataclass(frozen=True)
class RunOutcome:
    """Everything a run produced; the CLI maps it to an exit code."""

    report: dict[str, Any]
    decision: Decision
    results: tuple[CheckResult, ...]
    promotion: dict[str, Any] | None
    run_id: str | None
    exit_code: int
    problem: str | None = None  # one line for stderr when the run could not be recorded


@dataclass
class RunState:
    """One validation as it moves through the stages."""

    request: RunRequest
    loaded: LoadedConfig
    selected: list[SelectedCheck]
    recorder: MlflowRecorder
    datasets: Datasets
    candidate: ModelRef | None  # None: no selected check needs a model (drift only)
    baseline: ModelRef | None
    target: PromotionTarget | None
    context: CheckContext
    kube: KubernetesRun | None
    wants_promotion: bool
    digest: str | None
    report_id: str
    run_name: str
    params: dict[str, Any]
    tags: dict[str, str]
    artifacts: str
    results: tuple[CheckResult, ...] = ()
    decision: Decision = field(default_factory=lambda: Decision(passed=False))
    report: dict[str, Any] = field(default_factory=dict)
    promotion: dict[str, Any] | None = None
    exit_code: int = EXIT_ERROR
    problem: str | None = None

    @property
    def complete(self) -> bool:
        """The set of checks that ran is the set configured (each exactly once)."""
        names = [result.name for result in self.results]
        return len(names) == len(set(names)) and set(names) == set(self.loaded.config.checks)


def run_validation(
    request: RunRequest, on_result: Callable[[CheckResult], None] | None = None
) -> RunOutcome:
    """Validate a candidate end to end. Raises :class:`ValidateError` for bad input (exit 2)."""
    with (
        telemetry.run_span() as run,
        tempfile.TemporaryDirectory(prefix="validate-") as artifacts,
    ):
        with telemetry.span("validate.load"):
            state = prepare(request, artifacts)
        run.started(state)
        try:
            execute(state, telemetry_checks.observe_results(on_result))
            conclude(state)
            run.finished(state)
        except KeyboardInterrupt as exc:
            state.recorder.kill(exc.reason if isinstance(exc, Interrupted) else "interrupted")
            raise
        except BaseException as exc:
            state.recorder.kill(f"{type(exc).__name__}: {exc}")
            raise
    return RunOutcome(
        report=state.report,
        decision=state.decision,
        results=state.results,
        promotion=state.promotion,
        run_id=state.recorder.run_id,
        exit_code=state.exit_code,
        problem=state.problem,
    )


# --------------------------------------------------------------------------- prepare


def _open_mlflow(recorder: MlflowRecorder) -> None:
    """On a background thread: import MLflow, point it at the store, and open the store if
    that creates nothing (a server, or a sqlite file that exists). A new sqlite store is
    created with the run, so a run refused before then (exit 2) leaves no database behind.
    """
    uri = recorder.tracking_uri
    use_tracking_uri(uri)
    scheme = uri.partition(":")[0].partition("+")[0].lower()
    if scheme in DATABASE_SCHEMES:
        with contextlib.suppress(ImportError):  # the recorder reports it when it opens
            importlib.import_module("mlflow.store.tracking.sqlalchemy_store")
    # Open early only what opening cannot change: a server, or a sqlite file that already
    # holds a store. Opening anything else creates or migrates a store (an empty file, a
    # folder, an empty SQL database), which a run refused with exit 2 must not do; and a
    # SQL server that does not answer would be waited for twice.
    database = sqlite_database(uri) if scheme == "sqlite" else None
    existing = database is not None and database.is_file() and database.stat().st_size > 0
    if not (scheme in SERVER_SCHEMES or existing):
        return
    with contextlib.suppress(Exception):
        # Only a head start: if opening fails here, the recorder's first call opens the
        # store again and reports the failure as an outage or a refusal.
        recorder.client  # noqa: B018 - the property opens the store


def _may_read_plain_data(
    config: Config, selected: list[SelectedCheck], request: RunRequest
) -> bool:
    """Whether the run's frames may be plain Arrow columns (validate.arrow_frame): only the
    built-in drift check runs, no score column is read and ``--promote`` is not given.
    (Models and a promote section already need MLflow, which :func:`prepare` rules out.)
    The tables decide the rest (validate.data.load_plain_datasets)."""
    if not selected or request.promote:
        return False
    from checks.drift import DriftCheck

    data = config.data
    return all(type(item.check) is DriftCheck for item in selected) and not (
        data.prediction or data.baseline_prediction
    )


def _native_store(uri: str, experiment: str) -> SqliteStore | RestStore | None:
    """The store to write without importing MLflow, where that is certainly what MLflow
    would write: a sqlite file (validate.sqlite_store) or a plain-HTTP server
    (validate.rest_store) say when."""
    scheme = uri.partition(":")[0].lower()
    if scheme == "sqlite":
        return SqliteStore.open(sqlite_database(uri), experiment)
    if scheme == "http":
        from validate.rest_store import RestStore

        return RestStore.open(uri, experiment)
    return None


def prepare(request: RunRequest, artifacts: str) -> RunState:
    """Everything before the first check: any problem here is exit 2 and records nothing."""
    loaded = load_config(request.config_path)
    config = loaded.config
    # engine: spark never loads the data here (no prefetch): the cluster computes partials.
    spark = config.engine if config.engine != "local" else None
    prefetch = None if spark else prefetch_datasets(loaded)  # decoded while libraries import
    kube = None if spark else _kubernetes_run(loaded, request)  # a bad kubeconfig fails fast
    _check_outputs(request, loaded)
    selected = select_checks(config.checks, task=config.data.task, only=request.only_checks)
    if spark is not None:
        from validate.engines.spark_run import refuse_unsupported

        # Before anything is opened or recorded: what Spark cannot compute is exit 2.
        refuse_unsupported(loaded, selected, request.executor or config.executor)
    tracking_uri = tracking_uri_for(config.mlflow.tracking_uri)
    _check_tracking_store(tracking_uri)
    native = _native_store(tracking_uri, config.mlflow.experiment)
    recorder = MlflowRecorder(
        tracking_uri=tracking_uri, experiment=config.mlflow.experiment, native=native
    )
    # Registry URIs, model digests, pyfunc loading and the promotion target use MLflow.
    models_need_mlflow = bool(config.model.candidate or config.model.baseline or config.promote)
    needs_mlflow = native is None or models_need_mlflow
    # A drift-only run on plain numbers reads its tables without pandas, a third of its
    # time (validate.arrow_frame); where the tables are not plain, pandas reads them.
    plain = (
        spark is None
        and kube is None  # the Jobs read the files themselves, with pandas
        and not needs_mlflow
        and _may_read_plain_data(config, selected, request)
    )
    if not plain:
        # Importing MLflow and opening its store cost seconds: where a run needs MLflow
        # (models, promotion, a store it must write through MLflow), do it beside the data
        # loading. Nothing touches MLflow before waiting on it. pandas, the largest library
        # both sides import, is imported here first, so the two threads do not import it
        # at once.
        import pandas  # noqa: F401
    mlflow_open = (
        Background(lambda: _open_mlflow(recorder), name="validate-mlflow-open")
        if needs_mlflow
        else None
    )
    wants_promotion = request.allow_promotion and (
        request.promote or bool(config.promote and config.promote.enabled)
    )
    signing = evidence.signing_key()  # a bad key is exit 2 now, not after the checks
    if wants_promotion and _signature_required(loaded) and signing is None:
        raise ConfigError(
            f"promote.require_signature is true but {evidence.SIGNING_KEY_ENV} is not set; "
            "give the Ed25519 signing key or turn the requirement off"
        )
    needed = needs_of(selected)
    require_configured_inputs(loaded, needed, promoting=wants_promotion)
    features_by = needed.get(Input.FEATURES)
    if spark is not None:
        from validate.engines.spark_run import stand_in_datasets

        datasets = stand_in_datasets(loaded, selected)  # the rows stay on the cluster
    else:
        features_needed_by = who_needs(features_by) if features_by else ""
        datasets = (
            load_plain_datasets(loaded, features_needed_by=features_needed_by, prefetch=prefetch)
            if plain and prefetch is not None
            else None
        ) or load_datasets(loaded, features_needed_by=features_needed_by, prefetch=prefetch)
    if mlflow_open is not None and models_need_mlflow:
        mlflow_open.wait()
    candidate, baseline = resolve_models(loaded)
    checkout = git_checkout(loaded.path.parent)
    if request.notify is not None:
        from validate.trust import foreign_model_notices

        root = checkout.root or loaded.path.parent.resolve()
        for notice in foreign_model_notices((candidate, baseline), root):
            request.notify(notice)
    digest = None
    if candidate is not None:
        candidate = replace(candidate, features=datasets.features, _loaded=[])
        digest = candidate_digest(candidate, tracking_uri)
    target = promotion_target(loaded, baseline, recorder, required=wants_promotion)
    if spark is not None:
        from validate.engines.spark_run import prepare_on_spark

        on_spark = prepare_on_spark(loaded, selected, spark, candidate, baseline)
        selected, context = on_spark.selected, on_spark.context
        # The cluster did the work; judging merged partials takes milliseconds, and KLL
        # sketches are not for pickling into worker processes.
        request = replace(request, jobs=1)
    else:
        context = _score(loaded, datasets, candidate, baseline, selected)
    report_id = uuid.uuid4().hex
    run_name = f"validate {Path(request.config_path).name}"
    params = _run_params(loaded, candidate, baseline, selected, target, checkout.commit)
    tags = {
        **loaded.config.mlflow.tags,
        **_run_tags(loaded, candidate, target, checkout.commit, digest),
        "validate.report_id": report_id,
    }
    if mlflow_open is not None:
        mlflow_open.wait()
    recorder.start(run_name=run_name, params=params, tags=tags)
    control.send(
        "run",
        run_id=recorder.run_id,
        tracking_uri=tracking_uri,
        redacted_uri=redact_uri(tracking_uri),
    )
    control.send(
        "config",
        candidate=candidate.uri if candidate else None,
        baseline=baseline.uri if baseline else None,
    )
    return RunState(
        request=request,
        loaded=loaded,
        selected=selected,
        recorder=recorder,
        datasets=datasets,
        candidate=candidate,
        baseline=baseline,
        target=target,
        context=replace(context, artifact_dir=artifacts),
        kube=kube,
        wants_promotion=wants_promotion,
        digest=digest,
        report_id=report_id,
        run_name=run_name,
        params=params,
        tags=tags,
        artifacts=artifacts,
    )


def _check_outputs(request: RunRequest, loaded: LoadedConfig) -> None:
    """Report paths must be writable files, distinct from each other and from the config."""
    outputs = {
        "--json": request.json_path,
        "--junit": request.junit_path,
        "--html": request.html_path,
    }
    seen = {str(loaded.path): "-c"}
    for option, path in outputs.items():
        if not path:
            continue
        resolved = str(Path(path).resolve())
        if resolved in seen:
            raise ConfigError(
                f"{option} {path}: is the same file as {seen[resolved]}; give each report its "
                "own path"
            )
        seen[resolved] = option
        ensure_writable(path, option=option)


def _check_tracking_store(uri: str) -> None:
    """A sqlite store must be creatable where it points (MLflow otherwise retries for minutes
    and then fails with a PermissionError)."""
    if not uri.startswith("sqlite:///"):
        return
    path = Path(uri.removeprefix("sqlite:///"))
    if not (_can_write_file(path) if path.exists() else _can_create_in(path.parent)):
        raise ConfigError(
            f"mlflow.tracking_uri {redact_uri(uri)}: cannot write {path.absolute()}; run from a "
            "writable folder or set mlflow.tracking_uri (or MLFLOW_TRACKING_URI)"
        )


def _can_create_in(folder: Path) -> bool:
    """Whether a file can be created in ``folder`` (tried: permission bits do not bind root,
    and read-only or special file systems refuse only when asked)."""
    try:
        handle, probe = tempfile.mkstemp(prefix=".validate-probe-", dir=folder)
    except OSError:
        return False
    os.close(handle)
    os.unlink(probe)
    return True


def _can_write_file(path: Path) -> bool:
    try:
        with open(path, "ab"):
            return True
    except OSError:
        return False


def _signature_required(loaded: LoadedConfig) -> bool:
    section = loaded.config.promote
    return bool(section and getattr(section, "require_signature", False))


def _score(
    loaded: LoadedConfig,
    datasets: Datasets,
    candidate: ModelRef | None,
    baseline: ModelRef | None,
    selected: list[SelectedCheck],
) -> CheckContext:
    """Score each model once, guarded: model code cannot end or hang the run."""
    timeout_s = getattr(loaded.config.model, "scoring_timeout_seconds", None)

    def score() -> CheckContext:
        require_check_inputs(selected, datasets)
        context = build_context(loaded, datasets, candidate, baseline)
        return with_reference_scores(context, selected, datasets, candidate)

    return call_model_code(
        score,
        what="loading and scoring the models",
        timeout_s=float(timeout_s or DEFAULT_SCORING_TIMEOUT_S),
    )


def _kubernetes_run(loaded: LoadedConfig, request: RunRequest) -> KubernetesRun | None:
    """The Kubernetes executor, connected, when the config or --executor asks for it."""
    if (request.executor or loaded.config.executor) != "kubernetes":
        return None
    settings = loaded.config.kubernetes
    if settings is None:
        raise ConfigError(
            "executor: kubernetes needs a kubernetes: section (at least image: the runner "
            "image built from ci/Dockerfile); see the README"
        )
    from validate.executors.kubernetes import KubernetesRun

    return KubernetesRun(settings, progress=request.progress)


def promotion_target(
    loaded: LoadedConfig,
    baseline: ModelRef | None,
    recorder: MlflowRecorder,
    *,
    required: bool,
) -> PromotionTarget | None:
    """Which alias a pass may move, and the version it points at now (for compare-and-set)."""
    section = loaded.config.promote
    name = section.model if section and section.model else None
    alias = section.alias if section else "champion"
    if name is None and baseline is not None and baseline.registry is not None:
        name = baseline.registry.name
        if baseline.uri.partition("@")[2]:
            alias = section.alias if section else baseline.uri.partition("@")[2]
    if name is None:
        if required:
            raise ConfigError(
                "promote.model: no registered model to promote into; set promote.model or use a "
                "models:/NAME@ALIAS baseline"
            )
        return None
    if baseline is not None and baseline.registry is not None and baseline.registry.name == name:
        # Compare-and-set against what was evaluated, not what the alias says now.
        expected: str | None = baseline.registry.version
    else:
        try:
            expected = current_alias_version(recorder.client, name, alias)
        except RecorderError:
            # MLflow is down: run the checks anyway (nothing computed is lost); this run
            # can never promote, as it does not know what the alias held.
            return PromotionTarget(model=name, alias=alias, expected_version=None, alias_read=False)
    return PromotionTarget(model=name, alias=alias, expected_version=expected)


# --------------------------------------------------------------------------- execute


def execute(state: RunState, on_result: Callable[[CheckResult], None] | None) -> None:
    """Run the selected checks; a check's crash, exit or timeout is that check's error."""
    config = state.loaded.config
    if state.kube is not None:
        results = state.kube.execute(
            state.selected,
            state.context,
            recorder=state.recorder,
            data_files={
                role: state.loaded.resolve(getattr(config.data, role))
                for role in ("eval", "reference", "train")
            },
            sections=config.checks,
            on_result=on_result,
        )
    else:
        results = execute_local(
            state.selected, state.context, jobs=state.request.jobs, on_result=on_result
        )
    state.results = tuple(results)


# --------------------------------------------------------------------------- conclude


def conclude(state: RunState) -> None:
    """Record, decide, seal, write the reports; promote last, then rewrite the reports."""
    _require_unchanged_candidate(state)
    recorder = state.recorder
    with telemetry.span("validate.record"):
        for result in state.results:
            if not result.details.get("kubernetes", {}).get("recorded_by_pod"):
                recorder.record_check(result, artifact_folder(state.artifacts, result.name))
    with telemetry.span("validate.decide"):
        state.decision = decide(state.results)
    state.exit_code = state.decision.exit_code
    _seal(state)
    state.promotion = _pending_promotion(state)
    if state.promotion is not None and not state.complete and state.decision.passed:
        # Asked to promote, but a subset passed: that is not a pass of the gate.
        ran = ", ".join(sorted({r.name for r in state.results}))
        state.exit_code = EXIT_GATE_FAILED
        state.problem = (
            f"only some checks ran ({ran} of {', '.join(state.loaded.config.checks)}); nothing "
            "was promoted: run every configured check to promote"
        )
    state.report = _build_report(state)
    recorder.finish(state.report, decision=state.decision.verdict)
    if recorder.offline:
        _keep_for_sync(state)
        return
    if not _publish(state):
        return
    if state.promotion is not None and state.promotion.get("pending"):
        with signals_deferred(), telemetry.span("validate.promote"):
            _promote(state)
            state.report = _build_report(state)
            report = state.report
            _record_after_promotion(state, lambda: recorder.attach_report(report), "its report")
            _publish(state, after_promotion=True)


def _require_unchanged_candidate(state: RunState) -> None:
    """A local candidate whose files changed while it was validated was not validated: its
    digest is taken again after the checks (registry versions are read once, as stored)."""
    if state.candidate is None:
        return
    source = model_source(state.candidate)
    if state.digest is None or source is None or "://" in source or ":/" in source:
        return
    if candidate_digest(state.candidate, state.recorder.tracking_uri) != state.digest:
        raise ModelError(
            f"model.candidate {state.candidate.uri}: its files changed while it was being "
            "validated; nothing was recorded as passed or promoted; validate it again"
        )


def _seal(state: RunState) -> None:
    """Tag the decision record (and its signature): what ``validate promote`` re-derives."""
    recorder = state.recorder
    if recorder.run_id is None:
        return
    record = evidence.decision_record(
        run_id=recorder.run_id,
        candidate=json.loads(ref_to_json(state.candidate)) if state.candidate else None,
        candidate_digest=state.digest,
        config_hash=state.loaded.digest,
        configured=list(state.loaded.config.checks),
        checks={r.name: {"status": r.status.value, "blocking": r.blocking} for r in state.results},
        decision=state.decision.verdict if state.complete else "partial",
        target=state.target.to_dict() if state.target else None,
    )
    text = evidence.canonical(record)
    key = evidence.signing_key()
    tags = {
        "validate.decision_record": text,
        "validate.checks_configured": json.dumps(sorted(state.loaded.config.checks)),
        "validate.checks_ran": json.dumps(sorted(r.name for r in state.results)),
        "validate.live": "true",
    }
    if key is not None:
        tags["validate.signature"] = evidence.sign(text, key)
    recorder.set_tags(tags)


def _pending_promotion(state: RunState) -> dict[str, Any] | None:
    """Whether this run may promote, decided before any report is written."""
    target = state.target
    if not state.wants_promotion or target is None:
        return None
    if state.recorder.offline:
        return _not_promoted(target, "MLflow could not record the validation")
    if not state.complete:
        return _not_promoted(target, "only some checks ran (--check); run them all to promote")
    if not state.decision.passed:
        return _not_promoted(target, "the gate failed")
    if not target.alias_read:
        return _not_promoted(
            target,
            f"this validation could not read {target.model}@{target.alias} when it ran (MLflow "
            "was unreachable), so compare-and-set has nothing to compare; re-run the validation",
            prefix=False,
        )
    pending = _not_promoted(target, "promotion runs after the reports are written", prefix=False)
    pending["pending"] = True
    return pending


def _promote(state: RunState) -> None:
    """The last side effect: compare-and-set the alias to the verified candidate bytes."""
    from validate.promotion import promote

    target, recorder = state.target, state.recorder
    assert target is not None and recorder.run_id is not None and state.candidate is not None
    try:
        outcome = promote(
            recorder.client,
            candidate=state.candidate,
            target=target,
            run_id=recorder.run_id,
            digest=state.digest,
            tracking_uri=recorder.tracking_uri,
        )
    except PromotionError as exc:
        state.promotion = _not_promoted(target, str(exc), prefix=False)
        state.exit_code = EXIT_GATE_FAILED
    except Exception as exc:  # noqa: BLE001 - the registry went away mid-promotion
        if not is_unreachable(exc):
            raise
        recorder.fail("promoting", exc)
        state.promotion = _not_promoted(target, "MLflow became unreachable while promoting")
        state.exit_code = EXIT_ERROR
        state.problem = recorder.failure
        return
    else:
        state.promotion = outcome.to_dict()
    tags = {"validate.promotion": json.dumps(state.promotion)}
    _record_after_promotion(state, lambda: recorder.set_tags(tags), "its validate.promotion tag")


def _record_after_promotion(state: RunState, action: Callable[[], None], what: str) -> None:
    """Record once the alias may have moved. If it did, a recording failure (an outage or a
    refusal) is said on stderr, but neither kills the run nor changes its exit code: the
    promotion happened, and reports saying otherwise would be wrong."""
    if not (state.promotion and state.promotion.get("promoted")):
        action()
        return
    before = state.recorder.failure
    try:
        action()
    except ValidateError as exc:
        failure: str | None = str(exc)
    else:
        failure = state.recorder.failure if state.recorder.failure != before else None
    if failure:
        note = f"the candidate was promoted, but recording {what} in MLflow failed: {failure}"
        state.problem = note if state.problem is None else f"{state.problem}; {note}"


def _build_report(state: RunState) -> dict[str, Any]:
    return build_report(
        decision=state.decision,
        results=state.results,
        candidate=state.candidate.uri if state.candidate else None,
        baseline=state.baseline.uri if state.baseline else None,
        tracking_uri=redact_uri(state.recorder.tracking_uri),
        run_id=state.recorder.run_id,
        promotion=state.promotion,
        extra={
            "config": str(state.loaded.path),
            "config_hash": state.loaded.digest,
            "candidate_digest": state.digest,
            "report_id": state.report_id,
            "resolved": {
                role: _resolved(ref)
                for role, ref in (("candidate", state.candidate), ("baseline", state.baseline))
                if ref is not None
            },
            "complete": state.complete,
            "exit_code": state.exit_code,
        },
    )


def _publish(state: RunState, after_promotion: bool = False) -> bool:
    """Write every requested report atomically; on failure no promotion follows (exit 3)."""
    request = state.request
    try:
        if request.json_path:
            write_report(state.report, request.json_path)
        if request.junit_path:
            from validate.reporting.junit import write_junit

            write_junit(
                state.results, request.junit_path, suite=f"validate {state.loaded.path.stem}"
            )
        if request.html_path:
            from validate.reporting.html import write_html

            write_html(state.report, request.html_path)
    except OSError as exc:
        what = "the promotion happened, but " if after_promotion else "nothing was promoted: "
        state.problem = f"{what}a report could not be written ({exc.strerror or exc})"
        state.exit_code = EXIT_ERROR
        if state.promotion is not None and state.promotion.get("pending"):
            state.promotion = _not_promoted(state.target, "a report could not be written")  # type: ignore[arg-type]
        return False
    return True


def _keep_for_sync(state: RunState) -> None:
    """MLflow is down: fail closed, lose nothing; keep the report and check files for
    ``validate sync`` (beside ``--json``, else in the current or the temporary folder)."""
    recorder, config = state.recorder, state.loaded.config
    state.exit_code = state.report["exit_code"] = EXIT_ERROR
    json_path = state.request.json_path or _fallback_report_path(state.report_id)
    kept = Path(json_path).with_suffix(".artifacts")
    shutil.copytree(state.artifacts, kept, dirs_exist_ok=True)
    state.report["mlflow"]["pending"] = {
        "reason": recorder.failure,
        "experiment": config.mlflow.experiment,
        "run_name": state.run_name,
        "params": {k: str(v) for k, v in state.params.items()},
        "tags": state.tags,
        "recorded_checks": recorder.check_runs,
        "artifacts": str(kept.resolve()),
    }
    write_report(state.report, json_path)
    state.problem = (
        f"{recorder.failure}; nothing was promoted (the gate fails closed). The report "
        f"and every check result are in {json_path}: run `validate sync {json_path}` "
        "when MLflow is back"
    )


def _fallback_report_path(report_id: str) -> str:
    name = f"validate-report-{report_id[:12]}.json"
    if _can_create_in(Path(".")):
        return name
    return str(Path(tempfile.gettempdir()) / name)


def _not_promoted(target: PromotionTarget, reason: str, prefix: bool = True) -> dict[str, Any]:
    return {
        "model": target.model,
        "alias": target.alias,
        "version": None,
        "promoted": False,
        "message": f"not promoted: {reason}" if prefix else reason,
    }


def _resolved(ref: ModelRef) -> dict[str, str | None]:
    """What a model reference resolved to, for the reports' headers: the registry version
    an alias pointed at when the validation ran, or the absolute path of a local model."""
    return {
        "uri": ref.uri,
        "kind": ref.kind,
        "model": ref.registry.name if ref.registry else None,
        "version": ref.registry.version if ref.registry else None,
        "location": ref.registry.uri if ref.registry else (ref.location or ref.column),
    }


def _run_params(
    loaded: LoadedConfig,
    candidate: ModelRef | None,
    baseline: ModelRef | None,
    selected: list[SelectedCheck],
    target: PromotionTarget | None,
    commit: str | None,
) -> dict[str, Any]:
    params: dict[str, Any] = {
        "candidate": candidate.uri if candidate else "",
        "candidate_resolved": (
            candidate.registry.uri
            if candidate and candidate.registry
            else (candidate.location if candidate else "")
        ),
        "baseline": baseline.uri if baseline else "",
        "baseline_resolved": (
            baseline.registry.uri
            if baseline and baseline.registry
            else (baseline.location if baseline else "")
        ),
        "config_path": str(loaded.path),
        "config_hash": loaded.digest,
        "git_commit": commit or "",
        "task": loaded.config.data.task,
        "checks": ",".join(s.name for s in selected),
        "promote_target": f"{target.model}@{target.alias}" if target else "",
    }
    params.update({f"version.{name}": v for name, v in package_versions().items()})
    return params


def _run_tags(
    loaded: LoadedConfig,
    candidate: ModelRef | None,
    target: PromotionTarget | None,
    commit: str | None,
    digest: str | None,
) -> dict[str, str]:
    tags = {"validate.config_hash": loaded.digest}
    if candidate is not None:
        tags["validate.candidate_ref"] = ref_to_json(candidate)
    if digest:
        tags["validate.candidate_digest"] = digest
    if commit:
        tags["validate.git_commit"] = commit
    if target is not None:
        tags["validate.promotion_target"] = json.dumps(target.to_dict())
    return tags
