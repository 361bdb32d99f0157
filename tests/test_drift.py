"""Drift statistics equal scipy's; verdicts by effect size stay put as samples grow."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.spatial import distance

from checks.drift import DriftCheck
from validate.check import CheckContext
from validate.errors import ConfigError
from validate.results import Status
from validate.stats import drift as ds


def context(reference, current, task="binary", **extra):
    y = np.zeros(len(current), dtype=int)
    y[::3] = 1
    return CheckContext(
        task=task,
        target="label",
        features=tuple(c for c in current.columns if c != "label"),
        eval_data=current,
        reference_data=reference,
        y_true=y,
        candidate_scores=np.linspace(0, 1, len(current)),
        **extra,
    )


def make(settings=None):
    return DriftCheck.from_config("drift", settings or {}, task="binary")


@pytest.mark.parametrize(
    ("n", "m", "ties"),
    [(5000, 4000, False), (30_000, 20_000, False), (20_000, 15_000, True), (40, 7, True)],
)
def test_numeric_statistics_equal_scipy(n, m, ties):
    rng = np.random.default_rng(n)
    ref, cur = rng.normal(size=n), rng.normal(0.2, 1.1, size=m)
    if ties:
        ref, cur = np.round(ref, 1), np.round(cur, 1)
    got = ds.numeric_statistics(ref, cur)
    ks = stats.ks_2samp(ref, cur)
    assert got["ks"] == pytest.approx(ks.statistic, abs=1e-12)
    assert got["ks_p_value"] == pytest.approx(ks.pvalue, abs=1e-9)
    assert got["wasserstein_raw"] == pytest.approx(stats.wasserstein_distance(ref, cur), abs=1e-9)
    edges = np.unique(np.quantile(ref, np.linspace(0, 1, 11)[1:-1]))
    r = np.bincount(np.searchsorted(edges, ref, side="right"), minlength=len(edges) + 1) / n
    c = np.bincount(np.searchsorted(edges, cur, side="right"), minlength=len(edges) + 1) / m
    assert got["psi"] == pytest.approx(ds.psi(r, c), abs=1e-9)
    assert got["wasserstein"] == pytest.approx(
        stats.wasserstein_distance(ref, cur) / np.std(ref), abs=1e-12
    )


def test_categorical_statistics_equal_scipy():
    rng = np.random.default_rng(1)
    ref = pd.Series(rng.choice(["a", "b", "c"], 3000, p=[0.5, 0.3, 0.2]))
    cur = pd.Series(rng.choice(["a", "b", "c", "d"], 2000, p=[0.4, 0.3, 0.2, 0.1]))
    got, new = ds.categorical_statistics(ref, cur)
    assert new == ["d"]
    ref_counts = ref.value_counts().reindex(["a", "b", "c"])
    observed = cur.value_counts().reindex(["a", "b", "c"]).to_numpy(float)
    expected = ref_counts.to_numpy(float) / ref_counts.sum() * observed.sum()
    chi = stats.chisquare(observed, expected)
    assert got["chisquare_statistic"] == pytest.approx(chi.statistic, abs=1e-9)
    assert got["chisquare_p_value"] == pytest.approx(chi.pvalue, abs=1e-12)
    union = ["a", "b", "c", "d"]
    p = ref.value_counts().reindex(union, fill_value=0).to_numpy(float)
    q = cur.value_counts().reindex(union, fill_value=0).to_numpy(float)
    assert got["jensenshannon"] == pytest.approx(
        distance.jensenshannon(p / p.sum(), q / q.sum(), base=2), abs=1e-12
    )


def test_psi_formula_with_empty_bins():
    r = np.array([0.5, 0.5, 0.0])
    e = np.array([0.4, 0.4, 0.2])
    expected = (0.4 - 0.5) * np.log(0.4 / 0.5) * 2 + (0.2 - 1e-4) * np.log(0.2 / 1e-4)
    assert ds.psi(r, e) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("rows", [10_000, 100_000, 1_000_000])
def test_unchanged_distribution_stays_no_drift_as_sample_grows(rows):
    rng = np.random.default_rng(rows)
    reference = pd.DataFrame({"x": rng.normal(size=rows), "g": rng.choice(["a", "b"], rows)})
    current = pd.DataFrame({"x": rng.normal(size=rows), "g": rng.choice(["a", "b"], rows)})
    result = make().run(context(reference, current))
    assert result.metrics["share_drifted_features"] == 0.0


def test_real_shift_is_drift_and_p_values_are_bh_corrected():
    rng = np.random.default_rng(2)
    reference = pd.DataFrame({f"x{i}": rng.normal(size=3000) for i in range(5)})
    current = reference.sample(frac=1, random_state=0).reset_index(drop=True) + 0.0
    current["x0"] = rng.normal(1.0, 1, 3000)
    effect = make().run(context(reference, current))
    assert effect.metrics["drifted_features"] == 1.0
    by_p = make({"decide_by": "p_value"}).run(context(reference, current))
    raw = [f["statistics"]["ks_p_value"] for f in by_p.details["features"]]
    adjusted = [f["statistics"]["p_value_bh"] for f in by_p.details["features"]]
    np.testing.assert_allclose(
        adjusted, stats.false_discovery_control(raw, method="bh"), atol=1e-12
    )
    assert "Benjamini–Hochberg adjusted across 5 columns" in by_p.message


def test_bad_columns_are_reported_not_crashed():
    reference = pd.DataFrame(
        {
            "typed": [1.0, 2.0, 3.0] * 10,
            "empty": [np.nan] * 30,
            "constant": [1.0] * 30,
            "fine": np.arange(30.0),
        }
    )
    current = pd.DataFrame(
        {
            "typed": ["a", "b", "c"] * 10,
            "empty": [np.nan] * 30,
            "constant": [1.0] * 30,
            "fine": np.arange(30.0),
        }
    )
    result = make().run(context(reference, current))
    rows = {f["column"]: f for f in result.details["features"]}
    assert rows["typed"]["drifted"] and "type changed" in rows["typed"]["reason"]
    assert rows["empty"]["drifted"] and rows["empty"]["reason"] == "all values missing in reference"
    assert (
        not rows["constant"]["drifted"]
        and rows["constant"]["reason"] == "constant in the reference"
    )
    assert not rows["fine"]["drifted"]


def test_missing_rate_change_and_new_categories():
    reference = pd.DataFrame({"g": ["a", "b"] * 50, "x": np.arange(100.0)})
    current = pd.DataFrame(
        {"g": ["a", "c"] * 50, "x": np.where(np.arange(100) < 20, np.nan, np.arange(100.0))}
    )
    result = make().run(context(reference, current))
    rows = {f["column"]: f for f in result.details["features"]}
    assert rows["g"]["new_categories"] == ["c"]
    assert rows["x"]["missing_rate_change"] == pytest.approx(0.2)


def test_no_reference_is_skipped():
    current = pd.DataFrame({"x": np.arange(10.0)})
    result = make().run(context(None, current))
    assert result.status is Status.SKIPPED and "no data.reference" in result.message


def test_prediction_and_label_drift():
    rng = np.random.default_rng(3)
    reference = pd.DataFrame({"x": rng.normal(size=900), "label": [0, 0, 1] * 300})
    current = pd.DataFrame({"x": rng.normal(size=900)})
    ctx = context(
        reference,
        current,
        extras={"reference_scores": np.linspace(0, 0.5, 900)},
        baseline_scores=np.linspace(0, 1, 900),
    )
    result = make({"thresholds": {"prediction_drift": {"max": 0.1}}}).run(ctx)
    assert result.metrics["prediction_drift"] > 0.1 and result.status is Status.FAILED
    assert result.metrics["prediction_drift_vs_champion"] == pytest.approx(0.0, abs=1e-12)
    assert result.metrics["label_drift"] == pytest.approx(0.0, abs=1e-12)


def test_bad_settings():
    with pytest.raises(ConfigError, match=r"checks\.drift\.thresholds\.share: unknown metric"):
        make({"thresholds": {"share": {"max": 0.3}}})
    with pytest.raises(
        ConfigError, match=r"checks\.drift\.per_column\.x\.method: unknown method 'kl'"
    ):
        make({"per_column": {"x": {"method": "kl"}}})
