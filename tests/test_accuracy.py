"""The accuracy check's numbers equal scikit-learn's on the same data."""

import numpy as np
import pytest
from sklearn import metrics as skm

from checks.accuracy import AccuracyCheck
from validate.check import CheckContext
from validate.errors import ConfigError
from validate.results import Status
from validate.stats.metrics import (
    METRIC_NAMES,
    compute_metrics,
    weighted_average_precision,
    weighted_roc_auc,
)


@pytest.fixture
def binary():
    rng = np.random.default_rng(4)
    y = rng.integers(0, 2, 500)
    p = np.clip(0.3 * y + rng.random(500) * 0.7, 0, 1)
    return y, p


def test_binary_metrics_match_sklearn(binary):
    y, p = binary
    got = compute_metrics("binary", y, p, threshold=0.4)
    labels = (p >= 0.4).astype(int)
    expected = {
        "accuracy": skm.accuracy_score(y, labels),
        "balanced_accuracy": skm.balanced_accuracy_score(y, labels),
        "precision": skm.precision_score(y, labels),
        "recall": skm.recall_score(y, labels),
        "f1": skm.f1_score(y, labels),
        "roc_auc": skm.roc_auc_score(y, p),
        "average_precision": skm.average_precision_score(y, p),
        "log_loss": skm.log_loss(y, p),
        "brier": skm.brier_score_loss(y, p),
    }
    for name, value in expected.items():
        assert got[name] == pytest.approx(value, abs=1e-12), name
    assert set(got) == set(METRIC_NAMES["binary"])


def test_multiclass_metrics_match_sklearn():
    rng = np.random.default_rng(5)
    y = rng.integers(0, 3, 400)
    p = rng.dirichlet([1, 1, 1], 400)
    p[np.arange(400), y] += 0.5
    p /= p.sum(axis=1, keepdims=True)
    got = compute_metrics("multiclass", y, p)
    assert got["accuracy"] == skm.accuracy_score(y, p.argmax(1))
    assert got["f1_macro"] == skm.f1_score(y, p.argmax(1), average="macro")
    assert got["f1_weighted"] == skm.f1_score(y, p.argmax(1), average="weighted")
    assert got["log_loss"] == skm.log_loss(y, p)
    assert got["roc_auc_ovr"] == skm.roc_auc_score(y, p, multi_class="ovr")


def test_regression_metrics_match_sklearn():
    rng = np.random.default_rng(6)
    y = rng.normal(5, 1, 300)
    p = y + rng.normal(0, 0.5, 300)
    got = compute_metrics("regression", y, p)
    assert got["rmse"] == pytest.approx(np.sqrt(skm.mean_squared_error(y, p)), rel=1e-12)
    assert got["mae"] == skm.mean_absolute_error(y, p)
    assert got["r2"] == skm.r2_score(y, p)
    assert got["mape"] == skm.mean_absolute_percentage_error(y, p)


@pytest.mark.parametrize("seed", range(20))
def test_binary_fast_path_equals_sklearn_on_random_data(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(20, 3000))
    y = (rng.random(n) < rng.uniform(0.05, 0.95)).astype(int)
    p = rng.random(n) ** rng.uniform(0.2, 5)
    p[: n // 10] = np.round(p[: n // 10])  # exact 0 and 1 scores exercise the clipping
    threshold = float(rng.uniform(0.1, 0.9))
    got = compute_metrics("binary", y, p, threshold=threshold)
    labels = (p >= threshold).astype(int)
    assert got["accuracy"] == pytest.approx(skm.accuracy_score(y, labels), abs=1e-9)
    assert got["balanced_accuracy"] == pytest.approx(
        skm.balanced_accuracy_score(y, labels), abs=1e-9
    )
    assert got["precision"] == pytest.approx(
        skm.precision_score(y, labels, zero_division=0), abs=1e-9
    )
    assert got["f1"] == pytest.approx(skm.f1_score(y, labels, zero_division=0), abs=1e-9)
    assert got["log_loss"] == pytest.approx(skm.log_loss(y, p, labels=[0, 1]), abs=1e-9)
    assert got["brier"] == pytest.approx(skm.brier_score_loss(y, p), abs=1e-9)
    assert got["recall"] == pytest.approx(skm.recall_score(y, labels, zero_division=0), abs=1e-9)
    # Ranked metrics, with ties (rounded scores) as real models give them.
    tied = np.round(p, int(rng.integers(1, 4)))
    ranked = compute_metrics("binary", y, tied, names=("roc_auc", "average_precision"))
    assert ranked["roc_auc"] == pytest.approx(skm.roc_auc_score(y, tied), rel=1e-12)
    assert ranked["average_precision"] == pytest.approx(
        skm.average_precision_score(y, tied), rel=1e-12
    )
    # Both from one sort: exactly what each weighted function gives on its own sort.
    unit = np.ones((1, n))
    assert ranked["roc_auc"] == weighted_roc_auc(y, tied, unit)[0]
    assert ranked["average_precision"] == weighted_average_precision(y, tied, unit)[0]
    assert got["roc_auc"] == pytest.approx(skm.roc_auc_score(y, p), rel=1e-12)
    assert got["roc_auc"] == float(exact_auc(y, p))
    assert ranked["roc_auc"] == float(exact_auc(y, tied))
    assert got["average_precision"] == pytest.approx(skm.average_precision_score(y, p), rel=1e-12)


def exact_auc(y, p):
    """ROC AUC as a fraction: pairs won (ties half) over all positive-negative pairs."""
    from fractions import Fraction

    positives, negatives = p[y == 1], np.sort(p[y == 0])
    below = np.searchsorted(negatives, positives, side="left")
    tied = np.searchsorted(negatives, positives, side="right") - below
    won = 2 * int(below.sum()) + int(tied.sum())
    return Fraction(won, 2 * len(positives) * len(negatives))


def test_undefined_metric_is_nan():
    got = compute_metrics("binary", np.ones(10, dtype=int), np.linspace(0, 1, 10))
    assert np.isnan(got["roc_auc"])


def context(y, p, baseline=None):
    import pandas as pd

    return CheckContext(
        task="binary",
        target="y",
        features=("x",),
        eval_data=pd.DataFrame({"x": p}),
        y_true=y,
        candidate_scores=p,
        baseline_scores=baseline,
    )


def test_check_passes_and_fails_with_sentences(binary):
    y, p = binary
    auc = skm.roc_auc_score(y, p)
    check = AccuracyCheck.from_config(
        "accuracy", {"thresholds": {"roc_auc": {"min": 0.5}}}, task="binary"
    )
    passed = check.run(context(y, p))
    assert passed.status is Status.PASSED
    # The Mann-Whitney count with unit weights is exact (integer pair counts), so ours is
    # the correctly rounded AUC; scikit-learn's trapezoid sum may be an ulp away.
    assert passed.metrics["roc_auc"] == pytest.approx(auc, rel=1e-12)
    assert passed.metrics["roc_auc"] == float(exact_auc(y, p))
    strict = AccuracyCheck.from_config(
        "accuracy", {"thresholds": {"roc_auc": {"min": 0.99}}}, task="binary"
    )
    failed = strict.run(context(y, p))
    assert failed.status is Status.FAILED
    low, high = failed.assertions[0].ci
    assert failed.message == f"roc_auc {auc:.3f} [{low:.3f}, {high:.3f}] < min 0.99"


def test_baseline_metrics_are_reported(binary):
    y, p = binary
    check = AccuracyCheck.from_config("accuracy", {}, task="binary")
    result = check.run(context(y, p, baseline=np.full_like(p, 0.5)))
    assert result.details["baseline_metrics"]["roc_auc"] == 0.5
    assert result.details["delta_vs_baseline"]["roc_auc"] == pytest.approx(
        result.metrics["roc_auc"] - 0.5
    )


def test_unknown_metric_for_task_lists_valid_ones():
    with pytest.raises(ConfigError) as caught:
        AccuracyCheck.from_config("accuracy", {"thresholds": {"rmse": {"max": 1}}}, task="binary")
    assert str(caught.value).startswith(
        "checks.accuracy.thresholds.rmse: unknown metric for task 'binary'"
    )
    assert "roc_auc" in str(caught.value)


def test_threshold_without_bounds_names_the_path():
    with pytest.raises(
        ConfigError, match=r"checks\.accuracy\.thresholds\.roc_auc: give min or max"
    ):
        AccuracyCheck.from_config("accuracy", {"thresholds": {"roc_auc": {}}}, task="binary")


def test_unknown_setting_lists_valid_keys():
    with pytest.raises(
        ConfigError, match=r"checks\.accuracy: unknown key 'treshold'; valid keys: thresholds"
    ):
        AccuracyCheck.from_config("accuracy", {"treshold": 1}, task="binary")


def paired_context(n=4000, worse_by=0.0, seed=0):
    import pandas as pd

    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.4).astype(int)
    noise = rng.normal(size=n)
    champion = 1 / (1 + np.exp(-(1.5 * y + noise)))
    candidate = 1 / (1 + np.exp(-((1.5 - worse_by) * y + noise + rng.normal(scale=0.3, size=n))))
    region = rng.choice(["north", "south", "tiny"], n, p=[0.5, 0.49, 0.01])
    age = rng.integers(18, 80, n)
    return CheckContext(
        task="binary",
        target="y",
        features=("x",),
        eval_data=pd.DataFrame({"region": region, "age": age}),
        y_true=y,
        candidate_scores=candidate,
        baseline_scores=champion,
        seed=1,
    )


def test_non_inferiority_fails_a_clear_regression_with_the_sentence():
    check = AccuracyCheck.from_config(
        "accuracy", {"vs_baseline": {"roc_auc": {"max_drop": 0.01}}}, task="binary"
    )
    result = check.run(paired_context(worse_by=0.8))
    (assertion,) = result.assertions
    assert not assertion.passed
    diff = result.details["vs_baseline"]["roc_auc"]
    assert diff["ci"][1] < -0.01 and diff["p_value"] < 0.001
    assert assertion.sentence.startswith(f"roc_auc {diff['difference']:+.3f} [")
    rule = diff["rule"]
    assert rule["test"] == "non-inferiority" and rule["limit"] == -0.01
    assert (
        f"; allowed drop 0.010, non-inferiority p={rule['p_value']:.3g} (one-sided, α=0.025)"
        in (assertion.sentence)
    )


def test_lower_is_better_metrics_are_mirrored():
    check = AccuracyCheck.from_config(
        "accuracy", {"vs_baseline": {"log_loss": {"max_drop": 0.01}}}, task="binary"
    )
    bad = check.run(paired_context(worse_by=0.8))
    assert bad.status is Status.FAILED
    assert bad.details["vs_baseline"]["log_loss"]["difference"] > 0


def test_min_gain_needs_the_lower_bound_above_the_gain():
    check = AccuracyCheck.from_config(
        "accuracy", {"vs_baseline": {"roc_auc": {"min_gain": 0.0}}}, task="binary"
    )
    result = check.run(paired_context(worse_by=-0.8))  # candidate better
    assert result.status is Status.PASSED and "required gain 0.000" in result.message


def test_vs_baseline_without_champion_is_an_error():
    from dataclasses import replace

    check = AccuracyCheck.from_config(
        "accuracy", {"vs_baseline": {"roc_auc": {"max_drop": 0.01}}}, task="binary"
    )
    result = check.run(replace(paired_context(), baseline_scores=None))
    assert result.status is Status.ERROR and "vs_baseline needs champion scores" in result.message


def test_one_class_eval_is_an_error_with_the_reason():
    check = AccuracyCheck.from_config(
        "accuracy", {"thresholds": {"roc_auc": {"min": 0.5}}}, task="binary"
    )
    y = np.zeros(50, dtype=int)
    result = check.run(context(y, np.linspace(0, 1, 50)))
    assert result.status is Status.ERROR
    assert "roc_auc undefined on this data (the eval set has one class only (0))" in result.message


def test_slices_report_small_ones_and_judge_the_rest_with_holm():
    check = AccuracyCheck.from_config(
        "accuracy",
        {
            "thresholds": {"roc_auc": {"min": 0.6}},
            "slices": ["region", {"age": [30, 50]}],
            "min_slice_size": 100,
        },
        task="binary",
    )
    result = check.run(paired_context())
    rows = {r["slice"]: r for r in result.details["slices"]}
    assert set(rows) == {
        "region=north",
        "region=south",
        "region=tiny",
        "age<30",
        "30<=age<50",
        "age>=50",
    }
    assert rows["region=tiny"]["judged"] is False
    assert rows["region=north"]["metrics"]["roc_auc"] > 0.6
    assert result.status is Status.PASSED
    strict = AccuracyCheck.from_config(
        "accuracy", {"thresholds": {"roc_auc": {"min": 0.99}}, "slices": ["region"]}, task="binary"
    )
    failed = strict.run(paired_context())
    assert failed.status is Status.FAILED
    assert any(
        "slice region=north: roc_auc" in a.sentence and "under Holm's correction" in a.sentence
        for a in failed.assertions
    )
    assert "worst_slice" in failed.details


def test_unknown_vs_baseline_metric_and_rule():
    with pytest.raises(ConfigError, match=r"checks\.accuracy\.vs_baseline\.r2: unknown metric"):
        AccuracyCheck.from_config(
            "accuracy", {"vs_baseline": {"r2": {"max_drop": 0.1}}}, task="binary"
        )
    with pytest.raises(ConfigError, match="give exactly one of max_drop or min_gain"):
        AccuracyCheck.from_config("accuracy", {"vs_baseline": {"roc_auc": {}}}, task="binary")


def _delong_by_hand(y, a, b):
    """DeLong et al. (1988) from the pairwise kernel, O(m·n): AUC(a) − AUC(b), its variance."""
    positives, negatives = y == 1, y == 0

    def placements(s):
        x, z = s[positives][:, None], s[negatives][None, :]
        kernel = (x > z) + 0.5 * (x == z)
        return kernel.mean(axis=1), kernel.mean(axis=0)

    (va, wa), (vb, wb) = placements(a), placements(b)
    s10, s01 = np.cov(np.vstack([va, vb])), np.cov(np.vstack([wa, wb]))
    cov = s10 / positives.sum() + s01 / negatives.sum()
    return va.mean() - vb.mean(), cov[0, 0] + cov[1, 1] - 2 * cov[0, 1]


def test_non_inferiority_p_is_the_one_sided_delong_test_at_the_margin():
    """The p shown tests H0 "the drop is at least δ", not "no difference" (issue 14 item 5)."""
    from scipy import stats

    ctx = paired_context(n=600, worse_by=0.3, seed=0)
    check = AccuracyCheck.from_config(
        "accuracy", {"vs_baseline": {"roc_auc": {"max_drop": 0.05}}}, task="binary"
    )
    result = check.run(ctx)
    (assertion,) = result.assertions
    difference, variance = _delong_by_hand(ctx.y_true, ctx.candidate_scores, ctx.baseline_scores)
    assert difference == pytest.approx(
        skm.roc_auc_score(ctx.y_true, ctx.candidate_scores)
        - skm.roc_auc_score(ctx.y_true, ctx.baseline_scores),
        abs=1e-12,
    )
    expected = stats.norm.sf((difference + 0.05) / np.sqrt(variance))
    two_sided = 2 * stats.norm.sf(abs(difference) / np.sqrt(variance))
    entry = result.details["vs_baseline"]["roc_auc"]
    assert entry["rule"]["p_value"] == pytest.approx(expected, rel=1e-9)
    assert entry["p_value"] == pytest.approx(two_sided, rel=1e-9)  # kept: no difference
    assert f"non-inferiority p={expected:.3g} (one-sided, α=0.025)" in assertion.sentence
    assert f"p={two_sided:.3g}" not in assertion.sentence


def test_the_p_shown_agrees_with_the_ci_decision():
    """p < (1 − confidence)/2 exactly when the CI clears the limit, for every method (DeLong,
    multinomial bootstrap, CLT on per-row losses, subsample bootstrap) and both rules."""
    from checks.accuracy import BaselineRule, baseline_assertion
    from validate.stats.quality import paired_intervals

    ctx = paired_context(n=500, worse_by=0.2, seed=3)
    y, a, b = ctx.y_true, ctx.candidate_scores, ctx.baseline_scores
    metrics = ("roc_auc", "accuracy", "f1", "log_loss", "brier", "average_precision")
    cand, champ = compute_metrics("binary", y, a), compute_metrics("binary", y, b)
    for confidence in (0.9, 0.95):
        found = paired_intervals(
            "binary", y, a, b, cand, champ, threshold=0.5, confidence=confidence,
            n_resamples=400, seed=1, names=metrics,
        )  # fmt: skip
        for metric in metrics:
            interval = found[metric]
            # Limits on both sides of each CI end, and right next to it.
            limits = {e + d for e in interval.ci for d in (-1e-3, -1e-9, 1e-9, 1e-3)}
            outcomes = set()
            for limit in sorted(limits):
                for rule in (BaselineRule(max_drop=abs(limit)), BaselineRule(min_gain=limit)):
                    assertion, tested = baseline_assertion(metric, interval, rule, confidence)
                    assert tested["alpha"] == pytest.approx((1 - confidence) / 2)
                    assert (tested["p_value"] < tested["alpha"]) == assertion.passed, (
                        metric,
                        rule,
                        tested,
                    )
                    outcomes.add(assertion.passed)
            assert outcomes == {True, False}, metric  # the limits crossed the decision
