"""The pipeline: load → resolve → select → execute → record → decide → promote → report."""

from __future__ import annotations

import json
import shutil
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from validate.check import CheckContext
from validate.config import LoadedConfig, load_config
from validate.data import Datasets, load_datasets
from validate.errors import ConfigError, DataError, PromotionError, RecorderError
from validate.executors.local import artifact_folder, execute_local
from validate.gate import EXIT_ERROR, EXIT_GATE_FAILED, Decision, decide
from validate.models.adapter import ModelRef, precomputed, resolve_model
from validate.promotion import PromotionTarget, current_alias_version, ref_to_json
from validate.recorder import MlflowRecorder
from validate.registry import SelectedCheck, select_checks
from validate.reporting.json_report import build_report, ensure_writable, write_report
from validate.results import CheckResult
from validate.tracking import (
    git_checkout,
    is_unreachable,
    package_versions,
    redact_uri,
    tracking_uri_for,
    use_tracking_uri,
)

if TYPE_CHECKING:
    from validate.executors.kubernetes import KubernetesRun


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


def run_validation(
    request: RunRequest, on_result: Callable[[CheckResult], None] | None = None
) -> RunOutcome:
    """Validate a candidate end to end. Raises :class:`ValidateError` for bad input (exit 2)."""
    loaded = load_config(request.config_path)
    config = loaded.config
    kube = _kubernetes_run(loaded, request)  # connects now: a bad kubeconfig fails fast
    if request.json_path:
        ensure_writable(request.json_path, option="--json")
    if request.junit_path:
        ensure_writable(request.junit_path, option="--junit")
    if request.html_path:
        ensure_writable(request.html_path, option="--html")
    selected = select_checks(config.checks, task=config.data.task, only=request.only_checks)

    tracking_uri = tracking_uri_for(config.mlflow.tracking_uri)
    use_tracking_uri(tracking_uri)
    datasets = load_datasets(loaded)
    candidate, baseline = resolve_models(loaded)
    # One git subprocess: the repository bounds "local" models, the commit is recorded.
    checkout = git_checkout(loaded.path.parent)
    if request.notify is not None:
        from validate.trust import foreign_model_notices

        root = checkout.root or loaded.path.parent.resolve()
        for notice in foreign_model_notices((candidate, baseline), root):
            request.notify(notice)
    candidate = replace(candidate, features=datasets.features, _loaded=[])
    wants_promotion = request.allow_promotion and (
        request.promote or bool(config.promote and config.promote.enabled)
    )
    target = promotion_target(loaded, baseline, required=wants_promotion)
    context = build_context(loaded, datasets, candidate, baseline)

    _require_check_inputs(selected, datasets)
    context = _with_reference_scores(context, selected, datasets, candidate)
    recorder = MlflowRecorder(tracking_uri=tracking_uri, experiment=config.mlflow.experiment)
    commit = checkout.commit
    report_id = uuid.uuid4().hex
    run_name = f"validate {Path(request.config_path).name}"
    params = _run_params(loaded, candidate, baseline, selected, target, commit)
    tags = {**_run_tags(loaded, candidate, target, commit), "validate.report_id": report_id}
    run_id = recorder.start(run_name=run_name, params=params, tags=tags)
    artifacts = tempfile.TemporaryDirectory(prefix="validate-")
    context = replace(context, artifact_dir=artifacts.name)
    try:
        if kube is not None:
            results = tuple(
                kube.execute(
                    selected,
                    context,
                    recorder=recorder,
                    data_files={
                        role: loaded.resolve(getattr(config.data, role))
                        for role in ("eval", "reference", "train")
                    },
                    sections=config.checks,
                    on_result=on_result,
                )
            )
        else:
            results = tuple(
                execute_local(selected, context, jobs=request.jobs, on_result=on_result)
            )
        for result in results:
            if not result.details.get("kubernetes", {}).get("recorded_by_pod"):
                recorder.record_check(result, artifact_folder(artifacts.name, result.name))
        decision = decide(results)
        partial = len(selected) < len(config.checks)
        promotion, exit_code = _maybe_promote(
            recorder, decision, candidate, target, wants_promotion, partial
        )
        report = build_report(
            decision=decision,
            results=results,
            candidate=candidate.uri,
            baseline=baseline.uri if baseline else None,
            tracking_uri=redact_uri(tracking_uri),
            run_id=run_id,
            promotion=promotion,
            extra={
                "config": str(loaded.path),
                "config_hash": loaded.digest,
                "report_id": report_id,
                "exit_code": exit_code,
            },
        )
        recorder.finish(report, decision=decision.verdict)
        problem = None
        json_path = request.json_path
        if recorder.offline:
            # Fail closed, lose nothing: keep the report and the check files for `validate sync`.
            exit_code = report["exit_code"] = EXIT_ERROR
            json_path = json_path or f"validate-report-{report_id[:12]}.json"
            kept = Path(json_path).with_suffix(".artifacts")
            shutil.copytree(artifacts.name, kept, dirs_exist_ok=True)
            report["mlflow"]["pending"] = {
                "reason": recorder.failure,
                "experiment": config.mlflow.experiment,
                "run_name": run_name,
                "params": {k: str(v) for k, v in params.items()},
                "tags": tags,
                "recorded_checks": recorder.check_runs,
                "artifacts": str(kept.resolve()),
            }
            problem = (
                f"{recorder.failure}; nothing was promoted (the gate fails closed). The report "
                f"and every check result are in {json_path}: run `validate sync {json_path}` "
                "when MLflow is back"
            )
        if json_path:
            write_report(report, json_path)
        if request.junit_path:
            from validate.reporting.junit import write_junit

            write_junit(results, request.junit_path, suite=f"validate {loaded.path.stem}")
        if request.html_path:
            from validate.reporting.html import write_html

            write_html(report, request.html_path)
    except KeyboardInterrupt:
        recorder.kill("interrupted (Ctrl-C)")
        raise
    except BaseException as exc:
        recorder.kill(f"{type(exc).__name__}: {exc}")
        raise
    finally:
        artifacts.cleanup()
    return RunOutcome(
        report=report,
        decision=decision,
        results=results,
        promotion=promotion,
        run_id=run_id,
        exit_code=exit_code,
        problem=problem,
    )


def _with_reference_scores(
    context: CheckContext, selected: list[SelectedCheck], datasets: Datasets, candidate: ModelRef
) -> CheckContext:
    """Score the reference set too (once) when a selected check compares predictions."""
    wanted = any(getattr(item.check, "needs_reference_scores", False) for item in selected)
    reference = datasets.reference
    if not wanted or reference is None or candidate.kind == "column":
        return context
    if any(column not in reference.columns for column in datasets.features):
        return context
    scores = candidate.predict(reference, datasets.features)
    return replace(context, extras={**context.extras, "reference_scores": scores})


def _require_check_inputs(selected: list[SelectedCheck], datasets: Datasets) -> None:
    """Columns a check names (sensitive features, slices) must exist, and the eval data must
    suit each check (``validate_data``), before anything runs."""
    for item in selected:
        wanted = getattr(item.check, "required_columns", lambda: ())()
        missing = [c for c in wanted if c not in datasets.eval.columns]
        if missing:
            available = ", ".join(map(str, list(datasets.eval.columns)[:12]))
            raise DataError(
                f"checks.{item.name}: column(s) {', '.join(missing)} not in data.eval; "
                f"available: {available}"
            )
        validate_data = getattr(item.check, "validate_data", None)
        if validate_data is not None:
            validate_data(datasets.eval)


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


def resolve_models(loaded: LoadedConfig) -> tuple[ModelRef, ModelRef | None]:
    """Candidate and (optional) champion, pinned to registry versions where they have one."""
    config = loaded.config
    task = config.data.task
    location = loaded.resolve(config.model.candidate)
    if config.data.prediction:
        candidate = precomputed(config.data.prediction, role="candidate", task=task, uri=location)
        if location is not None:
            # Keep the model's identity for promotion, but score from the column.
            real = resolve_model(location, role="candidate", task=task)
            candidate = ModelRef(
                uri=real.uri,
                location=real.location,
                kind="column",
                role="candidate",
                task=task,
                registry=real.registry,
                column=config.data.prediction,
            )
    else:
        assert location is not None
        candidate = resolve_model(location, role="candidate", task=task)
    baseline = None
    baseline_location = loaded.resolve(config.model.baseline)
    if config.data.baseline_prediction:
        baseline = precomputed(
            config.data.baseline_prediction, role="baseline", task=task, uri=baseline_location
        )
    elif baseline_location:
        baseline = resolve_model(baseline_location, role="baseline", task=task)
    return candidate, baseline


def promotion_target(
    loaded: LoadedConfig, baseline: ModelRef | None, *, required: bool
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
        from mlflow import MlflowClient

        try:
            expected = current_alias_version(MlflowClient(), name, alias)
        except RecorderError:
            # MLflow is down: run the checks anyway (nothing computed is lost); this run
            # can never promote, as it does not know what the alias held.
            return PromotionTarget(model=name, alias=alias, expected_version=None, alias_read=False)
    return PromotionTarget(model=name, alias=alias, expected_version=expected)


def build_context(
    loaded: LoadedConfig, datasets: Datasets, candidate: ModelRef, baseline: ModelRef | None
) -> CheckContext:
    """Score each model on eval once; every check reads these scores."""
    config = loaded.config
    y_true = _checked_labels(datasets, config.data.task)
    candidate_scores = candidate.predict(datasets.eval, datasets.features)
    baseline_scores = baseline.predict(datasets.eval, datasets.features) if baseline else None
    for who, scores in (("model.candidate", candidate_scores), ("model.baseline", baseline_scores)):
        if (
            scores is not None
            and config.data.task == "multiclass"
            and y_true.max() >= scores.shape[1]
        ):
            raise DataError(
                f"{who}: predicts {scores.shape[1]} classes but data.target has label "
                f"{int(y_true.max())}; labels must be 0..k-1 in the model's class order"
            )
    return CheckContext(
        task=config.data.task,
        target=datasets.target,
        features=datasets.features,
        eval_data=datasets.eval,
        y_true=y_true,
        candidate_scores=candidate_scores,
        baseline_scores=baseline_scores,
        reference_data=datasets.reference,
        train_data=datasets.train,
        candidate=candidate,
        baseline=baseline,
        threshold=config.data.threshold,
        seed=config.seed,
    )


def _checked_labels(datasets: Datasets, task: str) -> np.ndarray:
    y = datasets.y_true
    target = datasets.target
    if task == "regression":
        try:
            return y.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise DataError(
                f"data.target: column '{target}' is not numeric; task is regression"
            ) from exc
    if y.dtype == bool:
        return y.astype(np.int64)
    try:
        as_float = y.astype(np.float64)
    except (TypeError, ValueError) as exc:
        raise DataError(
            f"data.target: column '{target}' holds non-numeric labels; encode them as 0..k-1"
        ) from exc
    if not np.all(as_float == np.round(as_float)) or as_float.min() < 0:
        raise DataError(f"data.target: column '{target}' must hold integer class labels 0..k-1")
    labels = as_float.astype(np.int64)
    if task == "binary" and not set(np.unique(labels)) <= {0, 1}:
        found = ", ".join(map(str, np.unique(labels)[:5]))
        raise DataError(
            f"data.target: binary task needs labels 0 and 1, found {found}; "
            "set data.task: multiclass or recode the labels"
        )
    return labels


def _maybe_promote(
    recorder: MlflowRecorder,
    decision: Decision,
    candidate: ModelRef,
    target: PromotionTarget | None,
    wanted: bool,
    partial: bool = False,
) -> tuple[dict[str, Any] | None, int]:
    if not wanted or target is None:
        return None, decision.exit_code
    if recorder.offline:
        return _not_promoted(target, "MLflow could not record the validation"), EXIT_ERROR
    if partial:
        # A gate that skipped configured checks has not earned a promotion.
        reason = "only some checks ran (--check); run them all to promote"
        return _not_promoted(target, reason), decision.exit_code
    if not decision.passed:
        return _not_promoted(target, "the gate failed"), decision.exit_code
    try:
        target.require_alias_read("this validation")
    except PromotionError as exc:
        return _not_promoted(target, str(exc), prefix=False), EXIT_ERROR
    from validate.promotion import promote

    assert recorder.run_id is not None
    try:
        outcome = promote(
            recorder.client, candidate=candidate, target=target, run_id=recorder.run_id
        )
    except PromotionError as exc:
        refused = _not_promoted(target, str(exc), prefix=False)
        recorder.set_tags({"validate.promotion": json.dumps(refused)})
        return refused, EXIT_GATE_FAILED
    except Exception as exc:  # noqa: BLE001 - the registry went away mid-promotion
        if not is_unreachable(exc):
            raise
        recorder.fail("promoting", exc)
        return _not_promoted(target, "MLflow became unreachable while promoting"), EXIT_ERROR
    promoted = outcome.to_dict()
    recorder.set_tags({"validate.promotion": json.dumps(promoted)})
    return promoted, decision.exit_code


def _not_promoted(target: PromotionTarget, reason: str, prefix: bool = True) -> dict[str, Any]:
    return {
        "model": target.model,
        "alias": target.alias,
        "version": None,
        "promoted": False,
        "message": f"not promoted: {reason}" if prefix else reason,
    }


def _run_params(
    loaded: LoadedConfig,
    candidate: ModelRef,
    baseline: ModelRef | None,
    selected: list[SelectedCheck],
    target: PromotionTarget | None,
    commit: str | None,
) -> dict[str, Any]:
    params: dict[str, Any] = {
        "candidate": candidate.uri,
        "candidate_resolved": candidate.registry.uri if candidate.registry else candidate.location,
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
    loaded: LoadedConfig, candidate: ModelRef, target: PromotionTarget | None, commit: str | None
) -> dict[str, str]:
    tags = {
        "validate.config_hash": loaded.digest,
        "validate.candidate_ref": ref_to_json(candidate),
    }
    if commit:
        tags["validate.git_commit"] = commit
    if target is not None:
        tags["validate.promotion_target"] = json.dumps(target.to_dict())
    return tags
