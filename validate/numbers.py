"""Numbers as people read them: counts as integers, an estimate and its interval at one
precision. Shared by the console sentences, the HTML report and the charts."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, TypeGuard


def format_value(value: float) -> str:
    """Three decimals for values in [-1000, 1000], else general format: short and readable."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "nan"
    if abs(value) >= 1000 or (value != 0 and abs(value) < 0.001):
        return f"{value:.4g}"
    return f"{value:.3f}"


def finite(value: Any) -> TypeGuard[float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def format_count(value: Any) -> str:
    """A count as an integer (``25``, not ``25.000``); ``–`` when absent."""
    return str(int(round(float(value)))) if finite(value) else "–"


def shared_decimals(*values: Any) -> int | None:
    """Decimals that print every value with the same precision (``None``: use scientific).

    Enough decimals to show two significant digits of the spread between the values and
    one of the smallest non-zero one, never fewer than three below 1000 (the point values'
    precision, see :func:`format_value`) and never more than six.
    """
    numbers = [float(v) for v in values if finite(v)]
    magnitudes = [abs(v) for v in numbers if v != 0]
    if not magnitudes:
        return 3
    largest, smallest = max(magnitudes), min(magnitudes)
    if largest >= 1e6 or largest < 1e-4:
        return None
    floor = 3 if largest < 1000 else 0
    spread = max(numbers) - min(numbers)
    need = [1 - math.floor(math.log10(spread))] if spread > 0 else []
    need.append(-math.floor(math.log10(smallest)))
    return max(floor, min(max(need), 6))


def format_with(value: Any, decimals: int | None) -> str:
    if not finite(value):
        return "–"
    if decimals is None:
        return f"{float(value):.2e}"
    text = f"{float(value):.{decimals}f}"
    return text[1:] if text.startswith("-") and float(text) == 0 else text


def format_interval(low: Any, high: Any, *, value: Any = None) -> str:
    """``[low, high]`` with both ends at one precision (shared with ``value`` when given)."""
    if not (finite(low) or finite(high)):
        return "–"
    decimals = shared_decimals(low, high, value)
    return f"[{format_with(low, decimals)}, {format_with(high, decimals)}]"


def format_estimate(value: Any, interval: Sequence[Any] | None) -> tuple[str, str]:
    """A point estimate and its interval, printed at one precision."""
    if not interval or len(interval) != 2:
        return (format_value(float(value)) if finite(value) else "–"), "–"
    decimals = shared_decimals(interval[0], interval[1], value)
    return format_with(value, decimals), format_interval(interval[0], interval[1], value=value)


# Metrics that count things (rows, features, calls): printed as integers.
_COUNT_NAMES = frozenset({"drifted_features", "iterations", "n", "count", "rows", "n_rows"})


def is_count(metric: str) -> bool:
    """Whether ``metric`` (``drift.drifted_features``, ``batch_1.iterations``) is a count."""
    last = metric.rsplit(".", 1)[-1].rsplit("/", 1)[-1]
    return last in _COUNT_NAMES or last.endswith("_count")


def format_metric(metric: str, value: float) -> str:
    """``value`` as its metric reads: a count as an integer, anything else by format_value."""
    if is_count(metric) and finite(value) and float(value).is_integer():
        return format_count(value)
    return format_value(value)
