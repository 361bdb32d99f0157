"""Fairness metrics from (group, label, prediction) cell counts, exactly as fairlearn defines them.

Every group metric fairlearn's disparity functions use (selection rate, true and
false positive and negative rates, accuracy, precision) is a function of the
2×2 confusion counts of each group. Counting the cells once is a single
``np.bincount``; every aggregate, and every bootstrap resample, then works on a
``(..., G, 2, 2)`` array instead of on rows.

Definitions follow fairlearn (``fairlearn.metrics``, v0.10+):

* rates use scikit-learn's ``confusion_matrix(normalize="true")``: a rate whose
  denominator is zero is 0, not NaN (``nan_to_num``); precision follows
  ``precision_score(zero_division="warn")``, also 0;
* ``MetricFrame.difference``: ``between_groups`` is max − min over groups,
  ``to_overall`` is max |group − overall|;
* ``MetricFrame.ratio``: ``between_groups`` is min / max, ``to_overall`` is the
  minimum over groups of group/overall folded below 1 (x > 1 → 1/x);
* equalized odds takes both TPR and FPR: ``worst_case`` is the larger
  difference (smaller ratio), ``mean`` their mean.

Bootstrap: resampling n rows with replacement gives cell counts distributed
Multinomial(n, observed cell shares), so drawing those counts directly
(Efron & Tibshirani 1993, ch. 6; the "bootstrap of counts") is the same
distribution as the row bootstrap, at O(cells) instead of O(rows) per resample.
A group that happens to be empty in a resample is absent from that resample, as
it would be from a MetricFrame on the resampled rows.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from validate.stats.counts import cells, safe_divide
from validate.stats.intervals import multinomial_draws

GROUP_METRICS = (
    "count",
    "selection_rate",
    "accuracy",
    "true_positive_rate",
    "false_positive_rate",
    "true_negative_rate",
    "false_negative_rate",
    "precision",
)
AGGREGATES = (
    "demographic_parity_difference",
    "demographic_parity_ratio",
    "equalized_odds_difference",
    "equalized_odds_ratio",
    "equal_opportunity_difference",
    "equal_opportunity_ratio",
)
METHODS = ("between_groups", "to_overall")
AGGS = ("worst_case", "mean")


@dataclass(frozen=True)
class GroupCodes:
    """Rows mapped to group indices, with each group's label (a tuple per sensitive feature)."""

    codes: np.ndarray  # int64, one per row
    labels: tuple[tuple[str, ...], ...]


def group_codes(columns: Sequence[Any], missing_label: str = "<missing>") -> GroupCodes:
    """Intersectional groups of one or more sensitive columns (missing values form a group).

    Columns may be pandas Series (categorical and Arrow-backed strings factorise
    fastest), NumPy arrays or lists. Groups are numbered in sorted label order.
    """
    import pandas as pd

    codes: np.ndarray | None = None
    uniques_per_column: list[list[str]] = []
    for column in columns:
        arrow = _arrow_strings(column)
        if arrow is not None:
            column_codes, labels = _dictionary_codes(arrow)
        else:
            column_codes, uniques = pd.factorize(column, sort=True, use_na_sentinel=True)
            labels = [str(u) for u in uniques]
            column_codes = np.asarray(column_codes, dtype=np.int64)
        if (column_codes < 0).any():
            # Missing values become their own group, placed in sorted label order.
            labels.append(missing_label)
            column_codes = np.where(column_codes < 0, len(labels) - 1, column_codes)
        order = np.argsort(np.array(labels, dtype=object), kind="stable")
        rank = np.empty(len(labels), dtype=np.int64)
        rank[order] = np.arange(len(labels))
        uniques_per_column.append([labels[k] for k in order])
        # Each step below copies a column of row codes: skip the ones that change nothing
        # (on millions of rows, each is a fresh array the kernel must map).
        if not np.array_equal(rank, np.arange(len(labels))):
            column_codes = rank[column_codes]
        codes = column_codes if codes is None else codes * len(labels) + column_codes
    assert codes is not None, "group_codes needs at least one column"
    # Dense group indices without sorting the rows: the code space is small (product of levels).
    space = int(np.prod([len(u) for u in uniques_per_column]))
    present = np.flatnonzero(np.bincount(codes, minlength=space))
    labels_out = []
    for present_code in present:
        parts = []
        remainder = int(present_code)
        for uniques in reversed(uniques_per_column):
            remainder, index = divmod(remainder, len(uniques))
            parts.append(uniques[index])
        labels_out.append(tuple(reversed(parts)))
    if len(present) < space:
        lookup = np.zeros(space, dtype=np.int64)
        lookup[present] = np.arange(len(present))
        codes = lookup[codes]
    return GroupCodes(codes=codes, labels=tuple(labels_out))


def _arrow_strings(column: Any) -> Any:
    """The pyarrow ChunkedArray behind an Arrow-backed pandas string Series (what reading
    parquet gives), else None."""
    array: Any = getattr(column, "array", None)
    dtype = getattr(column, "dtype", None)
    if getattr(dtype, "storage", None) != "pyarrow" or not hasattr(array, "__arrow_array__"):
        return None
    chunked = array.__arrow_array__()
    import pyarrow as pa

    if not isinstance(chunked, pa.ChunkedArray):
        chunked = pa.chunked_array([chunked])
    return (
        chunked
        if pa.types.is_string(chunked.type) or pa.types.is_large_string(chunked.type)
        else None
    )


def _dictionary_codes(chunked: Any) -> tuple[np.ndarray, list[str]]:
    """``pd.factorize(sort=True)`` of Arrow strings by Arrow's dictionary encoding: int64
    row codes (-1 where missing) and the sorted labels. A fifth of pandas' time on
    millions of rows, and one int64 array instead of several (the codes are equal, tested)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    encoded = pc.dictionary_encode(chunked).unify_dictionaries()
    if encoded.num_chunks == 0:
        return np.empty(0, dtype=np.int64), []
    dictionary = encoded.chunk(0).dictionary.to_pylist()
    indices = pa.chunked_array([chunk.indices for chunk in encoded.chunks], type=pa.int32())
    ordered = sorted(range(len(dictionary)), key=dictionary.__getitem__)  # code point order
    rank = np.empty(len(dictionary) + 1, dtype=np.int64)
    rank[ordered] = np.arange(len(dictionary))
    rank[len(dictionary)] = -1  # missing
    filled = pc.fill_null(indices, len(dictionary)).to_numpy()
    return rank[filled], [dictionary[k] for k in ordered]


def confusion_cells(
    groups: np.ndarray, y_true: np.ndarray, y_pred: np.ndarray, n_groups: int
) -> np.ndarray:
    """Counts per (group, label, prediction): shape (G, 2, 2), labels and predictions in {0, 1}."""
    return cells([groups, y_true, y_pred], (n_groups, 2, 2))


def paired_cells(
    groups: np.ndarray, y_true: np.ndarray, pred_a: np.ndarray, pred_b: np.ndarray, n_groups: int
) -> np.ndarray:
    """Counts per (group, label, prediction A, prediction B): shape (G, 2, 2, 2), for paired
    candidate-vs-champion bootstraps on the same rows."""
    return cells([groups, y_true, pred_a, pred_b], (n_groups, 2, 2, 2))


def group_metrics(cells: np.ndarray) -> dict[str, np.ndarray]:
    """Per-group metrics from ``(..., G, 2, 2)`` cells; an empty group's metrics are NaN."""
    tn, fp = cells[..., 0, 0], cells[..., 0, 1]
    fn, tp = cells[..., 1, 0], cells[..., 1, 1]
    count = tn + fp + fn + tp
    negatives, positives = tn + fp, fn + tp
    values = {
        "count": count,
        "selection_rate": safe_divide(fp + tp, count),
        "accuracy": safe_divide(tn + tp, count),
        "true_positive_rate": safe_divide(tp, positives),
        "false_positive_rate": safe_divide(fp, negatives),
        "true_negative_rate": safe_divide(tn, negatives),
        "false_negative_rate": safe_divide(fn, positives),
        "precision": safe_divide(tp, fp + tp),
    }
    absent = count == 0
    return {k: (v if k == "count" else np.where(absent, np.nan, v)) for k, v in values.items()}


def _difference(by_group: np.ndarray, overall: np.ndarray, method: str) -> np.ndarray:
    with np.errstate(invalid="ignore"), quiet_all_nan():
        if method == "between_groups":
            return np.nanmax(by_group, axis=-1) - np.nanmin(by_group, axis=-1)
        return np.nanmax(np.abs(by_group - overall[..., None]), axis=-1)


def _ratio(by_group: np.ndarray, overall: np.ndarray, method: str) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"), quiet_all_nan():
        if method == "between_groups":
            return np.nanmin(by_group, axis=-1) / np.nanmax(by_group, axis=-1)
        ratios = by_group / overall[..., None]
        folded = np.where(ratios > 1, 1 / ratios, ratios)
        return np.nanmin(folded, axis=-1)


@contextlib.contextmanager
def quiet_all_nan() -> Iterator[None]:
    """nanmax/nanmin warn on all-NaN slices (a resample where every group is empty)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


def _python_max(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """fairlearn takes ``max(series)`` of (tpr, fpr): Python's max keeps ``a`` unless b > a."""
    return np.where(b > a, b, a)


def _python_min(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.where(b < a, b, a)


def aggregates(
    cells: np.ndarray, *, method: str = "between_groups", agg: str = "worst_case"
) -> dict[str, np.ndarray]:
    """fairlearn's disparity aggregates from ``(..., G, 2, 2)`` cells (vectorised over ``...``)."""
    by_group = group_metrics(cells)
    overall = group_metrics(cells.sum(axis=-3)[..., None, :, :])
    overall = {k: v[..., 0] for k, v in overall.items()}
    sel, tpr, fpr = "selection_rate", "true_positive_rate", "false_positive_rate"
    tpr_diff = _difference(by_group[tpr], overall[tpr], method)
    fpr_diff = _difference(by_group[fpr], overall[fpr], method)
    tpr_ratio = _ratio(by_group[tpr], overall[tpr], method)
    fpr_ratio = _ratio(by_group[fpr], overall[fpr], method)
    if agg == "worst_case":
        eo_diff, eo_ratio = _python_max(tpr_diff, fpr_diff), _python_min(tpr_ratio, fpr_ratio)
    else:
        with quiet_all_nan():
            eo_diff = np.nanmean(np.stack([tpr_diff, fpr_diff]), axis=0)
            eo_ratio = np.nanmean(np.stack([tpr_ratio, fpr_ratio]), axis=0)
    return {
        "demographic_parity_difference": _difference(by_group[sel], overall[sel], method),
        "demographic_parity_ratio": _ratio(by_group[sel], overall[sel], method),
        "equalized_odds_difference": eo_diff,
        "equalized_odds_ratio": eo_ratio,
        "equal_opportunity_difference": tpr_diff,
        "equal_opportunity_ratio": tpr_ratio,
    }


def bootstrap_cells(cells: np.ndarray, *, n_resamples: int, seed: int) -> np.ndarray:
    """Resampled cell counts, shape (n_resamples, *cells.shape): the row bootstrap, by counts."""
    return multinomial_draws(cells, n_resamples, seed)


PLOTTED = ("selection_rate", "true_positive_rate", "false_positive_rate")


@dataclass(frozen=True)
class JudgedAggregates:
    """Point aggregates, their bootstrap CIs, per-group metrics (and CIs for
    :data:`PLOTTED`), and the change against the champion, from one grouping's cells."""

    point: dict[str, float]
    per_group: dict[str, np.ndarray]
    ci: dict[str, list[float]]
    group_ci: dict[str, np.ndarray]
    change: dict[str, Any]


def judged_aggregates(
    cells: np.ndarray,
    paired: np.ndarray | None,
    kept: np.ndarray,
    *,
    method: str,
    agg: str,
    n_resamples: int,
    seed: int,
    confidence: float,
) -> JudgedAggregates:
    """Everything the bias check judges, from counts alone.

    ``cells`` are ``(G, 2, 2)`` (group, label, decision); ``paired`` (or None) are
    ``(G, 2, 2, 2)`` with the champion's decision last, and then ``cells`` is their sum
    over it. ``kept`` marks the groups large enough to enter the aggregates. The counts
    may come from rows in this process or be merged from a cluster's partitions: the
    results (bootstrap draws included, for one seed) depend only on the counts.
    """
    from validate.stats.intervals import percentile

    point = {k: float(v) for k, v in aggregates(cells[kept], method=method, agg=agg).items()}
    per_group = group_metrics(cells)
    ci: dict[str, list[float]] = {}
    group_ci: dict[str, np.ndarray] = {}
    change: dict[str, Any] = {}
    baseline_draws = None
    if n_resamples:
        if paired is not None:
            draws = bootstrap_cells(paired[kept], n_resamples=n_resamples, seed=seed)
            candidate_draws, baseline_draws = draws.sum(axis=-1), draws.sum(axis=-2)
        else:
            candidate_draws = bootstrap_cells(cells[kept], n_resamples=n_resamples, seed=seed)
        boot = aggregates(candidate_draws, method=method, agg=agg)
        ci = {k: list(percentile(v, confidence)) for k, v in boot.items()}
        boot_groups = group_metrics(candidate_draws)
        tail = (1 - confidence) / 2 * 100
        for metric in PLOTTED:
            with quiet_all_nan():
                group_ci[metric] = np.nanpercentile(boot_groups[metric], [tail, 100 - tail], axis=0)
    if paired is not None:
        baseline_point = aggregates(paired.sum(axis=-2)[kept], method=method, agg=agg)
        boot_base = (
            aggregates(baseline_draws, method=method, agg=agg)
            if baseline_draws is not None
            else None
        )
        for name, value in baseline_point.items():
            entry: dict[str, Any] = {"champion": float(value), "change": point[name] - float(value)}
            if boot_base is not None:
                entry["ci"] = list(percentile(boot[name] - boot_base[name], confidence))
            change[name] = entry
    return JudgedAggregates(point, per_group, ci, group_ci, change)
