"""Point values, intervals and p-values against references that share no code with ours.

Each expectation here comes from somewhere the code under test does not: a formula written
out by hand (CLT intervals, DeLong's pairwise kernel, Boyd's logit interval, PSI, Holm,
Jensen–Shannon, Wasserstein, MMD), a row-level bootstrap on resampled rows with its own
random stream (the code resamples cell counts, or subsamples), a different library
(scikit-learn, fairlearn, scipy's limiting distributions), or hand-worked numbers.
Bootstrap against bootstrap is compared with a tolerance stated in units of the
reference's bootstrap standard deviation, several times the Monte Carlo error of both.
Interval coverage (simulations) is tests/test_coverage.py's subject, not this file's.
(issue 15, item 3)
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn import metrics as skm

from validate.stats.metrics import compute_metrics
from validate.stats.quality import metric_intervals, paired_intervals

Z90 = stats.norm.ppf(0.95)  # two-sided 90%: the confidence used throughout


def row_resamples(n: int, resamples: int, seed: int) -> np.ndarray:
    """(resamples, n) row indices drawn with replacement: the plain row bootstrap."""
    return np.random.default_rng(seed).integers(0, n, (resamples, n))


def percentile_ci(samples: np.ndarray, confidence: float = 0.9) -> tuple[float, float]:
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(samples[np.isfinite(samples)], [tail, 100 - tail])
    return float(low), float(high)


def two_sided_bootstrap_p(samples: np.ndarray) -> float:
    """Twice the smaller share of resampled differences on either side of 0."""
    return float(min(1.0, 2 * min(np.mean(samples <= 0), np.mean(samples >= 0))))


def assert_same_bootstrap_ci(got, reference_samples, *, sds: float, extra: float = 0.0, what=""):
    """Both ends within ``sds`` bootstrap SDs (of the reference resamples) plus ``extra``."""
    expected = percentile_ci(reference_samples)
    tolerance = sds * float(np.std(reference_samples)) + extra
    assert abs(got[0] - expected[0]) <= tolerance, (what, got, expected, tolerance)
    assert abs(got[1] - expected[1]) <= tolerance, (what, got, expected, tolerance)


def clt_ci(per_row: np.ndarray, z: float = Z90) -> tuple[float, float]:
    """mean ± z · s / √n, s the sample SD (n − 1), written out."""
    n = len(per_row)
    mean = sum(per_row) / n
    s = math.sqrt(sum((v - mean) ** 2 for v in per_row) / (n - 1))
    return mean - z * s / math.sqrt(n), mean + z * s / math.sqrt(n)


def binary_data(n: int, seed: int, separation: float = 1.0):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.35).astype(int)
    noise = rng.normal(size=n)
    candidate = 1 / (1 + np.exp(-(separation * y + noise)))
    champion = 1 / (1 + np.exp(-(separation * y + 0.8 * noise + rng.normal(scale=0.6, size=n))))
    return y, candidate, champion


def binary_counts_by_rows(y: np.ndarray, decided: np.ndarray, rows: np.ndarray) -> dict:
    """Count metrics on each resample of rows, from the definitions (TP/(TP+FN) and so on)."""
    yb, db = y[rows].astype(bool), decided[rows].astype(bool)
    tp, fp = (yb & db).sum(axis=-1), (~yb & db).sum(axis=-1)
    fn, tn = (yb & ~db).sum(axis=-1), (~yb & ~db).sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        recall, specificity = tp / (tp + fn), tn / (tn + fp)
        return {
            "accuracy": (tp + tn) / (tp + fp + fn + tn),
            "balanced_accuracy": (recall + specificity) / 2,
            "precision": np.where(tp + fp > 0, tp / (tp + fp), 0.0),
            "recall": recall,
            "f1": 2 * tp / (2 * tp + fp + fn),
        }


def auc_by_hand(y: np.ndarray, *scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """AUCs and their covariance by DeLong et al. (1988) from the pairwise kernel, O(m·n)."""
    positives, negatives = y == 1, y == 0
    v10, v01 = [], []
    for s in scores:
        kernel = (s[positives][:, None] > s[negatives][None, :]) + 0.5 * (
            s[positives][:, None] == s[negatives][None, :]
        )
        v10.append(kernel.mean(axis=1))
        v01.append(kernel.mean(axis=0))
    cov = (
        np.atleast_2d(np.cov(np.vstack(v10))) / positives.sum()
        + np.atleast_2d(np.cov(np.vstack(v01))) / negatives.sum()
    )
    return np.array([v.mean() for v in v10]), cov


def ap_by_rows(y: np.ndarray, s: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Average precision on each resample of rows, from its definition: the mean over
    positive rows of the precision at that row's score, counting every row tied with it
    (resampled rows repeat, so ties are the rule)."""
    yb, sb = y[rows], s[rows]
    order = np.argsort(sb, axis=1, kind="stable")
    ys, ss = np.take_along_axis(yb, order, 1), np.take_along_axis(sb, order, 1)
    n = ys.shape[1]
    positions = np.broadcast_to(np.arange(n), ys.shape)
    starts = np.ones(ys.shape, bool)
    starts[:, 1:] = ss[:, 1:] != ss[:, :-1]
    first = np.maximum.accumulate(np.where(starts, positions, 0), axis=1)  # first of its ties
    below = np.concatenate([np.zeros((len(ys), 1)), np.cumsum(ys, axis=1)], axis=1)
    positives = ys.sum(axis=1, keepdims=True)
    precision = (positives - np.take_along_axis(below, first, 1)) / (n - first)
    return (precision * ys).sum(axis=1) / positives[:, 0]


def ovr_auc_by_rows(y: np.ndarray, probs: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """One-vs-rest ROC AUC, macro average, on each resample of rows: per class the
    Mann–Whitney statistic from midranks, (R₊ − m(m + 1)/2) / (m · (n − m))."""
    yb, n = y[rows], rows.shape[1]
    aucs = []
    for c in range(probs.shape[1]):
        ranks = stats.rankdata(probs[:, c][rows], axis=1)  # ties: midranks (count one half)
        is_c = yb == c
        m = is_c.sum(axis=1)
        aucs.append(((ranks * is_c).sum(axis=1) - m * (m + 1) / 2) / (m * (n - m)))
    return np.mean(aucs, axis=0)


# --- accuracy: one model -----------------------------------------------------------------


def test_binary_intervals_equal_independent_references():
    y, p, _ = binary_data(2000, seed=21)
    metrics = compute_metrics("binary", y, p)
    found = metric_intervals(
        "binary", y, p, metrics, threshold=0.5, confidence=0.9, n_resamples=4000, seed=0
    )
    decided = (p >= 0.5).astype(int)
    # Count metrics: a row bootstrap (rows drawn, metrics from their definitions).
    by_rows = binary_counts_by_rows(y, decided, row_resamples(len(y), 2000, seed=101))
    point = binary_counts_by_rows(y, decided, np.arange(len(y))[None, :])
    assert point["balanced_accuracy"][0] == pytest.approx(
        skm.balanced_accuracy_score(y, decided), abs=1e-12
    )  # the definitions are scikit-learn's
    for name in ("accuracy", "balanced_accuracy", "precision", "recall", "f1"):
        # 4,000 vs 2,000 resamples: the 5% quantiles differ by ~0.06 SD by chance; a count
        # metric moves in steps of about 1/n.
        assert_same_bootstrap_ci(
            found[name].ci, by_rows[name], sds=0.3, extra=2 / len(y), what=name
        )
    # Means of per-row losses: the CLT interval, written out.
    log_loss = [-(t * math.log(s) + (1 - t) * math.log(1 - s)) for t, s in zip(y, p, strict=True)]
    brier = [(s - t) ** 2 for t, s in zip(y, p, strict=True)]
    for name, per_row in (("log_loss", log_loss), ("brier", brier)):
        assert found[name].ci == pytest.approx(clt_ci(np.array(per_row)), rel=1e-9), name
    # ROC AUC: DeLong's variance from the pairwise kernel, normal interval.
    (auc,), cov = auc_by_hand(y, p)
    half = Z90 * math.sqrt(cov[0, 0])
    assert found["roc_auc"].ci == pytest.approx((auc - half, auc + half), rel=1e-9)
    # Average precision: Boyd, Eng & Page (2013), logit(AP) ± z / sqrt(positives·AP·(1 − AP)).
    ap, positives = skm.average_precision_score(y, p), int(y.sum())
    logit, half = math.log(ap / (1 - ap)), Z90 / math.sqrt(positives * ap * (1 - ap))
    expit = lambda t: 1 / (1 + math.exp(-t))  # noqa: E731
    assert found["average_precision"].ci == pytest.approx(
        (expit(logit - half), expit(logit + half)), rel=1e-9
    )


def test_regression_intervals_equal_independent_references():
    rng = np.random.default_rng(22)
    y = rng.normal(2.0, 1.0, 1500)
    p = y + rng.normal(scale=0.6, size=1500) * (1 + 0.5 * (y > 2))
    metrics = compute_metrics("regression", y, p)
    found = metric_intervals(
        "regression", y, p, metrics, threshold=0.5, confidence=0.9, n_resamples=200, seed=0
    )
    error = p - y
    assert found["mae"].ci == pytest.approx(clt_ci(np.abs(error)), rel=1e-9)
    assert found["mape"].ci == pytest.approx(clt_ci(np.abs(error) / np.abs(y)), rel=1e-9)
    mse_low, mse_high = clt_ci(error**2)
    assert found["rmse"].ci == pytest.approx((math.sqrt(mse_low), math.sqrt(mse_high)), rel=1e-9)
    # R²: a row bootstrap of 1 − SSE/SST. The code's percentile interval may rest on as few
    # as 200 resamples (~0.15 SD of Monte Carlo error at the 5% quantile): 0.7 SD.
    rows = row_resamples(len(y), 2000, seed=102)
    yb, pb = y[rows], p[rows]
    sst = ((yb - yb.mean(axis=1, keepdims=True)) ** 2).sum(axis=1)
    r2 = 1 - ((yb - pb) ** 2).sum(axis=1) / sst
    assert_same_bootstrap_ci(found["r2"].ci, r2, sds=0.7, what="r2")


def test_multiclass_intervals_equal_independent_references():
    rng = np.random.default_rng(23)
    n, k = 1500, 3
    y = rng.integers(0, k, n)
    probs = rng.dirichlet([1, 1, 1], n)
    probs[np.arange(n), y] += 0.6
    probs /= probs.sum(axis=1, keepdims=True)
    metrics = compute_metrics("multiclass", y, probs)
    found = metric_intervals(
        "multiclass", y, probs, {k: v for k, v in metrics.items() if k != "roc_auc_ovr"},
        threshold=0.5, confidence=0.9, n_resamples=4000, seed=0,
    )  # fmt: skip
    found.update(
        metric_intervals(
            "multiclass",
            y,
            probs,
            {"roc_auc_ovr": metrics["roc_auc_ovr"]},
            threshold=0.5,
            confidence=0.9,
            n_resamples=200,
            seed=0,
        )  # fmt: skip
    )
    decided = probs.argmax(axis=1)
    rows = row_resamples(n, 2000, seed=103)
    yb, db = y[rows], decided[rows]
    tp = np.stack([((yb == c) & (db == c)).sum(axis=1) for c in range(k)], axis=1)
    support = np.stack([(yb == c).sum(axis=1) for c in range(k)], axis=1)
    predicted = np.stack([(db == c).sum(axis=1) for c in range(k)], axis=1)
    f1 = 2 * tp / (support + predicted)
    by_rows = {
        "accuracy": tp.sum(axis=1) / n,
        "balanced_accuracy": (tp / support).mean(axis=1),
        "f1_macro": f1.mean(axis=1),
        "f1_weighted": (f1 * support).sum(axis=1) / n,
    }
    for name, samples in by_rows.items():
        assert_same_bootstrap_ci(found[name].ci, samples, sds=0.3, extra=2 / n, what=name)
    assert found["log_loss"].ci == pytest.approx(clt_ci(-np.log(probs[np.arange(n), y])), rel=1e-9)
    # One-vs-rest ROC AUC (a subsample bootstrap in the code, 200 resamples: ~0.15 SD of
    # Monte Carlo error at the 5% quantile): midrank AUCs on 2,000 row resamples, 0.7 SD.
    assert ovr_auc_by_rows(y, probs, np.arange(n)[None, :])[0] == pytest.approx(
        skm.roc_auc_score(y, probs, multi_class="ovr"), abs=1e-12
    )
    ovr = ovr_auc_by_rows(y, probs, row_resamples(n, 2000, seed=104))
    assert_same_bootstrap_ci(found["roc_auc_ovr"].ci, ovr, sds=0.7, what="ovr")


# --- accuracy: candidate vs champion on the same rows ------------------------------------


def test_paired_binary_intervals_and_p_values_equal_independent_references():
    y, candidate, champion = binary_data(2000, seed=24, separation=1.2)
    names = ("accuracy", "balanced_accuracy", "precision", "recall", "f1", "log_loss", "brier")
    a, b = compute_metrics("binary", y, candidate), compute_metrics("binary", y, champion)
    found = paired_intervals(
        "binary", y, candidate, champion, a, b, threshold=0.5, confidence=0.9,
        n_resamples=4000, seed=0, names=names,
    )  # fmt: skip
    found.update(
        paired_intervals(
            "binary",
            y,
            candidate,
            champion,
            a,
            b,
            threshold=0.5,
            confidence=0.9,
            n_resamples=200,
            seed=0,
            names=("average_precision",),
        )  # fmt: skip
    )
    rows = row_resamples(len(y), 3000, seed=105)
    cand = binary_counts_by_rows(y, (candidate >= 0.5).astype(int), rows)
    champ = binary_counts_by_rows(y, (champion >= 0.5).astype(int), rows)
    moderate = 0
    for name in names[:5]:
        difference = cand[name] - champ[name]  # the same resampled rows for both models
        assert_same_bootstrap_ci(found[name].ci, difference, sds=0.3, extra=2 / len(y), what=name)
        expected_p = two_sided_bootstrap_p(difference)
        # Each p is a share of resamples: SD <= 2·sqrt(0.25/3000) ≈ 0.018; 0.07 is 4 SDs of
        # the difference of two such estimates.
        assert found[name].p_value == pytest.approx(expected_p, abs=0.07), name
        moderate += 0.05 < expected_p < 0.95
    assert moderate >= 2  # the data leave some p-values away from 0 and 1
    # Losses: the paired CLT on per-row differences, and its two-sided z test.
    for name, per_row in (
        ("log_loss", lambda s: -(y * np.log(s) + (1 - y) * np.log(1 - s))),
        ("brier", lambda s: (s - y) ** 2),
    ):
        d = per_row(candidate) - per_row(champion)
        assert found[name].ci == pytest.approx(clt_ci(d), rel=1e-9), name
        se = np.std(d, ddof=1) / math.sqrt(len(d))
        assert found[name].p_value == pytest.approx(
            2 * stats.norm.sf(abs(d.mean()) / se), rel=1e-9
        ), name
    # Average precision (a subsample bootstrap in the code, maybe 200 resamples): AP from
    # its definition on 2,000 row resamples (checked against scikit-learn on one of them,
    # ties and all); ends within 0.7 SD, p within 0.2 (a 200-resample share: SD <= 0.07).
    rows = row_resamples(len(y), 2000, seed=106)
    assert ap_by_rows(y, candidate, rows[:1])[0] == pytest.approx(
        skm.average_precision_score(y[rows[0]], candidate[rows[0]]), abs=1e-12
    )
    ap = ap_by_rows(y, candidate, rows) - ap_by_rows(y, champion, rows)
    assert_same_bootstrap_ci(found["average_precision"].ci, ap, sds=0.7, what="ap")
    assert found["average_precision"].p_value == pytest.approx(two_sided_bootstrap_p(ap), abs=0.2)


def test_paired_regression_intervals_and_p_values_equal_independent_references():
    rng = np.random.default_rng(25)
    n = 1500
    y = rng.normal(3.0, 1.0, n)
    noise = rng.normal(size=n)
    candidate = y + 0.55 * noise + rng.normal(scale=0.2, size=n)
    champion = y + 0.6 * noise
    a, b = compute_metrics("regression", y, candidate), compute_metrics("regression", y, champion)
    found = paired_intervals(
        "regression", y, candidate, champion, a, b, threshold=0.5, confidence=0.9,
        n_resamples=1000, seed=0, names=("mae", "mape", "rmse", "r2"),
    )  # fmt: skip
    for name, per_row in (
        ("mae", lambda s: np.abs(s - y)),
        ("mape", lambda s: np.abs(s - y) / np.abs(y)),
    ):
        d = per_row(candidate) - per_row(champion)
        assert found[name].ci == pytest.approx(clt_ci(d), rel=1e-9), name
        se = np.std(d, ddof=1) / math.sqrt(n)
        assert found[name].p_value == pytest.approx(2 * stats.norm.sf(abs(d.mean()) / se), rel=1e-9)
    rows = row_resamples(n, 2000, seed=107)
    yb, cb, hb = y[rows], candidate[rows], champion[rows]
    rmse = np.sqrt(((cb - yb) ** 2).mean(axis=1)) - np.sqrt(((hb - yb) ** 2).mean(axis=1))
    sst = ((yb - yb.mean(axis=1, keepdims=True)) ** 2).sum(axis=1)
    r2 = (((hb - yb) ** 2).sum(axis=1) - ((cb - yb) ** 2).sum(axis=1)) / sst
    for name, samples in (("rmse", rmse), ("r2", r2)):
        # The code's subsample bootstrap may rest on 200 resamples: 0.7 SD, p within 0.2.
        assert_same_bootstrap_ci(found[name].ci, samples, sds=0.7, what=name)
        assert found[name].p_value == pytest.approx(two_sided_bootstrap_p(samples), abs=0.2)


# --- slices: one-sided p-values and Holm's step-down ---------------------------------------


def holm_by_hand(p_values: list[float], alpha: float) -> list[bool]:
    """Holm (1979) by adjusted p-values: sort ascending; the i-th smallest of m is adjusted
    to max over j <= i of min(1, (m − j + 1) · p_(j)); reject where that is below alpha."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    rejected, running = [False] * m, 0.0
    for rank, index in enumerate(order, start=1):
        running = max(running, min(1.0, (m - rank + 1) * p_values[index]))
        rejected[index] = running < alpha
    return rejected


def test_holm_equals_the_adjusted_p_value_loop():
    from validate.stats.slicing import holm_reject

    rng = np.random.default_rng(31)
    cases = [[0.01, 0.04, 0.03, 0.005], [0.2, 0.3], [0.001], [0.011, 0.012, 0.013, 0.5]]
    for size in (2, 3, 5, 8, 20) * 40:
        p = rng.random(size) ** rng.uniform(1, 6)  # many small p-values, some near alpha/k
        p[: size // 4] = p[size // 4 : 2 * (size // 4)]  # ties
        cases.append(list(p))
    decided = set()
    for p in cases:
        for alpha in (0.05, 0.1):
            expected = holm_by_hand(p, alpha)
            assert holm_reject(p, alpha) == expected, (p, alpha)
            decided.add((any(expected), all(expected)))
    # Hand-worked: 0.011 < 0.05/4 and 0.012 < 0.05/3, 0.013 < 0.05/2 too; 0.5 is kept.
    assert holm_reject([0.011, 0.012, 0.013, 0.5], 0.05) == [True, True, True, False]
    assert decided >= {(True, False), (False, False), (True, True)}


def test_slice_p_values_and_holm_verdicts_equal_a_hand_computation():
    """Each judged slice's p is Φ((AUC − min) / SE) with DeLong's SE from the pairwise
    kernel; Holm by the adjusted-p loop decides which slices fail; the sentence shows p."""
    from checks.accuracy import AccuracyCheck
    from validate.check import CheckContext

    rng = np.random.default_rng(32)
    n = 3000
    region = rng.choice(list("abcde"), n)
    separation = (
        pd.Series(region)
        .map(dict(zip("abcde", (0.75, 0.9, 1.25, 1.4, 1.7), strict=True)))
        .to_numpy()
    )
    y = (rng.random(n) < 0.4).astype(int)
    scores = 1 / (1 + np.exp(-(separation * y + rng.normal(size=n))))
    check = AccuracyCheck.from_config(
        "accuracy",
        {"thresholds": {"roc_auc": {"min": 0.8}}, "slices": ["region"], "n_resamples": 0},
        task="binary",
    )
    context = CheckContext(
        task="binary",
        target="y",
        features=(),
        eval_data=pd.DataFrame({"region": region}),
        y_true=y,
        candidate_scores=scores,
    )
    result = check.run(context)
    z = stats.norm.ppf(0.975)
    p_values, names = [], []
    for name in "abcde":
        rows = region == name
        (auc,), cov = auc_by_hand(y[rows], scores[rows])
        se = math.sqrt(cov[0, 0])
        assert auc - z * se > 0 and auc + z * se < 1  # the CI is not clipped
        p_values.append(stats.norm.cdf((auc - 0.8) / se))
        names.append(f"roc_auc[region={name}]")
    rejected = holm_by_hand(p_values, 0.05)
    assert 0 < sum(rejected) < 5  # some slices fail, some do not
    failed = {a.metric: a for a in result.assertions if not a.passed and "[" in a.metric}
    assert set(failed) == {name for name, r in zip(names, rejected, strict=True) if r}
    for name, p in zip(names, p_values, strict=True):
        if name in failed:
            assert f"(one-sided p={p:.3g}, significant under Holm's correction over 5 tests)" in (
                failed[name].sentence
            )


# --- bias: per-group, aggregate and change-vs-champion intervals --------------------------


def fairness_by_rows(groups, y, decided, rows, n_groups):
    """Per-group rates and fairlearn's between-groups aggregates (worst case) on each
    resample of rows, from the definitions: selection rate P(ŷ=1), TPR P(ŷ=1 | y=1),
    FPR P(ŷ=1 | y=0); differences max − min, ratios min / max, equalized odds the worse
    of TPR and FPR."""
    g, t, d = groups[rows], y[rows].astype(bool), decided[rows].astype(bool)
    rates = {"selection_rate": [], "true_positive_rate": [], "false_positive_rate": []}
    for k in range(n_groups):
        member = g == k
        rates["selection_rate"].append((d & member).sum(1) / member.sum(1))
        rates["true_positive_rate"].append((d & t & member).sum(1) / (t & member).sum(1))
        rates["false_positive_rate"].append((d & ~t & member).sum(1) / (~t & member).sum(1))
    rates = {k: np.stack(v, axis=1) for k, v in rates.items()}  # (resamples, groups)
    spread = {k: v.max(axis=1) - v.min(axis=1) for k, v in rates.items()}
    ratio = {k: v.min(axis=1) / v.max(axis=1) for k, v in rates.items()}
    tpr, fpr = "true_positive_rate", "false_positive_rate"
    aggregates = {
        "demographic_parity_difference": spread["selection_rate"],
        "demographic_parity_ratio": ratio["selection_rate"],
        "equalized_odds_difference": np.maximum(spread[tpr], spread[fpr]),
        "equalized_odds_ratio": np.minimum(ratio[tpr], ratio[fpr]),
        "equal_opportunity_difference": spread[tpr],
        "equal_opportunity_ratio": ratio[tpr],
    }
    return rates, aggregates


def test_bias_intervals_and_change_vs_champion_equal_a_row_bootstrap():
    import fairlearn.metrics as flm

    from checks.bias import BiasCheck
    from validate.check import CheckContext

    rng = np.random.default_rng(41)
    n = 4000
    region = rng.choice(["east", "north", "south"], n, p=[0.15, 0.45, 0.4])
    y = (rng.random(n) < 0.3).astype(int)
    lift = pd.Series(region).map({"east": 0.0, "north": 0.08, "south": 0.15}).to_numpy()
    candidate = np.clip(0.25 * y + rng.random(n) * 0.6 + lift, 0, 1)
    champion = np.clip(0.25 * y + rng.random(n) * 0.6 + 0.1 + lift / 3, 0, 1)
    context = CheckContext(
        task="binary",
        target="y",
        features=(),
        eval_data=pd.DataFrame({"region": region}),
        y_true=y,
        candidate_scores=candidate,
        baseline_scores=champion,
        seed=5,
    )
    settings = {"sensitive_features": ["region"], "n_resamples": 3000, "confidence": 0.9}
    found = BiasCheck.from_config("bias", settings, task="binary").run(context)
    grouping = found.details["groupings"]["region"]
    codes = pd.Series(region).map({"east": 0, "north": 1, "south": 2}).to_numpy()
    decided = {
        "candidate": (candidate >= 0.5).astype(int),
        "champion": (champion >= 0.5).astype(int),
    }
    everything = np.arange(n)[None, :]
    _, point = fairness_by_rows(codes, y, decided["candidate"], everything, 3)
    _, champion_point = fairness_by_rows(codes, y, decided["champion"], everything, 3)
    for name, value in point.items():  # the definitions above are fairlearn's
        kwargs = {"sensitive_features": region}
        assert value[0] == pytest.approx(getattr(flm, name)(y, decided["candidate"], **kwargs))
        change = getattr(flm, name)(y, decided["candidate"], **kwargs) - getattr(flm, name)(
            y, decided["champion"], **kwargs
        )
        assert grouping["change_vs_baseline"][name]["change"] == pytest.approx(change, abs=1e-12)
    rows = row_resamples(n, 2000, seed=108)
    rates, boot = fairness_by_rows(codes, y, decided["candidate"], rows, 3)
    _, boot_champion = fairness_by_rows(codes, y, decided["champion"], rows, 3)
    # 3,000 cell-count resamples vs 2,000 row resamples: 5% quantiles differ by ~0.06 SD by
    # chance; rates move in steps of 1/group size (~1/600).
    for name, samples in boot.items():
        assert_same_bootstrap_ci(grouping["ci"][name], samples, sds=0.3, extra=0.002, what=name)
        assert_same_bootstrap_ci(
            grouping["change_vs_baseline"][name]["ci"],
            samples - boot_champion[name],  # paired: the same rows for both models
            sds=0.3,
            extra=0.002,
            what=f"{name} change",
        )
    for index, row in enumerate(grouping["groups"]):
        assert row["group"] == ("east", "north", "south")[index]
        for metric, samples in rates.items():
            assert_same_bootstrap_ci(
                row["ci"][metric], samples[:, index], sds=0.3, extra=0.002, what=metric
            )


# --- drift: large-sample KS, categorical PSI, label and prediction drift -------------------


def kolmogorov_sf(x: float) -> float:
    """P(K > x) for the limiting Kolmogorov distribution: 2 Σ (−1)^(k−1) exp(−2 k² x²)."""
    return 2 * sum((-1) ** (k - 1) * math.exp(-2 * k * k * x * x) for k in range(1, 101))


@pytest.mark.parametrize(("n", "m", "shift"), [(60_000, 50_000, 0.012), (260_000, 240_000, 0.003)])
def test_large_sample_ks_p_value_is_the_kolmogorov_limit(n, m, shift):
    """Above 10,000 rows a sample, when p-values only inform: the limiting Kolmogorov
    distribution at Stephens' λ = (√nₑ + 0.12 + 0.11/√nₑ) · D, nₑ = n·m/(n + m), by the
    series written out; and, as the module claims, within 0.5% of scipy's finite-n value."""
    from validate.stats import drift as ds

    rng = np.random.default_rng(51)
    reference, current = rng.normal(size=n), rng.normal(shift, 1, m)
    got = ds.numeric_statistics(reference, current, exact_p=False)
    exact = stats.ks_2samp(reference, current, method="asymp")
    root = math.sqrt(n * m / (n + m))
    assert got["ks"] == pytest.approx(exact.statistic, abs=1e-12)
    assert 0.01 < got["ks_p_value"] < 0.9
    stephens = (root + 0.12 + 0.11 / root) * exact.statistic
    assert got["ks_p_value"] == pytest.approx(kolmogorov_sf(stephens), rel=1e-9)
    assert got["ks_p_value"] == pytest.approx(exact.pvalue, rel=0.005)


def js_distance_by_hand(p: dict, q: dict) -> float:
    """Jensen–Shannon distance, base 2: sqrt(½ KL(P‖M) + ½ KL(Q‖M)), M = (P + Q) / 2."""
    keys = set(p) | set(q)
    total_p, total_q = sum(p.values()), sum(q.values())
    divergence = 0.0
    for key in keys:
        a, b = p.get(key, 0) / total_p, q.get(key, 0) / total_q
        m = (a + b) / 2
        divergence += 0.5 * (a * math.log2(a / m) if a else 0) + 0.5 * (
            b * math.log2(b / m) if b else 0
        )
    return math.sqrt(divergence)


def normalised_wasserstein_by_hand(reference: np.ndarray, current: np.ndarray) -> float:
    """W1 of two equal-size samples is the mean gap of their sorted values; divided by the
    reference's (population) standard deviation."""
    assert len(reference) == len(current)
    gap = np.abs(np.sort(reference) - np.sort(current)).mean()
    return float(gap / np.sqrt(np.mean((reference - reference.mean()) ** 2)))


def categorical_psi_by_hand(reference: pd.Series, current: pd.Series) -> float:
    """PSI over every category seen in either sample, shares floored at 1e-4 (a category new
    in the eval set is a bin the reference left empty)."""
    r, e = reference.value_counts(normalize=True), current.value_counts(normalize=True)
    total = 0.0
    for category in set(r.index) | set(e.index):
        a, b = max(r.get(category, 0.0), 1e-4), max(e.get(category, 0.0), 1e-4)
        total += (b - a) * math.log(b / a)
    return total


def test_categorical_psi_equals_the_formula():
    from validate.stats import drift as ds

    rng = np.random.default_rng(52)
    reference = pd.Series(rng.choice(list("abcd"), 3000, p=[0.4, 0.3, 0.2, 0.1]))
    current = pd.Series(rng.choice(list("abcd"), 2000, p=[0.3, 0.3, 0.25, 0.15]))
    got, new = ds.categorical_statistics(reference, current)
    assert new == []
    assert got["psi"] == pytest.approx(categorical_psi_by_hand(reference, current), rel=1e-12)
    # Hand-worked: shares 0.5/0.5 vs 0.25/0.75.
    got, _ = ds.categorical_statistics(pd.Series(list("ab") * 2), pd.Series(list("abbb")))
    assert got["psi"] == pytest.approx(-0.25 * math.log(0.5) + 0.25 * math.log(1.5), rel=1e-12)


def test_categorical_psi_counts_new_categories_as_bins():
    from validate.stats import drift as ds

    rng = np.random.default_rng(53)
    reference = pd.Series(rng.choice(list("abc"), 3000, p=[0.5, 0.3, 0.2]))
    current = pd.Series(rng.choice(list("abcz"), 2000, p=[0.45, 0.27, 0.18, 0.1]))
    got, new = ds.categorical_statistics(reference, current)
    assert new == ["z"]
    assert got["psi"] == pytest.approx(categorical_psi_by_hand(reference, current), rel=1e-9)


def test_label_and_prediction_drift_equal_the_formulas():
    from checks.drift import DriftCheck
    from validate.check import CheckContext

    rng = np.random.default_rng(54)
    n = 900
    reference = pd.DataFrame({"x": rng.normal(size=n), "label": (rng.random(n) < 0.3).astype(int)})
    y = (rng.random(n) < 0.42).astype(int)
    reference_scores, champion = rng.beta(2, 5, n), rng.beta(2, 4, n)
    candidate = rng.beta(2.5, 4, n)
    check = DriftCheck.from_config("drift", {}, task="binary")
    context = CheckContext(
        task="binary",
        target="label",
        features=("x",),
        eval_data=pd.DataFrame({"x": rng.normal(size=n)}),
        reference_data=reference,
        y_true=y,
        candidate_scores=candidate,
        baseline_scores=champion,
        extras={"reference_scores": reference_scores},
    )
    metrics = check.run(context).metrics
    counts = lambda v: {k: int(c) for k, c in zip(*np.unique(v, return_counts=True), strict=True)}  # noqa: E731
    assert metrics["label_drift"] == pytest.approx(
        js_distance_by_hand(counts(reference["label"]), counts(y)), rel=1e-9
    )
    assert metrics["prediction_drift"] == pytest.approx(
        normalised_wasserstein_by_hand(reference_scores, candidate), rel=1e-9
    )
    assert metrics["prediction_drift_vs_champion"] == pytest.approx(
        normalised_wasserstein_by_hand(champion, candidate), rel=1e-9
    )
    # Hand-worked: reference scores spread evenly on [0, 0.5], eval scores on [0, 1]; the
    # sorted gaps average 0.25 and the reference's SD is 0.5 · sqrt((n + 1) / (12 (n − 1))).
    even = np.linspace(0, 0.5, n)
    worked = 0.25 / (0.5 * math.sqrt((n + 1) / (12 * (n - 1))))
    assert normalised_wasserstein_by_hand(even, np.linspace(0, 1, n)) == pytest.approx(worked)
    even_context = replace(
        context, candidate_scores=np.linspace(0, 1, n), extras={"reference_scores": even}
    )
    again = check.run(even_context).metrics
    assert again["prediction_drift"] == pytest.approx(worked, rel=1e-9)
    # Regression labels: normalised Wasserstein of the targets.
    targets, reference_targets = rng.normal(size=n), rng.normal(0.3, 1.2, n)
    regression = DriftCheck.from_config("drift", {}, task="regression").run(
        CheckContext(
            task="regression",
            target="label",
            features=("x",),
            eval_data=context.eval_data,
            reference_data=reference.assign(label=reference_targets),
            y_true=targets,
            candidate_scores=candidate,
        )
    )
    assert regression.metrics["label_drift"] == pytest.approx(
        normalised_wasserstein_by_hand(reference_targets, targets), rel=1e-9
    )


# --- latency: the paired ratio interval ----------------------------------------------------


def test_paired_ratio_interval_equals_a_paired_row_bootstrap():
    from validate.stats import latency as ls

    rng = np.random.default_rng(61)
    n = 150
    shared = rng.lognormal(0, 0.3, n)  # machine state both models saw on call i
    champion = (1e6 * shared * rng.lognormal(0, 0.1, n)).astype(np.int64)
    candidate = (1.3e6 * shared * rng.lognormal(0, 0.1, n)).astype(np.int64)
    ratio, ci = ls.paired_ratio(candidate, champion, n_resamples=4000, confidence=0.9, seed=3)
    assert ratio == pytest.approx(np.percentile(candidate, 95) / np.percentile(champion, 95))
    rows = row_resamples(n, 3000, seed=109)
    reference = np.percentile(candidate[rows], 95, axis=1) / np.percentile(
        champion[rows], 95, axis=1
    )
    assert_same_bootstrap_ci(ci, reference, sds=0.3, what="p95 ratio")
    # A candidate exactly three times as slow on every call: every paired resample says 3.
    ratio, ci = ls.paired_ratio(3 * champion, champion, n_resamples=500, confidence=0.9, seed=3)
    assert ratio == pytest.approx(3.0, rel=1e-12) and ci == pytest.approx((3.0, 3.0), rel=1e-12)


# --- MinDiff: MMD (both kernels) and its interval --------------------------------------------


def mmd_by_hand(member: np.ndarray, scores: np.ndarray, kernel: str) -> float:
    """MinDiff's MMD (Gretton et al. 2012; the squared, biased form MMDLoss returns): mean
    k over (group, group) pairs + mean k over (rest, rest) − 2 · mean k over (group, rest),
    diagonal included, with MinDiff's kernels of length 0.1: Gaussian exp(−(x − y)²/0.1²),
    Laplacian exp(−|x − y|/0.1). Written with a double loop over the two groups' values."""
    x, z = scores[member == 1].astype(float), scores[member == 0].astype(float)

    def k(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        gap = a[:, None] - b[None, :]
        return np.exp(-(gap**2) / 0.01) if kernel == "gaussian" else np.exp(-np.abs(gap) / 0.1)

    return float(k(x, x).mean() + k(z, z).mean() - 2 * k(x, z).mean())


@pytest.mark.tensorflow
def test_mindiff_mmd_and_its_interval_equal_numpy():
    pytest.importorskip("tensorflow_model_remediation")
    from checks.mindiff import MinDiffCheck
    from validate.check import CheckContext
    from validate.stats import mindiff as md

    rng = np.random.default_rng(71)
    n = 500
    sex = rng.choice(["F", "M"], n, p=[0.4, 0.6])
    y = (rng.random(n) < 0.3).astype(int)
    scores = np.clip(rng.beta(2, 5, n) + np.where(sex == "F", 0.08, 0.0), 0, 1)
    member = (sex == "F").astype(np.float32)
    score32 = scores.astype(np.float32)
    for kernel in ("gaussian", "laplacian"):
        got = md.distances(member, score32, kernel=kernel)
        assert got["mmd"] == pytest.approx(mmd_by_hand(member, score32, kernel), rel=1e-4, abs=1e-6)
        # Bootstrap weights are row counts: the same as the MMD of the repeated rows.
        counts = rng.multinomial(n, np.full(n, 1 / n))
        weighted = md.distances(member, score32, kernel=kernel, weights=counts[None, :])
        repeated = mmd_by_hand(np.repeat(member, counts), np.repeat(score32, counts), kernel)
        assert weighted["mmd"][0] == pytest.approx(repeated, rel=1e-4, abs=1e-6)
    correlation = abs(np.corrcoef(member, score32.astype(float))[0, 1])
    assert got["absolute_correlation"] == pytest.approx(correlation, rel=1e-4)
    # The check: negatives only, Laplacian kernel, CI by resampling within each group.
    check = MinDiffCheck.from_config(
        "mindiff",
        {"sensitive_feature": "sex", "kernel": "laplacian", "n_resamples": 100, "confidence": 0.9},
        task="binary",
    )
    context = CheckContext(
        task="binary",
        target="y",
        features=(),
        eval_data=pd.DataFrame({"sex": sex}),
        y_true=y,
        candidate_scores=scores,
        seed=2,
    )
    result = check.run(context)
    negatives = y == 0
    m, s = member[negatives], score32[negatives]
    assert result.metrics["mmd"] == pytest.approx(mmd_by_hand(m, s, "laplacian"), rel=1e-4)
    group, rest = s[m == 1], s[m == 0]
    draw = np.random.default_rng(110)
    boot = []
    for _ in range(1000):
        g = group[draw.integers(0, len(group), len(group))]
        r = rest[draw.integers(0, len(rest), len(rest))]
        boot.append(mmd_by_hand(np.r_[np.ones(len(g)), np.zeros(len(r))], np.r_[g, r], "laplacian"))
    # 100 resamples in the check (~0.21 SD of Monte Carlo error at the 5% quantile): 0.9 SD.
    assert_same_bootstrap_ci(result.details["ci"]["mmd"], np.array(boot), sds=0.9, what="mmd")
