"""A drift statistic that cannot be computed is drift, never a quiet "not drifted"
(a hostile review found both cases below passing the gate)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from checks.drift import DriftCheck
from validate.check import CheckContext
from validate.results import Status


def context(reference: pd.DataFrame, current: pd.DataFrame) -> CheckContext:
    n = len(current)
    return CheckContext(
        task="binary",
        target="label",
        features=tuple(reference.columns),
        eval_data=current,
        reference_data=reference,
        y_true=np.arange(n) % 2,
        candidate_scores=np.linspace(0, 1, n),
    )


def run(settings: dict, reference: pd.DataFrame, current: pd.DataFrame):
    check = DriftCheck.from_config(
        "drift", {"thresholds": {"share_drifted_features": {"max": 0.0}}, **settings}, task="binary"
    )
    return check.run(context(reference, current))


@pytest.mark.parametrize("method", ["chisquare", "jensenshannon", "psi"])
def test_categories_all_renamed_are_drift(method):
    rng = np.random.default_rng(0)
    reference = pd.DataFrame({"sex": rng.choice(["M", "F"], 600)})
    current = pd.DataFrame({"sex": rng.choice(["male", "female"], 500)})
    result = run({"categorical_method": method}, reference, current)
    assert result.status is Status.FAILED
    (column,) = result.details["features"]
    assert column["drifted"] is True
    if method == "chisquare":  # Cohen's w has no reference category to measure against
        assert "every eval value is a category the reference never had" in column["sentence"]


@pytest.mark.parametrize("where", ["reference", "eval", "both"])
def test_infinite_values_are_drift_with_the_reason(where):
    rng = np.random.default_rng(1)
    reference = pd.DataFrame({"x": rng.normal(size=800)})
    current = pd.DataFrame({"x": rng.normal(size=700)})
    if where in ("reference", "both"):
        reference.loc[3, "x"] = np.inf
    if where in ("eval", "both"):
        current.loc[5, "x"] = -np.inf
    result = run({}, reference, current)
    assert result.status is Status.FAILED
    (column,) = result.details["features"]
    assert column["drifted"] is True
    assert "infinite values in" in column["sentence"] and "cannot be measured" in column["sentence"]
