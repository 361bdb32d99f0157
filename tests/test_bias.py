"""The bias check: fairlearn's numbers, CIs, small groups, champion comparison, bad settings."""

import xml.etree.ElementTree as ET

import fairlearn.metrics as flm
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import mean_absolute_error, root_mean_squared_error

from checks.bias import BiasCheck
from validate.check import CheckContext
from validate.errors import ConfigError
from validate.results import Status
from validate.testing import assert_check_conforms


def biased_context(n=4000, seed=0, with_baseline=True, task="binary", missing=0):
    rng = np.random.default_rng(seed)
    sex = rng.choice(["F", "M"], n)
    region = rng.choice(["north", "south", "east"], n, p=[0.5, 0.45, 0.05])
    y = (rng.random(n) < 0.3).astype(int)
    # The candidate favours M; the champion is fair.
    candidate = np.clip(0.25 * y + rng.random(n) * 0.6 + np.where(sex == "M", 0.2, 0.0), 0, 1)
    champion = np.clip(0.25 * y + rng.random(n) * 0.6 + 0.1, 0, 1)
    frame = pd.DataFrame({"sex": sex, "region": region, "y": y})
    if missing:
        frame.loc[: missing - 1, "sex"] = None
    if task == "regression":
        y = rng.normal(size=n)
        candidate = y + rng.normal(scale=np.where(sex == "M", 0.5, 1.0))
        champion = None
    return CheckContext(
        task=task,
        target="y",
        features=(),
        eval_data=frame,
        y_true=y,
        candidate_scores=candidate,
        baseline_scores=champion if with_baseline else None,
        seed=3,
    )


def make(settings, task="binary"):
    return BiasCheck.from_config("bias", settings, task=task)


def test_aggregates_equal_fairlearn_per_feature_and_intersection():
    context = biased_context()
    result = make(
        {"sensitive_features": ["sex", "region"], "min_group_size": 0, "n_resamples": 0}
    ).run(context)
    y, p = context.y_true, (context.candidate_scores >= 0.5).astype(int)
    frame = context.eval_data
    for grouping, sensitive in (
        ("sex", frame["sex"]),
        ("region", frame["region"]),
        ("sex x region", frame[["sex", "region"]]),
    ):
        for name in (
            "demographic_parity_difference",
            "equalized_odds_ratio",
            "equal_opportunity_difference",
        ):
            expected = getattr(flm, name)(y, p, sensitive_features=sensitive)
            assert result.metrics[f"{grouping}/{name}"] == pytest.approx(expected, abs=1e-12)
    worst = max(
        result.metrics[f"{g}/demographic_parity_difference"]
        for g in ("sex", "region", "sex x region")
    )
    assert result.metrics["demographic_parity_difference"] == worst


def test_thresholds_judged_on_upper_ci_are_stricter():
    context = biased_context()
    point = make(
        {
            "sensitive_features": ["sex"],
            "thresholds": {"demographic_parity_difference": {"max": 0.36}},
        }
    ).run(context)
    strict = make(
        {
            "sensitive_features": ["sex"],
            "thresholds": {"demographic_parity_difference": {"max": 0.36, "judge": "upper_ci"}},
        }
    ).run(context)
    (a,) = point.assertions
    (b,) = strict.assertions
    assert a.ci[0] < a.value < a.ci[1]
    assert a.value <= 0.36 < a.ci[1]
    assert a.passed and not b.passed
    assert "judged on the upper CI" in b.sentence and "(worst: sex)" in b.sentence
    assert strict.status is Status.FAILED


def test_small_groups_are_reported_and_left_out():
    context = biased_context(n=1000)
    result = make({"sensitive_features": ["region"], "min_group_size": 100, "n_resamples": 0}).run(
        context
    )
    groups = result.details["groupings"]["region"]
    assert groups["excluded_small_groups"] == ["east"]
    assert any("east (n=" in w for w in result.warnings)
    # What the reports need to say so: the cut-off, and each group's size as a count.
    assert result.details["min_group_size"] == 100
    east = next(g for g in groups["groups"] if g["group"] == "east")
    assert east["count"] == (context.eval_data["region"] == "east").sum()
    assert isinstance(east["count"], int) and east["included"] is False
    frame = context.eval_data
    keep = (frame["region"] != "east").to_numpy()
    p = (context.candidate_scores >= 0.5).astype(int)
    expected = flm.demographic_parity_difference(
        context.y_true[keep], p[keep], sensitive_features=frame["region"][keep]
    )
    assert result.metrics["demographic_parity_difference"] == pytest.approx(expected, abs=1e-12)


def test_fewer_than_two_groups_is_an_error_with_the_reason():
    context = biased_context(n=300)
    result = make({"sensitive_features": ["region"], "min_group_size": 200}).run(context)
    assert result.status is Status.ERROR
    assert result.message.startswith("region: fewer than two groups with at least 200 rows")


def test_missing_values_form_a_named_group_with_a_warning():
    result = make({"sensitive_features": ["sex"], "n_resamples": 0}).run(biased_context(missing=50))
    labels = [g["group"] for g in result.details["groupings"]["sex"]["groups"]]
    assert "<missing>" in labels
    assert (
        "sex: 50 row(s) with a missing value form the group '<missing>'"
        in result.details["warnings"]
    )


def test_change_vs_champion_with_max_increase():
    context = biased_context()
    result = make(
        {
            "sensitive_features": ["sex"],
            "vs_baseline": {"demographic_parity_difference": {"max_increase": 0.02}},
        }
    ).run(context)
    change = result.details["groupings"]["sex"]["change_vs_baseline"][
        "demographic_parity_difference"
    ]
    p_c = (context.candidate_scores >= 0.5).astype(int)
    p_b = (context.baseline_scores >= 0.5).astype(int)
    sex = context.eval_data["sex"]
    expected = flm.demographic_parity_difference(
        context.y_true, p_c, sensitive_features=sex
    ) - flm.demographic_parity_difference(context.y_true, p_b, sensitive_features=sex)
    assert change["change"] == pytest.approx(expected, abs=1e-12)
    assert change["ci"][0] < change["change"] < change["ci"][1]
    (assertion,) = result.assertions
    assert not assertion.passed and "change vs champion" in assertion.sentence


def test_regression_group_errors_match_sklearn():
    context = biased_context(task="regression")
    result = make({"sensitive_features": ["sex"], "n_resamples": 50}, task="regression").run(
        context
    )
    sex = context.eval_data["sex"].to_numpy()
    mae = [
        mean_absolute_error(context.y_true[sex == g], context.candidate_scores[sex == g])
        for g in ("F", "M")
    ]
    rmse = [
        root_mean_squared_error(context.y_true[sex == g], context.candidate_scores[sex == g])
        for g in ("F", "M")
    ]
    assert result.metrics["mae_difference"] == pytest.approx(max(mae) - min(mae), abs=1e-12)
    assert result.metrics["rmse_difference"] == pytest.approx(max(rmse) - min(rmse), abs=1e-12)
    low, high = result.details["groupings"]["sex"]["ci"]["mae_difference"]
    assert low < result.metrics["mae_difference"] < high


def test_custom_metric_falls_back_to_metricframe():
    context = biased_context()
    result = make(
        {
            "sensitive_features": ["sex"],
            "n_resamples": 0,
            "custom_metrics": {"recall": "sklearn.metrics:recall_score"},
            "thresholds": {"recall_difference": {"max": 1.0}},
        }
    ).run(context)
    from sklearn.metrics import recall_score

    p = (context.candidate_scores >= 0.5).astype(int)
    frame = flm.MetricFrame(
        metrics=recall_score,
        y_true=context.y_true,
        y_pred=p,
        sensitive_features=context.eval_data["sex"],
    )
    assert result.metrics["sex/recall_difference"] == pytest.approx(frame.difference(), abs=1e-12)
    assert result.status is Status.PASSED


def test_plot_is_written_for_each_grouping(tmp_path):
    from dataclasses import replace

    context = replace(biased_context(), artifact_dir=str(tmp_path))
    result = make({"sensitive_features": ["sex", "region"], "n_resamples": 100}).run(context)
    assert result.details["artifacts"] == [
        "bias_sex.svg",
        "bias_region.svg",
        "bias_sex_x_region.svg",
    ]
    root = ET.parse(tmp_path / "bias_sex.svg").getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    # One bar per group and plotted rate, each titled with its estimate.
    bars = [e for e in root.iter("{http://www.w3.org/2000/svg}rect") if e.get("class") == "bar"]
    groups = [g for g in result.details["groupings"]["sex"]["groups"] if g["included"]]
    assert len(bars) == 3 * len(groups)


@pytest.mark.parametrize(
    ("settings", "task", "message"),
    [
        (
            {"sensitive_features": ["sex"]},
            "multiclass",
            "fairness metrics need binary decisions or regression",
        ),
        ({"sensitive_features": []}, "binary", "checks.bias.sensitive_features"),
        (
            {"sensitive_features": ["sex"], "thresholds": {"dpd": {"max": 0.1}}},
            "binary",
            "checks.bias.thresholds.dpd: unknown metric for task 'binary'",
        ),
        (
            {
                "sensitive_features": ["sex"],
                "vs_baseline": {"demographic_parity_ratio": {"max_increase": 0.1}},
            },
            "binary",
            "ratios get worse as they fall; use max_decrease",
        ),
        (
            {
                "sensitive_features": ["sex"],
                "thresholds": {"demographic_parity_ratio": {"min": 0.8, "judge": "upper_ci"}},
            },
            "binary",
            "judge: upper_ci applies to a max bound",
        ),
        (
            {"sensitive_features": ["sex"], "custom_metrics": {"x": "nowhere.module:f"}},
            "binary",
            "checks.bias.custom_metrics.x: cannot import 'nowhere.module:f'",
        ),
        (
            {"sensitive_features": ["sex"], "thresholds": {"mae_difference": {"max": 0.1}}},
            "binary",
            "unknown metric for task 'binary'",
        ),
    ],
)
def test_bad_settings(settings, task, message):
    with pytest.raises(
        ConfigError, match=message.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")
    ):
        make(settings, task=task)


def test_bias_conforms():
    from validate.testing import example_context

    check = make(
        {
            "sensitive_features": ["group"],
            "n_resamples": 200,
            "thresholds": {"equalized_odds_difference": {"max": 0.5}},
        }
    )
    assert_check_conforms(check, example_context())
