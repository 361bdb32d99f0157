"""Average precision counted from the drawn rows (validate.stats.metrics.average_precision_of_draws)
gives the numbers the weighted form gives, bit for bit, so the paired bootstrap that uses it
reports the same interval; and the weighted form's shorter tail equals the formula it
replaced, on any weights."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from validate.stats import metrics as sm
from validate.stats.counts import resampled_rows, row_counts, safe_divide
from validate.stats.quality import paired_intervals, weighted_subsample_bootstrap


def _scores(rng: np.random.Generator, n: int, kind: int) -> np.ndarray:
    if kind == 0:
        return rng.random(n)
    if kind == 1:
        return rng.integers(0, 5, n) / 4  # heavy ties
    if kind == 2:
        return np.round(rng.random(n), 2)
    if kind == 3:
        return np.full(n, 0.5)  # one tie group
    return np.where(rng.random(n) < 0.1, np.nan, rng.random(n))  # undefined scores


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and a.tobytes() == b.tobytes()


@pytest.mark.parametrize("seed", range(40))
def test_drawn_average_precision_equals_the_weighted_form_bit_for_bit(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 300))
    y = (rng.random(n) < rng.random()).astype(np.int64)  # now and then a single class
    p = _scores(rng, n, seed % 5)
    of_draws = sm.average_precision_of_draws(y, p)
    for drawn in resampled_rows(n, 30, seed):
        expected = sm.weighted_average_precision(y, p, row_counts(drawn, n))
        assert _same(of_draws(drawn), expected)


def test_drawn_average_precision_is_scikit_learns_on_each_resample():
    rng = np.random.default_rng(5)
    y = rng.integers(0, 2, 120)
    p = np.round(rng.random(120), 1)
    (drawn,) = resampled_rows(120, 8, 3)
    values = sm.average_precision_of_draws(y, p)(drawn)
    for rows, value in zip(drawn, values, strict=True):
        if (y[rows] == 1).any():
            assert value == pytest.approx(skm.average_precision_score(y[rows], p[rows]), abs=1e-12)
        else:
            assert np.isnan(value)


def _average_precision_before(positives: np.ndarray, negatives: np.ndarray) -> np.ndarray:
    """The tail of weighted_average_precision as it was written before it was shortened."""
    tp, fp = np.cumsum(positives, axis=1), np.cumsum(negatives, axis=1)
    total = tp[:, -1:]
    recall = safe_divide(tp, total)
    gained = np.diff(recall, axis=1, prepend=0.0)
    values = (gained * safe_divide(tp, tp + fp)).sum(axis=1)
    return np.where(total[:, 0] > 0, values, np.nan)


@pytest.mark.parametrize("seed", range(20))
def test_the_shortened_tail_equals_the_formula_it_replaced(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 200))
    y = rng.integers(0, 2, n)
    p = _scores(rng, n, seed % 5)
    # Fractional and zero weights too: the tail's equality does not rest on counts.
    weights = rng.random((6, n)) * (rng.random((6, n)) < 0.7)
    weights[0] = 0.0
    groups = sm._tie_groups(y, p, weights, descending=True)
    assert _same(sm._average_precision_from_groups(*groups), _average_precision_before(*groups))
    reversed_groups = sm._tie_groups(y, p, weights, descending=False)
    flipped = (reversed_groups[0][:, ::-1], reversed_groups[1][:, ::-1])
    assert _same(sm._average_precision_from_groups(*flipped), _average_precision_before(*flipped))


@pytest.mark.parametrize("rows", [40, 3000, 7000])
def test_the_paired_bootstrap_reports_the_same_interval_either_way(rows):
    rng = np.random.default_rng(rows)
    y = rng.integers(0, 2, rows)
    candidate = np.clip(y * 0.3 + rng.random(rows) * 0.7, 0, 1)
    champion = np.round(np.clip(y * 0.2 + rng.random(rows) * 0.8, 0, 1), 2)

    def weighted(rows_: np.ndarray, w: np.ndarray) -> np.ndarray:
        return sm.weighted_average_precision(
            y[rows_], candidate[rows_], w
        ) - sm.weighted_average_precision(y[rows_], champion[rows_], w)

    def drawn(rows_: np.ndarray):
        a = sm.average_precision_of_draws(y[rows_], candidate[rows_])
        b = sm.average_precision_of_draws(y[rows_], champion[rows_])
        return lambda d: a(d) - b(d)

    settings = dict(point=0.01, n_resamples=700, seed=4, confidence=0.95, max_rows=3000)
    by_weights = weighted_subsample_bootstrap(weighted, rows, with_p=True, **settings)
    by_draws = weighted_subsample_bootstrap(weighted, rows, with_p=True, on_draws=drawn, **settings)
    assert _same(by_draws.samples, by_weights.samples)
    assert (by_draws.low, by_draws.high, by_draws.p_value) == (
        by_weights.low,
        by_weights.high,
        by_weights.p_value,
    )
    # And paired_intervals takes that path for average precision.
    metrics = {
        "average_precision": float(skm.average_precision_score(y, candidate))
        - float(skm.average_precision_score(y, champion))
    }
    through = paired_intervals(
        "binary",
        y,
        candidate,
        champion,
        {"average_precision": skm.average_precision_score(y, candidate)},
        {"average_precision": skm.average_precision_score(y, champion)},
        threshold=0.5,
        confidence=0.95,
        n_resamples=700,
        seed=4,
        names=("average_precision",),
    )["average_precision"]
    direct = weighted_subsample_bootstrap(
        weighted,
        rows,
        point=metrics["average_precision"],
        n_resamples=700,
        seed=4,
        confidence=0.95,
        max_rows=3000,
        with_p=True,
    )
    assert _same(through.samples, direct.samples)
