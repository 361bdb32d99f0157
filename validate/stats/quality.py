"""Predictive-quality metrics with confidence intervals, for one model or a paired comparison.

Point estimates come from scikit-learn (the definitions users trust); intervals
follow ``validate.stats.intervals`` (DeLong for ROC AUC, multinomial cell counts
for count metrics, the CLT for means of per-row losses, Boyd's logit interval for
average precision, an m-out-of-n bootstrap for the rest).

Every bootstrap here draws the number of resamples it is asked for, no more and no
fewer: count metrics resample cells (O(cells) a resample) and the m-out-of-n bootstrap
evaluates count-weighted forms of the metrics (``validate.stats.metrics``) a chunk of
resamples at a time, so 1,000 resamples cost about what 200 cost one by one.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np

from validate.stats import intervals as iv
from validate.stats.auc import DeLong, delong
from validate.stats.counts import cells, resampled_rows, row_counts
from validate.stats.metrics import (
    DrawnMetric,
    WeightedMetric,
    binary_count_metrics,
    decisions,
    drawn_metric_functions,
    metric_functions,
    multiclass_count_metrics,
    per_row_losses,
    weighted_metric_functions,
)

BINARY_COUNT = ("accuracy", "balanced_accuracy", "precision", "recall", "f1")
MULTICLASS_COUNT = ("accuracy", "balanced_accuracy", "f1_macro", "f1_weighted")
LOWER_IS_BETTER = frozenset({"log_loss", "brier", "rmse", "mae", "mape"})


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

    Every bootstrap draws exactly ``n_resamples`` resamples (each percentile interval keeps
    them in ``samples``); 0 leaves out the metrics that only a bootstrap serves.
    ``auc``: DeLong estimates already computed for these scores (model 0), to reuse.
    """
    out: dict[str, iv.Interval] = {}
    k = 2 if task == "binary" else (p.shape[1] if task == "multiclass" else 0)
    if task in ("binary", "multiclass") and n_resamples:
        counted_cells = cells([y, decisions(task, p, threshold)], (k, k))
        out.update(
            count_intervals(
                task,
                counted_cells,
                metrics,
                confidence=confidence,
                n_resamples=n_resamples,
                seed=seed,
            )
        )
    losses = per_row_losses(task, y, p)
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
    for name in metrics:
        if name in out or not n_resamples or not np.isfinite(metrics[name]):
            continue
        out[name] = weighted_subsample_bootstrap(
            functools.partial(_on_rows, _weighted(task, threshold, name), y, p),
            len(y),
            point=metrics[name],
            n_resamples=n_resamples,
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
    Every bootstrap draws exactly ``n_resamples`` resamples; with 0, only the metrics with
    an analytic paired interval (:data:`PAIRED_ANALYTIC`) get one.
    """
    out: dict[str, iv.Interval] = {}
    difference = {n: candidate_metrics[n] - champion_metrics[n] for n in names}
    k = 2 if task == "binary" else (candidate.shape[1] if task == "multiclass" else 0)
    if (
        task in ("binary", "multiclass")
        and n_resamples
        and any(n in difference for n in BINARY_COUNT + MULTICLASS_COUNT)
    ):
        counted_cells = cells(
            [y, decisions(task, candidate, threshold), decisions(task, champion, threshold)],
            (k, k, k),
        )
        out.update(
            paired_count_intervals(
                task,
                counted_cells,
                difference,
                confidence=confidence,
                n_resamples=n_resamples,
                seed=seed,
            )
        )
    cand_losses, champ_losses = (
        per_row_losses(task, y, candidate),
        per_row_losses(task, y, champion),
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
    for name in difference:
        if name in out or not n_resamples:
            continue
        function = _weighted(task, threshold, name)
        drawn_form = drawn_metric_functions(task).get(name)
        out[name] = weighted_subsample_bootstrap(
            functools.partial(_paired_on_rows, function, y, candidate, champion),
            len(y),
            point=difference[name],
            n_resamples=n_resamples,
            max_rows=3000,
            seed=seed,
            confidence=confidence,
            with_p=True,
            on_draws=(
                None
                if drawn_form is None
                else functools.partial(_paired_on_draws, drawn_form, y, candidate, champion)
            ),
        )
    return out


def count_intervals(
    task: str,
    counted_cells: np.ndarray,
    metrics: dict[str, float],
    *,
    confidence: float,
    n_resamples: int,
    seed: int,
) -> dict[str, iv.Interval]:
    """Percentile intervals of the count metrics in ``metrics`` from (label, decision) cells.

    The row bootstrap drawn as Multinomial(n, cell shares) counts: the same numbers
    whether the cells were counted here or merged from a cluster's partitions.
    """
    draws = iv.multinomial_draws(counted_cells, n_resamples, seed)
    count = binary_count_metrics if task == "binary" else multiclass_count_metrics
    out = {}
    for name, samples in count(draws).items():
        if name in metrics:
            low, high = iv.percentile(samples, confidence)
            out[name] = iv.Interval(metrics[name], low, high, samples=samples)
    return out


def paired_count_intervals(
    task: str,
    paired_cells: np.ndarray,
    difference: dict[str, float],
    *,
    confidence: float,
    n_resamples: int,
    seed: int,
) -> dict[str, iv.Interval]:
    """Intervals and two-sided p-values of (candidate − champion) count metrics from
    (label, candidate decision, champion decision) cells, for the names in ``difference``."""
    draws = iv.multinomial_draws(paired_cells, n_resamples, seed)
    count = binary_count_metrics if task == "binary" else multiclass_count_metrics
    cand, champ = count(draws.sum(axis=-1)), count(draws.sum(axis=-2))
    out = {}
    for name in cand:
        if name in difference:
            samples = cand[name] - champ[name]
            out[name] = iv.Interval(
                difference[name],
                *iv.percentile(samples, confidence),
                p_value=iv.bootstrap_p_value(samples),
                samples=samples,
            )
    return out


# Paired differences whose interval needs no resampling (CLT on per-row differences,
# DeLong): the only ones ``paired_intervals`` gives with ``n_resamples=0``.
PAIRED_ANALYTIC = frozenset({"log_loss", "brier", "mae", "mape", "roc_auc"})

# f(row indices into the data, (c, m) row counts) -> (c,) values of one chunk of resamples.
_Statistic = Callable[[np.ndarray, np.ndarray], np.ndarray]
# f(row indices into the data) -> g((c, m) drawn positions among those rows) -> (c,) values:
# the same statistic, prepared once for the rows and evaluated on the draws themselves.
_DrawnStatistic = Callable[[np.ndarray], Callable[[np.ndarray], np.ndarray]]


def weighted_subsample_bootstrap(
    statistic: _Statistic,
    n_rows: int,
    *,
    point: float,
    n_resamples: int,
    seed: int,
    confidence: float,
    max_rows: int = 5000,
    with_p: bool = False,
    on_draws: _DrawnStatistic | None = None,
) -> iv.Interval:
    """m-out-of-n percentile bootstrap (Bickel, Götze & van Zwet 1997), drawn as row counts.

    A seeded subsample of m = min(n, ``max_rows``) rows is resampled ``n_resamples`` times
    (m rows with replacement, :func:`validate.stats.counts.resampled_rows`), deviations
    from the subsample's own value are rescaled by √(m/n) and centred on ``point``.
    ``statistic(rows, weights)`` evaluates a whole chunk of resamples at once; where the
    statistic has a form that takes the drawn rows themselves (``on_draws``, giving the
    same numbers), the resamples are evaluated by that. The returned interval keeps all
    ``n_resamples`` scaled samples.
    """
    rng = np.random.default_rng(seed)
    m = min(n_rows, max_rows)
    base = np.sort(rng.choice(n_rows, m, replace=False)) if m < n_rows else np.arange(n_rows)
    center = float(statistic(base, np.ones((1, m)))[0])
    evaluate = (
        on_draws(base)
        if on_draws is not None
        else functools.partial(_on_row_counts, statistic, base, m)
    )
    samples = np.concatenate([evaluate(drawn) for drawn in resampled_rows(m, n_resamples, rng)])
    scaled = point + (samples - center) * np.sqrt(m / n_rows)
    low, high = iv.percentile(scaled, confidence)
    p = iv.bootstrap_p_value(scaled) if with_p else None
    return iv.Interval(point, low, high, p, samples=scaled)


def _on_row_counts(
    statistic: _Statistic, rows: np.ndarray, m: int, drawn: np.ndarray
) -> np.ndarray:
    return statistic(rows, row_counts(drawn, m))


def _weighted(task: str, threshold: float, name: str) -> WeightedMetric:
    """``name`` as f(y, scores, (c, m) row counts) -> (c,): its vectorised form, or else
    scikit-learn's function once per resample (no metric of ours needs that today)."""
    weighted = weighted_metric_functions(task)
    if name in weighted:
        return weighted[name]
    return functools.partial(_per_resample, metric_functions(task, threshold)[name])


def _on_rows(
    function: WeightedMetric, y: np.ndarray, p: np.ndarray, rows: np.ndarray, w: np.ndarray
) -> np.ndarray:
    return function(y[rows], p[rows], w)


def _paired_on_rows(
    function: WeightedMetric,
    y: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    rows: np.ndarray,
    w: np.ndarray,
) -> np.ndarray:
    return function(y[rows], a[rows], w) - function(y[rows], b[rows], w)


def _paired_on_draws(
    form: DrawnMetric, y: np.ndarray, a: np.ndarray, b: np.ndarray, rows: np.ndarray
) -> Callable[[np.ndarray], np.ndarray]:
    """:func:`_paired_on_rows` for the metric's drawn-rows form (validate.stats.metrics)."""
    of_a, of_b = form(y[rows], a[rows]), form(y[rows], b[rows])
    return lambda drawn: of_a(drawn) - of_b(drawn)


def _per_resample(
    function: Callable[[np.ndarray, np.ndarray], float],
    y: np.ndarray,
    p: np.ndarray,
    weights: np.ndarray,
) -> np.ndarray:
    """A scikit-learn metric on each resample's rows (rows repeated as often as drawn)."""
    values = []
    for w in weights:
        rows = np.repeat(np.arange(len(y)), w.astype(np.int64))
        try:
            values.append(function(y[rows], p[rows]))
        except ValueError:  # undefined on this resample (one class): left out, as NaN
            values.append(float("nan"))
    return np.asarray(values, dtype=np.float64)
