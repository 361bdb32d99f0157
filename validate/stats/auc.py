"""ROC AUC and its variance by DeLong's method, for one model or two on the same rows.

DeLong, DeLong & Clarke-Pearson (1988), "Comparing the areas under two or more
correlated receiver operating characteristic curves: a nonparametric approach",
Biometrics 44:837-845, with the O(n log n) midrank algorithm of Sun & Xu (2014),
"Fast implementation of DeLong's algorithm", IEEE Signal Processing Letters 21:1389.
Ties count one half, as in scikit-learn's ``roc_auc_score``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class DeLong:
    """AUCs of k models on the same rows and the k×k covariance of their estimates."""

    aucs: np.ndarray
    covariance: np.ndarray

    def variance(self, index: int = 0) -> float:
        return float(self.covariance[index, index])

    def difference(self, a: int = 0, b: int = 1) -> tuple[float, float]:
        """AUC[a] − AUC[b] and the variance of that difference (paired)."""
        c = self.covariance
        return float(self.aucs[a] - self.aucs[b]), float(c[a, a] + c[b, b] - 2 * c[a, b])


def average_ranks(values: np.ndarray) -> np.ndarray:
    """Ranks from 1, ties sharing their average rank (``scipy.stats.rankdata``'s default,
    without importing scipy.stats, which costs more than a run's statistics)."""
    values = np.asarray(values)
    order, starts, ends = _tie_runs(values)
    ranks = np.empty(len(values), dtype=np.float64)
    ranks[order] = _midranks(starts, ends)
    return ranks


def _tie_runs(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A stable sort of ``values`` and each run of equal values in it, as [start, end)."""
    order = np.argsort(values, kind="mergesort")
    ordered = values[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    ends = np.r_[starts[1:], len(ordered)]  # one past each tie run
    return order, starts, ends


def _midranks(starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """The average rank of every position, in sorted order, from tie runs that tile the
    positions (a run may be empty): (start + 1 + end) / 2 of integers, exact."""
    lengths = ends - starts
    if lengths.max(initial=0) <= 1:
        # No ties (continuous scores): each rank is its position, (i + 1 + i + 1) / 2.
        return np.arange(1, lengths.sum() + 1, dtype=np.float64)
    return np.repeat((starts + 1 + ends) / 2, lengths)


def delong(y_true: np.ndarray, *scores: np.ndarray) -> DeLong:
    """DeLong's estimates for one or more score vectors against the same binary labels."""
    positive = np.asarray(y_true) == 1
    m, n = int(positive.sum()), int((~positive).sum())
    if m == 0 or n == 0:
        raise ValueError("ROC AUC is undefined when eval data has only one class")
    v10 = np.empty((len(scores), m))
    v01 = np.empty((len(scores), n))
    aucs = np.empty(len(scores))
    for k, score in enumerate(scores):
        score = np.asarray(score, dtype=np.float64)
        values = np.concatenate([score[positive], score[~positive]])
        (tz_x, tx, at_x), (tz_y, ty, at_y) = _ranks_in_sorted_order(values, m)
        if m * len(values) < 2**52:
            # Half-integers whose total is below 2**52: every partial sum is exact, so the
            # order of summation cannot change a bit.
            rank_sum = tz_x.sum()
        else:
            in_row_order = np.empty(m)
            in_row_order[at_x] = tz_x
            rank_sum = in_row_order.sum()
        aucs[k] = (rank_sum - m * (m + 1) / 2) / (m * n)
        v10[k, at_x] = (tz_x - tx) / n
        v01[k, at_y] = 1.0 - (tz_y - ty) / m
    s10 = np.atleast_2d(np.cov(v10)) if m > 1 else np.zeros((len(scores), len(scores)))
    s01 = np.atleast_2d(np.cov(v01)) if n > 1 else np.zeros((len(scores), len(scores)))
    return DeLong(aucs=aucs, covariance=s10 / m + s01 / n)


def _ranks_in_sorted_order(
    values: np.ndarray, m: int
) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """For the first ``m`` values and for the rest: their pooled :func:`average_ranks`,
    their ranks within their own class, and their positions in that class, all in sorted
    order, from one sort of ``values``.

    The pooled sort orders each class too, and every tie run within a class lies inside
    one pooled tie run, so a class's ranks are its running count at the pooled runs' ends.
    Each rank is (start + 1 + end) / 2 of integers, as in :func:`average_ranks`: the same
    floats, for one sort instead of three, and without putting the pooled ranks back in
    row order (on millions of rows, the sorts and scatters are DeLong's time).
    """
    order, starts, ends = _tie_runs(values)
    pooled = _midranks(starts, ends)
    first = order < m
    classes = []
    for members, positions in ((first, order[first]), (~first, order[~first] - m)):
        if len(starts) == len(values):  # no ties at all: a class's ranks are 1, 2, ...
            own = np.arange(1, len(positions) + 1, dtype=np.float64)
        else:
            seen = np.r_[0, np.cumsum(members)]  # class members before each sorted position
            own = _midranks(seen[starts], seen[ends])
        classes.append((pooled[members], own, positions))
    return classes[0], classes[1]
