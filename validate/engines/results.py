"""Accuracy, bias and drift statistics from merged partials, by the local engine's code.

The count-based numbers (confusion-cell metrics and their multinomial bootstrap CIs,
every fairlearn aggregate and its CI, chi-square and Jensen–Shannon for categories) come
from the same functions the checks call on rows, fed counts instead, so they are
identical to the local engine's. Loss means and their CLT intervals come from merged
moments (equal to the row computation up to floating-point summation order). Numeric
drift is approximate, each statistic with the deterministic bound of
:mod:`validate.stats.binned`, and a verdict is only given where the whole bound lies on
one side of the cut-off (else the column is flagged, as "inside the error bound").
"""

from __future__ import annotations

import zlib
from typing import Any

import numpy as np

from validate.stats import drift as ds
from validate.stats import fairness as fs
from validate.stats.binned import BinnedColumn, binned_roc_auc, numeric_from_bins
from validate.stats.intervals import Interval, moments_interval, normal_interval, z_value
from validate.stats.metrics import binary_count_metrics
from validate.stats.quality import count_intervals, paired_count_intervals


def _loss_interval(stats: np.ndarray, confidence: float, with_p: bool = False) -> Interval:
    n, mean, m2 = float(stats[0]), float(stats[1]), float(stats[2])
    return moments_interval(int(n), mean, m2 / (n - 1) if n > 1 else 0.0, confidence, with_p)


def accuracy(
    scores: dict[str, Any], *, confidence: float, n_resamples: int, seed: int
) -> dict[str, Any]:
    """Count metrics and losses with CIs, ROC AUC (approximate: ``bounds["roc_auc"]``) with
    DeLong's interval, and the paired comparison with the champion (count metrics and
    losses) when the partials were counted with champion scores."""
    counted = scores["cells"]
    paired = counted.ndim == 3
    candidate = counted.sum(axis=-1) if paired else counted
    metrics = {k: float(v) for k, v in binary_count_metrics(candidate).items()}
    losses = scores["losses"]
    metrics.update({name: float(losses[f"candidate.{name}"][1]) for name in ("log_loss", "brier")})
    intervals = count_intervals(
        "binary", candidate, metrics, confidence=confidence, n_resamples=n_resamples, seed=seed
    )
    for name in ("log_loss", "brier"):
        intervals[name] = _loss_interval(losses[f"candidate.{name}"], confidence)
    # ROC AUC from per-class score histograms: approximate, with its bound beside it.
    auc = binned_roc_auc(scores["auc"][0], scores["auc"][1])
    metrics["roc_auc"] = auc["roc_auc"]
    if np.isfinite(auc["roc_auc"]):
        intervals["roc_auc"] = normal_interval(
            auc["roc_auc"], auc["variance"], confidence, bounds=(0.0, 1.0)
        )
    out: dict[str, Any] = {
        "metrics": metrics,
        "intervals": intervals,
        "rows": int(counted.sum()),
        "bounds": {"roc_auc": auc["roc_auc_bound"]},
    }
    if paired:
        champion = {k: float(v) for k, v in binary_count_metrics(counted.sum(axis=-2)).items()}
        champion.update({n: float(losses[f"champion.{n}"][1]) for n in ("log_loss", "brier")})
        difference = {n: metrics[n] - champion[n] for n in champion}
        compared = paired_count_intervals(
            "binary",
            counted,
            difference,
            confidence=confidence,
            n_resamples=n_resamples,
            seed=seed,
        )
        for name in ("log_loss", "brier"):
            found = _loss_interval(losses[f"difference.{name}"], confidence, with_p=True)
            compared[name] = Interval(
                difference[name], found.low, found.high, found.p_value, se=found.se
            )
        out["champion"], out["vs_baseline"] = champion, compared
    return out


def bias(
    scores: dict[str, Any],
    grouping: str,
    *,
    min_group_size: int,
    method: str,
    agg: str,
    n_resamples: int,
    seed: int,
    confidence: float,
) -> dict[str, Any]:
    """fairlearn's aggregates with bootstrap CIs for one grouping (``"sex"``, ``"sex x
    age_group"``), groups in the order the local engine numbers them (sorted labels)."""
    found = scores["groups"][grouping]
    labels = sorted(found)
    stacked = np.stack([found[label] for label in labels])
    paired = stacked if stacked.ndim == 4 else None
    counted = stacked.sum(axis=-1) if paired is not None else stacked
    sizes = counted.sum(axis=(-1, -2))
    kept = sizes >= min_group_size
    judged = fs.judged_aggregates(
        counted,
        paired,
        kept,
        method=method,
        agg=agg,
        n_resamples=n_resamples,
        seed=seed,
        confidence=confidence,
    )
    return {
        "labels": ["/".join(label) for label in labels],
        "counts": sizes,
        "kept": kept,
        "judged": judged,
    }


def drift(
    reference: dict[str, Any],
    current: dict[str, Any],
    *,
    alpha: float = 0.05,
    n_resamples: int = 200,
    seed: int = 0,
    numeric_method: str = "wasserstein",
    categorical_method: str = "jensenshannon",
) -> list[dict[str, Any]]:
    """Per-column drift judged as the drift check's defaults do (effect size, Bonferroni
    lower bound), with each approximated statistic's bound widening the decision."""
    columns = [*reference["numeric"], *reference["categorical"]]
    z = z_value(1 - 2 * alpha / max(len(columns), 1))  # one-sided 1 − alpha/columns
    out = []
    for column in columns:
        column_seed = [seed, zlib.crc32(str(column).encode())]
        if column in reference["numeric"]:
            entry = _numeric(
                column,
                reference["numeric"][column],
                current["numeric"][column],
                numeric_method,
                z,
                n_resamples,
                column_seed,
            )
        else:
            entry = _categorical(
                column,
                reference["categorical"][column],
                current["categorical"][column],
                categorical_method,
                z,
                n_resamples,
                column_seed,
            )
        out.append(entry)
    return out


def _numeric(
    column: str,
    ref: dict[str, Any],
    cur: dict[str, Any],
    method: str,
    z: float,
    n_resamples: int,
    seed: Any,
) -> dict[str, Any]:
    entry: dict[str, Any] = {"column": column, "kind": "numeric", "method": method}
    if ref["infinite"] or cur["infinite"]:
        return {**entry, "drifted": True, "decided": True, "reason": "infinite values"}
    if not ref["moments"][0] or not cur["moments"][0]:
        return {**entry, "drifted": True, "decided": True, "reason": "all values missing"}
    if max(-ref["min"], ref["max"], -cur["min"], cur["max"]) > ds.MAX_MAGNITUDE:
        # Squares overflow: the bound would say "stable" however far apart (as locally).
        reason = f"values beyond ±{ds.MAX_MAGNITUDE:g}: too large to measure drift"
        return {**entry, "drifted": True, "decided": True, "reason": reason}
    n, _, m2 = ref["moments"]
    binned = BinnedColumn(
        edges=_edges_of(ref),
        reference_counts=ref["counts"],
        eval_counts=cur["counts"],
        low=min(ref["min"], cur["min"]),
        high=max(ref["max"], cur["max"]),
        reference_std=float(np.sqrt(m2 / n)),
    )
    statistics = numeric_from_bins(
        binned, lower_z=z, lower_methods=(method,), n_resamples=n_resamples, seed=seed
    )
    statistics.update(ks_from_sketches(ref["sketch"], cur["sketch"], statistics))
    if method == "ks":  # the bootstrap margin, below the sketches' estimate
        statistics["ks_lower"] = ds.below_by(statistics["ks"], statistics["ks_margin"])
    bound = statistics[f"{method}_bound"] if method != "ks" else statistics["ks_bound"]
    entry.update(
        statistics=statistics,
        value=statistics[method],
        bound=bound,
        **_verdict(statistics[f"{method}_lower"], bound, ds.DEFAULT_THRESHOLDS[method]),
    )
    entry["p_value"] = ds.ks_large_p_value(
        int(n), int(cur["moments"][0]), statistics["ks"], exact=False
    )
    return entry


def _edges_of(ref: dict[str, Any]) -> np.ndarray:
    return np.asarray(ref["edges"])


def ks_from_sketches(reference: Any, current: Any, bracket: dict[str, float]) -> dict[str, float]:
    """KS distance from two KLL sketches, inside the histogram's exact bracket.

    The sketches' CDFs at each other's quantiles are within their normalised rank errors
    ε_a, ε_b of the true CDFs (99% confidence, DataSketches' bound), so the largest gap
    found is at most ε_a + ε_b above the true distance; the histogram bracket
    (``ks_low``, ``ks_high``) holds surely. The estimate is clipped into both; the bound
    is its larger distance to either end.
    """
    points = np.unique(
        np.concatenate(
            [
                np.asarray(s.get_quantiles(list(np.linspace(0, 1, 1025))))
                for s in (reference, current)
            ]
        )
    )
    gap = np.abs(
        np.asarray(reference.get_cdf(list(points)))[:-1]
        - np.asarray(current.get_cdf(list(points)))[:-1]
    )
    estimate = float(gap.max())
    rank_error = float(
        reference.normalized_rank_error(False) + current.normalized_rank_error(False)
    )
    low = max(bracket["ks_low"], estimate - rank_error)
    high = bracket["ks_high"]
    value = float(np.clip(estimate, low, high))
    return {
        "ks": value,
        "ks_sketch": estimate,
        "ks_rank_error": rank_error,
        "ks_bound": max(value - low, high - value),
    }


def _verdict(judged: float, bound: float, threshold: float) -> dict[str, Any]:
    """Flagged when the judged value exceeds the cut-off by more than its bound; not
    flagged when it stays below by more; inside the bound the column is flagged (fail
    closed) and says so, so no verdict rests on the approximation."""
    if judged - bound > threshold:
        return {"drifted": True, "decided": True, "judged": judged, "threshold": threshold}
    if judged + bound <= threshold:
        return {"drifted": False, "decided": True, "judged": judged, "threshold": threshold}
    return {
        "drifted": True,
        "decided": False,
        "judged": judged,
        "threshold": threshold,
        "reason": f"cut-off {threshold:g} inside the error bound {judged:.4f} ± {bound:.2g}",
    }


def _categorical(
    column: str,
    ref: dict[str, Any],
    cur: dict[str, Any],
    method: str,
    z: float,
    n_resamples: int,
    seed: Any,
) -> dict[str, Any]:
    import pandas as pd

    entry: dict[str, Any] = {"column": column, "kind": "categorical", "method": method}
    if not ref["counts"] or not cur["counts"]:
        return {**entry, "drifted": True, "decided": True, "reason": "all values missing"}
    statistics, new = ds.categorical_from_counts(
        pd.Series(ref["counts"], dtype="int64"),
        pd.Series(cur["counts"], dtype="int64"),
        lower_z=z,
        lower_methods=(method,),
        n_resamples=n_resamples,
        seed=seed,
    )
    judged = statistics[f"{method}_lower"]
    threshold = ds.DEFAULT_THRESHOLDS[method]
    entry.update(
        statistics=statistics,
        value=statistics[method],
        bound=0.0,
        new_categories=new,
        p_value=statistics["chisquare_p_value"],
        **_verdict(judged, 0.0, threshold),
    )
    if not np.isfinite(judged):
        entry["drifted"] = True
    return entry
