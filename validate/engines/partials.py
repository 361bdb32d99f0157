"""Per-partition accumulators and their merge: what one Arrow batch stream contributes.

An engine runs :func:`score_partial`, :func:`reference_sketch_partial` and
:func:`binned_partial` on each partition of the data (Spark's ``mapInArrow`` hands them
Arrow record batches) and merges the results on the driver with :func:`merge`. Every
accumulator is a sum (confusion cells, bin and category counts), a moment triple merged
with Chan et al.'s parallel formula, a min/max, or a KLL sketch (Apache DataSketches),
so the merge does not depend on how the rows were split. Nothing here imports Spark.

A partial is a plain dict of NumPy arrays, numbers, dicts and sketch bytes, pickled to
cross from the executor to the driver: it is produced by this module on the cluster the
user runs, never read from the data.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from validate.stats.counts import cells
from validate.stats.metrics import per_row_losses

MISSING_LABEL = "<missing>"  # as validate.stats.fairness.group_codes names missing values
KLL_K = 2048  # normalised single-rank error about 0.14% (99% confidence)
LOSSES = ("log_loss", "brier")
EDGE_RANKS = 4096  # reference quantiles taken as bin edges for each numeric column
AUC_BINS = 1 << 14  # equal-width score bins on [0, 1] per class, for ROC AUC


@dataclass(frozen=True)
class ScoreSpec:
    """What to count from a scored table (binary task): label, scores, groupings."""

    target: str
    prediction: str
    baseline_prediction: str | None
    threshold: float
    groupings: tuple[tuple[str, ...], ...] = ()


@dataclass(frozen=True)
class DriftSpec:
    """Which columns to summarise, and for the binned pass, each numeric column's edges."""

    numeric: tuple[str, ...]
    categorical: tuple[str, ...]
    edges: tuple[np.ndarray, ...] = ()  # one per numeric column, for binned_partial
    sketch: bool = False  # binned_partial also sketches each numeric column (KLL)


# -- moments ---------------------------------------------------------------------------------


def moments(values: np.ndarray) -> np.ndarray:
    """(n, mean, M2) of ``values``: M2 is the sum of squared deviations from the mean."""
    n = float(len(values))
    if not n:
        return np.zeros(3)
    mean = float(np.mean(values))
    return np.array([n, mean, float(np.sum((values - mean) ** 2))])


def merge_moments(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Chan, Golub & LeVeque (1979): the moments of two parts' union."""
    n = a[0] + b[0]
    if not n:
        return np.zeros(3)
    delta = b[1] - a[1]
    return np.array([n, a[1] + delta * b[0] / n, a[2] + b[2] + delta**2 * a[0] * b[0] / n])


# -- per partition ---------------------------------------------------------------------------


def _frame(batches: Iterable[Any]) -> Iterator[Any]:
    for batch in batches:
        if batch.num_rows:
            yield batch.to_pandas()


def _labels(series: Any) -> np.ndarray:
    """Group labels as strings, missing values as :data:`MISSING_LABEL` (as group_codes)."""
    import pandas as pd

    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    names = np.array([str(u) for u in uniques] + [MISSING_LABEL], dtype=object)
    return names[np.where(codes < 0, len(uniques), codes)]


def score_partial(spec: ScoreSpec, batches: Iterable[Any]) -> dict[str, Any]:
    """Confusion cells (overall and per group), per-row loss moments, of one partition."""
    paired = spec.baseline_prediction is not None
    shape = (2, 2, 2) if paired else (2, 2)
    out: dict[str, Any] = {
        "kind": "scores",
        "cells": np.zeros(shape),
        "groups": {" x ".join(g): {} for g in spec.groupings},
        "losses": {},
        "auc": np.zeros((2, AUC_BINS), dtype=np.int64),  # [label, score bin], candidate
    }
    for frame in _frame(batches):
        y = frame[spec.target].to_numpy().astype(np.int64)
        p = frame[spec.prediction].to_numpy(dtype=np.float64)
        codes = [y, (p >= spec.threshold).astype(np.int64)]
        if paired:
            q = frame[spec.baseline_prediction].to_numpy(dtype=np.float64)
            codes.append((q >= spec.threshold).astype(np.int64))
        out["cells"] += cells(codes, shape)
        score_bin = np.clip((p * AUC_BINS).astype(np.int64), 0, AUC_BINS - 1)
        out["auc"] += np.bincount(y * AUC_BINS + score_bin, minlength=2 * AUC_BINS).reshape(
            2, AUC_BINS
        )
        for grouping in spec.groupings:
            keys = [_labels(frame[c]) for c in grouping]
            joined = keys[0] if len(keys) == 1 else np.array(list(zip(*keys, strict=True)))
            found = out["groups"][" x ".join(grouping)]
            label_of, code = _codes(joined, len(keys))
            counted = cells([code, *codes], (len(label_of), *shape))
            for index, label in enumerate(label_of):
                found[label] = found.get(label, 0) + counted[index]
        losses = per_row_losses("binary", y, p)
        champion = per_row_losses("binary", y, q) if paired else {}
        for name in LOSSES:
            parts = {"candidate": losses[name]}
            if paired:
                parts["champion"] = champion[name]
                parts["difference"] = losses[name] - champion[name]
            for role, values in parts.items():
                key = f"{role}.{name}"
                out["losses"][key] = merge_moments(
                    out["losses"].get(key, np.zeros(3)), moments(values)
                )
    return out


def _codes(joined: np.ndarray, width: int) -> tuple[list[tuple[str, ...]], np.ndarray]:
    """Distinct label tuples of this partition and each row's index among them."""
    if width == 1:
        uniques, code = np.unique(joined.astype(str), return_inverse=True)
        return [(str(u),) for u in uniques], code
    uniques, code = np.unique(joined.astype(str), axis=0, return_inverse=True)
    return [tuple(str(v) for v in row) for row in uniques], code.reshape(-1)


def reference_sketch_partial(spec: DriftSpec, batches: Iterable[Any]) -> dict[str, Any]:
    """First reference pass: a KLL sketch, min, max and moments of each numeric column, and
    category counts of each categorical one (missing values counted apart)."""
    return _columns_partial(spec, batches, sketch=True, binned=False)


def binned_partial(spec: DriftSpec, batches: Iterable[Any]) -> dict[str, Any]:
    """Counts of each numeric column on its edges (and min, max, moments; a KLL sketch when
    ``spec.sketch``), category counts of each categorical one."""
    return _columns_partial(spec, batches, sketch=spec.sketch, binned=True)


def _columns_partial(
    spec: DriftSpec, batches: Iterable[Any], *, sketch: bool, binned: bool
) -> dict[str, Any]:
    import datasketches

    numeric: dict[str, dict[str, Any]] = {}
    for index, column in enumerate(spec.numeric):
        entry: dict[str, Any] = {
            "missing": 0,
            "infinite": 0,
            "min": np.inf,
            "max": -np.inf,
            "moments": np.zeros(3),
        }
        if sketch:
            entry["sketch"] = datasketches.kll_doubles_sketch(KLL_K)
        if binned:
            entry["counts"] = np.zeros(len(spec.edges[index]) + 1, dtype=np.int64)
        numeric[column] = entry
    categorical: dict[str, dict[str, Any]] = {
        c: {"missing": 0, "counts": {}} for c in spec.categorical
    }
    for frame in _frame(batches):
        for index, column in enumerate(spec.numeric):
            entry = numeric[column]
            values = frame[column].to_numpy(dtype=np.float64, na_value=np.nan)
            missing = np.isnan(values)
            entry["missing"] += int(missing.sum())
            values = values[~missing]
            infinite = np.isinf(values)
            entry["infinite"] += int(infinite.sum())
            values = values[~infinite]
            if not len(values):
                continue
            entry["min"] = min(entry["min"], float(values.min()))
            entry["max"] = max(entry["max"], float(values.max()))
            entry["moments"] = merge_moments(entry["moments"], moments(values))
            if sketch:
                entry["sketch"].update(values)
            if binned:
                bins = np.searchsorted(spec.edges[index], values, side="left")
                entry["counts"] += np.bincount(bins, minlength=len(entry["counts"]))
        for column in spec.categorical:
            series = frame[column]
            entry = categorical[column]
            entry["missing"] += int(series.isna().sum())
            for label, count in series.dropna().astype(str).value_counts().items():
                entry["counts"][label] = entry["counts"].get(label, 0) + int(count)
    for entry in numeric.values():
        if "sketch" in entry:
            entry["sketch"] = entry["sketch"].serialize()
    return {"kind": "columns", "numeric": numeric, "categorical": categorical}


def edges_for(entry: dict[str, Any], ranks: int = EDGE_RANKS) -> np.ndarray:
    """Bin edges for one numeric column from its merged first-pass entry: ``ranks`` + 1
    quantiles of its KLL sketch plus tail edges to its exact min and max
    (:func:`validate.stats.binned.reference_edges`)."""
    from validate.stats.binned import reference_edges

    sketch = entry["sketch"]
    if sketch.is_empty():
        return np.array([0.0])
    quantiles = np.asarray(sketch.get_quantiles(list(np.linspace(0, 1, ranks + 1))))
    return reference_edges(quantiles, entry["min"], entry["max"])


# -- merge -----------------------------------------------------------------------------------


def encode(partial: dict[str, Any]) -> bytes:
    """A partial as bytes, to leave the executor as one binary cell."""
    return pickle.dumps(partial, protocol=pickle.HIGHEST_PROTOCOL)


def decode(blob: bytes) -> dict[str, Any]:
    """Inverse of :func:`encode`, for partials this module produced on the user's cluster."""
    return pickle.loads(blob)  # noqa: S301 - our own executors' output, not user data


def combine(partials: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """The union of partials (all of one kind) as one partial still fit to :func:`encode`
    and merge again: what an executor does with a share of the others' partials."""
    merged: dict[str, Any] | None = None
    for partial in partials:
        merged = partial if merged is None else _merge_two(merged, partial)
    if merged is None:
        raise ValueError("no partials to merge")
    return merged


def merge(partials: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """The union of every partition's partial (all of one kind), its sketches opened."""
    merged = combine(partials)
    if merged["kind"] == "columns":
        import datasketches

        for entry in merged["numeric"].values():
            if isinstance(entry.get("sketch"), bytes):
                entry["sketch"] = datasketches.kll_doubles_sketch.deserialize(entry["sketch"])
    return merged


def _merge_two(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    if a["kind"] == "scores":
        groups = {
            name: _add_counts(found, b["groups"][name]) for name, found in a["groups"].items()
        }
        losses = {
            key: merge_moments(a["losses"].get(key, np.zeros(3)), b["losses"].get(key, np.zeros(3)))
            for key in {*a["losses"], *b["losses"]}
        }
        return {
            "kind": "scores",
            "cells": a["cells"] + b["cells"],
            "groups": groups,
            "losses": losses,
            "auc": a["auc"] + b["auc"],
        }
    import datasketches

    numeric = {}
    for column, left in a["numeric"].items():
        right = b["numeric"][column]
        entry = {
            "missing": left["missing"] + right["missing"],
            "infinite": left["infinite"] + right["infinite"],
            "min": min(left["min"], right["min"]),
            "max": max(left["max"], right["max"]),
            "moments": merge_moments(left["moments"], right["moments"]),
        }
        if "counts" in left:
            entry["counts"] = left["counts"] + right["counts"]
        if "sketch" in left:
            sketch = datasketches.kll_doubles_sketch.deserialize(left["sketch"])
            sketch.merge(datasketches.kll_doubles_sketch.deserialize(right["sketch"]))
            entry["sketch"] = sketch.serialize()
        numeric[column] = entry
    categorical = {
        column: {
            "missing": left["missing"] + b["categorical"][column]["missing"],
            "counts": _add_counts(left["counts"], b["categorical"][column]["counts"]),
        }
        for column, left in a["categorical"].items()
    }
    return {"kind": "columns", "numeric": numeric, "categorical": categorical}


def _add_counts(a: dict[Any, Any], b: dict[Any, Any]) -> dict[Any, Any]:
    out = dict(a)
    for key, value in b.items():
        out[key] = out.get(key, 0) + value
    return out
