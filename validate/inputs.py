"""The run's inputs: models resolved, data checked, every model scored once."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from validate import telemetry
from validate.check import DEFAULT_NEEDS, CheckContext, Input
from validate.config import LoadedConfig, OutputSection
from validate.data import Datasets, brief_list, columns_hint
from validate.errors import ConfigError, DataError
from validate.models.adapter import NATIVE_KINDS, ModelRef, precomputed, resolve_model
from validate.registry import SelectedCheck


def needs_of(selected: list[SelectedCheck]) -> dict[Input, tuple[str, ...]]:
    """Each input the selected checks need, with the names of the checks that need it."""
    needed: dict[Input, list[str]] = {}
    for item in selected:
        declared = getattr(item.check, "needs", None)
        for wanted in declared() if callable(declared) else DEFAULT_NEEDS:
            try:
                known = Input(wanted)
            except ValueError:
                raise ConfigError(
                    f"checks.{item.name}: the check declares it needs {wanted!r}, which is not "
                    f"an input validate provides ({', '.join(i.name for i in Input)}); fix the "
                    "check's needs()"
                ) from None
            needed.setdefault(known, []).append(item.name)
    return {wanted: tuple(names) for wanted, names in needed.items()}


def who_needs(names: tuple[str, ...]) -> str:
    """``checks.accuracy needs`` / ``checks.accuracy and checks.bias need``."""
    listed = [f"checks.{name}" for name in names]
    if len(listed) == 1:
        return f"{listed[0]} needs"
    return f"{', '.join(listed[:-1])} and {listed[-1]} need"


def require_configured_inputs(
    loaded: LoadedConfig, needed: dict[Input, tuple[str, ...]], *, promoting: bool
) -> None:
    """Ask only for what the selected checks use; a missing input names who needs it."""
    model, data = loaded.config.model, loaded.config.data
    if Input.CANDIDATE_MODEL in needed and model.candidate is None:
        raise ConfigError(
            f"model.candidate is missing: {who_needs(needed[Input.CANDIDATE_MODEL])} a model "
            "to call; give a model URI or path"
        )
    if Input.CANDIDATE_SCORES in needed and model.candidate is None and data.prediction is None:
        raise ConfigError(
            f"model.candidate is missing: {who_needs(needed[Input.CANDIDATE_SCORES])} the "
            "candidate's scores; give a model URI or path, or data.prediction (a score column)"
        )
    if promoting and model.candidate is None:
        raise ConfigError(
            "model.candidate is missing: promotion moves the alias to a model; give its URI "
            "or path, or run without --promote"
        )
    if (
        Input.BASELINE_SCORES in needed
        and model.baseline is None
        and data.baseline_prediction is None
    ):
        raise ConfigError(
            f"model.baseline is missing: {who_needs(needed[Input.BASELINE_SCORES])} the "
            "champion's scores (vs_baseline); give model.baseline or data.baseline_prediction, "
            "or drop the vs_baseline thresholds"
        )
    for wanted, key, given in (
        (Input.REFERENCE, "data.reference", data.reference),
        (Input.TRAIN, "data.train", data.train),
    ):
        if wanted in needed and given is None:
            raise ConfigError(
                f"{key} is missing: {who_needs(needed[wanted])} {wanted}; give a parquet or "
                "CSV file"
            )


def with_reference_scores(
    context: CheckContext,
    selected: list[SelectedCheck],
    datasets: Datasets,
    candidate: ModelRef | None,
) -> CheckContext:
    """Score the reference set too (once) when a selected check compares predictions."""
    wanted = any(getattr(item.check, "needs_reference_scores", False) for item in selected)
    reference = datasets.reference
    if not wanted or reference is None or candidate is None or candidate.kind == "column":
        return context
    if any(column not in reference.columns for column in datasets.features):
        return context
    with telemetry.span("validate.score", **_scored(candidate, "reference", len(reference))):
        scores = candidate.predict(reference, datasets.features)
    return replace(context, extras={**context.extras, "reference_scores": scores})


def require_check_inputs(selected: list[SelectedCheck], datasets: Datasets) -> None:
    """Columns a check names (sensitive features, slices) must exist, and the eval data must
    suit each check (``validate_data``), before anything runs."""
    for item in selected:
        wanted = getattr(item.check, "required_columns", lambda: ())()
        missing = [c for c in wanted if c not in datasets.eval.columns]
        if missing:
            hint = columns_hint(missing, datasets.eval.columns, field="data.eval", sensitive=True)
            raise DataError(
                f"checks.{item.name}: column(s) {brief_list(missing)} not in data.eval; {hint}"
            )
        validate_data = getattr(item.check, "validate_data", None)
        if validate_data is not None:
            validate_data(datasets.eval)


def resolve_models(loaded: LoadedConfig) -> tuple[ModelRef | None, ModelRef | None]:
    """Candidate and champion, pinned to registry versions where they have one.

    Either may be absent: :func:`require_configured_inputs` has already refused a run whose
    checks need one that is not configured."""
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
    elif location is not None:
        candidate = resolve_model(location, role="candidate", task=task)
    else:
        candidate = None
    candidate = _with_output(candidate, config.model.output, "model.output")
    baseline = None
    baseline_location = loaded.resolve(config.model.baseline)
    if config.data.baseline_prediction:
        baseline = precomputed(
            config.data.baseline_prediction, role="baseline", task=task, uri=baseline_location
        )
    elif baseline_location:
        baseline = resolve_model(baseline_location, role="baseline", task=task)
    baseline = _with_output(baseline, config.model.baseline_output, "model.baseline_output")
    return candidate, baseline


def _with_output(ref: ModelRef | None, output: OutputSection | None, key: str) -> ModelRef | None:
    """``ref`` reading the score output ``key`` names; only ONNX and PyTorch models have
    outputs to choose from (others return their scores)."""
    if output is None or ref is None:
        return ref
    if ref.kind not in NATIVE_KINDS:
        what = "precomputed scores" if ref.kind == "column" else f"a {ref.kind} model"
        raise ConfigError(
            f"{key}: applies to ONNX and PyTorch models; model.{ref.role} is {what}, which "
            f"returns its scores itself; remove {key}"
        )
    return replace(ref, output=output.name, activation=output.activation)


def build_context(
    loaded: LoadedConfig,
    datasets: Datasets,
    candidate: ModelRef | None,
    baseline: ModelRef | None,
) -> CheckContext:
    """Score each model on eval once; every check reads these scores."""
    config = loaded.config
    y_true = _checked_labels(datasets, config.data.task)
    scored: dict[str, np.ndarray | None] = {}
    for role, model in (("candidate", candidate), ("baseline", baseline)):
        scored[role] = None
        if model is not None:
            with telemetry.span("validate.score", **_scored(model, "eval", len(datasets.eval))):
                scored[role] = model.predict(datasets.eval, datasets.features)
    candidate_scores, baseline_scores = scored["candidate"], scored["baseline"]
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


def _scored(model: ModelRef, dataset: str, rows: int) -> dict[str, object]:
    """The attributes of a ``validate.score`` span."""
    return {
        "validate.model.role": model.role,
        "validate.model.uri": model.uri,
        "validate.model.kind": model.kind,
        "validate.dataset": dataset,
        "validate.rows": rows,
    }


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
    if np.issubdtype(y.dtype, np.integer):
        # Integers are whole already: only the range needs checking, without a float copy.
        labels = y.astype(np.int64)
        if len(labels) and labels.min() < 0:
            raise DataError(f"data.target: column '{target}' must hold integer class labels 0..k-1")
    else:
        try:
            as_float = y.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise DataError(
                f"data.target: column '{target}' holds non-numeric labels; encode them as 0..k-1"
            ) from exc
        if not np.all(as_float == np.round(as_float)) or as_float.min() < 0:
            raise DataError(f"data.target: column '{target}' must hold integer class labels 0..k-1")
        labels = as_float.astype(np.int64)
    # Labels are >= 0 here, so "only 0 and 1" is a maximum, not a sort of every row.
    if task == "binary" and len(labels) and labels.max() > 1:
        found = ", ".join(map(str, np.unique(labels)[:5]))
        raise DataError(
            f"data.target: binary task needs labels 0 and 1, found {found}; "
            "set data.task: multiclass or recode the labels"
        )
    return labels
