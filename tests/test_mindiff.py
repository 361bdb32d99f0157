"""The mindiff check reports exactly the quantity MinDiff optimises."""

import numpy as np
import pandas as pd
import pytest

from validate.check import CheckContext
from validate.errors import ConfigError
from validate.results import Status

pytestmark = pytest.mark.tensorflow
pytest.importorskip("tensorflow_model_remediation")

from checks.mindiff import MinDiffCheck  # noqa: E402


def context(n=600, gap=0.3, seed=0):
    rng = np.random.default_rng(seed)
    sex = rng.choice(["F", "M"], n, p=[0.4, 0.6])
    y = (rng.random(n) < 0.3).astype(int)
    scores = np.clip(rng.beta(2, 5, n) + np.where(sex == "F", gap, 0.0), 0, 1)
    champion = np.clip(rng.beta(2, 5, n), 0, 1)
    return CheckContext(
        task="binary",
        target="y",
        features=(),
        y_true=y,
        eval_data=pd.DataFrame({"sex": sex}),
        candidate_scores=scores,
        baseline_scores=champion,
        seed=1,
    )


def test_metric_equals_a_direct_call_of_the_library_loss():
    import tensorflow as tf
    from tensorflow_model_remediation import min_diff

    ctx = context()
    check = MinDiffCheck.from_config(
        "mindiff", {"sensitive_feature": "sex", "n_resamples": 0}, task="binary"
    )
    result = check.run(ctx)
    negatives = ctx.y_true == 0
    membership = (ctx.eval_data["sex"].to_numpy()[negatives] == "F").astype(np.float32)
    scores = ctx.candidate_scores[negatives].astype(np.float32)
    member = tf.constant(membership.reshape(-1, 1))
    predicted = tf.constant(scores.reshape(-1, 1))
    assert result.metrics["mmd"] == float(
        min_diff.losses.MMDLoss(kernel="gaussian")(member, predicted)
    )
    assert result.metrics["absolute_correlation"] == float(
        min_diff.losses.AbsoluteCorrelationLoss()(member, predicted)
    )
    assert result.details["sensitive_group"] == "F"  # the rarer of two values
    assert result.details["rows_compared"] == int(negatives.sum())


def test_ci_threshold_and_champion_change():
    check = MinDiffCheck.from_config(
        "mindiff",
        {
            "sensitive_feature": "sex",
            "n_resamples": 40,
            "thresholds": {"mmd": {"max": 0.05, "judge": "upper_ci"}},
        },
        task="binary",
    )
    result = check.run(context(gap=0.3))
    (assertion,) = result.assertions
    assert result.status is Status.FAILED and not assertion.passed
    assert assertion.ci[0] <= result.metrics["mmd"] <= assertion.ci[1]
    assert result.metrics["mmd.change_vs_baseline"] > 0
    assert result.details["n_resamples"] == 40  # the count drawn, reported
    fair = check.run(context(gap=0.0))
    assert fair.metrics["mmd"] < result.metrics["mmd"]


def test_subsampling_is_seeded_and_bounded():
    check = MinDiffCheck.from_config(
        "mindiff", {"sensitive_feature": "sex", "max_rows": 100, "n_resamples": 0}, task="binary"
    )
    first, second = check.run(context(n=2000)), check.run(context(n=2000))
    assert first.details["rows_compared"] == 100
    assert first.metrics == second.metrics


def test_missing_group_is_an_error():
    check = MinDiffCheck.from_config(
        "mindiff", {"sensitive_feature": "sex", "sensitive_group": "X"}, task="binary"
    )
    result = check.run(context())
    assert result.status is Status.ERROR and "no rows with value 'X'" in result.message


def test_bad_settings():
    with pytest.raises(ConfigError, match="MinDiff compares binary scores"):
        MinDiffCheck.from_config("mindiff", {"sensitive_feature": "sex"}, task="regression")
    with pytest.raises(ConfigError, match=r"checks\.mindiff\.thresholds\.gap: unknown metric"):
        MinDiffCheck.from_config(
            "mindiff",
            {"sensitive_feature": "sex", "thresholds": {"gap": {"max": 1}}},
            task="binary",
        )
