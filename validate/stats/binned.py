"""Numeric drift from counts on shared bin edges, each statistic with a deterministic error
bound: what an engine that never holds a column's rows in one place can compute.

The edges are quantiles of the reference (from a KLL sketch, any edges will do); both
samples are counted exactly on them, so each sample's empirical CDF is known exactly at
every edge, and between two edges it is only known to rise from one value to the next.
Everything below follows from that.

Bins: bin 0 is ``(-inf, e_0]``, bin i is ``(e_{i-1}, e_i]``, the last ``(e_K, inf)``;
``numpy.searchsorted(edges, x, side="left")`` is a value's bin. The samples' overall
minimum and maximum (kept exactly) close the two outer bins.

* **Wasserstein-1** is ∫|F_a − F_b|. Inside a bin each CDF lies between its values at the
  bin's ends, so the gap lies in ``[F_a(l) − F_b(r), F_a(r) − F_b(l)]``: integrating the
  largest and smallest |gap| those allow gives a bracket around the true distance, and
  the estimate (the CDFs interpolated linearly inside each bin) lies inside it. The bound
  reported is the estimate's larger distance to either end of the bracket.
* **KS** (the largest CDF gap) is bracketed the same way: at least the largest gap at an
  edge, at most the largest gap the bins allow.
* **PSI** on the reference's deciles (NumPy's linear quantiles, as the local engine): the
  exact cumulative counts place each true decile inside one or two bins, so the number of
  values below it is bracketed for both samples; each decile bin's share is then an
  interval, and PSI's terms ``(e − r)·ln(e / r)`` are jointly convex, so their largest
  value over the intervals is at a corner and their smallest is 0 where the intervals
  overlap, else at the nearest corner. The bracket ignores that shares sum to 1, so it
  is wider than it needs to be, never narrower. (Columns with many ties can put several
  deciles on one value, which the local engine merges; the bracket assumes they differ.)

The bootstrap lower bounds of :mod:`validate.stats.drift` need only counts on a grid, so
they are drawn from these same counts (each value moved to its bin's right edge).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from validate.stats import drift as ds


@dataclass(frozen=True)
class BinnedColumn:
    """One numeric column of both samples, counted on the reference's edges.

    ``reference_counts`` and ``eval_counts`` have ``len(edges) + 1`` entries (see the
    module docstring); ``low``/``high`` are the smallest and largest value of both samples
    together; ``reference_std`` is the reference's standard deviation (ddof 0).
    """

    edges: np.ndarray
    reference_counts: np.ndarray
    eval_counts: np.ndarray
    low: float
    high: float
    reference_std: float


def numeric_from_bins(
    column: BinnedColumn,
    *,
    lower_z: float | None = None,
    lower_methods: tuple[str, ...] = ("wasserstein",),
    n_resamples: int = 200,
    seed: Any = 0,
) -> dict[str, float]:
    """Normalised Wasserstein, the KS bracket and decile PSI, each with its error bound.

    Keys: ``wasserstein`` (normalised by the reference's spread, as the local engine),
    ``wasserstein_raw``, ``wasserstein_bound`` (in the same normalised units); ``ks_low``,
    ``ks_high``; ``psi``, ``psi_low``, ``psi_high``, ``psi_bound``; with ``lower_z``, the
    bootstrap ``<method>_lower`` of each of ``lower_methods`` (as
    :func:`validate.stats.drift.numeric_statistics`, on these counts) and its
    ``<method>_margin`` (lower = estimate − margin, floored at 0).
    """
    a = np.asarray(column.reference_counts, dtype=np.float64)
    b = np.asarray(column.eval_counts, dtype=np.float64)
    n, m = a.sum(), b.sum()
    widths = np.diff(np.concatenate([[column.low], column.edges, [column.high]]))
    widths = np.maximum(widths, 0.0)  # an outer bin no value reached has no width
    right_a, right_b = np.cumsum(a) / n, np.cumsum(b) / m
    left_a, left_b = np.append(0.0, right_a[:-1]), np.append(0.0, right_b[:-1])
    low_gap, high_gap = left_a - right_b, right_a - left_b
    largest = np.maximum(np.abs(low_gap), np.abs(high_gap))
    straddles = (low_gap <= 0) & (high_gap >= 0)
    smallest = np.where(straddles, 0.0, np.minimum(np.abs(low_gap), np.abs(high_gap)))
    estimate = float(np.sum(widths * _mean_abs_linear(left_a - left_b, right_a - right_b)))
    w_low, w_high = float(np.sum(widths * smallest)), float(np.sum(widths * largest))
    spread = column.reference_std
    scale = 1 / spread if spread > 0 else (float("inf") if estimate else 0.0)
    out: dict[str, float] = {
        "wasserstein": estimate * scale if spread > 0 else scale,
        "wasserstein_raw": estimate,
        "wasserstein_bound": max(w_high - estimate, estimate - w_low) * (scale if spread else 0),
        "ks_low": float(np.max(np.abs(right_a - right_b))),
        "ks_high": float(np.max(largest)),
    }
    out.update(_decile_psi(np.cumsum(a), np.cumsum(b), column))
    if lower_z is not None:
        grid = np.append(column.edges, max(column.high, column.edges[-1]))
        counts_a, counts_b = a.astype(np.int64), b.astype(np.int64)
        resampled, binned = ds.bootstrap_distances(
            grid, counts_a, counts_b, lower_methods, np.random.default_rng(seed), n_resamples
        )
        for method in lower_methods:
            point = out[method] if method in out else float(binned[method][0])
            margin = ds.bootstrap_margin(resampled[method] - binned[method][0], lower_z)
            out[f"{method}_lower"] = ds.below_by(point, margin)
            # The margin alone, for a point estimated elsewhere (KS from sketches).
            out[f"{method}_margin"] = margin
    return out


def _mean_abs_linear(start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Mean of |g| over a bin where g runs linearly from ``start`` to ``end``."""
    same_side = start * end >= 0
    total = np.abs(start) + np.abs(end)
    with np.errstate(divide="ignore", invalid="ignore"):
        crossing = np.where(total > 0, (start**2 + end**2) / (2 * total), 0.0)
    return np.where(same_side, total / 2, crossing)


def _decile_psi(cum_a: np.ndarray, cum_b: np.ndarray, column: BinnedColumn) -> dict[str, float]:
    """PSI over the reference's deciles, estimated and bracketed (module docstring)."""
    n, m = cum_a[-1], cum_b[-1]
    probabilities = np.linspace(0, 1, 11)[1:-1]
    position = probabilities * (n - 1)
    below_first = np.floor(position)  # order statistics j and j + 1, 0-based
    first_bin = np.searchsorted(cum_a, below_first + 1, side="left")
    second_bin = np.searchsorted(cum_a, np.minimum(below_first + 2, n), side="left")
    padded_a, padded_b = np.append(0.0, cum_a), np.append(0.0, cum_b)
    bounds = []
    for padded in (padded_a, padded_b):
        bounds.append((padded[first_bin], padded[second_bin + 1]))
    # Estimate: the decile where the reference's count reaches it, both CDFs linear in a bin.
    edges = np.concatenate([[column.low], column.edges, [column.high]])
    left, right = edges[first_bin], edges[first_bin + 1]
    in_bin = padded_a[first_bin + 1] - padded_a[first_bin]
    share = np.clip((position + 1 - padded_a[first_bin]) / np.maximum(in_bin, 1), 0, 1)
    decile = left + share * (right - left)
    decile = np.unique(decile)
    estimates = []
    for padded, size in ((padded_a, n), (padded_b, m)):
        at = np.clip(np.searchsorted(edges, decile, side="left"), 1, len(edges) - 1)
        lo_edge, hi_edge = edges[at - 1], edges[at]
        fraction = np.where(hi_edge > lo_edge, (decile - lo_edge) / (hi_edge - lo_edge), 1.0)
        below = padded[at - 1] + fraction * (padded[at] - padded[at - 1])
        estimates.append(np.diff(np.concatenate([[0.0], below, [size]])) / size)
    psi = float(ds.psi_rows(estimates[0], estimates[1]))
    share_ranges = []
    for (low, high), size in zip(bounds, (n, m), strict=True):
        lows = np.concatenate([[0.0], low, [size]])
        highs = np.concatenate([[0.0], high, [size]])
        share_ranges.append(
            (
                np.maximum(lows[1:] - highs[:-1], 0) / size,
                np.maximum(highs[1:] - lows[:-1], 0) / size,
            )
        )
    (r_lo, r_hi), (e_lo, e_hi) = share_ranges
    floor = ds.PSI_FLOOR
    r_lo, r_hi, e_lo, e_hi = (np.maximum(v, floor) for v in (r_lo, r_hi, e_lo, e_hi))
    term = lambda e, r: (e - r) * np.log(e / r)  # noqa: E731
    corners = np.stack([term(e, r) for e in (e_lo, e_hi) for r in (r_lo, r_hi)])
    overlap = (e_lo <= r_hi) & (r_lo <= e_hi)
    nearest = np.where(e_hi < r_lo, term(e_hi, r_lo), term(e_lo, r_hi))
    psi_low = float(np.sum(np.where(overlap, 0.0, nearest)))
    psi_high = float(np.sum(corners.max(axis=0)))
    psi_low, psi_high = min(psi_low, psi), max(psi_high, psi)
    return {
        "psi": psi,
        "psi_low": psi_low,
        "psi_high": psi_high,
        "psi_bound": max(psi_high - psi, psi - psi_low),
    }


TAIL_EDGES = 32  # evenly spaced extra edges in each outer tail of the reference


def reference_edges(quantiles: np.ndarray, low: float, high: float) -> np.ndarray:
    """Bin edges from (approximate) reference quantiles and the reference's exact minimum
    and maximum: the quantiles, plus :data:`TAIL_EDGES` evenly spaced edges between the
    minimum and the first quantile and between the last quantile and the maximum.

    Any edges give exact counts; edges only decide how tight the bounds are. Quantile
    edges put equal reference mass in each bin, and the tail edges keep the two widest
    bins (where a few far values span most of the range) from dominating the Wasserstein
    bound.
    """
    inner = np.asarray(quantiles, dtype=np.float64)
    inner = inner[np.isfinite(inner)]
    first, last = (inner.min(), inner.max()) if inner.size else (low, high)
    tails = [
        np.linspace(low, first, TAIL_EDGES + 1),
        inner,
        np.linspace(last, high, TAIL_EDGES + 1),
    ]
    return np.unique(np.concatenate(tails))


def binned_roc_auc(negatives: np.ndarray, positives: np.ndarray) -> dict[str, float]:
    """ROC AUC, its error bound and DeLong's variance from per-class score histograms.

    ``negatives`` and ``positives`` count each class's scores in the same ordered bins.
    A positive and a negative in different bins are ordered exactly; a pair in one bin
    is unknown (it counts 1, ½ or 0), so the estimate counts it ½ (the Mann–Whitney tie
    rule, the AUC of the scores rounded to their bins) and the bound is the share of such
    pairs times ½. The variance is DeLong's (1988) with placements computed the same way,
    i.e. for the rounded scores; it is the interval's width that this approximates, not
    its centre, which the bound covers.
    """
    neg = np.asarray(negatives, dtype=np.float64)
    pos = np.asarray(positives, dtype=np.float64)
    n, m = neg.sum(), pos.sum()
    if not n or not m:
        return {"roc_auc": float("nan"), "roc_auc_bound": float("nan"), "variance": float("nan")}
    below_neg = np.cumsum(neg) - neg  # negatives in lower bins
    above_pos = pos.sum() - np.cumsum(pos)  # positives in higher bins
    v10 = (below_neg + 0.5 * neg) / n  # a positive's placement among the negatives
    v01 = (above_pos + 0.5 * pos) / m  # a negative's placement among the positives
    auc = float(np.sum(pos * v10) / m)
    bound = float(0.5 * np.sum(pos * neg) / (m * n))

    def weighted_variance(values: np.ndarray, weights: np.ndarray, total: float) -> float:
        if total < 2:
            return 0.0
        mean = np.sum(weights * values) / total
        return float(np.sum(weights * (values - mean) ** 2) / (total - 1))

    variance = weighted_variance(v10, pos, m) / m + weighted_variance(v01, neg, n) / n
    return {"roc_auc": auc, "roc_auc_bound": bound, "variance": variance}
