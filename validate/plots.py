"""Charts: the SVG charts of the HTML report, and the same charts as standalone SVG files
recorded as MLflow artifacts (drawn here: matplotlib cost seconds of every run).

Every SVG chart marks its data bars ``class='bar' data-series=NAME`` and its legend swatches
``class='swatch' data-series=NAME`` with the same fill, so a test (or a reader) can check
that the legend matches the bars.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from validate.numbers import (  # noqa: F401 - re-exported for the HTML report
    finite,
    format_count,
    format_estimate,
    format_interval,
    format_value,
    format_with,
    shared_decimals,
)

# --------------------------------------------------------------------------- numbers


# --------------------------------------------------------------------------- axes


def nice_ticks(low: float, high: float, target: int = 5) -> tuple[list[float], float]:
    """Round tick positions (steps of 1, 2 or 5 × 10^k) covering ``[low, high]``."""
    if not (math.isfinite(low) and math.isfinite(high)) or high <= low:
        high = low + 1.0 if math.isfinite(low) else 1.0
        low = low if math.isfinite(low) else 0.0
    raw = (high - low) / max(target, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw * 0.999)
    first = math.ceil(low / step - 1e-9) * step
    ticks = []
    tick = first
    while tick <= high + step * 1e-9:
        ticks.append(0.0 if abs(tick) < step * 1e-9 else tick)
        tick = first + len(ticks) * step
    return ticks, step


def tick_label(value: float, step: float) -> str:
    """A tick as its step needs it: ``19`` for whole steps, ``0.25`` for steps of 0.05."""
    decimals = max(0, -math.floor(math.log10(step) + 1e-9))
    return format_with(value, decimals)


def _axis_top(peak: float, target: int = 5) -> tuple[list[float], float]:
    """Ticks from 0 up to the first tick at or above ``peak``."""
    ticks, step = nice_ticks(0.0, peak if peak > 0 else 1.0, target)
    while ticks[-1] < peak - step * 1e-9:
        ticks.append(ticks[-1] + step)
    return ticks, step


# Characters XML 1.0 does not allow at all (not even escaped): C0 controls but tab, LF, CR.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _e(value: Any) -> str:
    """Text as SVG/HTML content: escaped, and the characters XML forbids shown as U+FFFD
    (a group or column name may hold anything; the file must stay readable)."""
    return html.escape(_NOT_XML.sub("\ufffd", str(value)), quote=True)


def _legend(entries: Sequence[tuple[str, str]], x: float, y: float, spacing: float) -> str:
    parts = []
    for index, (name, colour) in enumerate(entries):
        left = x + index * spacing
        parts.append(
            f"<rect class='swatch' data-series='{_e(name)}' x='{left:.1f}' y='{y - 9:.1f}' "
            f"width='10' height='10' fill='{colour}'/>"
            f"<text x='{left + 14:.1f}' y='{y:.1f}'>{_e(name.replace('_', ' '))}</text>"
        )
    return "".join(parts)


def _y_axis(
    ticks: Sequence[float],
    step: float,
    *,
    scale: Any,
    left: float,
    right: float,
    top: float,
    bottom: float,
    title: str,
    as_percent: bool = False,
) -> str:
    """Axis line, gridlines, tick labels and a rotated title (class 'y-axis')."""
    parts = [
        f"<g class='y-axis'><line x1='{left}' y1='{top}' x2='{left}' y2='{bottom}' "
        "stroke='#57606a'/>"
    ]
    for tick in ticks:
        y = scale(tick)
        label = tick_label(tick * 100, step * 100) + "%" if as_percent else tick_label(tick, step)
        parts.append(
            f"<line x1='{left}' x2='{right}' y1='{y:.1f}' y2='{y:.1f}' stroke='#d0d7de' "
            f"stroke-width='0.5'/><text class='tick' x='{left - 4}' y='{y + 4:.1f}' "
            f"text-anchor='end'>{label}</text>"
        )
    middle = (top + bottom) / 2
    parts.append(
        f"<text class='axis-title' x='12' y='{middle:.1f}' text-anchor='middle' "
        f"transform='rotate(-90 12 {middle:.1f})'>{_e(title)}</text></g>"
    )
    return "".join(parts)


# --------------------------------------------------------------------------- SVG charts

GROUP_SERIES = (
    ("selection_rate", "#0969da"),
    ("true_positive_rate", "#1a7f37"),
    ("false_positive_rate", "#cf222e"),
)


def group_rates_svg(groups: Sequence[Mapping[str, Any]]) -> str:
    """Selection rate, TPR and FPR per group (label and n under each), CI whiskers."""
    left, top, bottom_margin, height = 56, 28, 46, 250
    slot = max(110.0, (760 - left - 10) / min(max(len(groups), 1), 6))
    width = int(max(760, left + 10 + slot * len(groups)))
    bottom = height - bottom_margin
    plot = bottom - top
    ticks, step = _axis_top(1.0, 5)

    def y(value: float) -> float:
        return bottom - plot * value / ticks[-1]

    bar = min((slot - 20) / len(GROUP_SERIES), 40.0)
    shapes = [
        f"<svg class='chart groups' width='{width}' height='{height}' role='img' "
        "aria-label='rates by group'>",
        _y_axis(ticks, step, scale=y, left=left, right=width, top=top, bottom=bottom, title="rate"),
        f"<line x1='{left}' y1='{bottom}' x2='{width}' y2='{bottom}' stroke='#57606a'/>",
        _legend(GROUP_SERIES, left + 4, 14, 170),
    ]
    for index, group in enumerate(groups):
        x0 = left + index * slot + 10
        for k, (metric, colour) in enumerate(GROUP_SERIES):
            value = group.get(metric)
            if not finite(value):
                continue
            ci = (group.get("ci") or {}).get(metric)
            estimate, interval = format_estimate(value, ci)
            shapes.extend(
                _bar_with_whisker(
                    x0 + k * bar,
                    bar,
                    value,
                    ci,
                    y,
                    bottom,
                    series=metric,
                    colour=colour,
                    title=f"{_e(group['group'])}: {metric} {estimate} {interval}",
                )
            )
        centre = x0 + bar * len(GROUP_SERIES) / 2
        shapes.append(
            f"<text class='group-label' x='{centre:.1f}' y='{bottom + 15}' "
            f"text-anchor='middle'>{_e(group['group'])}</text>"
            f"<text class='group-n' x='{centre:.1f}' y='{bottom + 29}' text-anchor='middle'>"
            f"n={format_count(group.get('count'))}</text>"
        )
    shapes.append("</svg>")
    return "".join(shapes)


HISTOGRAM_SERIES = (("reference", "#0969da"), ("eval", "#bc4c00"))


def histogram_svg(histogram: Mapping[str, Sequence[float]], *, x_title: str = "") -> str:
    """Reference and eval side by side in each bin, as shares of their rows (densities × bin
    width), on round x ticks."""
    edges = [float(e) for e in histogram["edges"]]
    widths = [high - low for low, high in zip(edges[:-1], edges[1:], strict=False)]
    shares = {
        name: [
            float(d) * w if finite(d) else 0.0
            for d, w in zip(histogram[name], widths, strict=False)
        ]
        for name, _ in HISTOGRAM_SERIES
    }
    left, right_margin, top, height = 56, 12, 28, 230
    width = 760
    bottom = height - 44
    right = width - right_margin
    plot = bottom - top
    span = (edges[-1] - edges[0]) or 1.0
    peak = max((v for values in shares.values() for v in values), default=0.0)
    ticks, step = _axis_top(peak if peak > 0 else 1.0, 4)

    def x(value: float) -> float:
        return left + (value - edges[0]) / span * (right - left)

    def y(value: float) -> float:
        return bottom - plot * value / ticks[-1]

    shapes = [
        f"<svg class='chart histogram' width='{width}' height='{height}' role='img' "
        "aria-label='histogram'>",
        _y_axis(
            ticks,
            step,
            scale=y,
            left=left,
            right=right,
            top=top,
            bottom=bottom,
            title="share of rows",
            as_percent=True,
        ),
        f"<line class='x-axis' x1='{left}' y1='{bottom}' x2='{right}' y2='{bottom}' "
        "stroke='#57606a'/>",
        _legend(HISTOGRAM_SERIES, right - 200, 14, 100),
    ]
    for k, (name, colour) in enumerate(HISTOGRAM_SERIES):
        for low, high, share in zip(edges[:-1], edges[1:], shares[name], strict=False):
            half = (x(high) - x(low)) / 2
            shapes.append(
                f"<rect class='bar' data-series='{name}' x='{x(low) + k * half + 0.5:.1f}' "
                f"y='{y(share):.1f}' width='{max(half - 1, 0.5):.1f}' "
                f"height='{bottom - y(share):.1f}' fill='{colour}'><title>{name}: "
                f"{share * 100:.1f}% of rows</title></rect>"
            )
    x_ticks, x_step = nice_ticks(edges[0], edges[-1], 6)
    for tick in x_ticks:
        shapes.append(
            f"<line x1='{x(tick):.1f}' x2='{x(tick):.1f}' y1='{bottom}' y2='{bottom + 4}' "
            f"stroke='#57606a'/><text class='tick x-tick' x='{x(tick):.1f}' y='{bottom + 16}' "
            f"text-anchor='middle'>{tick_label(tick, x_step)}</text>"
        )
    if x_title:
        shapes.append(
            f"<text class='axis-title' x='{(left + right) / 2:.1f}' y='{height - 6}' "
            f"text-anchor='middle'>{_e(x_title)}</text>"
        )
    shapes.append("</svg>")
    return "".join(shapes)


LATENCY_SERIES = (("candidate", "#0969da"), ("champion", "#8c959f"))
PERCENTILES = ("p50_ms", "p95_ms", "p99_ms")


def latency_svg(batch_size: int | str, entry: Mapping[str, Any]) -> str:
    """One panel per batch size: p50, p95 and p99 in ms, candidate beside champion, CIs."""
    roles: list[tuple[str, str, Mapping[str, Any]]] = []
    for name, colour in LATENCY_SERIES:
        summary = entry.get("candidate" if name == "candidate" else "baseline")
        if isinstance(summary, Mapping):
            roles.append((name, colour, summary))
    width, height, left, top = 300, 230, 56, 30
    bottom, right = height - 34, width - 8
    plot = bottom - top
    highs = [
        v
        for _, _, summary in roles
        for p in PERCENTILES
        for v in [summary.get(p), *((summary.get("ci") or {}).get(p) or [])]
        if finite(v)
    ]
    ticks, step = _axis_top(max(highs, default=1.0) or 1.0, 4)

    def y(value: float) -> float:
        return bottom - plot * value / ticks[-1]

    slot = (right - left) / len(PERCENTILES)
    bar = (slot - 16) / max(len(roles), 1)
    shapes = [
        f"<svg class='chart latency' data-batch='{_e(batch_size)}' width='{width}' "
        f"height='{height}' role='img' aria-label='latency at batch {_e(batch_size)}'>",
        f"<text class='panel-title' x='{left}' y='12' font-weight='600'>batch "
        f"{_e(batch_size)}</text>",
        _legend([(n, c) for n, c, _ in roles], left + 70, 13, 80),
        _y_axis(
            ticks,
            step,
            scale=y,
            left=left,
            right=right,
            top=top,
            bottom=bottom,
            title="milliseconds",
        ),
        f"<line x1='{left}' y1='{bottom}' x2='{right}' y2='{bottom}' stroke='#57606a'/>",
    ]
    for i, percentile in enumerate(PERCENTILES):
        x0 = left + i * slot + 8
        for k, (name, colour, summary) in enumerate(roles):
            value = summary.get(percentile)
            if not finite(value):
                continue
            ci = (summary.get("ci") or {}).get(percentile)
            estimate, interval = format_estimate(value, ci)
            shapes.extend(
                _bar_with_whisker(
                    x0 + k * bar,
                    bar,
                    value,
                    ci,
                    y,
                    bottom,
                    series=name,
                    colour=colour,
                    title=f"{name} {percentile} {estimate} ms {interval}",
                )
            )
        shapes.append(
            f"<text class='tick' x='{x0 + (slot - 16) / 2:.1f}' y='{bottom + 15}' "
            f"text-anchor='middle'>{percentile.removesuffix('_ms')}</text>"
        )
    shapes.append("</svg>")
    return "".join(shapes)


# --------------------------------------------------------------------------- files (MLflow)


def write_svg(path: Path, chart: str, *, title: str) -> Path:
    """Write one of this module's charts as a standalone SVG file (MLflow shows it inline).

    Drawn by our own code, not matplotlib: importing and running matplotlib cost seconds
    of every run that recorded a plot.
    """
    if not chart.startswith("<svg "):
        raise ValueError("not one of this module's charts")
    header = (
        "<svg xmlns='http://www.w3.org/2000/svg' "
        + chart[len("<svg ") :].split(">", 1)[0]
        + f"><title>{_e(title)}</title>"
        "<style>text{font:11px sans-serif;fill:#1f2328}</style>"
        "<rect width='100%' height='100%' fill='#ffffff'/>"
    )
    body = chart.split(">", 1)[1]
    path.write_text("<?xml version='1.0' encoding='UTF-8'?>\n" + header + body, encoding="utf-8")
    return path


def _bar_with_whisker(
    x: float,
    width: float,
    value: float,
    ci: Any,
    y: Callable[[float], float],
    bottom: float,
    *,
    series: str,
    colour: str,
    title: str,
) -> list[str]:
    """One SVG bar (its legend series and colour, a hover title) and its CI whisker."""
    shapes = [
        f"<rect class='bar' data-series='{series}' x='{x:.1f}' y='{y(value):.1f}' "
        f"width='{width * 0.9:.1f}' height='{bottom - y(value):.1f}' fill='{colour}'>"
        f"<title>{title}</title></rect>"
    ]
    if ci and finite(ci[0]) and finite(ci[1]):
        cx = x + width * 0.45
        shapes.append(
            f"<line x1='{cx:.1f}' x2='{cx:.1f}' y1='{y(ci[0]):.1f}' "
            f"y2='{y(ci[1]):.1f}' stroke='#24292f'/>"
        )
    return shapes
