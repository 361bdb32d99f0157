"""Intervals for quality metrics: point values equal scikit-learn's, variances agree with
the bootstrap on the same data, and the paired comparison behaves."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics as skm

from validate.stats.auc import delong
from validate.stats.counts import cells
from validate.stats.intervals import average_precision_logit, bootstrap_p_value
from validate.stats.metrics import compute_metrics
from validate.stats.quality import (
    binary_count_metrics,
    metric_intervals,
    multiclass_count_metrics,
    paired_intervals,
)
from validate.stats.slicing import holm_reject


def scores(n, seed, separation=1.0, ties=False):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.35).astype(int)
    s = 1 / (1 + np.exp(-(separation * y + rng.normal(size=n))))
    if ties:
        s = np.round(s, 1)
    return y, s


@settings(max_examples=80, deadline=None)
@given(st.integers(10, 400), st.integers(0, 10**6), st.booleans())
def test_delong_auc_equals_sklearn(n, seed, ties):
    y, s = scores(n, seed, ties=ties)
    if len(np.unique(y)) < 2:
        return
    assert delong(y, s).aucs[0] == pytest.approx(skm.roc_auc_score(y, s), abs=1e-12)


@settings(max_examples=80, deadline=None)
@given(st.integers(3, 400), st.integers(0, 10**6), st.sampled_from([None, 2, 1, 0]))
def test_delong_equals_the_textbook_formula_on_scipys_ranks(n, seed, decimals):
    """One sort per model gives the placement values of DeLong's paper computed from
    scipy's midranks of the positives, the negatives and both: the same floats."""
    from scipy.stats import rankdata

    y, s = scores(n, seed)
    _, other = scores(n, seed + 1)
    if decimals is not None:  # ties within and across the classes
        s, other = np.round(s, decimals), np.round(other, decimals)
    positive = y == 1
    m, k = int(positive.sum()), int((~positive).sum())
    if m == 0 or k == 0:
        return
    v10, v01, aucs = [], [], []
    for score in (s, other):
        x, z = score[positive], score[~positive]
        tz = rankdata(np.concatenate([x, z]))
        aucs.append((tz[:m].sum() - m * (m + 1) / 2) / (m * k))
        v10.append((tz[:m] - rankdata(x)) / k)
        v01.append(1.0 - (tz[m:] - rankdata(z)) / m)
    s10 = np.atleast_2d(np.cov(v10)) if m > 1 else np.zeros((2, 2))
    s01 = np.atleast_2d(np.cov(v01)) if k > 1 else np.zeros((2, 2))
    estimate = delong(y, s, other)
    assert estimate.aucs.tolist() == aucs
    np.testing.assert_array_equal(estimate.covariance, s10 / m + s01 / k)


def test_delong_variance_matches_bootstrap():
    y, s = scores(3000, 1)
    _, s2 = scores(3000, 2)
    s2 = 0.5 * s + 0.5 * s2  # a correlated second model
    rng = np.random.default_rng(0)
    boot, boot_diff = [], []
    for _ in range(1500):
        rows = rng.integers(0, len(y), len(y))
        a, b = skm.roc_auc_score(y[rows], s[rows]), skm.roc_auc_score(y[rows], s2[rows])
        boot.append(a)
        boot_diff.append(a - b)
    estimate = delong(y, s, s2)
    assert np.sqrt(estimate.variance(0)) == pytest.approx(np.std(boot), rel=0.1)
    assert np.sqrt(estimate.difference()[1]) == pytest.approx(np.std(boot_diff), rel=0.1)


@settings(max_examples=60, deadline=None)
@given(st.integers(5, 300), st.integers(0, 10**6))
def test_binary_count_metrics_equal_sklearn(n, seed):
    rng = np.random.default_rng(seed)
    y, d = rng.integers(0, 2, n), rng.integers(0, 2, n)
    ours = binary_count_metrics(cells([y, d], (2, 2)))
    assert ours["accuracy"] == pytest.approx(skm.accuracy_score(y, d), abs=1e-9)
    assert ours["precision"] == pytest.approx(skm.precision_score(y, d, zero_division=0), abs=1e-9)
    assert ours["recall"] == pytest.approx(skm.recall_score(y, d, zero_division=0), abs=1e-9)
    assert ours["f1"] == pytest.approx(skm.f1_score(y, d, zero_division=0), abs=1e-9)
    if len(np.unique(y)) == 2:
        assert ours["balanced_accuracy"] == pytest.approx(
            skm.balanced_accuracy_score(y, d), abs=1e-9
        )


@settings(max_examples=60, deadline=None)
@given(st.integers(5, 300), st.integers(0, 10**6), st.integers(2, 5))
def test_multiclass_count_metrics_equal_sklearn(n, seed, k):
    rng = np.random.default_rng(seed)
    y, d = rng.integers(0, k, n), rng.integers(0, k, n)
    ours = multiclass_count_metrics(cells([y, d], (k, k)))
    assert ours["accuracy"] == pytest.approx(skm.accuracy_score(y, d), abs=1e-9)
    assert ours["f1_macro"] == pytest.approx(skm.f1_score(y, d, average="macro"), abs=1e-9)
    assert ours["f1_weighted"] == pytest.approx(skm.f1_score(y, d, average="weighted"), abs=1e-9)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = skm.balanced_accuracy_score(y, d)
    assert ours["balanced_accuracy"] == pytest.approx(expected, abs=1e-9)


def test_every_binary_metric_gets_an_interval_around_its_value():
    y, s = scores(2000, 3)
    metrics = compute_metrics("binary", y, s)
    found = metric_intervals(
        "binary", y, s, metrics, threshold=0.5, confidence=0.95, n_resamples=500, seed=0
    )
    assert set(found) == set(metrics)
    for name, interval in found.items():
        assert interval.low <= metrics[name] <= interval.high, name
        assert interval.high - interval.low < 0.2, name


def test_count_metric_interval_matches_row_bootstrap():
    y, s = scores(2000, 4)
    metrics = compute_metrics("binary", y, s)
    found = metric_intervals(
        "binary", y, s, metrics, threshold=0.5, confidence=0.9, n_resamples=4000, seed=0
    )
    rng = np.random.default_rng(1)
    rows = [rng.integers(0, len(y), len(y)) for _ in range(1500)]
    f1 = np.array([skm.f1_score(y[r], (s[r] >= 0.5).astype(int)) for r in rows])
    low, high = np.percentile(f1, [5, 95])
    assert found["f1"].low == pytest.approx(low, abs=0.006)
    assert found["f1"].high == pytest.approx(high, abs=0.006)


def test_regression_and_multiclass_intervals():
    rng = np.random.default_rng(5)
    y = rng.normal(size=1500)
    p = y + rng.normal(scale=0.5, size=1500)
    metrics = compute_metrics("regression", y, p)
    found = metric_intervals(
        "regression", y, p, metrics, threshold=0.5, confidence=0.95, n_resamples=100, seed=0
    )
    assert set(found) == set(metrics)
    assert found["rmse"].low < metrics["rmse"] < found["rmse"].high
    labels = rng.integers(0, 3, 1500)
    probs = rng.dirichlet([1, 1, 1], 1500)
    probs[np.arange(1500), labels] += 1
    probs /= probs.sum(axis=1, keepdims=True)
    metrics = compute_metrics("multiclass", labels, probs)
    found = metric_intervals(
        "multiclass",
        labels,
        probs,
        metrics,
        threshold=0.5,
        confidence=0.95,
        n_resamples=100,
        seed=0,
    )
    assert set(found) == set(metrics)


def test_paired_difference_detects_a_worse_model_and_not_an_equal_one():
    y, good = scores(5000, 6, separation=1.5)
    _, worse = scores(5000, 7, separation=0.5)
    worse = np.where(y == 1, worse, good)  # same negatives: strongly paired
    a, b = compute_metrics("binary", y, worse), compute_metrics("binary", y, good)
    diff = paired_intervals(
        "binary",
        y,
        worse,
        good,
        a,
        b,
        threshold=0.5,
        confidence=0.95,
        n_resamples=1000,
        seed=0,
        names=tuple(a),
    )
    assert diff["roc_auc"].high < 0 and diff["roc_auc"].p_value < 0.001
    same = paired_intervals(
        "binary",
        y,
        good,
        good,
        b,
        b,
        threshold=0.5,
        confidence=0.95,
        n_resamples=200,
        seed=0,
        names=("roc_auc", "log_loss", "accuracy"),
    )
    for interval in same.values():
        assert interval.low <= 0 <= interval.high


def test_average_precision_logit_interval_contains_the_estimate():
    interval = average_precision_logit(0.7, 400, 0.95)
    assert interval.low < 0.7 < interval.high


def test_holm_step_down():
    # Classic example: alpha 0.05, four p-values.
    assert holm_reject([0.01, 0.04, 0.03, 0.005], 0.05) == [True, False, False, True]
    assert holm_reject([0.2, 0.3], 0.05) == [False, False]


def test_bootstrap_p_value_floor():
    assert bootstrap_p_value(np.ones(100)) == pytest.approx(0.01)


def test_percentile_tail_inverts_numpys_percentile():
    """The bootstrap non-inferiority p is the percentile interval inverted (numpy reference):
    within 1/(B−1) of the share of resamples at or below the limit, and the lower end clears
    the limit exactly when the tail share exceeds it."""
    from validate.stats.intervals import percentile_tail

    rng = np.random.default_rng(0)
    samples = rng.normal(-0.03, 0.02, 999)
    samples[::50] = np.round(samples[::50], 2)  # some ties
    for limit in np.linspace(-0.09, 0.03, 61):
        t = percentile_tail(samples, limit)
        share = np.mean(samples <= limit)
        assert abs(t - share) <= 1 / (len(samples) - 1)
        if 0 < t < 1:
            assert np.percentile(samples, 100 * t) == pytest.approx(limit, abs=1e-12)
        for tail in (0.005, 0.025, 0.05, 0.1, 0.3):
            assert (np.percentile(samples, 100 * tail) > limit) == (t < tail)
    assert percentile_tail(samples, -1.0) == 0.0 and percentile_tail(samples, 1.0) == 1.0


def test_p_beyond_on_a_loss_difference_is_the_one_sided_z_test():
    from scipy import stats

    from validate.stats.intervals import mean_interval

    rng = np.random.default_rng(1)
    d = rng.normal(0.01, 0.2, 800)
    interval = mean_interval(d, 0.95, with_p=True)
    se = np.std(d, ddof=1) / np.sqrt(len(d))
    assert interval.p_value == pytest.approx(stats.ttest_1samp(d, 0).pvalue, rel=0.02)  # z ≈ t
    # lower is better: H0 "the loss grew by at least 0.03"
    expected = stats.norm.cdf((d.mean() - 0.03) / se)
    assert interval.p_beyond(0.03, above=False) == pytest.approx(expected, rel=1e-9)
    assert interval.p_beyond(-0.02, above=True) == pytest.approx(
        stats.norm.sf((d.mean() + 0.02) / se), rel=1e-9
    )
