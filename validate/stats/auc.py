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
    order = np.argsort(values, kind="mergesort")
    ordered = values[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    ends = np.r_[starts[1:], len(ordered)]  # one past each tie run
    ranks = np.empty(len(values), dtype=np.float64)
    ranks[order] = np.repeat((starts + 1 + ends) / 2, ends - starts)
    return ranks


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
        x, y = score[positive], score[~positive]
        tx = average_ranks(x)
        ty = average_ranks(y)
        tz = average_ranks(np.concatenate([x, y]))
        aucs[k] = (tz[:m].sum() - m * (m + 1) / 2) / (m * n)
        v10[k] = (tz[:m] - tx) / n
        v01[k] = 1.0 - (tz[m:] - ty) / m
    s10 = np.atleast_2d(np.cov(v10)) if m > 1 else np.zeros((len(scores), len(scores)))
    s01 = np.atleast_2d(np.cov(v01)) if n > 1 else np.zeros((len(scores), len(scores)))
    return DeLong(aucs=aucs, covariance=s10 / m + s01 / n)
