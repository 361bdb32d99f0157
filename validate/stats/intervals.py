"""Confidence intervals for predictive-quality metrics, single and paired.

Which method serves which metric (all seeded, all at the requested confidence):

* ROC AUC: DeLong's variance, normal interval (``validate.stats.auc``); paired
  differences by DeLong's covariance.
* Count metrics (accuracy, balanced accuracy, precision, recall, F1; the
  multiclass ones from the k×k confusion matrix): percentile bootstrap that draws
  the confusion-matrix cells from Multinomial(n, observed shares), which is the
  row bootstrap's distribution (Efron & Tibshirani 1993) at O(cells) a resample.
  Paired: the cells of (label, candidate decision, champion decision).
* Means of per-row losses (log loss, Brier, MAE, MAPE; MSE for RMSE): the
  central-limit interval mean ± z·s/√n; paired on the per-row differences.
* Average precision: the logit interval of Boyd, Eng & Page (2013), "Area under
  the precision-recall curve: point estimates and confidence intervals", ECML.
* Anything else (multiclass ROC AUC, R², paired average precision): a percentile
  bootstrap on a seeded subsample of at most m rows whose spread is rescaled by
  √(m/n) (the m-out-of-n bootstrap; Bickel, Götze & van Zwet 1997), in
  ``validate.stats.quality.weighted_subsample_bootstrap``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from validate.stats.normal import cdf, quantile


@dataclass(frozen=True)
class Interval:
    """A point estimate with its confidence interval (and, for differences, the two-sided
    p-value of "no difference").

    ``se`` (normal intervals) or ``samples`` (percentile intervals) keep what made the
    interval, so :meth:`p_beyond` can test any other limit by the same method.
    """

    value: float
    low: float
    high: float
    p_value: float | None = None
    se: float | None = field(default=None, compare=False, repr=False)
    samples: np.ndarray | None = field(default=None, compare=False, repr=False)

    @property
    def ci(self) -> tuple[float, float]:
        return (self.low, self.high)

    def p_beyond(self, limit: float, *, above: bool) -> float | None:
        """One-sided p-value of H0 "the true value is at or below ``limit``" (``above``) or
        "at or above ``limit``" (not ``above``), by the method that made this interval.

        It is the interval inverted, so it agrees with the interval exactly: for an
        interval at confidence c, ``p < (1 − c)/2`` exactly when ``low > limit``
        (``above``) or ``high < limit``. Normal intervals: ``Φ̄((value − limit)/se)``.
        Normal intervals are centred on their midpoint, which is what the z test uses
        (a loss difference's point value may come from scikit-learn, a hair away).
        Percentile intervals: the tail share at which the percentile reaches ``limit``
        (numpy's linear interpolation inverted), within 1/B of the share of resamples at
        or beyond ``limit``. ``None`` when the interval keeps neither (a clipped or
        analytic one).
        """
        if self.se is not None:
            centre = (self.low + self.high) / 2
            distance = (centre - limit) if above else (limit - centre)
            if self.se > 0:
                return cdf(-distance / self.se)
            return 0.0 if distance > 0 else 1.0
        if self.samples is not None:
            if above:
                return percentile_tail(self.samples, limit)
            return percentile_tail(-np.asarray(self.samples), -limit)
        return None


def z_value(confidence: float) -> float:
    return quantile(1 - (1 - confidence) / 2)


def normal_interval(
    value: float,
    variance: float,
    confidence: float,
    bounds: tuple[float, float] | None = None,
    with_p: bool = False,
) -> Interval:
    """value ± z·√variance, clipped to ``bounds``; p-value of H0: value = 0 when asked."""
    se = float(np.sqrt(max(variance, 0.0)))
    z = z_value(confidence)
    low, high = value - z * se, value + z * se
    clipped = bounds is not None and (low < bounds[0] or high > bounds[1])
    if bounds is not None:
        low, high = max(low, bounds[0]), min(high, bounds[1])
    p = None
    if with_p:  # two-sided, H0: the true value is 0
        p = 2 * cdf(-abs(value) / se) if se > 0 else float(value == 0)
    return Interval(value, low, high, p, se=None if clipped else se)


def mean_interval(per_row: np.ndarray, confidence: float, with_p: bool = False) -> Interval:
    """CLT interval of a mean of per-row terms."""
    n = len(per_row)
    sample_variance = float(np.var(per_row, ddof=1)) if n > 1 else 0.0
    return moments_interval(n, float(np.mean(per_row)), sample_variance, confidence, with_p)


def moments_interval(
    n: int, mean: float, sample_variance: float, confidence: float, with_p: bool = False
) -> Interval:
    """CLT interval of a mean from its moments (``n``, mean, variance with ddof=1), as
    :func:`mean_interval` computes them from rows, or as merged from partitions."""
    variance = sample_variance / n if n > 1 else 0.0
    return normal_interval(mean, variance, confidence, with_p=with_p)


def percentile(samples: np.ndarray, confidence: float) -> tuple[float, float]:
    """The equal-tailed percentile interval of bootstrap ``samples``. A resample where the
    statistic is undefined (NaN: a group it drew no rows of) is left out; one where it
    overflowed (±inf) is not: left out, it made the interval of an infinite estimate
    look small (an error of 1e160 gave an RMSE gap of inf with a CI of [0.0002, 0.018])."""
    defined = samples[~np.isnan(samples)]
    if defined.size == 0:
        return (float("nan"), float("nan"))
    tail = (1 - confidence) / 2 * 100
    with np.errstate(invalid="ignore"):  # inf − inf between two infinite resamples: NaN
        low, high = np.percentile(defined, [tail, 100 - tail])
    return float(low), float(high)


def percentile_tail(samples: np.ndarray, limit: float) -> float:
    """The largest share t with ``np.percentile(samples, 100·t) <= limit`` (finite samples).

    The inverse of :func:`percentile`'s lower end: that end is above ``limit`` exactly when
    its tail share exceeds this. 0 when every sample is above ``limit``.
    """
    ordered = np.sort(np.asarray(samples, dtype=np.float64))
    ordered = ordered[np.isfinite(ordered)]
    n = ordered.size
    if n == 0:
        return float("nan")
    at_or_below = int(np.searchsorted(ordered, limit, side="right"))
    if at_or_below == 0:
        return 0.0
    if at_or_below == n:
        return 1.0
    k = at_or_below - 1  # ordered[k] <= limit < ordered[k + 1]: interpolate between them
    part = (limit - ordered[k]) / (ordered[k + 1] - ordered[k])
    return float((k + part) / (n - 1))


def bootstrap_p_value(differences: np.ndarray) -> float:
    """Two-sided bootstrap p-value of H0: difference = 0 (at least 1/B)."""
    finite = differences[np.isfinite(differences)]
    if finite.size == 0:
        return float("nan")
    below, above = np.mean(finite <= 0), np.mean(finite >= 0)
    return float(min(1.0, max(2 * min(below, above), 1 / finite.size)))


def multinomial_draws(cells: np.ndarray, n_resamples: int, seed: int) -> np.ndarray:
    """(B, *cells.shape) counts: the row bootstrap, drawn as cell counts."""
    total = int(round(cells.sum()))
    rng = np.random.default_rng(seed)
    shares = (cells / cells.sum()).ravel()
    return (
        rng.multinomial(total, shares, size=n_resamples)
        .astype(np.float64)
        .reshape(n_resamples, *cells.shape)
    )


def average_precision_logit(ap: float, positives: int, confidence: float) -> Interval:
    """Boyd et al. (2013) logit interval for average precision."""
    if not 0 < ap < 1 or positives == 0:
        return Interval(ap, ap, ap)
    logit = np.log(ap / (1 - ap))
    half = z_value(confidence) / np.sqrt(positives * ap * (1 - ap))
    expit = lambda t: float(1 / (1 + np.exp(-t)))  # noqa: E731
    return Interval(ap, expit(logit - half), expit(logit + half))
