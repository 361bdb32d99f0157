"""Slices of the eval set, and Holm's step-down control of the family-wise error.

Holm (1979), "A simple sequentially rejective multiple test procedure",
Scandinavian Journal of Statistics 6:65-70.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from validate.stats.normal import cdf


@dataclass(frozen=True)
class Slice:
    name: str
    mask: np.ndarray


def make_slices(frame: Any, specs: Sequence[str | dict[str, list[float]]]) -> list[Slice]:
    """``region`` gives one slice per value; ``{age: [18, 30, 50]}`` gives age bins."""
    import pandas as pd

    slices = []
    for spec in specs:
        if isinstance(spec, str):
            column = frame[spec].astype("string").fillna("<missing>")
            for value in sorted(column.unique()):
                slices.append(Slice(f"{spec}={value}", (column == value).to_numpy()))
            continue
        ((name, edges),) = spec.items()
        values = pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=float)
        bounds = [-np.inf, *sorted(edges), np.inf]
        for low, high in zip(bounds[:-1], bounds[1:], strict=True):
            label = (
                f"{name}<{high:g}"
                if low == -np.inf
                else f"{name}>={low:g}"
                if high == np.inf
                else f"{low:g}<={name}<{high:g}"
            )
            slices.append(Slice(label, (values >= low) & (values < high)))
    return slices


def one_sided_p(value: float, interval: Any, bound: Any, z: float) -> float:
    """p-value of H0 "the slice meets the bound", with the SE read off the CI's width.

    A slice whose value or interval is undefined (NaN: a multiclass slice missing a class)
    or overflowed is rejected (p = 0): nothing shows that it meets the bound."""
    if not all(np.isfinite(x) for x in (value, interval.low, interval.high)):
        return 0.0
    se = (interval.high - interval.low) / (2 * z) if interval.high > interval.low else 0.0
    distance = value - bound.min if bound.min is not None else bound.max - value
    if se == 0:
        return 0.0 if distance < 0 else 1.0
    return cdf(distance / se)


def holm_reject(p_values: Sequence[float], alpha: float) -> list[bool]:
    """Holm's step-down procedure: which hypotheses are rejected at family-wise level ``alpha``."""
    order = np.argsort(p_values)
    m = len(p_values)
    rejected = [False] * m
    for rank, index in enumerate(order):
        if p_values[index] < alpha / (m - rank):
            rejected[index] = True
        else:
            break
    return rejected
