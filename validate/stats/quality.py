"""Predictive-quality metrics with confidence intervals, for one model or a paired comparison.

Point estimates come from scikit-learn (the definitions users trust); intervals
follow ``validate.stats.intervals`` (DeLong for ROC AUC, multinomial cell counts
for count metrics, the CLT for means of per-row losses, Boyd's logit interval for
average precision, an m-out-of-n bootstrap for the rest).
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable

import numpy as np

from validate.stats import intervals as iv
from validate.stats.auc import DeLong, delong

BINARY_COUNT = ("accuracy", "balanced_accuracy", "precision", "recall", "f1")
MULTICLASS_COUNT = ("accuracy", "balanced_accuracy", "f1_macro", "f1_weighted")
LOWER_IS_BETTER = frozenset({"log_loss", "brier", "rmse", "mae", "mape"})


def _div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(b > 0, a / np.where(b > 0, b, 1), 0.0)


def binary_count_metrics(cells: np.ndarray) -> dict[str, np.ndarray]:
    """Count metrics from (..., 2, 2) cells [label, decision], zero_division=0 as sklearn."""
    tn, fp, fn, tp = cells[..., 0, 0], cells[..., 0, 1], cells[..., 1, 0], cells[..., 1, 1]
    recall = _div(tp, tp + fn)
    specificity = _div(tn, tn + fp)
    return {
        "accuracy": _div(tn + tp, tn + fp + fn + tp),
        "balanced_accuracy": (recall + specificity) / 2,
        "precision": _div(tp, tp + fp),
        "recall": recall,
        "f1": _div(2 * tp, 2 * tp + fp + fn),
    }


def multiclass_count_metrics(cells: np.ndarray) -> dict[str, np.ndarray]:
    """Count metrics from (..., K, K) confusion matrices [true, predicted]."""
    diag = np.diagonal(cells, axis1=-2, axis2=-1)
    support, predicted = cells.sum(axis=-1), cells.sum(axis=-2)
    total = support.sum(axis=-1)
    present = (support + predicted) > 0
    f1 = _div(2 * diag, support + predicted)
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        recall = np.where(support > 0, _div(diag, support), np.nan)
        balanced = np.nanmean(recall, axis=-1)
    return {
        "accuracy": _div(diag.sum(axis=-1), total),
        "balanced_accuracy": balanced,
        "f1_macro": _div((f1 * present).sum(axis=-1), present.sum(axis=-1)),
        "f1_weighted": _div((f1 * support).sum(axis=-1), total),
    }


def _per_row_losses(task: str, y: np.ndarray, p: np.ndarray) -> dict[str, np.ndarray]:
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


def _decisions(task: str, p: np.ndarray, threshold: float) -> np.ndarray:
    return (p >= threshold).astype(np.int64) if task == "binary" else p.argmax(axis=1)


def _cells(y: np.ndarray, *decisions: np.ndarray, k: int) -> np.ndarray:
    """Counts over (label, decision of each model): shape (k,)*(1+len(decisions))."""
    flat = y.astype(np.int64)
    for d in decisions:
        flat = flat * k + d
    return (
        np.bincount(flat, minlength=k ** (1 + len(decisions)))
        .reshape((k,) * (1 + len(decisions)))
        .astype(np.float64)
    )


def metric_intervals(
    task: str,
    y: np.ndarray,
    p: np.ndarray,
    metrics: dict[str, float],
    *,
    threshold: float,
    confidence: float,
    n_resamples: int,
    seed: int,
    auc: DeLong | None = None,
) -> dict[str, iv.Interval]:
    """An interval for every metric in ``metrics`` (its point values, from scikit-learn).

    ``auc``: DeLong estimates already computed for these scores (model 0), to reuse.
    """
    out: dict[str, iv.Interval] = {}
    k = 2 if task == "binary" else (p.shape[1] if task == "multiclass" else 0)
    if task in ("binary", "multiclass") and n_resamples:
        cells = _cells(y, _decisions(task, p, threshold), k=k)
        draws = iv.multinomial_draws(cells, n_resamples, seed)
        counted = (
            binary_count_metrics(draws) if task == "binary" else multiclass_count_metrics(draws)
        )
        for name, samples in counted.items():
            if name in metrics:
                out[name] = iv.Interval(metrics[name], *iv.percentile(samples, confidence))
    losses = _per_row_losses(task, y, p)
    for name in ("log_loss", "brier", "mae", "mape"):
        if name in metrics and name in losses:
            out[name] = iv.mean_interval(losses[name], confidence)
    if "rmse" in metrics:
        mse = iv.mean_interval(losses["mse"], confidence)
        out["rmse"] = iv.Interval(
            metrics["rmse"], float(np.sqrt(max(mse.low, 0))), float(np.sqrt(mse.high))
        )
    if "roc_auc" in metrics and np.isfinite(metrics["roc_auc"]):
        estimate = auc or delong(y, p)
        out["roc_auc"] = iv.normal_interval(
            metrics["roc_auc"], estimate.variance(), confidence, bounds=(0.0, 1.0)
        )
    if "average_precision" in metrics:
        out["average_precision"] = iv.average_precision_logit(
            metrics["average_precision"], int((y == 1).sum()), confidence
        )
    for name, function in _resampled(task, threshold).items():
        if name in metrics and name not in out and n_resamples and np.isfinite(metrics[name]):
            out[name] = iv.subsample_bootstrap(
                functools.partial(_on_rows, function, y, p),
                len(y),
                point=metrics[name],
                n_resamples=min(n_resamples, 200),
                seed=seed,
                confidence=confidence,
            )
    return out


def paired_intervals(
    task: str,
    y: np.ndarray,
    candidate: np.ndarray,
    champion: np.ndarray,
    candidate_metrics: dict[str, float],
    champion_metrics: dict[str, float],
    *,
    threshold: float,
    confidence: float,
    n_resamples: int,
    seed: int,
    names: tuple[str, ...],
    auc: DeLong | None = None,
) -> dict[str, iv.Interval]:
    """Interval and p-value of (candidate − champion) on the same rows, for ``names``.

    ``p_value`` is the two-sided test of no difference; each interval's ``p_beyond`` tests
    a margin (non-inferiority, superiority) by the same method, consistently with the CI.
    """
    out: dict[str, iv.Interval] = {}
    difference = {n: candidate_metrics[n] - champion_metrics[n] for n in names}
    k = 2 if task == "binary" else (candidate.shape[1] if task == "multiclass" else 0)
    if task in ("binary", "multiclass") and any(
        n in difference for n in BINARY_COUNT + MULTICLASS_COUNT
    ):
        cells = _cells(
            y,
            _decisions(task, candidate, threshold),
            _decisions(task, champion, threshold),
            k=k,
        )
        draws = iv.multinomial_draws(cells, max(n_resamples, 200), seed)
        count = binary_count_metrics if task == "binary" else multiclass_count_metrics
        cand, champ = count(draws.sum(axis=-1)), count(draws.sum(axis=-2))
        for name in cand:
            if name in difference:
                samples = cand[name] - champ[name]
                out[name] = iv.Interval(
                    difference[name],
                    *iv.percentile(samples, confidence),
                    p_value=iv.bootstrap_p_value(samples),
                    samples=samples,
                )
    cand_losses, champ_losses = (
        _per_row_losses(task, y, candidate),
        _per_row_losses(task, y, champion),
    )
    for name in ("log_loss", "brier", "mae", "mape"):
        if name in difference and name in cand_losses:
            interval = iv.mean_interval(
                cand_losses[name] - champ_losses[name], confidence, with_p=True
            )
            out[name] = iv.Interval(
                difference[name], interval.low, interval.high, interval.p_value, se=interval.se
            )
    if "roc_auc" in difference:
        value, variance = (auc or delong(y, candidate, champion)).difference()
        out["roc_auc"] = iv.normal_interval(value, variance, confidence, with_p=True)
    functions = _resampled(task, threshold)
    for name in difference:
        if name not in out:
            out[name] = iv.subsample_bootstrap(
                functools.partial(_paired_on_rows, functions[name], y, candidate, champion),
                len(y),
                point=difference[name],
                n_resamples=200,
                max_rows=3000,
                seed=seed,
                confidence=confidence,
                with_p=True,
            )
    return out


def _on_rows(
    function: Callable[[np.ndarray, np.ndarray], float],
    y: np.ndarray,
    p: np.ndarray,
    rows: np.ndarray,
) -> float:
    return function(y[rows], p[rows])


def _paired_on_rows(
    function: Callable[[np.ndarray, np.ndarray], float],
    y: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    rows: np.ndarray,
) -> float:
    return function(y[rows], a[rows]) - function(y[rows], b[rows])


def _resampled(task: str, threshold: float) -> dict[str, Callable[[np.ndarray, np.ndarray], float]]:
    """scikit-learn metrics for the generic (subsample) bootstrap."""
    from validate.stats.metrics import metric_functions

    return metric_functions(task, threshold)
