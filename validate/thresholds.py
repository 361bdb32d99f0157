"""Thresholds as users write them (``{min: 0.8}``) and judged as sentences users read."""

from __future__ import annotations

import math

from pydantic import BaseModel, ConfigDict, model_validator

from validate.results import Assertion


class Bound(BaseModel):
    """An absolute bound on one metric: ``min``, ``max`` or both."""

    model_config = ConfigDict(extra="forbid")

    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _has_a_bound(self) -> Bound:
        if self.min is None and self.max is None:
            raise ValueError("give min or max (for example {min: 0.8})")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min:g} is above max {self.max:g}; no value can pass")
        return self


def format_value(value: float) -> str:
    """Three decimals for values in [-1000, 1000], else general format: short and readable."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "nan"
    if abs(value) >= 1000 or (value != 0 and abs(value) < 0.001):
        return f"{value:.4g}"
    return f"{value:.3f}"


def judge(metric: str, value: float, bound: Bound) -> tuple[Assertion, ...]:
    """Judge ``value`` against each side of ``bound``.

    Returns one :class:`Assertion` per side, each with a sentence such as
    ``roc_auc 0.710 < min 0.8``. A value that is NaN (not computable) fails.
    """
    assertions = []
    shown = format_value(value)
    computable = value is not None and not math.isnan(value)
    if bound.min is not None:
        ok = computable and value >= bound.min
        sign = ">=" if ok else "<"
        sentence = (
            f"{metric} {shown} {sign} min {bound.min:g}"
            if computable
            else f"{metric} could not be computed (nan); min {bound.min:g}"
        )
        assertions.append(Assertion(metric, ">=", bound.min, value, ok, sentence=sentence))
    if bound.max is not None:
        ok = computable and value <= bound.max
        sign = "<=" if ok else ">"
        sentence = (
            f"{metric} {shown} {sign} max {bound.max:g}"
            if computable
            else f"{metric} could not be computed (nan); max {bound.max:g}"
        )
        assertions.append(Assertion(metric, "<=", bound.max, value, ok, sentence=sentence))
    return tuple(assertions)
