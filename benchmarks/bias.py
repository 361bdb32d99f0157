"""Bias metrics: our cell-count fast path vs fairlearn's MetricFrame on the same data.

    python benchmarks/bias.py [--rows 1000000 5000000] [--resamples 1000] [--skip-fairlearn-above N]

Data: binary labels and decisions, two sensitive features (sex: 2 levels, region:
4 levels; 8 intersectional groups), as pandas' default string columns.
Both sides compute the six disparity aggregates (demographic parity, equalized odds,
equal opportunity; difference and ratio) for both methods on the intersection.
fairlearn is used the fast way a user would write by hand: one MetricFrame with
selection rate, TPR and FPR, then difference()/ratio(). The results are compared,
so the timing is of equal answers.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from validate.stats import fairness as fs
from validate.stats.intervals import percentile


def make_data(rows: int, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    sensitive = pd.DataFrame(
        {
            "sex": rng.choice(["F", "M"], rows),
            "region": rng.choice(["north", "south", "east", "west"], rows, p=[0.4, 0.3, 0.2, 0.1]),
        }
    )  # default string dtype: what pandas gives for string columns read from parquet
    y_true = (rng.random(rows) < 0.3).astype(np.int64)
    bias = np.where(sensitive["sex"].to_numpy() == "M", 0.1, 0.0)
    y_pred = (rng.random(rows) < 0.25 + 0.3 * y_true + bias).astype(np.int64)
    return sensitive, y_true, y_pred


def ours(
    sensitive: pd.DataFrame, y_true: np.ndarray, y_pred: np.ndarray, resamples: int
) -> dict[str, float]:
    groups = fs.group_codes([sensitive[c] for c in sensitive.columns])
    cells = fs.confusion_cells(groups.codes, y_true, y_pred, len(groups.labels))
    result = {}
    for method in fs.METHODS:
        for name, value in fs.aggregates(cells, method=method).items():
            result[f"{name}/{method}"] = float(value)
    if resamples:
        draws = fs.bootstrap_cells(cells, n_resamples=resamples, seed=0)
        for method in fs.METHODS:
            for name, values in fs.aggregates(draws, method=method).items():
                low, high = percentile(values, 0.95)
                result[f"{name}/{method}/ci"] = high - low
    return result


def fairlearn_by_hand(
    sensitive: pd.DataFrame, y_true: np.ndarray, y_pred: np.ndarray
) -> dict[str, float]:
    from fairlearn.metrics import (
        MetricFrame,
        false_positive_rate,
        selection_rate,
        true_positive_rate,
    )

    frame = MetricFrame(
        metrics={"sel": selection_rate, "tpr": true_positive_rate, "fpr": false_positive_rate},
        y_true=y_true,
        y_pred=y_pred,
        sensitive_features=sensitive,
    )
    result = {}
    for method in fs.METHODS:
        difference, ratio = frame.difference(method=method), frame.ratio(method=method)
        result[f"demographic_parity_difference/{method}"] = difference["sel"]
        result[f"demographic_parity_ratio/{method}"] = ratio["sel"]
        result[f"equalized_odds_difference/{method}"] = max(difference[["tpr", "fpr"]])
        result[f"equalized_odds_ratio/{method}"] = min(ratio[["tpr", "fpr"]])
        result[f"equal_opportunity_difference/{method}"] = difference["tpr"]
        result[f"equal_opportunity_ratio/{method}"] = ratio["tpr"]
    return result


def timed(function, *args, repeat: int = 1) -> tuple[float, object]:
    best, value = float("inf"), None
    for _ in range(repeat):
        started = time.perf_counter()
        value = function(*args)
        best = min(best, time.perf_counter() - started)
    return best, value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 5_000_000])
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--skip-fairlearn-above", type=int, default=10_000_000)
    args = parser.parse_args()
    print(
        f"{'rows':>10} {'fairlearn s':>12} {'ours s':>8} {'ratio':>8} "
        f"{'ours+CI s':>10} {'max |diff|':>11}"
    )
    for rows in args.rows:
        data = make_data(rows)
        ours_s, ours_values = timed(ours, *data, 0, repeat=3)
        ci_s, _ = timed(ours, *data, args.resamples, repeat=3)
        if rows <= args.skip_fairlearn_above:
            fl_s, fl_values = timed(fairlearn_by_hand, *data)
            diff = max(abs(ours_values[k] - fl_values[k]) for k in fl_values)  # type: ignore[index]
            print(
                f"{rows:>10,} {fl_s:12.2f} {ours_s:8.3f} {fl_s / ours_s:7.0f}x "
                f"{ci_s:10.3f} {diff:11.1e}"
            )
        else:
            print(f"{rows:>10,} {'(skipped)':>12} {ours_s:8.3f} {'':>8} {ci_s:10.3f}")


if __name__ == "__main__":
    main()
