"""``validate run`` with ``engine: {kind: spark}``: what the runner's prepare stage does
instead of loading the data into this process.

:func:`refuse_unsupported` says, before anything is opened or recorded, which selected
checks or settings the Spark engine cannot compute yet (exit 2: never a silent skip, never
a pass). :func:`prepare_on_spark` checks labels and score columns on the cluster (one
aggregate), scores MLflow models on the executors where no score column is given
(:mod:`validate.engines.spark_scoring`), computes every partial the selected checks need
in at most three more passes (:func:`validate.engines.spark.summarize`), and hands the
runner stand-ins for the checks whose ``run`` turns those partials into the checks' own
results (:mod:`validate.engines.judged`). No row reaches the driver: only counts,
sketches and one row of aggregates.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from validate.check import CheckContext
from validate.errors import ConfigError, DataError, ModelError
from validate.results import CheckResult
from validate.stats.metrics import METRIC_NAMES

if TYPE_CHECKING:
    from validate.config import LoadedConfig
    from validate.data import Datasets
    from validate.engine_settings import SparkEngine
    from validate.engines.spark import Summary
    from validate.models.adapter import ModelRef
    from validate.registry import SelectedCheck

SUPPORTED_CHECKS = ("accuracy", "bias", "drift")
# What the merged partials give (validate.engines.results.accuracy); average_precision
# would need the precision-recall curve, which the score histograms do not keep exactly.
ACCURACY_METRICS = tuple(m for m in METRIC_NAMES["binary"] if m != "average_precision")
# Paired counts and loss differences; no paired DeLong from histograms yet.
PAIRED_METRICS = tuple(m for m in ACCURACY_METRICS if m != "roc_auc")
DRIFT_METRICS = ("share_drifted_features", "drifted_features")


def executor_missing_module(exc: BaseException) -> str | None:
    """The module a Python worker on the executors could not import (quoted, as Python
    names it), from Spark's wrapped worker error; None for any other failure."""
    found = re.search(r"ModuleNotFoundError: No module named ('[^'\n]{1,200}')", str(exc))
    return found.group(1) if found else None


def refuse_unsupported(loaded: LoadedConfig, selected: list[SelectedCheck], executor: str) -> None:
    """Raise one :class:`ConfigError` line naming everything the Spark engine cannot do for
    this config, with what to do; return when it can run every selected check."""
    from checks.accuracy import AccuracyCheck
    from checks.bias import BiasCheck
    from checks.drift import DriftCheck

    config = loaded.config
    problems: list[str] = []
    if config.data.task != "binary":
        problems.append(f"data.task {config.data.task} (binary only)")
    if executor == "kubernetes":
        problems.append("executor: kubernetes (the Spark cluster is the executor)")
    for item in selected:
        check, where = item.check, f"checks.{item.name}"
        settings: Any = getattr(check, "settings", None)
        if item.name not in SUPPORTED_CHECKS or not isinstance(
            check, (AccuracyCheck, BiasCheck, DriftCheck)
        ):
            problems.append(where)
        elif isinstance(check, AccuracyCheck):
            if settings.slices:
                problems.append(f"{where}.slices")
            problems += [
                f"{where}.thresholds.{m}" for m in settings.thresholds if m not in ACCURACY_METRICS
            ]
            problems += [
                f"{where}.vs_baseline.{m}" for m in settings.vs_baseline if m not in PAIRED_METRICS
            ]
        elif isinstance(check, BiasCheck):
            if settings.custom_metrics:
                problems.append(f"{where}.custom_metrics")
        else:
            if settings.decide_by != "effect_size":
                problems.append(f"{where}.decide_by: {settings.decide_by}")
            if settings.column_judge != "lower_ci":
                problems.append(f"{where}.column_judge: {settings.column_judge}")
            if settings.per_column:
                problems.append(f"{where}.per_column")
            problems += [
                f"{where}.thresholds.{m}" for m in settings.thresholds if m not in DRIFT_METRICS
            ]
            if not (settings.columns or config.data.features):
                problems.append(f"{where} without columns (name them, or set data.features)")
    if problems:
        raise ConfigError(
            f"engine: spark cannot compute {'; '.join(problems)} yet; remove or change "
            "them, or use engine: local"
        )


@dataclass(frozen=True)
class SparkCheck:
    """A selected built-in check whose statistics were computed on Spark: ``run`` judges
    the merged partials with the check's own settings and code."""

    check: Any  # the built-in AccuracyCheck, BiasCheck or DriftCheck, as configured
    summary: Summary
    groupings: tuple[str, ...] = ()
    label: str | None = None  # the target, counted beside the drift columns

    def needs(self) -> frozenset[Any]:
        """What the wrapped check needs (asked of every selected check)."""
        return frozenset(self.check.needs())

    def run(self, context: CheckContext) -> CheckResult:
        """The check's result from the partials (no rows: ``context`` carries the seed)."""
        from validate.engines import judged

        name = self.check.name
        if name == "accuracy":
            assert self.summary.scores is not None
            return judged.accuracy_result(self.check, self.summary.scores, seed=context.seed)
        if name == "bias":
            assert self.summary.scores is not None
            return judged.bias_result(
                self.check, self.summary.scores, list(self.groupings), seed=context.seed
            )
        return judged.drift_result(
            self.check,
            self.summary.reference,
            self.summary.eval,
            seed=context.seed,
            label=self.label,
        )


@dataclass(frozen=True)
class SparkInputs:
    """What prepare needs from the Spark engine: stand-in datasets, the checks, a context."""

    datasets: Datasets
    selected: list[SelectedCheck]
    context: CheckContext


def stand_in_datasets(loaded: LoadedConfig, selected: list[SelectedCheck]) -> Datasets:
    """No rows: what prepare records about the data (the model inputs, the target)."""
    import pandas as pd

    from validate.data import Datasets

    data = loaded.config.data
    features = tuple(data.features or _drift_columns(loaded, selected))
    return Datasets(eval=pd.DataFrame(), features=features, target=data.target)


def _drift_columns(loaded: LoadedConfig, selected: list[SelectedCheck]) -> list[str]:
    for item in selected:
        if item.name == "drift":
            return list(item.check.settings.columns or loaded.config.data.features or ())
    return []


def prepare_on_spark(
    loaded: LoadedConfig,
    selected: list[SelectedCheck],
    engine: SparkEngine,
    candidate: ModelRef | None = None,
    baseline: ModelRef | None = None,
) -> SparkInputs:
    """Check the data, score MLflow models where no score column is given, and compute
    every partial the selected checks need, on the cluster."""
    import numpy as np

    from validate.engines import partials as pt
    from validate.engines import spark as es

    config = loaded.config
    data = config.data
    by_name = {item.name: item for item in selected}
    groupings: list[tuple[str, ...]] = []
    if "bias" in by_name:
        sensitive = list(by_name["bias"].check.settings.sensitive_features)
        groupings = [(c,) for c in sensitive]
        if by_name["bias"].check.settings.intersections and len(sensitive) > 1:
            groupings.append(tuple(sensitive))
    drift_columns = _drift_columns(loaded, selected)
    needs_scores = bool({"accuracy", "bias"} & set(by_name))
    eval_location = loaded.resolve(data.eval)
    reference_location = loaded.resolve(data.reference) if drift_columns else None
    assert eval_location is not None
    to_score = [
        ref
        for ref, column in ((candidate, data.prediction), (baseline, data.baseline_prediction))
        if needs_scores and ref is not None and column is None
    ]
    for ref in to_score:  # before a session starts: a usage error costs no cluster time
        if ref.kind != "mlflow":
            raise ConfigError(
                f"model.{ref.role}: engine: spark scores MLflow models only, and {ref.uri} is "
                f"a {ref.kind} model; write its scores into a column (data.prediction / "
                "data.baseline_prediction) or use engine: local"
            )
    spark = es.session(engine)
    frame = es.read(spark, eval_location, field="data.eval", partitions=engine.partitions)
    scores = scored = None
    if needs_scores:
        _check_scores(frame, data.target, data.prediction, data.baseline_prediction)
        # A score column wins over a model, as on the local engine; models are scored on
        # the executors, and only for the score pass.
        if to_score:
            from validate.engines import spark_scoring

            excluded = {data.target, data.prediction, data.baseline_prediction}
            inputs = tuple(data.features or (c for c in frame.columns if c not in excluded))
            scored = spark_scoring.score(spark, frame, to_score, task=data.task, features=inputs)
        prediction = data.prediction or spark_scoring.SCORE_COLUMNS["candidate"]
        champion = data.baseline_prediction or (
            spark_scoring.SCORE_COLUMNS["baseline"] if baseline is not None else None
        )
        scores = pt.ScoreSpec(
            target=data.target,
            prediction=prediction,
            baseline_prediction=champion,
            threshold=data.threshold,
            groupings=tuple(groupings),
        )
    label = None
    if reference_location is not None:
        # Label drift, as the local drift check reports it when the reference has labels.
        reference_columns = es.read(spark, reference_location, field="data.reference").columns
        if data.target in reference_columns and data.target not in drift_columns:
            label = data.target
    try:
        summary = es.summarize(
            spark,
            eval_location,
            scores=scores,
            reference_location=reference_location,
            drift_columns=[*drift_columns, *([label] if label else [])],
            partitions=engine.partitions,
            scored=scored,
            categorical=[label] if label else [],
        )
    except Exception as exc:
        from validate.engines.spark_scoring import model_failure

        failure = model_failure(exc) if scored is not None else None
        if failure is not None:
            raise ModelError(failure) from None
        missing = executor_missing_module(exc)
        if missing is not None:
            raise ConfigError(
                f"engine: spark: the executors' Python cannot import {missing}; install "
                "validate-gate[spark] and the models' dependencies in the Python they run, or "
                "name one that has them in engine.conf (spark.pyspark.python, "
                "spark.executorEnv.PYTHONPATH)"
            ) from None
        raise
    if summary.scores is not None:
        _check_groups(summary.scores, groupings)
    names = tuple(" x ".join(g) for g in groupings)
    wrapped = [
        replace(
            item,
            check=SparkCheck(check=item.check, summary=summary, groupings=names, label=label),
        )
        for item in selected
    ]
    datasets = stand_in_datasets(loaded, selected)
    features = datasets.features
    context = CheckContext(
        task=data.task,
        target=data.target,
        features=features,
        eval_data=datasets.eval,
        y_true=np.zeros(0, dtype=np.int64),
        candidate_scores=None,
        threshold=data.threshold,
        seed=config.seed,
    )
    return SparkInputs(datasets=datasets, selected=wrapped, context=context)


def _check_scores(frame: Any, target: str, prediction: str | None, baseline: str | None) -> None:
    """Labels 0/1 and finite scores in [0, 1], counted on the cluster (one pass, one row
    of counts back): what the local engine refuses with exit 2 is refused here too."""
    from pyspark.sql import functions as F  # noqa: N812 - pyspark's own convention

    from validate.engines.spark import require_columns

    columns = [c for c in (target, prediction, baseline) if c]
    require_columns(frame, columns, "data.eval")
    counts = [F.count(F.lit(1)).alias("rows")]
    counts.append(
        F.sum((F.col(target).isNull() | ~F.col(target).isin(0, 1)).cast("long")).alias(target)
    )
    for column in columns[1:]:
        value = F.col(column).cast("double")
        bad = value.isNull() | F.isnan(value) | (value < 0) | (value > 1)
        counts.append(F.sum(bad.cast("long")).alias(column))
    found = frame.agg(*counts).first()
    if not found["rows"]:
        raise DataError("data.eval: no rows; point data.eval at the scored evaluation data")
    if found[target]:
        raise DataError(
            f"data.target: column '{target}' has {found[target]} row(s) that are not 0 or 1 "
            "(binary task); recode the labels"
        )
    for score, field in ((prediction, "data.prediction"), (baseline, "data.baseline_prediction")):
        if score and found[score]:
            raise DataError(
                f"{field}: column '{score}' has {found[score]} row(s) that are missing or "
                "outside [0, 1]; scores must be probabilities of class 1"
            )


def _check_groups(scores: dict[str, Any], groupings: list[tuple[str, ...]]) -> None:
    """As the bias check's validate_data: a sensitive feature names groups."""
    from checks.bias import MAX_GROUPS_PER_FEATURE
    from validate.engines.partials import MISSING_LABEL

    for grouping in groupings:
        if len(grouping) != 1:
            continue
        distinct = len([k for k in scores["groups"][grouping[0]] if k != (MISSING_LABEL,)])
        if distinct > MAX_GROUPS_PER_FEATURE:
            raise ConfigError(
                f"checks.bias.sensitive_features: '{grouping[0]}' has {distinct} distinct "
                f"values (more than {MAX_GROUPS_PER_FEATURE}); sensitive features are group "
                "labels: bin it into bands upstream, or name a categorical column"
            )
