"""Predictive-quality metrics as scikit-learn defines them, by task.

Three forms of the same definitions: scikit-learn's own functions (the reference, and
the point values users trust); count metrics from confusion cells and per-row losses
(one counting pass; equal to scikit-learn's to 1e-12, tested); and the metrics that are
neither, written for count-weighted rows (:func:`weighted_metric_functions`), so a whole
chunk of bootstrap resamples is one array operation instead of a scikit-learn call each.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable

import numpy as np

from validate.stats.counts import cells, safe_divide

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
    wanted = names or METRIC_NAMES[task]
    values = _binary_fast_path(y_true, scores, threshold, wanted) if task == "binary" else {}
    values = {k: v for k, v in values.items() if k in wanted}
    if all(name in values for name in wanted):
        return values  # scikit-learn (1.5 s of CPU to import) is not needed
    functions = _FACTORIES[task]()
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


def _binary_fast_path(
    y: np.ndarray, p: np.ndarray, threshold: float, wanted: tuple[str, ...]
) -> dict[str, float]:
    """Every binary metric without scikit-learn: count metrics from one counting pass,
    losses as NumPy means, ROC AUC and average precision in their weighted forms with unit
    weights (each equal to scikit-learn's to 1e-12, tested)."""
    y = np.asarray(y).astype(np.int64)
    if len(np.unique(y)) < 2 or not np.isfinite(p).all():
        return {}  # scikit-learn's conventions (one class; its NaN refusal) apply
    counted = cells([y, decisions("binary", p, threshold)], (2, 2))
    values = {name: float(v) for name, v in binary_count_metrics(counted).items()}
    values.update({name: float(np.mean(v)) for name, v in per_row_losses("binary", y, p).items()})
    if "roc_auc" in wanted or "average_precision" in wanted:
        # One sort serves both: the descending tie groups are the ascending ones reversed,
        # each group's rows summed in the same order (a stable sort keeps row order within
        # a tie either way), so each metric is what its own function computes, bit for bit.
        positives, negatives = _tie_groups(
            y, np.asarray(p, dtype=np.float64), np.ones((1, len(y))), descending=False
        )
        if "roc_auc" in wanted:
            values["roc_auc"] = float(_roc_auc_from_groups(positives, negatives)[0])
        if "average_precision" in wanted:
            values["average_precision"] = float(
                _average_precision_from_groups(positives[:, ::-1], negatives[:, ::-1])[0]
            )
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


# -- count metrics and per-row losses --------------------------------------------------------


def decisions(task: str, p: np.ndarray, threshold: float) -> np.ndarray:
    """Each row's decision: ``p >= threshold`` (binary) or the arg-max class (multiclass)."""
    return (p >= threshold).astype(np.int64) if task == "binary" else p.argmax(axis=1)


def binary_count_metrics(counts: np.ndarray) -> dict[str, np.ndarray]:
    """Count metrics from (..., 2, 2) cells [label, decision], zero_division=0 as sklearn."""
    tn, fp, fn, tp = counts[..., 0, 0], counts[..., 0, 1], counts[..., 1, 0], counts[..., 1, 1]
    recall = safe_divide(tp, tp + fn)
    specificity = safe_divide(tn, tn + fp)
    return {
        "accuracy": safe_divide(tn + tp, tn + fp + fn + tp),
        "balanced_accuracy": (recall + specificity) / 2,
        "precision": safe_divide(tp, tp + fp),
        "recall": recall,
        "f1": safe_divide(2 * tp, 2 * tp + fp + fn),
    }


def multiclass_count_metrics(counts: np.ndarray) -> dict[str, np.ndarray]:
    """Count metrics from (..., K, K) confusion matrices [true, predicted]."""
    diag = np.diagonal(counts, axis1=-2, axis2=-1)
    support, predicted = counts.sum(axis=-1), counts.sum(axis=-2)
    total = support.sum(axis=-1)
    present = (support + predicted) > 0
    f1 = safe_divide(2 * diag, support + predicted)
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        recall = np.where(support > 0, safe_divide(diag, support), np.nan)
        balanced = np.nanmean(recall, axis=-1)
    return {
        "accuracy": safe_divide(diag.sum(axis=-1), total),
        "balanced_accuracy": balanced,
        "f1_macro": safe_divide((f1 * present).sum(axis=-1), present.sum(axis=-1)),
        "f1_weighted": safe_divide((f1 * support).sum(axis=-1), total),
    }


def per_row_losses(task: str, y: np.ndarray, p: np.ndarray) -> dict[str, np.ndarray]:
    """Per-row terms whose mean is a loss metric (log loss, Brier; MAE, MAPE, MSE)."""
    if task == "binary":
        eps = np.finfo(p.dtype).eps
        clipped = np.clip(p, eps, 1 - eps)
        return {
            "log_loss": -(y * np.log(clipped) + (1 - y) * np.log(1 - clipped)),
            "brier": (p - y) ** 2,
        }
    if task == "multiclass":
        eps = np.finfo(p.dtype).eps
        normalised = np.clip(p, eps, 1 - eps)
        normalised = normalised / normalised.sum(axis=1, keepdims=True)
        return {"log_loss": -np.log(normalised[np.arange(len(y)), y])}
    error = p - y
    return {
        "mae": np.abs(error),
        "mape": np.abs(error) / np.maximum(np.abs(y), np.finfo(float).eps),
        "mse": error**2,
    }


# -- metrics of count-weighted rows, vectorised over resamples -------------------------------

WeightedMetric = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


def weighted_metric_functions(task: str) -> dict[str, WeightedMetric]:
    """The metrics of ``task`` that are not count metrics or means of per-row losses, as
    ``f(y_true, scores, weights) -> values``: ``weights`` is ``(c, n)`` (how often each row
    is drawn in each of c resamples) and the result ``(c,)``. Each equals scikit-learn's
    function with ``sample_weight`` (tested); a resample where it is undefined is NaN."""
    functions: dict[str, dict[str, WeightedMetric]] = {
        "binary": {"roc_auc": weighted_roc_auc, "average_precision": weighted_average_precision},
        "multiclass": {"roc_auc_ovr": weighted_roc_auc_ovr},
        "regression": {"rmse": weighted_rmse, "r2": weighted_r2},
    }
    return functions[task]


# Cells (resamples × score groups × 2) evaluated in one pass of average_precision_of_draws.
_CACHED_CELLS = 1 << 17
# f(y_true, scores) -> g((c, k) drawn row indices) -> (c,) values: a weighted metric of
# resamples given as the rows they drew (see average_precision_of_draws).
DrawnMetric = Callable[[np.ndarray, np.ndarray], Callable[[np.ndarray], np.ndarray]]


def drawn_metric_functions(task: str) -> dict[str, DrawnMetric]:
    """The :func:`weighted_metric_functions` of ``task`` that also have a form taking the
    drawn rows themselves, which gives the same numbers faster."""
    return {"average_precision": average_precision_of_draws} if task == "binary" else {}


def _tie_groups(
    y: np.ndarray, p: np.ndarray, w: np.ndarray, *, descending: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Weighted positives and negatives per distinct score, in score order: two (c, U)."""
    order = np.argsort(-p if descending else p, kind="stable")
    ordered = p[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    drawn = w[:, order]
    positive = (y[order] == 1).astype(np.float64)
    return (
        np.add.reduceat(drawn * positive, starts, axis=1),
        np.add.reduceat(drawn * (1 - positive), starts, axis=1),
    )


def weighted_roc_auc(y: np.ndarray, p: np.ndarray, w: np.ndarray) -> np.ndarray:
    """ROC AUC as the Mann-Whitney statistic (ties count one half), which is
    ``roc_auc_score(y, p, sample_weight=w)``; NaN without both classes."""
    return _roc_auc_from_groups(*_tie_groups(y, p, w, descending=False))


def _roc_auc_from_groups(positives: np.ndarray, negatives: np.ndarray) -> np.ndarray:
    """:func:`weighted_roc_auc` from the weighted classes per distinct score, ascending."""
    below = np.cumsum(negatives, axis=1) - negatives
    pairs = positives.sum(axis=1) * negatives.sum(axis=1)
    won = (positives * (below + 0.5 * negatives)).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(pairs > 0, won / np.where(pairs > 0, pairs, 1), np.nan)


def weighted_roc_auc_ovr(y: np.ndarray, p: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Macro one-vs-rest ROC AUC (``multi_class="ovr"``): the mean over classes of each
    class's AUC against the rest; NaN in a resample that lacks a class."""
    per_class = [weighted_roc_auc((y == k).astype(np.int64), p[:, k], w) for k in range(p.shape[1])]
    return np.mean(per_class, axis=0)


def weighted_average_precision(y: np.ndarray, p: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``average_precision_score``: Σ (Rₖ − Rₖ₋₁) Pₖ over distinct scores, highest first;
    NaN without positives."""
    return _average_precision_from_groups(*_tie_groups(y, p, w, descending=True))


def _average_precision_from_groups(positives: np.ndarray, negatives: np.ndarray) -> np.ndarray:
    """:func:`weighted_average_precision` from the weighted classes per distinct score,
    highest first."""
    return _average_precision_from_running(
        np.cumsum(positives, axis=1), np.cumsum(negatives, axis=1)
    )


def _average_precision_from_running(tp: np.ndarray, fp: np.ndarray) -> np.ndarray:
    """:func:`weighted_average_precision` from the running weighted positives and negatives
    at each distinct score, highest first (rows × scores)."""
    total = tp[:, -1:]
    # Precision and recall as safe_divide gives them, in fewer passes over the array: a
    # row without positives is NaN below, so its recall needs no zeroing.
    recall = tp / np.where(total > 0, total, 1)
    gained = np.empty_like(recall)  # np.diff(recall, prepend=0.0), without the copy
    gained[:, 0] = recall[:, 0]
    np.subtract(recall[:, 1:], recall[:, :-1], out=gained[:, 1:])
    flagged = tp + fp
    precision = np.divide(tp, flagged, out=np.zeros_like(tp), where=flagged > 0)
    gained *= precision
    return np.where(total[:, 0] > 0, gained.sum(axis=1), np.nan)


def average_precision_of_draws(y: np.ndarray, p: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """:func:`weighted_average_precision` of resamples given as the rows they drew: the
    returned function maps drawn row indices ``(c, k)`` to the ``(c,)`` values that
    ``weighted_average_precision(y, p, row_counts(drawn, len(y)))`` gives, bit for bit.

    The draws are counted straight into (tie group, class) cells, skipping the rows-wide
    weight matrix and its per-group sums: a resample's weights are counts, so every sum
    is an exact integer whatever order it is taken in (tests/test_drawn_metrics.py).
    """
    order = np.argsort(-p, kind="stable")
    ordered = p[order]
    new_score = np.r_[True, ordered[1:] != ordered[:-1]]
    groups = int(new_score.sum())
    # Each row's cell: its tie group (highest score first), negatives after the positives.
    cell = np.empty(len(p), dtype=np.int64)
    cell[order] = np.cumsum(new_score) - 1
    cell += np.where(np.asarray(y) == 1, 0, groups)

    def values(drawn: np.ndarray) -> np.ndarray:
        c = len(drawn)
        drawn_cells = cell[drawn]
        drawn_cells += (np.arange(c, dtype=np.int64) * (2 * groups))[:, None]
        counts = np.bincount(drawn_cells.ravel(), minlength=c * 2 * groups)
        running = np.cumsum(counts.reshape(c, 2, groups), axis=2, dtype=np.float64)
        return _average_precision_from_running(running[:, 0], running[:, 1])

    # A few resamples at a time: the tail's ten passes then run over arrays that stay in
    # the CPU's cache (twice as fast at 3,000 rows). Each resample's value is its own.
    step = max(1, _CACHED_CELLS // max(2 * groups, 1))
    return lambda drawn: np.concatenate(
        [values(drawn[start : start + step]) for start in range(0, max(len(drawn), 1), step)]
    )


def weighted_rmse(y: np.ndarray, p: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``root_mean_squared_error``: √(Σ w e² / Σ w)."""
    return np.sqrt(safe_divide(w @ (p - y) ** 2, w.sum(axis=1)))


def weighted_r2(y: np.ndarray, p: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``r2_score`` (``force_finite=True``): 1 − Σ w e² / Σ w (y − ȳ_w)²; a resample with
    constant y scores 1 when it is predicted exactly, else 0."""
    centred = y - np.mean(y)  # centring first keeps Σwy² − (Σwy)²/Σw from cancelling
    weight = w.sum(axis=1)
    residual = w @ (p - y) ** 2
    spread = w @ centred**2 - safe_divide((w @ centred) ** 2, weight)
    spread = np.where(spread > 1e-12 * np.maximum(w @ centred**2, 1e-300), spread, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        r2 = 1 - residual / np.where(spread > 0, spread, 1)
    return np.where(spread > 0, r2, np.where(residual == 0, 1.0, 0.0))
