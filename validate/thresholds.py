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
    computable = value is not None and not math.isnan(value)
    sides = [
        # (side, op, limit, holds, sign when failing)
        ("min", ">=", bound.min, lambda v, limit: v >= limit, "<"),
        ("max", "<=", bound.max, lambda v, limit: v <= limit, ">"),
    ]
    assertions = []
    for side, op, limit, holds, failing_sign in sides:
        if limit is None:
            continue
        ok = computable and holds(value, limit)
        if computable:
            sentence = (
                f"{metric} {format_value(value)} {op if ok else failing_sign} {side} {limit:g}"
            )
        else:
            sentence = f"{metric} could not be computed (nan); {side} {limit:g}"
        assertions.append(Assertion(metric, op, limit, value, ok, sentence=sentence))
    return tuple(assertions)
