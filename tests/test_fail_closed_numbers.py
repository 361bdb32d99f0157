"""A number that cannot be computed never passes a gate: an audit of the checks found
each case below passing (each test failed before its fix)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from checks.accuracy import AccuracyCheck
from checks.bias import BiasCheck
from checks.drift import DriftCheck
from validate.check import CheckContext
from validate.errors import ConfigError
from validate.results import Status
from validate.stats.intervals import percentile

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the overflows themselves


def regression_context(scores: np.ndarray, frame: pd.DataFrame, **extra) -> CheckContext:
    rng = np.random.default_rng(0)
    y = extra.pop("y_true", rng.normal(size=len(frame)))
    return CheckContext(
        task="regression",
        target="t",
        features=(),
        eval_data=frame,
        y_true=y,
        candidate_scores=scores,
        **extra,
    )


def test_an_overflowed_bias_gap_fails_when_judged_on_its_upper_ci():
    # One error of 1e160: the RMSE gap is inf, and the bootstrap left out the resamples
    # holding that row, so the upper CI was small and judge: upper_ci passed.
    rng = np.random.default_rng(0)
    y = rng.normal(size=400)
    scores = y + rng.normal(0, 0.1, 400)
    scores[0] = 1e160
    frame = pd.DataFrame({"g": ["a", "b"] * 200})
    check = BiasCheck.from_config(
        "bias",
        {
            "sensitive_features": ["g"],
            "thresholds": {"rmse_difference": {"max": 0.1, "judge": "upper_ci"}},
        },
        task="regression",
    )
    result = check.run(regression_context(scores, frame, y_true=y))
    assert result.status is Status.FAILED
    assert "rmse_difference could not be computed (inf)" in result.message


def test_the_percentile_interval_keeps_overflowed_resamples():
    samples = np.r_[np.linspace(0, 1, 150), np.full(50, np.inf), np.full(5, np.nan)]
    low, high = percentile(samples, 0.95)
    assert low == pytest.approx(np.percentile(samples[:200], 2.5))
    assert not np.isfinite(high)
    assert np.isnan(percentile(np.full(3, np.nan), 0.95)).all()


def test_an_undefined_grouping_is_the_worst_not_hidden_behind_a_finite_one():
    # sex: inf − inf = NaN; the huge errors sit in a small excluded region group, so the
    # other groupings stay finite and one of them was reported as the worst.
    rng = np.random.default_rng(0)
    y = rng.normal(size=400)
    scores = y + rng.normal(0, 0.1, 400)
    scores[398], scores[399] = 1e160, 3e160
    frame = pd.DataFrame(
        {"sex": ["M", "F"] * 200, "region": ["north"] * 200 + ["east"] * 195 + ["south"] * 5}
    )
    check = BiasCheck.from_config(
        "bias",
        {
            "sensitive_features": ["sex", "region"],
            "n_resamples": 0,
            "thresholds": {"rmse_difference": {"max": 0.1}},
        },
        task="regression",
    )
    result = check.run(regression_context(scores, frame, y_true=y))
    assert result.status is Status.FAILED
    assert "(worst: sex)" in result.message


def test_regression_bias_vs_baseline_is_refused_not_skipped():
    with pytest.raises(ConfigError, match=r"vs_baseline\.rmse_difference: .* not available"):
        BiasCheck.from_config(
            "bias",
            {
                "sensitive_features": ["g"],
                "vs_baseline": {"rmse_difference": {"max_increase": 0.05}},
            },
            task="regression",
        )


@pytest.mark.parametrize(
    "metric", ["label_drift", "prediction_drift", "prediction_drift_vs_champion"]
)
def test_label_and_score_drift_beyond_measure_fail(metric):
    # A reference spread of ±1e200 overflowed np.std to inf: W / inf = 0, "no drift".
    rng = np.random.default_rng(0)
    huge = rng.uniform(-1, 1, 300) * 1e200
    reference = pd.DataFrame({"x": rng.normal(size=300), "t": huge})
    current = pd.DataFrame({"x": rng.normal(size=300)})
    context = regression_context(
        np.full(300, 5.0),
        current,
        y_true=np.full(300, 9e199),
        reference_data=reference,
        baseline_scores=huge,
        extras={"reference_scores": huge},
    )
    check = DriftCheck.from_config(
        "drift", {"thresholds": {metric: {"max": 0.1}}}, task="regression"
    )
    result = check.run(context)
    assert result.status is Status.FAILED
    assert np.isnan(result.metrics[metric])
    assert f"{metric} could not be computed" in result.message


def test_a_slice_missing_a_class_fails_its_threshold():
    # South has no class 2, so its one-vs-rest AUC is undefined; the slice was left out of
    # the tests while it read as judged.
    rng = np.random.default_rng(0)
    region = np.repeat(["north", "south"], 300)
    y = np.r_[rng.integers(0, 3, 300), rng.integers(0, 2, 300)]
    good = np.eye(3)[y] * 0.8 + 0.1
    swapped = np.eye(3)[1 - np.minimum(y, 1)] * 0.8 + 0.1
    scores = np.where((region == "north")[:, None], good, swapped)
    scores = scores / scores.sum(axis=1, keepdims=True)
    context = CheckContext(
        task="multiclass",
        target="t",
        features=(),
        eval_data=pd.DataFrame({"region": region}),
        y_true=y,
        candidate_scores=scores,
    )
    check = AccuracyCheck.from_config(
        "accuracy",
        {"thresholds": {"roc_auc_ovr": {"min": 0.5}}, "slices": ["region"], "n_resamples": 200},
        task="multiclass",
    )
    result = check.run(context)
    assert result.status is Status.FAILED
    failed = [a.sentence for a in result.assertions if not a.passed]
    assert failed == ["slice region=south: roc_auc_ovr could not be computed (nan); min 0.5"]


def test_slices_without_resamples_are_refused_for_metrics_without_an_interval():
    with pytest.raises(ConfigError, match="slices needs confidence intervals"):
        AccuracyCheck.from_config(
            "accuracy",
            {"thresholds": {"accuracy": {"min": 0.85}}, "slices": ["region"], "n_resamples": 0},
            task="binary",
        )
    # An analytic interval is there without resamples: those slices are judged as before.
    AccuracyCheck.from_config(
        "accuracy",
        {"thresholds": {"roc_auc": {"min": 0.7}}, "slices": ["region"], "n_resamples": 0},
        task="binary",
    )
