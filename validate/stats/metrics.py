"""Predictive-quality metrics as scikit-learn defines them, by task."""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable

import numpy as np

Metric = Callable[[np.ndarray, np.ndarray, float], float]


def _binary_metrics() -> dict[str, Metric]:
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


def _multiclass_metrics() -> dict[str, Metric]:
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


def _regression_metrics() -> dict[str, Metric]:
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

    A metric that is undefined on this data (ROC AUC with one class) is NaN. For binary
    tasks with both classes present, the count metrics come from one confusion-count
    pass and the losses from NumPy means (equal to scikit-learn's to 1e-12, tested).
    """
    functions = _FACTORIES[task]()
    wanted = names or METRIC_NAMES[task]
    values = _binary_fast_path(y_true, scores, threshold) if task == "binary" else {}
    values = {k: v for k, v in values.items() if k in wanted}
    for name in wanted:
        if name in values:
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                values[name] = float(functions[name](y_true, scores, threshold))
        except ValueError:
            values[name] = float("nan")
    return values


def _binary_fast_path(y: np.ndarray, p: np.ndarray, threshold: float) -> dict[str, float]:
    """Count metrics and losses without one scikit-learn pass per metric."""
    from validate.stats.quality import _cells, _decisions, _per_row_losses, binary_count_metrics

    y = np.asarray(y).astype(np.int64)
    if len(np.unique(y)) < 2:
        return {}  # scikit-learn's one-class conventions apply; take its path
    cells = _cells(y, _decisions("binary", p, threshold), k=2)
    values = {name: float(v) for name, v in binary_count_metrics(cells).items()}
    values.update({name: float(np.mean(v)) for name, v in _per_row_losses("binary", y, p).items()})
    return values


def metric_functions(
    task: str, threshold: float
) -> dict[str, Callable[[np.ndarray, np.ndarray], float]]:
    """Each metric of ``task`` as f(y_true, scores), with the decision threshold bound."""
    return {
        name: functools.partial(_with_threshold, function, threshold)
        for name, function in _FACTORIES[task]().items()
    }


def _with_threshold(function: Metric, threshold: float, y: np.ndarray, p: np.ndarray) -> float:
    return float(function(y, p, threshold))
