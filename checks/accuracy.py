"""The ``accuracy`` check: scikit-learn metrics on the candidate's scores, judged on thresholds."""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable

import numpy as np
from pydantic import Field

from validate.check import BaseCheck, CheckContext, CheckSettings
from validate.errors import ConfigError
from validate.results import CheckResult, Status
from validate.thresholds import Bound, judge


def _binary_metrics() -> dict[str, Callable[[np.ndarray, np.ndarray, float], float]]:
    from sklearn import metrics as m

    def labels(p: np.ndarray, t: float) -> np.ndarray:
        return (p >= t).astype(int)

    return {
        "accuracy": lambda y, p, t: m.accuracy_score(y, labels(p, t)),
        "balanced_accuracy": lambda y, p, t: m.balanced_accuracy_score(y, labels(p, t)),
        "precision": lambda y, p, t: m.precision_score(y, labels(p, t), zero_division=0),
        "recall": lambda y, p, t: m.recall_score(y, labels(p, t), zero_division=0),
        "f1": lambda y, p, t: m.f1_score(y, labels(p, t), zero_division=0),
        "roc_auc": lambda y, p, t: m.roc_auc_score(y, p),
        "average_precision": lambda y, p, t: m.average_precision_score(y, p),
        "log_loss": lambda y, p, t: m.log_loss(y, p, labels=[0, 1]),
        "brier": lambda y, p, t: m.brier_score_loss(y, p),
    }


def _multiclass_metrics() -> dict[str, Callable[[np.ndarray, np.ndarray, float], float]]:
    from sklearn import metrics as m

    def classes(p: np.ndarray) -> list[int]:
        return list(range(p.shape[1]))

    return {
        "accuracy": lambda y, p, t: m.accuracy_score(y, p.argmax(axis=1)),
        "balanced_accuracy": lambda y, p, t: m.balanced_accuracy_score(y, p.argmax(axis=1)),
        "f1_macro": lambda y, p, t: m.f1_score(y, p.argmax(axis=1), average="macro"),
        "f1_weighted": lambda y, p, t: m.f1_score(y, p.argmax(axis=1), average="weighted"),
        "log_loss": lambda y, p, t: m.log_loss(y, p, labels=classes(p)),
        "roc_auc_ovr": lambda y, p, t: m.roc_auc_score(y, p, multi_class="ovr", labels=classes(p)),
    }


def _regression_metrics() -> dict[str, Callable[[np.ndarray, np.ndarray, float], float]]:
    from sklearn import metrics as m

    return {
        "rmse": lambda y, p, t: m.root_mean_squared_error(y, p),
        "mae": lambda y, p, t: m.mean_absolute_error(y, p),
        "r2": lambda y, p, t: m.r2_score(y, p),
        "mape": lambda y, p, t: m.mean_absolute_percentage_error(y, p),
    }


METRIC_NAMES: dict[str, tuple[str, ...]] = {
    "binary": (
        "accuracy",
        "balanced_accuracy",
        "precision",
        "recall",
        "f1",
        "roc_auc",
        "average_precision",
        "log_loss",
        "brier",
    ),
    "multiclass": (
        "accuracy",
        "balanced_accuracy",
        "f1_macro",
        "f1_weighted",
        "log_loss",
        "roc_auc_ovr",
    ),
    "regression": ("rmse", "mae", "r2", "mape"),
}
_FACTORIES = {
    "binary": _binary_metrics,
    "multiclass": _multiclass_metrics,
    "regression": _regression_metrics,
}


def compute_metrics(
    task: str,
    y_true: np.ndarray,
    scores: np.ndarray,
    threshold: float = 0.5,
    names: tuple[str, ...] | None = None,
) -> dict[str, float]:
    """Every metric of ``task`` (or just ``names``), each as scikit-learn defines it.

    A metric that is undefined on this data (ROC AUC with one class) is NaN.
    """
    functions = _FACTORIES[task]()
    values = {}
    for name in names or METRIC_NAMES[task]:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                values[name] = float(functions[name](y_true, scores, threshold))
        except ValueError:
            values[name] = float("nan")
    return values


class AccuracySettings(CheckSettings):
    thresholds: dict[str, Bound] = Field(
        default_factory=dict, description="Metric → {min, max}; metric names as scikit-learn's."
    )


class AccuracyCheck(BaseCheck):
    """Predictive quality of the candidate (and, for information, the champion) on eval data."""

    Settings = AccuracySettings

    @classmethod
    def validate_for_task(cls, name: str, settings: AccuracySettings, task: str) -> None:  # type: ignore[override]
        valid = METRIC_NAMES[task]
        for metric in settings.thresholds:
            if metric not in valid:
                raise ConfigError(
                    f"checks.{name}.thresholds.{metric}: unknown metric for task '{task}'; "
                    f"valid: {', '.join(valid)}"
                )

    def run(self, context: CheckContext) -> CheckResult:
        started = time.perf_counter()
        settings: AccuracySettings = self.settings  # type: ignore[assignment]
        y = context.y_true
        metrics = compute_metrics(context.task, y, context.candidate_scores, context.threshold)
        details: dict[str, object] = {"rows": int(len(y))}
        if context.baseline_scores is not None:
            baseline = compute_metrics(context.task, y, context.baseline_scores, context.threshold)
            details["baseline_metrics"] = baseline
            details["delta_vs_baseline"] = {k: metrics[k] - baseline[k] for k in metrics}
        assertions = tuple(
            a
            for metric, bound in settings.thresholds.items()
            for a in judge(metric, metrics[metric], bound)
        )
        failed = [a.sentence for a in assertions if not a.passed]
        if failed:
            status, message = Status.FAILED, "; ".join(failed)
        else:
            status = Status.PASSED
            message = (
                "; ".join(a.sentence for a in assertions) or "no thresholds set; metrics reported"
            )
        return CheckResult(
            name=self.name,
            status=status,
            metrics=metrics,
            assertions=assertions,
            message=message,
            duration_s=time.perf_counter() - started,
            details=details,
        )
