"""The cell-count fast path equals fairlearn on the same data, to 1e-12, over many layouts."""

import math

import fairlearn.metrics as flm
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from validate.stats.fairness import (
    AGGREGATES,
    aggregates,
    bootstrap_cells,
    confusion_cells,
    group_codes,
    group_metrics,
)

FAIRLEARN = {name: getattr(flm, name) for name in AGGREGATES}


@st.composite
def layouts(draw):
    n = draw(st.integers(min_value=2, max_value=250))
    n_features = draw(st.integers(min_value=1, max_value=2))
    columns = []
    for index in range(n_features):
        levels = draw(st.integers(min_value=1, max_value=4))
        weights = draw(st.lists(st.integers(1, 20), min_size=levels, max_size=levels))
        seed = draw(st.integers(0, 2**32 - 1))
        rng = np.random.default_rng(seed)
        probabilities = np.array(weights) / sum(weights)
        columns.append(
            rng.choice([f"f{index}_{k}" for k in range(levels)], size=n, p=probabilities)
        )
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    base_rate = draw(st.floats(0.0, 1.0))
    pred_rate = draw(st.floats(0.0, 1.0))
    y_true = (rng.random(n) < base_rate).astype(int)
    y_pred = (rng.random(n) < pred_rate).astype(int)
    return columns, y_true, y_pred


def same(a, b):
    if a is None or (isinstance(a, float) and math.isnan(a)):
        return b is None or math.isnan(b)
    return abs(a - b) <= 1e-12


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    layouts(),
    st.sampled_from(["between_groups", "to_overall"]),
    st.sampled_from(["worst_case", "mean"]),
)
def test_aggregates_equal_fairlearn(layout, method, agg):
    columns, y_true, y_pred = layout
    groups = group_codes(columns)
    cells = confusion_cells(groups.codes, y_true, y_pred, len(groups.labels))
    ours = {k: float(v) for k, v in aggregates(cells, method=method, agg=agg).items()}
    sensitive = pd.DataFrame({f"s{i}": c for i, c in enumerate(columns)})
    for name, function in FAIRLEARN.items():
        kwargs = {"agg": agg} if name.startswith("equalized_odds") else {}
        expected = float(
            function(y_true, y_pred, sensitive_features=sensitive, method=method, **kwargs)
        )
        assert same(ours[name], expected), (name, method, agg, ours[name], expected)


@settings(max_examples=150, deadline=None)
@given(layouts())
def test_group_metrics_equal_metricframe(layout):
    columns, y_true, y_pred = layout
    groups = group_codes(columns)
    cells = confusion_cells(groups.codes, y_true, y_pred, len(groups.labels))
    ours = group_metrics(cells)
    from sklearn.metrics import accuracy_score, precision_score

    frame = flm.MetricFrame(
        metrics={
            "count": flm.count,
            "selection_rate": flm.selection_rate,
            "accuracy": accuracy_score,
            "true_positive_rate": flm.true_positive_rate,
            "false_positive_rate": flm.false_positive_rate,
            "true_negative_rate": flm.true_negative_rate,
            "false_negative_rate": flm.false_negative_rate,
            "precision": lambda y, p: precision_score(y, p, zero_division=0),
        },
        y_true=y_true,
        y_pred=y_pred,
        sensitive_features=pd.DataFrame({f"s{i}": c for i, c in enumerate(columns)}),
    )
    by_group = frame.by_group
    for index, label in enumerate(groups.labels):
        row = by_group.loc[label if len(label) > 1 else label[0]]
        for metric in ours:
            assert same(float(ours[metric][index]), float(row[metric])), (metric, label)


def test_missing_values_form_their_own_named_group():
    groups = group_codes([np.array(["a", None, "b", None], dtype=object)])
    assert groups.labels == (("<missing>",), ("a",), ("b",))
    assert groups.codes.tolist() == [1, 0, 2, 0]


def test_bootstrap_of_counts_matches_the_row_bootstrap_distribution():
    rng = np.random.default_rng(0)
    n = 2000
    groups = rng.choice(["a", "b", "c"], n, p=[0.5, 0.3, 0.2])
    y = (rng.random(n) < 0.4).astype(int)
    p = (rng.random(n) < np.where(groups == "a", 0.5, 0.3)).astype(int)
    codes = group_codes([groups])
    cells = confusion_cells(codes.codes, y, p, 3)
    by_counts = aggregates(bootstrap_cells(cells, n_resamples=2000, seed=1))[
        "demographic_parity_difference"
    ]
    rows = []
    for _ in range(600):
        index = rng.integers(0, n, n)
        rows.append(
            flm.demographic_parity_difference(y[index], p[index], sensitive_features=groups[index])
        )
    rows = np.array(rows)
    # Same distribution: means and spreads agree within Monte Carlo error.
    assert abs(by_counts.mean() - rows.mean()) < 4 * rows.std() / np.sqrt(len(rows))
    assert by_counts.std() == pytest.approx(rows.std(), rel=0.12)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    values=st.lists(
        st.one_of(st.none(), st.sampled_from(["a", "b", "B", "é", "z z", "", "ab", "<missing>"])),
        max_size=60,
    ),
    split=st.integers(min_value=0, max_value=60),
    other=st.lists(st.sampled_from(["x", "y"]), min_size=60, max_size=60),
)
def test_arrow_string_groups_equal_pandas_factorize(values, split, other):
    """Arrow-backed strings (what parquet gives) take the dictionary-encoding path; codes
    and labels equal the pandas path on the same values, chunked or not, missing included,
    alone and intersected with another column."""
    import pyarrow as pa

    split = min(split, len(values))
    chunks = [
        pa.array(values[:split], pa.large_string()),
        pa.array(values[split:], pa.large_string()),
    ]
    arrow = pd.Series(pd.array(pa.chunked_array(chunks), dtype="str"))
    as_objects = pd.Series(values, dtype=object)  # pandas' own factorize
    other_column = pd.Series(other[: len(values)], dtype="str")
    for columns in ([arrow], [arrow, other_column], [other_column, arrow]):
        plain = [as_objects if c is arrow else other_column.astype(object) for c in columns]
        fast, reference = group_codes(columns), group_codes(plain)
        assert fast.labels == reference.labels
        assert np.array_equal(fast.codes, reference.codes) and fast.codes.dtype == np.int64
