"""The ``accuracy`` check: scikit-learn metrics with confidence intervals, a paired
non-inferiority comparison with the champion, and per-slice judgement under Holm's control."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from validate.check import (
    BaseCheck,
    CheckContext,
    CheckSettings,
    Input,
    require_known_metrics,
)
from validate.results import Assertion, CheckResult
from validate.stats import quality
from validate.stats.auc import DeLong, delong
from validate.stats.intervals import Interval, z_value
from validate.stats.metrics import METRIC_NAMES, compute_metrics
from validate.stats.slicing import Slice, holm_reject, make_slices, one_sided_p
from validate.thresholds import CIBound, ci_required, format_value, judge, require_intervals

# Metrics whose interval needs no resampling (analytic, as validate.stats.quality computes
# them): judge: upper_ci/lower_ci on them works with n_resamples: 0 too.
ANALYTIC_INTERVALS = frozenset(
    {"log_loss", "brier", "mae", "mape", "rmse", "roc_auc", "average_precision"}
)


# For editors (``validate schema``); which of them a task computes is checked on load.
_ALL_METRICS = tuple(sorted({m for names in METRIC_NAMES.values() for m in names}))


class BaselineRule(BaseModel):
    """Judged on the CI of (candidate − champion) on the same rows."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    max_drop: float | None = Field(default=None, ge=0, description="Non-inferiority margin δ.")
    min_gain: float | None = Field(default=None, description="Superiority: gain of at least γ.")

    @model_validator(mode="after")
    def _one_rule(self) -> BaselineRule:
        if (self.max_drop is None) == (self.min_gain is None):
            raise ValueError("give exactly one of max_drop or min_gain")
        return self


class AccuracySettings(CheckSettings):
    # Slice edges are inner edges (±inf are added), so no setting here is ever nan or inf.
    model_config = ConfigDict(allow_inf_nan=False)

    thresholds: dict[str, CIBound] = Field(
        default_factory=dict,
        description="Metric → {min, max, judge}; metric names as scikit-learn's.",
        json_schema_extra={"propertyNames": {"enum": list(_ALL_METRICS)}},
    )
    vs_baseline: dict[str, BaselineRule] = Field(
        default_factory=dict,
        description="Metric → {max_drop} or {min_gain}, judged on the paired CI.",
        json_schema_extra={"propertyNames": {"enum": list(_ALL_METRICS)}},
    )
    confidence: float = Field(default=0.95, gt=0.5, lt=1.0)
    n_resamples: int = Field(default=1000, ge=0, description="Bootstrap resamples (seeded).")
    slices: list[str | dict[str, list[float]]] = Field(
        default_factory=list, description="Columns, or {column: [bin edges]} for numbers."
    )
    min_slice_size: int = Field(default=100, ge=1)

    @model_validator(mode="after")
    def _intervals_for_ci_judges(self) -> AccuracySettings:
        if self.n_resamples == 0:
            require_intervals(
                self,
                {"thresholds": self.thresholds},
                default=1000,
                has_interval=ANALYTIC_INTERVALS.__contains__,
            )
            # Slices are judged on their intervals; a slice of a metric without one was
            # never judged (and the check passed), so refuse it here.
            if self.slices:
                missing = [m for m in self.thresholds if m not in ANALYTIC_INTERVALS]
                if missing:
                    raise ci_required(
                        self,
                        ("thresholds", missing[0]),
                        "slices",
                        "set n_resamples >= 1 (default 1000); with 0, slices can be judged on "
                        f"{', '.join(sorted(ANALYTIC_INTERVALS))} only",
                    )
            # vs_baseline is always judged on the paired CI; with no resamples only the
            # analytic ones exist (n_resamples is honoured, never quietly raised).
            for metric in self.vs_baseline:
                if metric not in quality.PAIRED_ANALYTIC:
                    raise ci_required(
                        self,
                        ("vs_baseline", metric),
                        "vs_baseline",
                        "set n_resamples >= 1 (default 1000); with 0, only "
                        f"{', '.join(sorted(quality.PAIRED_ANALYTIC))} have a paired interval",
                    )
        return self


class AccuracyCheck(BaseCheck):
    """Predictive quality of the candidate, with CIs, against thresholds and the champion."""

    Settings = AccuracySettings

    @classmethod
    def validate_for_task(cls, name: str, settings: AccuracySettings, task: str) -> None:  # type: ignore[override]
        valid = METRIC_NAMES[task]
        require_known_metrics(name, settings, valid, task)

    def needs(self) -> frozenset[Input]:
        """The candidate's scores; the champion's too when ``vs_baseline`` compares to it.
        No feature columns: a table of labels and scores is enough."""
        settings: AccuracySettings = self.settings  # type: ignore[assignment]
        wanted = {Input.CANDIDATE_SCORES}
        if settings.vs_baseline:
            wanted.add(Input.BASELINE_SCORES)
        return frozenset(wanted)

    def required_columns(self) -> tuple[str, ...]:
        settings: AccuracySettings = self.settings  # type: ignore[assignment]
        return tuple(s if isinstance(s, str) else next(iter(s)) for s in settings.slices)

    def run(self, context: CheckContext) -> CheckResult:
        started = time.perf_counter()
        settings: AccuracySettings = self.settings  # type: ignore[assignment]
        y, p = context.y_true, context.candidate_scores
        metrics = compute_metrics(context.task, y, p, context.threshold)
        undefined = [m for m in settings.thresholds if not np.isfinite(metrics[m])]
        if undefined:
            return self.early_result(
                started,
                f"{', '.join(undefined)} undefined on this data "
                f"({_why_undefined(context)}); fix the eval set",
                metrics=metrics,
            )
        auc = _shared_delong(context, metrics)
        intervals = quality.metric_intervals(
            context.task,
            y,
            p,
            metrics,
            threshold=context.threshold,
            confidence=settings.confidence,
            n_resamples=settings.n_resamples,
            seed=context.seed,
            auc=auc,
        )
        assertions: list[Assertion] = []
        for metric, bound in settings.thresholds.items():
            ci = intervals[metric].ci if metric in intervals else None
            assertions.extend(judge(metric, metrics[metric], bound, ci))
        details: dict[str, Any] = {
            "rows": int(len(y)),
            "confidence": settings.confidence,
            # Every bootstrap of this check (overall, paired, slices) draws exactly this many.
            "n_resamples": settings.n_resamples,
            "ci": {m: list(i.ci) for m, i in intervals.items()},
        }
        output = dict(metrics)
        for metric, interval in intervals.items():
            output[f"{metric}.ci_low"], output[f"{metric}.ci_high"] = interval.ci

        if settings.vs_baseline and context.baseline_scores is None:
            return self.early_result(
                started,
                "vs_baseline needs champion scores; set model.baseline or data.baseline_prediction",
                metrics=output,
            )
        if context.baseline_scores is not None:
            comparison = self._compare(context, settings, metrics, details, auc)
            output.update({f"{m}.vs_baseline": i.value for m, i in comparison.items()})
            for metric, rule in settings.vs_baseline.items():
                assertion, tested = baseline_assertion(
                    metric, comparison[metric], rule, settings.confidence
                )
                assertions.append(assertion)
                details["vs_baseline"][metric]["rule"] = tested
        if settings.slices:
            assertions.extend(self._slices(context, settings, details))

        return self.conclude(
            started=started,
            assertions=assertions,
            metrics=output,
            details=details,
            fallback="no thresholds set; metrics reported with CIs",
        )

    def _compare(
        self,
        context: CheckContext,
        settings: AccuracySettings,
        metrics: dict[str, float],
        details: dict[str, Any],
        auc: DeLong | None,
    ) -> dict[str, Interval]:
        assert context.baseline_scores is not None
        champion = compute_metrics(
            context.task, context.y_true, context.baseline_scores, context.threshold
        )
        names = tuple(m for m in metrics if np.isfinite(metrics[m]) and np.isfinite(champion[m]))
        comparison = quality.paired_intervals(
            context.task,
            context.y_true,
            context.candidate_scores,
            context.baseline_scores,
            metrics,
            champion,
            threshold=context.threshold,
            confidence=settings.confidence,
            n_resamples=settings.n_resamples,
            seed=context.seed,
            names=names,
            auc=auc if auc is not None and len(auc.aucs) == 2 else None,
        )
        details["baseline_metrics"] = champion
        details["delta_vs_baseline"] = {m: metrics[m] - champion[m] for m in metrics}
        details["vs_baseline"] = {
            m: {
                "difference": i.value,
                "ci": list(i.ci),
                "p_value": i.p_value,  # two-sided, H0: no difference
                "champion": champion[m],
            }
            for m, i in comparison.items()
        }
        return comparison

    def _slices(
        self, context: CheckContext, settings: AccuracySettings, details: dict[str, Any]
    ) -> list[Assertion]:
        slices = make_slices(context.eval_data, settings.slices)
        rows: list[dict[str, Any]] = []
        tests: list[tuple[Slice, str, CIBound, float, Interval]] = []
        for piece in slices:
            size = int(piece.mask.sum())
            entry: dict[str, Any] = {
                "slice": piece.name,
                "rows": size,
                "judged": size >= settings.min_slice_size,
            }
            rows.append(entry)
            if not entry["judged"]:
                continue
            y, p = context.y_true[piece.mask], context.candidate_scores[piece.mask]
            if context.task != "regression" and len(np.unique(y)) < 2:
                entry["judged"] = False
                entry["reason"] = "one class only"
                continue
            metrics = compute_metrics(
                context.task, y, p, context.threshold, names=tuple(settings.thresholds) or None
            )
            found = quality.metric_intervals(
                context.task,
                y,
                p,
                metrics,
                threshold=context.threshold,
                confidence=settings.confidence,
                n_resamples=settings.n_resamples,
                seed=context.seed,
            )
            entry["metrics"] = metrics
            entry["ci"] = {m: list(i.ci) for m, i in found.items()}
            for metric, bound in settings.thresholds.items():
                # A metric the slice cannot have (a multiclass slice missing a class) gets
                # no interval; tested with an undefined one, it fails (one_sided_p) instead
                # of being left out while the slice reads as judged.
                interval = found.get(metric, Interval(float("nan"), float("nan"), float("nan")))
                tests.append((piece, metric, bound, metrics[metric], interval))
        details["slices"] = rows
        if not tests:
            return []
        # One one-sided test per (slice, bound): H0 "the slice meets the bound"; Holm keeps
        # the chance of any false block at 1 − confidence however many slices are judged.
        z = z_value(settings.confidence)
        p_values = [
            one_sided_p(value, interval, bound, z) for _, _, bound, value, interval in tests
        ]
        rejected = holm_reject(p_values, alpha=1 - settings.confidence)
        assertions = []
        worst: tuple[float, str] | None = None
        for (piece, metric, bound, value, interval), p, reject in zip(
            tests, p_values, rejected, strict=True
        ):
            side = f"min {bound.min:g}" if bound.min is not None else f"max {bound.max:g}"
            low, high = format_value(interval.low), format_value(interval.high)
            shown = f"{format_value(value)} [{low}, {high}]"
            verdict = "below" if bound.min is not None else "above"
            sentence = (
                f"slice {piece.name}: {metric} {shown} {verdict} {side} (one-sided p={p:.3g}, "
                f"significant under Holm's correction over {len(tests)} tests)"
                if reject
                else f"slice {piece.name}: {metric} {shown} consistent with {side}"
            )
            if not np.isfinite(value):
                sentence = f"slice {piece.name}: {metric} could not be computed (nan); {side}"
            assertions.append(
                Assertion(
                    f"{metric}[{piece.name}]",
                    ">=" if bound.min is not None else "<=",
                    bound.min if bound.min is not None else bound.max,
                    value,
                    not reject,
                    interval.ci,
                    sentence,
                )
            )
            gap = (value - bound.min) if bound.min is not None else (bound.max - value)
            gap = gap if np.isfinite(gap) else -np.inf  # an undefined slice is the worst
            if worst is None or gap < worst[0]:
                worst = (gap, f"{piece.name} ({metric} {format_value(value)})")
        if worst:
            details["worst_slice"] = worst[1]
        return [a for a in assertions if not a.passed] or assertions[:1]


def _shared_delong(context: CheckContext, metrics: dict[str, float]) -> DeLong | None:
    """One DeLong pass serves the candidate's AUC interval and the paired comparison."""
    if context.task != "binary" or not np.isfinite(metrics.get("roc_auc", np.nan)):
        return None
    if context.baseline_scores is not None:
        return delong(context.y_true, context.candidate_scores, context.baseline_scores)
    return delong(context.y_true, context.candidate_scores)


def baseline_assertion(
    metric: str, interval: Interval, rule: BaselineRule, confidence: float
) -> tuple[Assertion, dict[str, Any]]:
    """Non-inferiority (max_drop) or superiority (min_gain), always on the CI.

    The p-value shown is that of the test the CI decides, by the CI's own method: the
    CI's lower (upper) end clears the limit exactly when p < (1 − confidence)/2.
    """
    lower_is_better = metric in quality.LOWER_IS_BETTER
    shown = (
        f"{metric} {interval.value:+.3f} [{interval.low:+.3f}, {interval.high:+.3f}] vs champion"
    )
    if rule.max_drop is not None:
        test, delta = "non-inferiority", float(rule.max_drop)
        # Worse means higher for lower-is-better metrics: the whole CI must stay below +δ.
        limit = delta if lower_is_better else -delta
        rule_text = f"allowed drop {delta:.3f}"
    else:
        test, gamma = "superiority", float(rule.min_gain or 0.0)
        limit = -gamma if lower_is_better else gamma
        rule_text = f"required gain {gamma:.3f}"
    if lower_is_better:
        passed, op = interval.high < limit, "<"
    else:
        passed, op = interval.low > limit, ">"
    alpha = (1 - confidence) / 2
    p = interval.p_beyond(limit, above=not lower_is_better)
    tested = f", {test} {_p_text(p, interval)} (one-sided, α={alpha:.3g})" if p is not None else ""
    sentence = f"{shown}; {rule_text}{tested}"
    assertion = Assertion(
        f"{metric} vs champion", op, limit, interval.value, bool(passed), interval.ci, sentence
    )
    return assertion, {"test": test, "limit": limit, "p_value": p, "alpha": round(alpha, 12)}


def _p_text(p: float, interval: Interval) -> str:
    if p == 0 and interval.samples is not None:  # no resample reached the limit
        return f"p<{1 / max(int(np.isfinite(interval.samples).sum()), 1):.2g}"
    return f"p={p:.3g}"


def _why_undefined(context: CheckContext) -> str:
    classes = np.unique(context.y_true)
    if context.task != "regression" and len(classes) < 2:
        return f"the eval set has one class only ({classes[0]})"
    return "a metric's denominator is zero"
