"""Accuracy check statistics vs a plain scikit-learn row-resampling bootstrap.

    python benchmarks/accuracy.py [--rows 1000000] [--resamples 1000] [--sklearn-resamples 5]

Ours: every binary metric (accuracy, balanced_accuracy, precision, recall, f1,
roc_auc, average_precision, log_loss, brier) with its CI, plus the paired
candidate-vs-champion comparison of every metric, at ``--resamples``.
Theirs: what a careful user writes by hand: resample rows with replacement,
recompute every metric for both models with scikit-learn. At 1M rows that takes
hours for 1,000 resamples, so it is timed on ``--sklearn-resamples`` and scaled
linearly (each resample costs the same); the output says so.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from validate.stats.auc import delong
from validate.stats.metrics import METRIC_NAMES, compute_metrics, metric_functions
from validate.stats.quality import metric_intervals, paired_intervals


def make_data(rows: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = (rng.random(rows) < 0.3).astype(np.int64)
    noise = rng.normal(size=rows)
    champion = 1 / (1 + np.exp(-(1.4 * y + noise - 0.5)))
    candidate = 1 / (1 + np.exp(-(1.5 * y + noise + rng.normal(scale=0.4, size=rows) - 0.5)))
    return y, candidate, champion


def ours(y: np.ndarray, candidate: np.ndarray, champion: np.ndarray, resamples: int) -> None:
    """What the accuracy check runs: metrics of both models, every CI, the paired comparison."""
    a = compute_metrics("binary", y, candidate)
    b = compute_metrics("binary", y, champion)
    auc = delong(y, candidate, champion)  # one DeLong pass serves both, as in the check
    common = {"threshold": 0.5, "confidence": 0.95, "n_resamples": resamples, "seed": 0, "auc": auc}
    metric_intervals("binary", y, candidate, a, **common)
    paired_intervals("binary", y, candidate, champion, a, b, names=tuple(a), **common)


def sklearn_bootstrap(
    y: np.ndarray, candidate: np.ndarray, champion: np.ndarray, resamples: int
) -> None:
    functions = metric_functions("binary", 0.5)
    rng = np.random.default_rng(0)
    for _ in range(resamples):
        rows = rng.integers(0, len(y), len(y))
        for name in METRIC_NAMES["binary"]:
            functions[name](y[rows], candidate[rows])
            functions[name](y[rows], champion[rows])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--sklearn-resamples", type=int, default=5)
    args = parser.parse_args()
    data = make_data(args.rows)
    warm = make_data(2000, seed=1)  # imports and first-call costs, for both sides
    ours(*warm, 10)
    sklearn_bootstrap(*warm, 1)
    started = time.perf_counter()
    ours(*data, args.resamples)
    ours_s = time.perf_counter() - started
    started = time.perf_counter()
    sklearn_bootstrap(*data, args.sklearn_resamples)
    per_resample = (time.perf_counter() - started) / args.sklearn_resamples
    theirs_s = per_resample * args.resamples
    print(f"rows {args.rows:,}, {args.resamples} resamples, 9 binary metrics + paired comparison")
    print(f"validate (CIs for all metrics and all differences): {ours_s:8.2f} s")
    print(
        f"scikit-learn row bootstrap: {per_resample:.2f} s a resample, measured on "
        f"{args.sklearn_resamples}; x{args.resamples} = {theirs_s:8.0f} s"
    )
    print(f"ratio: {theirs_s / ours_s:,.0f}x")


if __name__ == "__main__":
    main()
