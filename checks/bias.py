"""The ``bias`` check: fairlearn's disparity metrics on an exact cell-count fast path, with
bootstrap CIs, small-group handling and a paired comparison with the champion."""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import ConfigDict, Field, model_validator

from validate.check import (
    BaseCheck,
    CheckContext,
    CheckSettings,
    Input,
    require_known_metrics,
)
from validate.errors import ConfigError
from validate.paths import safe_filename
from validate.results import Assertion, CheckResult
from validate.stats import fairness as fs
from validate.stats.counts import resampled_rows
from validate.stats.intervals import percentile
from validate.thresholds import ChangeBound, CIBound, judge, require_intervals

if TYPE_CHECKING:
    import pandas as pd

# More distinct values than this in one sensitive feature means it is not a group label.
MAX_GROUPS_PER_FEATURE = 100
REGRESSION_AGGREGATES = ("mae_difference", "rmse_difference")
PLOTTED = fs.PLOTTED


class BiasSettings(CheckSettings):
    model_config = ConfigDict(allow_inf_nan=False)

    sensitive_features: list[str] = Field(min_length=1, description="Columns of data.eval.")
    intersections: bool = Field(
        default=True, description="Also judge the intersection of all sensitive features."
    )
    method: Literal["between_groups", "to_overall"] = "between_groups"
    agg: Literal["worst_case", "mean"] = "worst_case"
    min_group_size: int = Field(default=30, ge=0)
    n_resamples: int = Field(default=1000, ge=0, description="Bootstrap resamples; 0: no CIs.")
    confidence: float = Field(default=0.95, gt=0.5, lt=1.0)
    thresholds: dict[str, CIBound] = Field(default_factory=dict)
    vs_baseline: dict[str, ChangeBound] = Field(default_factory=dict)
    custom_metrics: dict[str, str] = Field(
        default_factory=dict,
        description="name → 'module:function' (y_true, y_pred) -> float, via MetricFrame.",
    )

    @model_validator(mode="after")
    def _intervals_for_ci_judges(self) -> BiasSettings:
        custom = {f"{n}_{kind}" for n in self.custom_metrics for kind in ("difference", "ratio")}
        require_intervals(
            self,
            {"thresholds": {k: v for k, v in self.thresholds.items() if k in custom}},
            fix="custom metrics have none; use judge: point",
        )
        if self.n_resamples == 0:
            sections = {"thresholds": self.thresholds, "vs_baseline": self.vs_baseline}
            require_intervals(self, sections, default=1000)
        return self


@dataclass
class _Grouping:
    """One way of cutting the rows: a single sensitive feature, or their intersection."""

    name: str
    columns: tuple[str, ...]
    labels: tuple[str, ...] = ()
    kept: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    counts: np.ndarray = field(default_factory=lambda: np.zeros(0))
    codes: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))


class BiasCheck(BaseCheck):
    """Group fairness of the candidate's decisions, as fairlearn defines it."""

    Settings = BiasSettings

    @classmethod
    def valid_metrics(cls, task: str, settings: BiasSettings) -> tuple[str, ...]:
        base = REGRESSION_AGGREGATES if task == "regression" else fs.AGGREGATES
        custom = tuple(
            f"{n}_{kind}" for n in settings.custom_metrics for kind in ("difference", "ratio")
        )
        return base + custom

    @classmethod
    def validate_for_task(cls, name: str, settings: BiasSettings, task: str) -> None:  # type: ignore[override]
        if task == "multiclass":
            raise ConfigError(
                f"checks.{name}: fairness metrics need binary decisions or regression; "
                "data.task is multiclass"
            )
        valid = cls.valid_metrics(task, settings)
        require_known_metrics(name, settings, valid, task)
        if task == "regression" and settings.vs_baseline:
            # No change vs the champion is computed for regression groups: a rule here was
            # never judged, and the check passed with "no thresholds set".
            metric = next(iter(settings.vs_baseline))
            raise ConfigError(
                f"checks.{name}.vs_baseline.{metric}: comparing group errors with the "
                "champion's is not available for regression; remove vs_baseline and set "
                "thresholds on the candidate's differences"
            )
        for metric, rule in settings.vs_baseline.items():
            if metric.endswith("_ratio") and rule.max_increase is not None:
                raise ConfigError(
                    f"checks.{name}.vs_baseline.{metric}: ratios get worse as they fall; "
                    "use max_decrease"
                )
            if not metric.endswith("_ratio") and rule.max_decrease is not None:
                raise ConfigError(
                    f"checks.{name}.vs_baseline.{metric}: differences get worse as they grow; "
                    "use max_increase"
                )
        for metric_name, target in settings.custom_metrics.items():
            _import_metric(target, where=f"checks.{name}.custom_metrics.{metric_name}")

    def needs(self) -> frozenset[Input]:
        """The candidate's scores (and the champion's for ``vs_baseline``); the sensitive
        columns are asked for by :meth:`required_columns`, not as model features."""
        settings: BiasSettings = self.settings  # type: ignore[assignment]
        wanted = {Input.CANDIDATE_SCORES}
        if settings.vs_baseline:
            wanted.add(Input.BASELINE_SCORES)
        return frozenset(wanted)

    def required_columns(self) -> tuple[str, ...]:
        return tuple(self.settings.sensitive_features)  # type: ignore[attr-defined]

    def validate_data(self, eval_data: pd.DataFrame) -> None:
        """A sensitive feature names groups; a continuous column (income, a raw age) would
        make every value its own group of one, and every group would be dropped as small."""
        for feature in self.settings.sensitive_features:  # type: ignore[attr-defined]
            distinct = int(eval_data[feature].nunique(dropna=True))
            if distinct > MAX_GROUPS_PER_FEATURE:
                raise ConfigError(
                    f"checks.{self.name}.sensitive_features: '{feature}' has {distinct} distinct "
                    f"values (more than {MAX_GROUPS_PER_FEATURE}); sensitive features are group "
                    "labels: bin it into bands upstream, or name a categorical column"
                )

    def run(self, context: CheckContext) -> CheckResult:
        started = time.perf_counter()
        settings: BiasSettings = self.settings  # type: ignore[assignment]
        warnings: list[str] = []
        groupings = self._groupings(context, settings, warnings)
        for grouping in groupings:
            if int(grouping.kept.sum()) < 2:
                return self.early_result(
                    started,
                    f"{grouping.name}: fewer than two groups with at least "
                    f"{settings.min_group_size} rows ({_describe_groups(grouping)}); "
                    "lower min_group_size or use more data",
                    details={"warnings": warnings},
                )
        if context.task == "regression":
            per_grouping = [self._regression(context, g, settings) for g in groupings]
        else:
            per_grouping = [self._classification(context, g, settings) for g in groupings]
        for grouping, found in zip(groupings, per_grouping, strict=True):
            found.update(self._custom(context, grouping, settings))
        artifacts = None
        if context.artifact_dir and context.task != "regression":
            artifacts = self._plot(context.artifact_dir, groupings, per_grouping)
        return self.conclude_groupings(
            started, [g.name for g in groupings], per_grouping, warnings, artifacts=artifacts
        )

    def conclude_groupings(
        self,
        started: float,
        names: Sequence[str],
        per_grouping: Sequence[dict[str, Any]],
        warnings: list[str],
        *,
        first: Mapping[str, Any] | None = None,
        artifacts: list[str] | None = None,
    ) -> CheckResult:
        """The result from each grouping's :func:`grouping_report` (the Spark engine's too):
        thresholds judged, details in the report's shape (``first`` leading them, the
        charts' ``artifacts`` last), and the message."""
        settings: BiasSettings = self.settings  # type: ignore[assignment]
        metrics, assertions = self.judge_groupings(names, per_grouping)
        details: dict[str, Any] = {
            **(first or {}),
            "method": settings.method,
            "agg": settings.agg,
            "min_group_size": settings.min_group_size,
            "confidence": settings.confidence,
            "n_resamples": settings.n_resamples,
            "groupings": {
                name: {
                    "aggregates": found["aggregates"],
                    "ci": found["ci"],
                    "change_vs_baseline": found.get("change", {}),
                    "groups": found["groups"],
                    "excluded_small_groups": found["excluded"],
                }
                for name, found in zip(names, per_grouping, strict=True)
            },
            "warnings": warnings,
        }
        if artifacts is not None:
            details["artifacts"] = artifacts
        fallback = ""
        if not assertions:
            worst = metrics.get("demographic_parity_difference", metrics.get("mae_difference"))
            fallback = f"no thresholds set; worst difference {worst:.3f}"
        suffix = f" ({len(warnings)} warning{'s' if len(warnings) > 1 else ''})" if warnings else ""
        return self.conclude(
            started=started,
            assertions=assertions,
            metrics=metrics,
            details=details,
            fallback=fallback + suffix,
            note=suffix,
        )

    # -- groups ---------------------------------------------------------------------------

    def _groupings(
        self, context: CheckContext, settings: BiasSettings, warnings: list[str]
    ) -> list[_Grouping]:
        frame = context.eval_data
        features = settings.sensitive_features
        for column in features:
            missing = int(frame[column].isna().sum()) if frame[column].hasnans else 0
            if missing:
                warnings.append(
                    f"{column}: {missing} row(s) with a missing value form the group '<missing>'"
                )
        wanted = [(c,) for c in features]
        if settings.intersections and len(features) > 1:
            wanted.append(tuple(features))
        groupings = []
        for columns in wanted:
            codes = fs.group_codes([frame[c] for c in columns])
            counts = np.bincount(codes.codes, minlength=len(codes.labels)).astype(float)
            kept = counts >= settings.min_group_size
            grouping = _Grouping(
                name=" x ".join(columns),
                columns=columns,
                labels=tuple("/".join(label) for label in codes.labels),
                kept=kept,
                counts=counts,
                codes=codes.codes,
            )
            small = [
                f"{label} (n={int(n)})"
                for label, n, keep in zip(grouping.labels, counts, kept, strict=True)
                if not keep
            ]
            if small:
                warnings.append(
                    f"{grouping.name}: groups below min_group_size {settings.min_group_size} are "
                    f"reported but left out of the aggregates: {', '.join(small)}"
                )
            groupings.append(grouping)
        return groupings

    # -- binary classification ------------------------------------------------------------

    def _classification(
        self, context: CheckContext, grouping: _Grouping, settings: BiasSettings
    ) -> dict[str, Any]:
        # Labels are checked 0/1 integers on load, and decisions booleans: the cell counts
        # widen both as they add them, so neither is copied to int64 here first.
        y = context.y_true if context.y_true.dtype.kind in "iub" else context.y_true.astype(int)
        decide = lambda scores: np.asarray(scores) >= context.threshold  # noqa: E731
        predictions = decide(context.candidate_scores)
        n_groups = len(grouping.labels)
        kept = grouping.kept
        baseline = context.baseline_scores
        if baseline is not None:
            paired = fs.paired_cells(grouping.codes, y, predictions, decide(baseline), n_groups)
            cells = paired.sum(axis=-1)
        else:
            paired = None
            cells = fs.confusion_cells(grouping.codes, y, predictions, n_groups)
        judged = fs.judged_aggregates(
            cells,
            paired,
            kept,
            method=settings.method,
            agg=settings.agg,
            n_resamples=settings.n_resamples,
            seed=context.seed,
            confidence=settings.confidence,
        )
        return grouping_report(grouping.labels, kept, judged)

    # -- regression -----------------------------------------------------------------------

    def _regression(
        self, context: CheckContext, grouping: _Grouping, settings: BiasSettings
    ) -> dict[str, Any]:
        errors = np.asarray(context.candidate_scores, dtype=float) - context.y_true.astype(float)
        n_groups = len(grouping.labels)
        kept = grouping.kept

        codes = grouping.codes
        count = np.bincount(codes, minlength=n_groups)
        with np.errstate(invalid="ignore", divide="ignore"):
            mae = np.bincount(codes, weights=np.abs(errors), minlength=n_groups) / count
            rmse = np.sqrt(np.bincount(codes, weights=errors**2, minlength=n_groups) / count)
        mask = kept[codes]
        overall_mae = np.mean(np.abs(errors[mask]), keepdims=True)
        overall_rmse = np.sqrt(np.mean(errors[mask] ** 2, keepdims=True))
        point = {
            "mae_difference": float(_spread(mae[None, kept], overall_mae, settings.method)[0]),
            "rmse_difference": float(_spread(rmse[None, kept], overall_rmse, settings.method)[0]),
        }
        ci: dict[str, list[float]] = {}
        if settings.n_resamples:
            samples = _regression_bootstrap(
                errors, codes, kept, settings.method, settings.n_resamples, context.seed
            )
            ci = {k: list(percentile(v, settings.confidence)) for k, v in samples.items()}
        groups = [
            {
                "group": label,
                "included": bool(kept[i]),
                "count": int(grouping.counts[i]),
                "mae": _plain(mae[i]),
                "rmse": _plain(rmse[i]),
            }
            for i, label in enumerate(grouping.labels)
        ]
        excluded = [label for label, keep in zip(grouping.labels, kept, strict=True) if not keep]
        return {"aggregates": point, "ci": ci, "groups": groups, "excluded": excluded}

    # -- user metrics through fairlearn ---------------------------------------------------

    def _custom(
        self, context: CheckContext, grouping: _Grouping, settings: BiasSettings
    ) -> dict[str, Any]:
        if not settings.custom_metrics:
            return {}
        from fairlearn.metrics import MetricFrame

        mask = grouping.kept[grouping.codes]
        y_pred = context.candidate_scores
        if context.task == "binary":
            y_pred = (y_pred >= context.threshold).astype(np.int64)
        functions = {n: _import_metric(t, where=n) for n, t in settings.custom_metrics.items()}
        frame = MetricFrame(
            metrics=functions,
            y_true=context.y_true[mask],
            y_pred=y_pred[mask],
            sensitive_features=context.eval_data.loc[mask, list(grouping.columns)],
        )
        difference = frame.difference(method=settings.method)
        ratio = frame.ratio(method=settings.method)
        extra = {}
        for name in functions:
            extra[f"{name}_difference"] = float(difference[name])
            extra[f"{name}_ratio"] = float(ratio[name])
        return {"custom": extra}

    # -- thresholds -----------------------------------------------------------------------

    def judge_groupings(
        self, names: Sequence[str], per_grouping: Sequence[dict[str, Any]]
    ) -> tuple[dict[str, float], tuple[Assertion, ...]]:
        """Metrics (per grouping, and the worst over them) and the thresholds judged on the
        worst, from each grouping's :func:`grouping_report` (the Spark engine's too)."""
        settings: BiasSettings = self.settings  # type: ignore[assignment]
        metrics: dict[str, float] = {}
        worst: dict[str, tuple[float, str, tuple[float, float] | None]] = {}
        worst_change: dict[str, tuple[float, str, tuple[float, float] | None]] = {}
        for grouping, found in zip(names, per_grouping, strict=True):
            values = {**found["aggregates"], **found.get("custom", {})}
            for name, value in values.items():
                metrics[f"{grouping}/{name}"] = value
                interval = found["ci"].get(name)
                ci = (interval[0], interval[1]) if interval else None
                if name in found["ci"]:
                    metrics[f"{grouping}/{name}.ci_low"] = interval[0]
                    metrics[f"{grouping}/{name}.ci_high"] = interval[1]
                lower_is_better = not name.endswith("_ratio")
                current = worst.get(name)
                if current is None or _worse(value, current[0], lower_is_better):
                    worst[name] = (value, grouping, ci)
            for name, entry in found.get("change", {}).items():
                metrics[f"{grouping}/{name}.change_vs_baseline"] = entry["change"]
                interval = entry.get("ci")
                ci = (interval[0], interval[1]) if interval else None
                lower_is_better = not name.endswith("_ratio")
                current = worst_change.get(name)
                if current is None or _worse(entry["change"], current[0], lower_is_better):
                    worst_change[name] = (entry["change"], grouping, ci)
        for name, (value, _, _) in worst.items():
            metrics[name] = value
        for name, (value, _, _) in worst_change.items():
            metrics[f"{name}.change_vs_baseline"] = value
        assertions: list[Assertion] = []
        for name, bound in settings.thresholds.items():
            value, where, ci = worst[name]
            assertions.extend(judge(name, value, bound, ci, note=f"(worst: {where})"))
        for name, rule in settings.vs_baseline.items():
            if name not in worst_change:
                continue  # no champion scores: reported as skipped in the message below
            value, where, ci = worst_change[name]
            assertions.extend(
                judge(
                    f"{name} change vs champion",
                    value,
                    rule.as_bound(),
                    ci,
                    note=f"(worst: {where})",
                )
            )
        return metrics, tuple(assertions)

    def _plot(
        self, folder: str, groupings: list[_Grouping], per_grouping: list[dict[str, Any]]
    ) -> list[str]:
        """One SVG per grouping: the HTML report's group chart as a file, with a note
        naming the groups left out."""
        from validate.plots import group_rates_svg, write_svg

        settings: BiasSettings = self.settings  # type: ignore[assignment]
        names = []
        for grouping, found in zip(groupings, per_grouping, strict=True):
            rows = [r for r in found["groups"] if r["included"]]
            left_out = [r for r in found["groups"] if not r["included"]]
            title = f"{grouping.name}: rates by group ({len(rows)} groups)"
            if left_out:
                listed = ", ".join(f"{r['group']} (n={r.get('count', '?')})" for r in left_out)
                title += f"; left out, below min_group_size {settings.min_group_size}: {listed}"
            stem = safe_filename(grouping.name.replace(" x ", "_x_"))
            file = write_svg(Path(folder) / f"bias_{stem}.svg", group_rates_svg(rows), title=title)
            names.append(file.name)
        return names


def grouping_report(labels: Sequence[str], kept: np.ndarray, judged: Any) -> dict[str, Any]:
    """One grouping's aggregates, CIs, change vs the champion and per-group rows, from
    :func:`validate.stats.fairness.judged_aggregates` (shared with the Spark engine, which
    counts the same cells per partition)."""
    point, per_group, ci = judged.point, judged.per_group, judged.ci
    group_ci, change = judged.group_ci, judged.change
    groups = []
    kept_index = np.flatnonzero(kept)
    for index, label in enumerate(labels):
        row: dict[str, Any] = {"group": label, "included": bool(kept[index])}
        row.update({m: _plain(per_group[m][index]) for m in fs.GROUP_METRICS})
        if row.get("count") is not None:
            row["count"] = int(row["count"])  # a number of rows, not a rate
        if group_ci and kept[index]:
            position = int(np.searchsorted(kept_index, index))
            row["ci"] = {
                m: [_plain(group_ci[m][0][position]), _plain(group_ci[m][1][position])]
                for m in PLOTTED
            }
        groups.append(row)
    excluded = [label for label, keep in zip(labels, kept, strict=True) if not keep]
    return {
        "aggregates": point,
        "ci": ci,
        "change": change,
        "groups": groups,
        "excluded": excluded,
    }


def _regression_bootstrap(
    errors: np.ndarray,
    codes: np.ndarray,
    kept: np.ndarray,
    method: str,
    n_resamples: int,
    seed: int,
) -> dict[str, np.ndarray]:
    """The row bootstrap of the MAE and RMSE spreads, all ``n_resamples`` of it.

    Regression errors are not cell counts, but each resample only needs, per group, the
    number of drawn rows and the sums of |e| and e² over them: one ``bincount`` over
    (resample, group) per chunk of resamples (``validate.stats.counts.resampled_rows``),
    so memory stays bounded and no Python loop runs per resample. The overall MAE and
    RMSE are over the rows of kept groups, as in the point estimate.
    """
    n_groups = len(kept)
    absolute, squared = np.abs(errors), errors**2
    found: dict[str, list[np.ndarray]] = {"mae_difference": [], "rmse_difference": []}
    for drawn in resampled_rows(len(errors), n_resamples, seed):
        c = drawn.shape[0]
        flat = (codes[drawn] + (np.arange(c) * n_groups)[:, None]).ravel()
        sums = [
            np.bincount(flat, weights=w, minlength=c * n_groups).reshape(c, n_groups)[:, kept]
            for w in (None, absolute[drawn].ravel(), squared[drawn].ravel())
        ]
        count, total_abs, total_sq = sums
        with np.errstate(invalid="ignore", divide="ignore"):
            mae, mse = total_abs / count, total_sq / count
            overall_mae = total_abs.sum(axis=1) / count.sum(axis=1)
            overall_rmse = np.sqrt(total_sq.sum(axis=1) / count.sum(axis=1))
        found["mae_difference"].append(_spread(mae, overall_mae, method))
        found["rmse_difference"].append(_spread(np.sqrt(mse), overall_rmse, method))
    return {k: np.concatenate(v) for k, v in found.items()}


def _spread(by_group: np.ndarray, overall: np.ndarray, method: str) -> np.ndarray:
    """(c, G) group values → (c,) max − min, or max |group − overall|; empty groups (NaN) are
    left out, as a MetricFrame on the resampled rows would."""
    with fs.quiet_all_nan():
        if method == "between_groups":
            return np.nanmax(by_group, axis=1) - np.nanmin(by_group, axis=1)
        return np.nanmax(np.abs(by_group - overall[:, None]), axis=1)


def _worse(value: float, than: float, lower_is_better: bool) -> bool:
    """Whether ``value`` is the worse of the two. NaN (a grouping whose metric cannot be
    computed) is worse than any number: it is judged, and fails, instead of being hidden
    behind another grouping's finite value."""
    if np.isnan(than):
        return False
    if np.isnan(value):
        return True
    return value > than if lower_is_better else value < than


def _plain(value: Any) -> float | None:
    number = float(value)
    return None if np.isnan(number) else number


def _describe_groups(grouping: _Grouping) -> str:
    return ", ".join(
        f"{label} n={int(n)}" for label, n in zip(grouping.labels, grouping.counts, strict=True)
    )


def _import_metric(target: str, *, where: str) -> Callable[..., float]:
    module_name, _, attribute = target.partition(":")
    try:
        function = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError, ValueError) as exc:
        raise ConfigError(
            f"{where}: cannot import '{target}' ({exc}); use 'module:function'"
        ) from exc
    if not callable(function):
        raise ConfigError(f"{where}: '{target}' is not callable")
    return function
