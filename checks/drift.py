"""The ``drift`` check: feature, label and prediction drift between data.reference and
data.eval, decided by effect size by default: a column is flagged when the lower end of
its effect size's confidence interval, simultaneous over the columns, is above the
cut-off (p-values reported, BH-corrected when used)."""

from __future__ import annotations

import os
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
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
from validate.results import CheckResult, Status
from validate.stats import drift as ds
from validate.stats.normal import quantile
from validate.thresholds import CIBound, judge, require_intervals

if TYPE_CHECKING:
    import pandas as pd

    from validate.arrow_frame import ArrowSeries

METRICS = (
    "share_drifted_features",
    "drifted_features",
    "label_drift",
    "prediction_drift",
    "prediction_drift_vs_champion",
)


class ColumnRule(CheckSettings):
    model_config = ConfigDict(allow_inf_nan=False)

    method: str | None = None
    threshold: float | None = Field(default=None, gt=0)


class DriftSettings(CheckSettings):
    model_config = ConfigDict(allow_inf_nan=False)

    columns: list[str] | None = Field(default=None, description="Default: the model features.")
    decide_by: Literal["effect_size", "p_value"] = "effect_size"
    alpha: float = Field(
        default=0.05,
        gt=0,
        lt=1,
        description=(
            "Error rate over the column family. effect_size with column_judge: lower_ci: the "
            "chance that any column whose true effect is at or below its cut-off gets flagged "
            "(family-wise, Bonferroni: each column's lower bound is at 1 − alpha/columns). "
            "p_value: the Benjamini–Hochberg false discovery rate."
        ),
    )
    column_judge: Literal["lower_ci", "point"] = Field(
        default="lower_ci",
        description=(
            "How a column's effect size meets its cut-off. lower_ci: flagged only when its "
            "lower confidence bound (seeded bootstrap, simultaneous over the columns at "
            "1 − alpha) is above the cut-off, so sampling noise on small eval sets is not "
            "drift; the bound is ~0.08 below the estimate at 2,000 rows, ~0.003 at 2M. "
            "point: the estimate itself (on 300 rows a column of seven unchanged ones "
            "exceeds 0.1 in nearly every run)."
        ),
    )
    n_resamples: int = Field(default=200, ge=10, description="Bootstrap resamples a column.")
    numeric_method: Literal["wasserstein", "ks", "psi"] = "wasserstein"
    categorical_method: Literal["jensenshannon", "chisquare", "psi"] = "jensenshannon"
    per_column: dict[str, ColumnRule] = Field(default_factory=dict)
    thresholds: dict[str, CIBound] = Field(default_factory=dict)
    histograms: bool = True

    @model_validator(mode="after")
    def _no_ci_judges(self) -> DriftSettings:
        # Drift metrics are counts and test statistics: no confidence interval to judge on.
        require_intervals(
            self, {"thresholds": self.thresholds}, fix="drift metrics have none; use judge: point"
        )
        return self


class DriftCheck(BaseCheck):
    """Did the data move since the reference? Column by column, plus labels and scores."""

    Settings = DriftSettings
    needs_reference_scores = True

    def needs(self) -> frozenset[Input]:
        """The reference data, and feature columns unless ``columns`` names what to compare.
        No model: feature drift compares data (prediction drift is added when scores exist)."""
        settings: DriftSettings = self.settings  # type: ignore[assignment]
        return frozenset(
            {Input.REFERENCE} if settings.columns else {Input.REFERENCE, Input.FEATURES}
        )

    @classmethod
    def validate_for_task(cls, name: str, settings: DriftSettings, task: str) -> None:  # type: ignore[override]
        require_known_metrics(name, settings, METRICS, task, sections=("thresholds",))
        for column, rule in settings.per_column.items():
            valid = set(ds.NUMERIC_METHODS) | set(ds.CATEGORICAL_METHODS)
            if rule.method is not None and rule.method not in valid:
                raise ConfigError(
                    f"checks.{name}.per_column.{column}.method: unknown method "
                    f"'{rule.method}'; valid: {', '.join(sorted(valid))}"
                )

    def run(self, context: CheckContext) -> CheckResult:
        started = time.perf_counter()
        settings: DriftSettings = self.settings  # type: ignore[assignment]
        if context.reference_data is None:
            return self.early_result(
                started,
                "no data.reference configured; nothing to compare against",
                status=Status.SKIPPED,
            )
        reference, current = context.reference_data, context.eval_data
        columns = settings.columns or list(context.features)
        missing = [c for c in columns if c not in reference.columns or c not in current.columns]
        if missing:
            return self.early_result(
                started,
                f"column(s) {', '.join(missing)} missing from data.reference or data.eval",
            )
        bounded = settings.decide_by == "effect_size" and settings.column_judge == "lower_ci"
        # Bonferroni over the column family: simultaneous lower bounds at 1 − alpha.
        z = quantile(1 - settings.alpha / max(len(columns), 1)) if bounded else None
        seed = context.seed

        def one(column: str) -> ds.ColumnDrift:
            return self._column(column, reference[column], current[column], settings, z, seed)

        # Columns are independent and NumPy's sorts release the GIL: use every core.
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
            results = list(pool.map(one, columns))
        note = ""
        if settings.decide_by == "p_value":
            note = self._decide_by_p_values(results, settings.alpha)
        elif z is not None:
            note = (
                f"lower bounds {100 * (1 - settings.alpha):g}% simultaneous over "
                f"{len(columns)} columns, Bonferroni"
            )
        drifted = [r for r in results if r.drifted]
        metrics: dict[str, float] = {
            "share_drifted_features": len(drifted) / len(results) if results else 0.0,
            "drifted_features": float(len(drifted)),
        }
        details: dict[str, Any] = {
            "decide_by": settings.decide_by,
            "features": [r.to_dict() for r in results],
        }
        if note:
            details["correction"] = note
        self._labels_and_scores(context, metrics, details)
        details["histograms"] = {
            r.column: _histogram(reference[r.column], current[r.column])
            for r in drifted[:20]
            if r.kind == "numeric" and r.statistics
        }
        if context.artifact_dir and settings.histograms and drifted:
            details["artifacts"] = _histograms(context.artifact_dir, details["histograms"])
        assertions = tuple(
            a
            for name, bound in settings.thresholds.items()
            if name in metrics
            for a in judge(name, metrics[name], bound)
        )
        summary = (
            f"{len(drifted)} of {len(results)} features drifted"
            + (f": {', '.join(r.column for r in drifted[:8])}" if drifted else "")
            + (f"; {note}" if note else "")
        )
        return self.conclude(
            started=started,
            assertions=assertions,
            metrics=metrics,
            details=details,
            fallback=summary,
            note=f" ({summary})",
        )

    def _column(
        self,
        name: str,
        reference: pd.Series,
        current: pd.Series,
        settings: DriftSettings,
        z: float | None,
        seed: int,
    ) -> ds.ColumnDrift:
        numeric = _is_numeric(reference)
        result = ds.ColumnDrift(column=name, kind="numeric" if numeric else "categorical")
        result.missing_rate_change = float(current.isna().mean() - reference.isna().mean())
        if numeric != _is_numeric(current):
            result.drifted, result.reason = (
                True,
                (f"type changed: reference {reference.dtype}, eval {current.dtype}"),
            )
            return result
        ref, cur = reference.dropna(), current.dropna()
        for label, values in (("reference", ref), ("eval", cur)):
            if values.empty:
                result.drifted, result.reason = True, f"all values missing in {label}"
                return result
        rule = settings.per_column.get(name, ColumnRule())
        default = settings.numeric_method if numeric else settings.categorical_method
        result.method = rule.method or default
        valid = ds.NUMERIC_METHODS if numeric else ds.CATEGORICAL_METHODS
        if result.method not in valid:
            result.drifted, result.reason = (
                True,
                (f"method {result.method} does not apply to {result.kind} columns"),
            )
            return result
        # Each column its own stream, fixed by the run's seed and the column's name.
        column_seed = [seed, zlib.crc32(str(name).encode())]
        if numeric:
            reference_values = ref.to_numpy(dtype=float)
            current_values = cur.to_numpy(dtype=float)
            infinite = [
                label
                for label, values in (("reference", reference_values), ("eval", current_values))
                if np.isinf(values).any()
            ]
            if infinite:
                # Distances between distributions with mass at infinity are undefined; a
                # verdict of "not drifted" would be a guess. Fail closed and say why.
                result.drifted, result.reason = (
                    True,
                    f"infinite values in {' and '.join(infinite)}: drift cannot be measured; "
                    "replace them upstream or leave the column out of data.features",
                )
                return result
            huge = [
                label
                for label, values in (("reference", reference_values), ("eval", current_values))
                if ds.largest_magnitude(values) > ds.MAX_MAGNITUDE
            ]
            if huge:
                # Their squares overflow: the bootstrap's bound would come out 0 ("stable")
                # however far the samples are apart. Fail closed, as for infinite values.
                result.drifted, result.reason = (
                    True,
                    f"values beyond ±{ds.MAX_MAGNITUDE:g} in {' and '.join(huge)}: too large to "
                    "measure drift (their squares overflow); rescale them upstream or leave the "
                    "column out of data.features",
                )
                return result
            result.statistics = ds.numeric_statistics(
                reference_values,
                current_values,
                exact_p=settings.decide_by == "p_value",
                lower_z=z,
                lower_methods=(result.method,),
                n_resamples=settings.n_resamples,
                seed=column_seed,
            )
            result.p_value = result.statistics["ks_p_value"]
            if result.statistics["wasserstein_raw"] == 0 and np.ptp(reference_values) == 0:
                result.reason = "constant in the reference"
        else:
            result.statistics, result.new_categories = ds.categorical_statistics(
                _as_strings(ref),
                _as_strings(cur),
                lower_z=z,
                lower_methods=(result.method,),
                n_resamples=settings.n_resamples,
                seed=column_seed,
            )
            result.p_value = result.statistics["chisquare_p_value"]
        result.value = result.statistics[result.method]
        result.threshold = rule.threshold or ds.DEFAULT_THRESHOLDS[result.method]
        judged = result.value
        if z is not None:
            judged = result.lower_bound = result.statistics[f"{result.method}_lower"]
            result.confidence = 1 - settings.alpha
        if not np.isfinite(judged):
            # An undefined statistic is never "no drift": e.g. Cohen's w when every eval
            # value is a category the reference never had.
            result.drifted = True
            result.reason = (
                "every eval value is a category the reference never had"
                if result.new_categories and result.kind == "categorical"
                else f"{ds.METHOD_NAMES.get(result.method, result.method)} is undefined here"
            ) + "; treated as drifted"
            return result
        result.drifted = bool(judged > result.threshold)
        return result

    @staticmethod
    def _decide_by_p_values(results: list[ds.ColumnDrift], alpha: float) -> str:
        testable = [r for r in results if r.p_value is not None and np.isfinite(r.p_value)]
        if not testable:
            return ""
        adjusted = ds.benjamini_hochberg([r.p_value for r in testable])  # type: ignore[misc]
        for result, p in zip(testable, adjusted, strict=True):
            result.statistics["p_value_bh"] = float(p)
            result.drifted = bool(p < alpha)
            result.method = "ks" if result.kind == "numeric" else "chisquare"
            result.value, result.threshold = float(p), alpha
            result.decided_by = "p_value"
        return f"p-values Benjamini–Hochberg adjusted across {len(testable)} columns, alpha {alpha}"

    @staticmethod
    def _labels_and_scores(
        context: CheckContext, metrics: dict[str, float], details: dict[str, Any]
    ) -> None:
        reference = context.reference_data
        assert reference is not None
        # These KS p-values only inform (label and prediction drift are distances), so above
        # EXACT_KS_ROWS they take the corrected limit, as feature columns do, and not
        # scipy.stats' finite-n distribution, whose import alone costs half a second.
        if context.target in reference.columns:
            ref_y = reference[context.target].dropna()
            if context.task == "regression":
                metrics["label_drift"], stats = _numeric_drift(
                    ref_y.to_numpy(float), np.asarray(context.y_true, dtype=float)
                )
            else:
                stats = _label_statistics(ref_y, context.y_true)
                metrics["label_drift"] = stats["jensenshannon"]
            details["label"] = stats
        reference_scores = context.extras.get("reference_scores")
        if reference_scores is not None and np.ndim(context.candidate_scores) == 1:
            metrics["prediction_drift"], details["prediction"] = _numeric_drift(
                np.asarray(reference_scores, float), np.asarray(context.candidate_scores, float)
            )
        if context.baseline_scores is not None and np.ndim(context.candidate_scores) == 1:
            metrics["prediction_drift_vs_champion"], details["prediction_vs_champion"] = (
                _numeric_drift(
                    np.asarray(context.baseline_scores, float),
                    np.asarray(context.candidate_scores, float),
                )
            )


def _numeric_drift(reference: np.ndarray, current: np.ndarray) -> tuple[float, dict[str, Any]]:
    """Label or score drift: the normalised Wasserstein distance and every statistic; NaN
    (which fails any threshold on it) when the samples cannot be measured: infinite values,
    or values beyond ±MAX_MAGNITUDE, whose squares overflowed the reference's spread to
    inf and the distance to 0."""
    measurable = all(
        len(values) and ds.largest_magnitude(values) <= ds.MAX_MAGNITUDE
        for values in (reference, current)
    )
    if not measurable:
        reason = f"infinite values or values beyond ±{ds.MAX_MAGNITUDE:g}: cannot be measured"
        return float("nan"), {"reason": reason}
    stats = ds.numeric_statistics(reference, current, exact_p=False)
    return stats["wasserstein"], stats


def _label_statistics(reference: pd.Series | ArrowSeries, labels: np.ndarray) -> dict[str, float]:
    """Label drift of a classifier's labels: categories compared as text."""
    from validate.arrow_frame import ArrowSeries

    if isinstance(reference, ArrowSeries) and reference.dtype.kind in "iu":
        return ds.integer_label_statistics(reference.to_numpy(), labels)[0]
    import pandas as pd

    if isinstance(reference, ArrowSeries):
        reference = pd.Series(reference.to_numpy())
    return ds.categorical_statistics(reference.astype(str), pd.Series(labels).astype(str))[0]


def _histogram(reference: pd.Series, current: pd.Series, bins: int = 30) -> dict[str, list[float]]:
    """Shared-edge densities of both samples, small enough for the JSON and HTML reports."""
    ref, cur = reference.dropna().to_numpy(float), current.dropna().to_numpy(float)
    low, high = min(ref.min(), cur.min()), max(ref.max(), cur.max())
    # A count and a range, not an edge array: NumPy then bins by arithmetic on the same
    # linspace edges (corrected at the edges) instead of sorting each sample again. One
    # value throughout: one bin of width 1 around it.
    count, span = (bins, (low, high)) if high > low else (1, (low - 0.5, low + 0.5))
    ref_density, edges = np.histogram(ref, count, range=span, density=True)
    cur_density = np.histogram(cur, count, range=span, density=True)[0]
    return {
        "edges": [float(e) for e in edges],
        "reference": [float(v) for v in ref_density],
        "eval": [float(v) for v in cur_density],
    }


def _as_strings(series: pd.Series) -> pd.Series:
    """Category labels as strings; string columns are used as they are (no copy)."""
    import pandas as pd

    if pd.api.types.is_string_dtype(series) or isinstance(series.dtype, pd.CategoricalDtype):
        return series
    return series.astype(str)


def _is_numeric(series: pd.Series | ArrowSeries) -> bool:
    from validate.arrow_frame import ArrowSeries

    if isinstance(series, ArrowSeries):
        return True  # plain integer and float columns only
    import pandas as pd

    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)


def _histograms(folder: str, histograms: dict[str, dict[str, list[float]]]) -> list[str]:
    """One SVG per drifted numeric column, the HTML report's chart as a file."""
    from validate.plots import histogram_svg, write_svg

    names = []
    for column, histogram in histograms.items():
        path = Path(folder) / f"drift_{safe_filename(str(column))}.svg"
        write_svg(
            path,
            histogram_svg(histogram, x_title=str(column)),
            title=f"{column}: reference vs eval",
        )
        names.append(path.name)
    return names
