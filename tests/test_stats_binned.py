"""Drift from bin counts (validate.stats.binned) and the per-partition partials
(validate.engines.partials), without Spark: every reported bound must hold against the
exact row computation, and merging partitions must not change a count."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from validate.stats import drift as ds
from validate.stats.binned import BinnedColumn, numeric_from_bins, reference_edges


def binned(a: np.ndarray, b: np.ndarray, quantiles: np.ndarray) -> BinnedColumn:
    edges = reference_edges(quantiles, a.min(), a.max())
    count = lambda x: np.bincount(  # noqa: E731
        np.searchsorted(edges, x, side="left"), minlength=len(edges) + 1
    )
    return BinnedColumn(
        edges, count(a), count(b), min(a.min(), b.min()), max(a.max(), b.max()), float(np.std(a))
    )


SAMPLES = {
    "normal shift": lambda rng: (rng.normal(size=20_000), rng.normal(0.2, 1.1, size=30_000)),
    "lognormal": lambda rng: (rng.lognormal(size=20_000), rng.lognormal(0.1, size=25_000)),
    "eval beyond the reference": lambda rng: (rng.normal(size=5_000), rng.normal(3, size=5_000)),
    "same": lambda rng: (rng.normal(size=20_000), rng.normal(size=20_000)),
}


@pytest.mark.parametrize("case", SAMPLES)
@pytest.mark.parametrize("noisy_edges", [False, True], ids=["exact-quantiles", "noisy-quantiles"])
def test_every_bound_holds_against_the_rows(case, noisy_edges):
    rng = np.random.default_rng(7)
    a, b = SAMPLES[case](rng)
    ranks = np.linspace(0, 1, 1025)
    if noisy_edges:  # a sketch's quantiles are off by up to its rank error: any edges work
        ranks = np.clip(ranks + rng.uniform(-0.003, 0.003, ranks.size), 0, 1)
    got = numeric_from_bins(binned(a, b, np.quantile(a, ranks)))
    exact = ds.numeric_statistics(a, b, exact_p=False)
    assert abs(got["wasserstein"] - exact["wasserstein"]) <= got["wasserstein_bound"]
    assert got["ks_low"] <= exact["ks"] <= got["ks_high"]
    assert got["psi_low"] <= exact["psi"] <= got["psi_high"]
    assert abs(got["psi"] - exact["psi"]) <= got["psi_bound"]


def test_partials_merge_to_the_same_counts_and_drift_within_bounds():
    pytest.importorskip("datasketches", reason="the spark extra is not installed")
    import pyarrow as pa

    from checks.drift import DriftCheck
    from validate.check import CheckContext
    from validate.engines import partials as pt
    from validate.engines import results as er

    rng = np.random.default_rng(0)
    rows = 9_000
    reference = pd.DataFrame(
        {"x": rng.normal(size=rows), "c": rng.choice(["p", "q", "r"], rows, p=[0.5, 0.3, 0.2])}
    )
    current = pd.DataFrame(
        {"x": rng.normal(0.3, size=rows), "c": rng.choice(["p", "q", "r"], rows)}
    )

    def partitions(frame: pd.DataFrame, pieces: int) -> list[list[pa.RecordBatch]]:
        return [
            [pa.RecordBatch.from_pandas(frame.iloc[rows], preserve_index=False)]
            for rows in np.array_split(np.arange(len(frame)), pieces)
        ]

    first = pt.DriftSpec(numeric=("x",), categorical=())
    sketched = pt.merge(
        pt.decode(pt.encode(pt.reference_sketch_partial(first, p)))
        for p in partitions(reference[["x"]], 3)
    )
    edges = (pt.edges_for(sketched["numeric"]["x"]),)
    spec = pt.DriftSpec(("x",), ("c",), edges)
    sketching = pt.DriftSpec(("x",), ("c",), edges, sketch=True)
    merged = {}
    for name, frame in (("reference", reference), ("eval", current)):
        merged[name] = pt.merge(
            pt.decode(pt.encode(pt.binned_partial(sketching, p))) for p in partitions(frame, 4)
        )
        whole = pt.binned_partial(spec, partitions(frame, 1)[0])
        assert np.array_equal(
            merged[name]["numeric"]["x"]["counts"], whole["numeric"]["x"]["counts"]
        )
        assert merged[name]["categorical"] == whole["categorical"]
    merged["reference"]["numeric"]["x"]["edges"] = edges[0]
    context = CheckContext(
        task="binary",
        target="y",
        features=("x", "c"),
        eval_data=current,
        y_true=np.zeros(rows, dtype=int),
        candidate_scores=None,
        reference_data=reference,
    )
    for method in ("wasserstein", "ks", "psi"):
        local = DriftCheck.from_config(
            "drift", {"columns": ["x", "c"], "numeric_method": method}, task="binary"
        ).run(context)
        exact = {f["column"]: f for f in local.details["features"]}
        for entry in er.drift(merged["reference"], merged["eval"], numeric_method=method):
            if entry["kind"] == "numeric":
                assert abs(entry["value"] - exact["x"]["value"]) <= entry["bound"], method
            else:
                assert entry["value"] == pytest.approx(exact["c"]["value"], rel=1e-12)
            if entry["decided"]:
                assert entry["drifted"] == exact[entry["column"]]["drifted"], (method, entry)


@pytest.mark.parametrize("bins", [64, 1 << 14])
def test_binned_roc_auc_bound_holds_and_delong_interval_is_close(bins):
    from validate.stats.auc import delong
    from validate.stats.binned import binned_roc_auc
    from validate.stats.metrics import compute_metrics

    rng = np.random.default_rng(5)
    y = (rng.random(20_000) < 0.3).astype(np.int64)
    p = 1 / (1 + np.exp(-(y * 1.2 + rng.normal(size=y.size))))
    score_bin = np.clip((p * bins).astype(np.int64), 0, bins - 1)
    counts = np.bincount(y * bins + score_bin, minlength=2 * bins).reshape(2, bins)
    got = binned_roc_auc(counts[0], counts[1])
    exact = compute_metrics("binary", y, p, 0.5, names=("roc_auc",))["roc_auc"]
    assert abs(got["roc_auc"] - exact) <= got["roc_auc_bound"]
    assert got["variance"] == pytest.approx(
        delong(y, p).variance(), rel=0.05 if bins < 100 else 1e-3
    )
