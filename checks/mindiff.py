"""The ``mindiff`` check: how far apart the candidate's score distributions are for the
sensitive group and the rest, in MinDiff's own terms (MMD, absolute correlation)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import Field

from validate.check import BaseCheck, CheckContext, CheckSettings, Input
from validate.errors import ConfigError
from validate.results import CheckResult
from validate.stats import mindiff as md
from validate.stats.intervals import percentile
from validate.thresholds import CIBound, judge

if TYPE_CHECKING:
    import pandas as pd

METRICS = ("mmd", "absolute_correlation")


class RemediationSettings(CheckSettings):
    """How ``validate remediate`` retrains a Keras candidate with MinDiff."""

    weight: float = Field(default=1.5, gt=0)
    epochs: int = Field(default=8, ge=1)
    batch_size: int = Field(default=256, ge=8)
    learning_rate: float = Field(default=0.01, gt=0)


class MinDiffSettings(CheckSettings):
    sensitive_feature: str
    sensitive_group: str | None = Field(
        default=None,
        description="Value marking the sensitive group (the check and `validate remediate` "
        "both use it); default: the rarer of exactly two values in data.eval.",
    )
    within: Literal["negative", "positive", "all"] = Field(
        default="negative", description="Rows compared: negatives gives MinDiff's FPR-gap use."
    )
    kernel: Literal["gaussian", "laplacian"] = "gaussian"
    max_rows: int = Field(default=2000, ge=20, description="Seeded subsample above this (O(n²)).")
    n_resamples: int = Field(default=100, ge=0)
    confidence: float = Field(default=0.95, gt=0.5, lt=1.0)
    thresholds: dict[str, CIBound] = Field(default_factory=dict)
    remediation: RemediationSettings = Field(default_factory=RemediationSettings)


class MinDiffCheck(BaseCheck):
    """Distribution gap of the candidate's scores between the sensitive group and the rest."""

    Settings = MinDiffSettings

    @classmethod
    def validate_for_task(cls, name: str, settings: MinDiffSettings, task: str) -> None:  # type: ignore[override]
        if task != "binary":
            raise ConfigError(f"checks.{name}: MinDiff compares binary scores; data.task is {task}")
        for metric in settings.thresholds:
            if metric not in METRICS:
                raise ConfigError(
                    f"checks.{name}.thresholds.{metric}: unknown metric; "
                    f"valid: {', '.join(METRICS)}"
                )

    def needs(self) -> frozenset[Input]:
        """Only the candidate's scores (and its sensitive column, see required_columns)."""
        return frozenset({Input.CANDIDATE_SCORES})

    def required_columns(self) -> tuple[str, ...]:
        return (self.settings.sensitive_feature,)  # type: ignore[attr-defined]

    def run(self, context: CheckContext) -> CheckResult:
        started = time.perf_counter()
        settings: MinDiffSettings = self.settings  # type: ignore[assignment]
        column = group_labels(context.eval_data, settings.sensitive_feature)
        try:
            group = sensitive_group(column, settings.sensitive_feature, settings.sensitive_group)
        except ConfigError as exc:
            return self.early_result(started, str(exc))
        if group not in set(column.unique()):
            return self.early_result(
                started,
                f"{settings.sensitive_feature}: no rows with value "
                f"'{group}'; set sensitive_group to a value in the data",
            )
        membership = (column == group).to_numpy().astype(np.float32)
        y = context.y_true
        rows = {"negative": y == 0, "positive": y == 1, "all": np.ones(len(y), bool)}[
            settings.within
        ]
        for value, who in ((1.0, f"'{group}'"), (0.0, "the rest")):
            if not np.any(rows & (membership == value)):
                return self.early_result(
                    started, f"no {settings.within} rows in {who}; MinDiff needs both groups"
                )
        index = np.flatnonzero(rows)
        assert context.candidate_scores is not None  # needs() asks for them
        chosen = index[md.stratified_sample(membership[index], settings.max_rows, context.seed)]
        member, scores = membership[chosen], context.candidate_scores[chosen].astype(np.float32)
        metrics = md.distances(member, scores, kernel=settings.kernel)
        intervals: dict[str, tuple[float, float]] = {}
        if settings.n_resamples:
            weights = md.bootstrap_weights(member, settings.n_resamples, context.seed)
            boot = md.distances(member, scores, kernel=settings.kernel, weights=weights)
            intervals = {k: percentile(np.asarray(v), settings.confidence) for k, v in boot.items()}
        details: dict[str, Any] = {
            "sensitive_feature": settings.sensitive_feature,
            "sensitive_group": group,
            "within": settings.within,
            "kernel": settings.kernel,
            "rows_compared": int(len(chosen)),
            "rows_eligible": int(len(index)),
            "sensitive_rows": int(member.sum()),
            "n_resamples": settings.n_resamples,  # all drawn: no cap
            "ci": {k: list(v) for k, v in intervals.items()},
        }
        if context.baseline_scores is not None:
            champion = md.distances(
                member, context.baseline_scores[chosen].astype(np.float32), kernel=settings.kernel
            )
            details["champion"] = champion
            for name in METRICS:
                metrics[f"{name}.change_vs_baseline"] = metrics[name] - champion[name]
        assertions = tuple(
            a
            for name, bound in settings.thresholds.items()
            for a in judge(name, metrics[name], bound, intervals.get(name))
        )
        return self.conclude(
            started=started,
            assertions=assertions,
            metrics=metrics,
            details=details,
            fallback=f"mmd {metrics['mmd']:.4f} between '{group}' and the rest "
            f"({settings.within} rows)",
        )


MISSING = "<missing>"


def group_labels(frame: pd.DataFrame, feature: str) -> pd.Series:
    """The sensitive column as strings, a missing value being the group ``<missing>``."""
    return frame[feature].astype("string").fillna(MISSING)


def sensitive_group(labels: pd.Series, feature: str, configured: str | None) -> str:
    """The group MinDiff compares with the rest: the one rule the check and ``validate
    remediate`` share, so remediation trains against the group the check measures.

    ``configured`` (``sensitive_group``) when set; otherwise the column must have exactly
    two values and the rarer one is the group. Any other number of values, or two equally
    common ones, has no obvious "sensitive group", so the user must name it.

    Raises
    ------
    ConfigError
        No ``sensitive_group`` and not exactly two values of unequal frequency.
    """
    if configured is not None:
        return configured
    counts = labels.value_counts()
    if len(counts) != 2:
        listed = ", ".join(f"'{v}' (n={n})" for v, n in sorted(counts.items())[:10])
        raise ConfigError(
            f"checks.mindiff.sensitive_group: {feature} has {len(counts)} value(s) ({listed}); "
            "the default is the rarer of exactly two, so set sensitive_group to the one to compare"
        )
    (first, n_first), (second, n_second) = sorted(counts.items())
    if n_first == n_second:
        raise ConfigError(
            f"checks.mindiff.sensitive_group: {feature} has as many '{first}' as '{second}' "
            f"rows ({n_first}); set sensitive_group to the one to compare"
        )
    return str(first if n_first < n_second else second)
