"""One self-contained HTML report: inline CSS and SVG, no scripts, no network."""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from validate.reporting.json_report import write_atomically
from validate.thresholds import format_value

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;
max-width:1100px;color:#1f2328;padding:0 1rem}
h1{margin:.2rem 0}.verdict{padding:1rem 1.2rem;border-radius:8px;margin:1rem 0}
.pass{background:#dafbe1;border:1px solid #4ac26b}.fail{background:#ffebe9;border:1px solid #ff8182}
table{border-collapse:collapse;width:100%;margin:.6rem 0 1.2rem}
th,td{border-bottom:1px solid #d0d7de;padding:.35rem .5rem;text-align:left;vertical-align:top}
th{background:#f6f8fa}.status{font-weight:600}.passed{color:#1a7f37}.failed{color:#cf222e}
.error{color:#8250df}.skipped{color:#9a6700}code{background:#f6f8fa;padding:0 .25rem}
section{margin:1.6rem 0}.muted{color:#59636e}svg text{font:11px sans-serif}
"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _number(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return format_value(float(value))


def render_html(report: Mapping[str, Any]) -> str:
    """The report as one HTML document."""
    verdict = report["decision"]
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width,initial-scale=1'>",
        f"<title>validate: {_e(verdict.upper())}</title><style>{_CSS}</style></head><body>",
        "<h1>Model validation</h1>",
        f"<div class='verdict {_e(verdict)}' id='verdict'><strong>Decision: "
        f"{_e(verdict.upper())}</strong><br>candidate <code>{_e(report['candidate'])}</code>"
        + (f" vs champion <code>{_e(report['baseline'])}</code>" if report.get("baseline") else "")
        + "</div>",
    ]
    if report.get("reasons"):
        parts.append("<ul>" + "".join(f"<li>{_e(r)}</li>" for r in report["reasons"]) + "</ul>")
    if report.get("promotion"):
        parts.append(
            f"<p><strong>Promotion:</strong> {_e(report['promotion'].get('message', ''))}</p>"
        )
    parts.append(_checks_table(report["checks"]))
    for check in report["checks"]:
        parts.append(_check_section(check))
    mlflow = report.get("mlflow", {})
    parts.append(
        f"<p class='muted'>MLflow run <code>{_e(mlflow.get('run_id'))}</code> at "
        f"<code>{_e(mlflow.get('tracking_uri'))}</code></p></body></html>"
    )
    return "\n".join(parts)


def _checks_table(checks: Sequence[Mapping[str, Any]]) -> str:
    rows = ["<table><tr><th>check</th><th>status</th><th>blocking</th><th>message</th></tr>"]
    for check in checks:
        rows.append(
            f"<tr><td><a href='#check-{_e(check['name'])}'>{_e(check['name'])}</a></td>"
            f"<td class='status {_e(check['status'])}'>{_e(check['status'])}</td>"
            f"<td>{'yes' if check['blocking'] else 'no'}</td><td>{_e(check['message'])}</td></tr>"
        )
    rows.append("</table>")
    return "\n".join(rows)


def _check_section(check: Mapping[str, Any]) -> str:
    details = check.get("details", {})
    parts = [
        f"<section id='check-{_e(check['name'])}'><h2>{_e(check['name'])} "
        f"<span class='status {_e(check['status'])}'>{_e(check['status'])}</span></h2>"
    ]
    if check.get("assertions"):
        parts.append("<table><tr><th>assertion</th><th>value</th><th>CI</th><th>result</th></tr>")
        for a in check["assertions"]:
            ci = f"[{_number(a['ci'][0])}, {_number(a['ci'][1])}]" if a.get("ci") else "–"
            parts.append(
                f"<tr><td>{_e(a['sentence'])}</td><td>{_number(a['value'])}</td>"
                f"<td>{ci}</td><td class='status {'passed' if a['passed'] else 'failed'}'>"
                f"{'pass' if a['passed'] else 'fail'}</td></tr>"
            )
        parts.append("</table>")
    comparison = details.get("vs_baseline")
    if comparison:
        parts.append(
            "<h3>Candidate vs champion (paired, same rows)</h3><table><tr><th>metric</th>"
            "<th>champion</th><th>difference</th><th>CI</th><th>p-value</th></tr>"
        )
        for metric, entry in comparison.items():
            parts.append(
                f"<tr><td>{_e(metric)}</td><td>{_number(entry.get('champion'))}</td>"
                f"<td>{_number(entry['difference'])}</td><td>[{_number(entry['ci'][0])}, "
                f"{_number(entry['ci'][1])}]</td><td>{_number(entry.get('p_value'))}</td></tr>"
            )
        parts.append("</table>")
    for grouping, entry in (details.get("groupings") or {}).items():
        groups = [g for g in entry.get("groups", []) if g.get("included") and "selection_rate" in g]
        if groups:
            parts.append(f"<h3>Rates by group: {_e(grouping)}</h3>")
            parts.append(_group_chart(groups))
    for column, histogram in (details.get("histograms") or {}).items():
        parts.append(f"<h3>Drift: {_e(column)} (reference vs eval)</h3>")
        parts.append(_histogram_chart(histogram))
    metrics = {
        k: v for k, v in check.get("metrics", {}).items() if not k.endswith(("ci_low", "ci_high"))
    }
    if metrics:
        parts.append(
            "<details><summary>all metrics</summary><table>"
            + "".join(f"<tr><td>{_e(k)}</td><td>{_number(v)}</td></tr>" for k, v in metrics.items())
            + "</table></details>"
        )
    parts.append("</section>")
    return "\n".join(parts)


def _group_chart(groups: Sequence[Mapping[str, Any]]) -> str:
    """Inline SVG: selection rate, TPR and FPR per group, with CI whiskers when present."""
    series = [
        ("selection_rate", "#0969da"),
        ("true_positive_rate", "#1a7f37"),
        ("false_positive_rate", "#cf222e"),
    ]
    width, height, top, bottom, left = 760, 220, 10, 40, 40
    plot = height - top - bottom
    slot = (width - left) / max(len(groups), 1)
    bar = slot / (len(series) + 1)
    shapes = [
        f"<svg width='{width}' height='{height}' role='img' aria-label='rates by group'>",
        f"<line x1='{left}' y1='{top + plot}' x2='{width}' y2='{top + plot}' stroke='#888'/>",
    ]
    for tick in (0, 0.5, 1.0):
        y = top + plot * (1 - tick)
        shapes.append(f"<text x='4' y='{y + 4:.1f}'>{tick:.1f}</text>")
    for index, group in enumerate(groups):
        x0 = left + index * slot + bar / 2
        for k, (metric, colour) in enumerate(series):
            value = group.get(metric)
            if value is None:
                continue
            x = x0 + k * bar
            y = top + plot * (1 - value)
            shapes.append(
                f"<rect x='{x:.1f}' y='{y:.1f}' width='{bar * 0.9:.1f}' "
                f"height='{plot * value:.1f}' fill='{colour}'><title>{_e(metric)} "
                f"{_number(value)}</title></rect>"
            )
            ci = (group.get("ci") or {}).get(metric)
            if ci and ci[0] is not None and ci[1] is not None:
                cx = x + bar * 0.45
                y_low, y_high = top + plot * (1 - ci[0]), top + plot * (1 - ci[1])
                shapes.append(
                    f"<line x1='{cx:.1f}' x2='{cx:.1f}' y1='{y_low:.1f}' "
                    f"y2='{y_high:.1f}' stroke='#000'/>"
                )
        shapes.append(f"<text x='{x0:.1f}' y='{height - 22}'>{_e(group['group'])}</text>")
    legend_x = left
    for metric, colour in series:
        shapes.append(
            f"<rect x='{legend_x}' y='{height - 12}' width='10' height='10' "
            f"fill='{colour}'/><text x='{legend_x + 14}' y='{height - 3}'>{metric}</text>"
        )
        legend_x += 170
    shapes.append("</svg>")
    return "".join(shapes)


def _histogram_chart(histogram: Mapping[str, Sequence[float]]) -> str:
    """Inline SVG: reference and eval densities as two translucent bar series."""
    edges, series = histogram["edges"], (("reference", "#0969da"), ("eval", "#cf222e"))
    width, height, top, bottom, left = 760, 180, 10, 30, 40
    plot, span = height - top - bottom, (edges[-1] - edges[0]) or 1.0
    peak = max(max(histogram["reference"], default=0), max(histogram["eval"], default=0)) or 1.0
    shapes = [f"<svg width='{width}' height='{height}' role='img' aria-label='histogram'>"]
    for name, colour in series:
        for low, high, density in zip(edges[:-1], edges[1:], histogram[name], strict=False):
            x = left + (low - edges[0]) / span * (width - left)
            w = (high - low) / span * (width - left)
            h = plot * density / peak
            shapes.append(
                f"<rect x='{x:.1f}' y='{top + plot - h:.1f}' width='{w:.1f}' "
                f"height='{h:.1f}' fill='{colour}' fill-opacity='0.45'/>"
            )
    shapes.append(f"<text x='{left}' y='{height - 14}'>{_number(edges[0])}</text>")
    shapes.append(f"<text x='{width - 60}' y='{height - 14}'>{_number(edges[-1])}</text>")
    for index, (name, colour) in enumerate(series):
        x = left + 200 + index * 120
        shapes.append(
            f"<rect x='{x}' y='{height - 12}' width='10' height='10' fill='{colour}'/>"
            f"<text x='{x + 14}' y='{height - 3}'>{name}</text>"
        )
    shapes.append("</svg>")
    return "".join(shapes)


def write_html(report: Mapping[str, Any], path: str | Path) -> None:
    write_atomically(path, render_html(report))
