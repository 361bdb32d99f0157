"""The accuracy, bias and drift checks' results from merged partials (the Spark engine).

Each function takes the built-in check itself (its validated settings, its name) and the
merged partials of :mod:`validate.engines.partials`, computes the statistics with
:mod:`validate.engines.results`, and judges them with the same code the checks use on
rows (:func:`validate.thresholds.judge`, the accuracy check's champion comparison, the
bias check's :meth:`~checks.bias.BiasCheck.judge_groupings`), so metric names, sentences
and statuses are the local engine's.

Approximate numbers carry their error bound in ``details["error_bounds"]``, and a
threshold is judged with :func:`validate.thresholds.judge_bounded`: it passes only when
it holds across the whole bound, and one that falls inside the bound fails closed, with a
sentence saying so.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from validate.engines import results as er
from validate.engines.partials import MISSING_LABEL
from validate.results import Assertion, CheckResult, Status
from validate.stats import drift as ds
from validate.thresholds import judge_bounded

if TYPE_CHECKING:
    from checks.accuracy import AccuracyCheck, AccuracySettings
    from checks.bias import BiasCheck, BiasSettings
    from checks.drift import DriftCheck, DriftSettings

ENGINE = "spark"


def accuracy_result(check: AccuracyCheck, scores: Mapping[str, Any], *, seed: int) -> CheckResult:
    """The accuracy check on merged score partials: count metrics and losses exact, ROC AUC
    from score histograms (approximate, judged across its bound), the champion comparison
    on the paired counts when the partials hold champion scores."""
    from checks.accuracy import baseline_assertion

    started = time.perf_counter()
    settings: AccuracySettings = check.settings  # type: ignore[assignment]
    found = er.accuracy(
        dict(scores),
        confidence=settings.confidence,
        n_resamples=settings.n_resamples,
        seed=seed,
    )
    metrics: dict[str, float] = found["metrics"]
    intervals, bounds = found["intervals"], found["bounds"]
    undefined = [m for m in settings.thresholds if not np.isfinite(metrics[m])]
    if undefined:
        return check.early_result(
            started,
            f"{', '.join(undefined)} undefined on this data (one class only, or a metric's "
            "denominator is zero); fix the eval set",
            metrics=metrics,
        )
    assertions: list[Assertion] = []
    for metric, bound in settings.thresholds.items():
        value, error = metrics[metric], float(bounds.get(metric, 0.0))
        ci = intervals[metric].ci if metric in intervals else None
        assertions.extend(
            judge_bounded(metric, value, bound, ci, low=value - error, high=value + error)
        )
    details: dict[str, Any] = {
        "engine": ENGINE,
        "rows": found["rows"],
        "confidence": settings.confidence,
        "n_resamples": settings.n_resamples,
        "ci": {m: list(i.ci) for m, i in intervals.items()},
        "error_bounds": {m: float(b) for m, b in bounds.items()},
    }
    output = dict(metrics)
    for metric, interval in intervals.items():
        output[f"{metric}.ci_low"], output[f"{metric}.ci_high"] = interval.ci
    comparison = found.get("vs_baseline")
    if comparison is not None:
        champion = found["champion"]
        details["baseline_metrics"] = champion
        details["delta_vs_baseline"] = {m: metrics[m] - champion[m] for m in champion}
        details["vs_baseline"] = {
            m: {
                "difference": i.value,
                "ci": list(i.ci),
                "p_value": i.p_value,
                "champion": champion[m],
            }
            for m, i in comparison.items()
        }
        output.update({f"{m}.vs_baseline": i.value for m, i in comparison.items()})
        for metric, rule in settings.vs_baseline.items():
            assertion, tested = baseline_assertion(
                metric,
                comparison[metric],
                rule,
                settings.confidence,
            )
            assertions.append(assertion)
            details["vs_baseline"][metric]["rule"] = tested
    return check.conclude(
        started=started,
        assertions=assertions,
        metrics=output,
        details=details,
        fallback="no thresholds set; metrics reported with CIs",
    )


def bias_result(
    check: BiasCheck, scores: Mapping[str, Any], groupings: list[str], *, seed: int
) -> CheckResult:
    """The bias check on merged per-group confusion cells: every aggregate and its CI is
    the local engine's (the same cells feed the same functions)."""
    from checks.bias import grouping_report

    started = time.perf_counter()
    settings: BiasSettings = check.settings  # type: ignore[assignment]
    warnings: list[str] = []
    for column in settings.sensitive_features:
        missing = scores["groups"][column].get((MISSING_LABEL,))
        if missing is not None and missing.sum():
            warnings.append(
                f"{column}: {int(missing.sum())} row(s) with a missing value form the group "
                f"'{MISSING_LABEL}'"
            )
    reports = []
    for name in groupings:
        found = er.bias(
            dict(scores),
            name,
            min_group_size=settings.min_group_size,
            method=settings.method,
            agg=settings.agg,
            n_resamples=settings.n_resamples,
            seed=seed,
            confidence=settings.confidence,
        )
        labels, sizes, kept = found["labels"], found["counts"], found["kept"]
        listed = zip(labels, sizes, kept, strict=True)
        small = [f"{label} (n={int(n)})" for label, n, keep in listed if not keep]
        if small:
            warnings.append(
                f"{name}: groups below min_group_size {settings.min_group_size} are "
                f"reported but left out of the aggregates: {', '.join(small)}"
            )
        if int(kept.sum()) < 2:
            shown = ", ".join(f"{g} n={int(n)}" for g, n in zip(labels, sizes, strict=True))
            return check.early_result(
                started,
                f"{name}: fewer than two groups with at least {settings.min_group_size} rows "
                f"({shown}); lower min_group_size or use more data",
                details={"warnings": warnings},
            )
        reports.append(grouping_report(labels, kept, found["judged"]))
    return check.conclude_groupings(started, groupings, reports, warnings, first={"engine": ENGINE})


def drift_result(
    check: DriftCheck,
    reference: Mapping[str, Any] | None,
    current: Mapping[str, Any] | None,
    *,
    seed: int,
    label: str | None = None,
) -> CheckResult:
    """The drift check on merged column partials, decided as the check's defaults do (effect
    size, Bonferroni lower bounds). A numeric column whose cut-off falls inside its error
    bound is flagged (fail closed) and counted apart, and the share of drifted features
    is then judged across the range those columns span. ``label``: the target column,
    counted as categories beside the features, reported as ``label_drift`` (exact)."""
    started = time.perf_counter()
    settings: DriftSettings = check.settings  # type: ignore[assignment]
    if reference is None or current is None:
        return check.early_result(
            started,
            "no data.reference configured; nothing to compare against",
            status=Status.SKIPPED,
        )
    alpha = settings.alpha
    columns = [c for c in (*reference["numeric"], *reference["categorical"]) if c != label]
    entries = er.drift(
        _only(reference, columns),
        _only(current, columns),
        alpha=alpha,
        n_resamples=settings.n_resamples,
        seed=seed,
        numeric_method=settings.numeric_method,
        categorical_method=settings.categorical_method,
    )
    features = [_feature(entry, reference, current, alpha) for entry in entries]
    drifted = [f for f in features if f["drifted"]]
    undecided = [f for f in drifted if not f["decided"]]
    total = len(features)
    counts = {
        "drifted_features": (len(drifted) - len(undecided), len(drifted)),
        "share_drifted_features": (
            (len(drifted) - len(undecided)) / total if total else 0.0,
            len(drifted) / total if total else 0.0,
        ),
    }
    # The verdicts count an undecided column as drifted, so the reported value is the high
    # end; the exact value may be as low as if none of them drifted.
    metrics = {name: float(high) for name, (_, high) in counts.items()}
    note = f"lower bounds {100 * (1 - alpha):g}% simultaneous over {total} columns, Bonferroni"
    if undecided:
        note += (
            f"; {len(undecided)} column(s) with the cut-off inside the error bound counted as "
            f"drifted: {', '.join(f['column'] for f in undecided[:8])}"
        )
    assertions = tuple(
        a
        for name, bound in settings.thresholds.items()
        for a in judge_bounded(
            name, metrics[name], bound, None, low=counts[name][0], high=counts[name][1]
        )
    )
    if label is not None:
        # As the local check: Jensen–Shannon of the label mix, no verdict of its own.
        (found,) = er.drift(_only(reference, [label]), _only(current, [label]), seed=seed)
        if "statistics" in found:
            metrics["label_drift"] = float(found["statistics"]["jensenshannon"])
    details: dict[str, Any] = {
        "engine": ENGINE,
        "decide_by": "effect_size",
        "features": features,
        "correction": note,
        "undecided_features": [f["column"] for f in undecided],
    }
    if label is not None and "statistics" in found:
        details["label"] = {k: float(v) for k, v in found["statistics"].items()}
    summary = (
        f"{len(drifted)} of {total} features drifted"
        + (f": {', '.join(f['column'] for f in drifted[:8])}" if drifted else "")
        + f"; {note}"
    )
    return check.conclude(
        started=started,
        assertions=assertions,
        metrics=metrics,
        details=details,
        fallback=summary,
        note=f" ({summary})",
    )


def _feature(
    entry: dict[str, Any], reference: Mapping[str, Any], current: Mapping[str, Any], alpha: float
) -> dict[str, Any]:
    """One column's entry in the local check's shape (:class:`validate.stats.drift.ColumnDrift`),
    plus its error bound and whether the approximation decided it."""
    column, kind = entry["column"], entry["kind"]
    judged = entry.get("judged")
    result = ds.ColumnDrift(
        column=column,
        kind=kind,
        statistics={k: float(v) for k, v in entry.get("statistics", {}).items()},
        p_value=entry.get("p_value"),
        method=entry["method"] if "value" in entry else "",
        value=float(entry.get("value", np.nan)),
        threshold=float(entry.get("threshold", np.nan)),
        lower_bound=None if judged is None else float(judged),
        confidence=None if judged is None else 1 - alpha,
        drifted=bool(entry["drifted"]),
        reason=entry.get("reason", "") if entry.get("decided", True) else "",
        missing_rate_change=(
            _missing_rate(current, column, kind) - _missing_rate(reference, column, kind)
        ),
        new_categories=list(entry.get("new_categories", [])),
    )
    out = result.to_dict()
    out["error_bound"] = float(entry.get("bound", 0.0))
    out["decided"] = bool(entry.get("decided", True))
    if not out["decided"]:
        out["sentence"] += f"; not decided: {entry['reason']}, flagged (fail closed)"
    return out


def _only(partial: Mapping[str, Any], columns: list[str]) -> dict[str, Any]:
    """``partial`` restricted to ``columns`` (in each kind's own order)."""
    return {
        kind: {c: entry for c, entry in partial[kind].items() if c in columns}
        for kind in ("numeric", "categorical")
    }


def _missing_rate(partial: Mapping[str, Any], column: str, kind: str) -> float:
    if kind == "numeric":
        entry = partial["numeric"][column]
        rows = entry["moments"][0] + entry["missing"] + entry["infinite"]
    else:
        entry = partial["categorical"][column]
        rows = sum(entry["counts"].values()) + entry["missing"]
    return float(entry["missing"] / rows) if rows else 0.0
