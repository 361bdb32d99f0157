"""Thresholds as users write them (``{min: 0.8}``) and judged as sentences users read."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from validate.numbers import format_estimate, format_value  # format_value: re-exported
from validate.results import Assertion


class Bound(BaseModel):
    """An absolute bound on one metric: ``min``, ``max`` or both (finite: NaN never fails)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _has_a_bound(self) -> Bound:
        if self.min is None and self.max is None:
            raise ValueError("give min or max (for example {min: 0.8})")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min:g} is above max {self.max:g}; no value can pass")
        return self


Judge = Literal["point", "upper_ci", "lower_ci"]


class CIBound(Bound):
    """A bound that may be judged on a confidence limit instead of the point estimate.

    ``judge: upper_ci`` (with ``max``) is the strict gate for lower-is-better metrics:
    it passes only when the whole interval is below the bound; ``lower_ci`` is its
    mirror for ``min``.
    """

    judge: Judge = "point"

    @model_validator(mode="after")
    def _judge_fits_side(self) -> CIBound:
        if self.judge == "upper_ci" and self.max is None:
            raise ValueError("judge: upper_ci applies to a max bound; add max or use lower_ci")
        if self.judge == "lower_ci" and self.min is None:
            raise ValueError("judge: lower_ci applies to a min bound; add min or use upper_ci")
        return self


class ChangeBound(BaseModel):
    """How much worse than the champion a metric may get (on the same rows)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    max_increase: float | None = None
    max_decrease: float | None = None
    judge: Judge = "point"

    @model_validator(mode="after")
    def _has_a_bound(self) -> ChangeBound:
        if (self.max_increase is None) == (self.max_decrease is None):
            raise ValueError("give exactly one of max_increase or max_decrease")
        return self

    def as_bound(self) -> CIBound:
        """The same rule as a bound on the change (candidate − champion)."""
        if self.max_increase is not None:
            upper: Judge = "upper_ci" if self.judge != "point" else "point"
            return CIBound(max=self.max_increase, judge=upper)
        assert self.max_decrease is not None
        lower: Judge = "lower_ci" if self.judge != "point" else "point"
        return CIBound(min=-self.max_decrease, judge=lower)


def require_intervals(
    settings: BaseModel,
    sections: Mapping[str, Mapping[str, CIBound | ChangeBound]],
    *,
    default: int = 1000,
    has_interval: Callable[[str], bool] = lambda metric: False,
    fix: str = "",
) -> None:
    """Refuse a rule judged on a confidence limit when the check computes no interval for it.

    Call from a settings model's after-validator (when ``n_resamples`` is 0, say).
    ``sections`` maps a settings field (``thresholds``) to its rules; ``has_interval(metric)``
    says whether that metric still gets an interval (an analytic one, say). ``fix`` replaces
    the default advice, ``set n_resamples >= 1 (default …) or judge: point``.

    Raises
    ------
    pydantic.ValidationError
        Located at ``<section>.<metric>``, so the config error names the YAML path.
    """
    for section, rules in sections.items():
        for metric, rule in rules.items():
            if rule.judge != "point" and not has_interval(metric):
                advice = fix or f"set n_resamples >= 1 (default {default}) or judge: point"
                raise ci_required(settings, (section, metric), f"judge: {rule.judge}", advice)


def ci_required(
    settings: BaseModel, loc: tuple[str, ...], what: str, advice: str
) -> ValidationError:
    """``<loc>: <what> needs confidence intervals; <advice>`` as a located validation error."""
    message = f"{what} needs confidence intervals; {advice}"
    error = PydanticCustomError("ci_required", message.replace("{", "{{").replace("}", "}}"))
    return ValidationError.from_exception_data(
        type(settings).__name__, [InitErrorDetails(type=error, loc=loc, input=what)]
    )


def judge(
    metric: str,
    value: float,
    bound: Bound,
    ci: tuple[float, float] | None = None,
    note: str = "",
) -> tuple[Assertion, ...]:
    """Judge ``value`` against each side of ``bound``.

    Returns one :class:`Assertion` per side, each with a sentence such as
    ``roc_auc 0.710 < min 0.8``. A value that is NaN (not computable) fails. When
    ``bound.judge`` is ``upper_ci``/``lower_ci`` and ``ci`` is given, that side is
    judged on the confidence limit and the sentence says so.
    """
    how = getattr(bound, "judge", "point")
    if ci is not None:
        # One precision for the estimate and both ends ("0.0050 [0.0004, 0.0290]").
        point, interval = format_estimate(value, ci)
        shown = f"{point} {interval}"
    else:
        shown = format_value(value)
    sides = [
        # (side, op, limit, holds, sign when failing, judged value)
        (
            "min",
            ">=",
            bound.min,
            lambda v, lim: v >= lim,
            "<",
            ci[0] if how == "lower_ci" and ci else value,
        ),
        (
            "max",
            "<=",
            bound.max,
            lambda v, lim: v <= lim,
            ">",
            ci[1] if how == "upper_ci" and ci else value,
        ),
    ]
    assertions = []
    for side, op, limit, holds, failing_sign, judged in sides:
        if limit is None:
            continue
        on_its_ci = (how, side) in (("upper_ci", "max"), ("lower_ci", "min"))
        if on_its_ci and ci is None:
            # Asked for the CI and none was computed: fail closed, never fall back to the point.
            sentence = (
                f"{metric} {shown} not judged: judge: {how} needs a confidence interval and "
                f"none was computed; {side} {limit:g}"
            )
            assertions.append(Assertion(metric, op, limit, value, False, ci=ci, sentence=sentence))
            continue
        # An estimate that is not a number, or overflowed, is never passed on its interval:
        # the bootstrap leaves out the resamples it overflows in (issue 16 audit).
        computable = (
            judged is not None
            and not math.isnan(judged)
            and (not on_its_ci or math.isfinite(value))
        )
        ok = computable and holds(judged, limit)
        on_ci = how != "point" and ci is not None and judged is not value
        if computable:
            sentence = f"{metric} {shown} {op if ok else failing_sign} {side} {limit:g}"
            if on_ci:
                sentence += f" (judged on the {'upper' if side == 'max' else 'lower'} CI)"
        else:
            sentence = f"{metric} could not be computed ({format_value(value)}); {side} {limit:g}"
        if note:
            sentence += f" {note}"
        assertions.append(Assertion(metric, op, limit, value, ok, ci=ci, sentence=sentence))
    return tuple(assertions)


def judge_bounded(
    metric: str,
    value: float,
    bound: CIBound,
    ci: tuple[float, float] | None,
    *,
    low: float,
    high: float,
    note: str = "",
) -> tuple[Assertion, ...]:
    """Judge an approximate ``value`` whose exact value lies surely in [``low``, ``high``].

    Each side of ``bound`` passes only when it holds at the worst end of the range (the
    interval ``ci``, when judged on, is moved by the same amount), and fails plainly when it
    fails even at the best end. A limit that falls inside the range is not decided by the
    approximation: that side fails (fail closed) and its sentence says the threshold is
    inside the error bound. With ``low == high == value`` this is :func:`judge`.
    """
    below, above = max(value - low, 0.0), max(high - value, 0.0)
    if not (below or above) or math.isnan(value):
        return judge(metric, value, bound, ci, note)
    spread = (
        f"(approximate, ±{below:.2g})"
        if below == above
        else f"(approximate: exact value in [{format_value(low)}, {format_value(high)}])"
    )
    note = f"{spread} {note}".strip()
    out = []
    for side in ("min", "max"):
        limit = getattr(bound, side)
        if limit is None:
            continue
        own = (
            bound.judge
            if (side, bound.judge) in (("min", "lower_ci"), ("max", "upper_ci"))
            else "point"
        )
        one = CIBound(**{side: limit, "judge": own})
        # Worst case: the low end for a min, the high end for a max (and the CI with it).
        worst, shift = (low, -below) if side == "min" else (high, above)
        best, back = (high, above) if side == "min" else (low, -below)
        moved = None if ci is None else (ci[0] + shift, ci[1] + shift)
        hoped = None if ci is None else (ci[0] + back, ci[1] + back)
        (at_worst,) = judge(metric, worst, one, moved)
        (at_best,) = judge(metric, best, one, hoped)
        (point,) = judge(metric, value, one, ci, note)
        if at_worst.passed or not at_best.passed:
            out.append(replace(point, passed=at_worst.passed))
            continue
        sentence = (
            f"{metric} {format_value(value)} not decided: {side} {limit:g} lies inside its "
            f"error bound [{format_value(low)}, {format_value(high)}]; failed closed (use "
            "engine: local for the exact value)"
        )
        out.append(replace(point, passed=False, sentence=sentence))
    return tuple(out)
