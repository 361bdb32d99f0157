"""One self-contained HTML report: inline CSS and SVG, no scripts, no network."""

from __future__ import annotations

import html
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from validate.plots import (
    format_count,
    format_estimate,
    group_rates_svg,
    histogram_svg,
    latency_svg,
)
from validate.reporting.json_report import write_atomically
from validate.thresholds import format_value

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;
max-width:1100px;color:#1f2328;padding:0 1rem}
h1{margin:.2rem 0}.verdict{padding:1rem 1.2rem;border-radius:8px;margin:1rem 0}
.pass{background:#dafbe1;border:1px solid #4ac26b}.fail{background:#ffebe9;border:1px solid #ff8182}
.warnings{background:#fff8c5;border:1px solid #d4a72c;border-radius:8px;padding:.5rem 1rem;
margin:.6rem 0}.warnings ul{margin:.2rem 0;padding-left:1.2rem}
table{border-collapse:collapse;width:100%;margin:.6rem 0 1.2rem}
th,td{border-bottom:1px solid #d0d7de;padding:.35rem .5rem;text-align:left;vertical-align:top}
th{background:#f6f8fa}.status{font-weight:600}.passed{color:#1a7f37}.failed{color:#cf222e}
.error{color:#8250df}.skipped,.not-judged{color:#9a6700}code{background:#f6f8fa;padding:0 .25rem}
td.num{font-variant-numeric:tabular-nums;white-space:nowrap}td.status{white-space:nowrap}
section{margin:1.6rem 0}.muted{color:#59636e}.note{color:#59636e;font-size:13px}
ul.check-warnings{margin:.2rem 0;padding-left:1.1rem;color:#7d4e00;font-size:13px}
.chart-scroll{overflow-x:auto}.panels{display:flex;flex-wrap:wrap;gap:.6rem}
svg text{font:11px sans-serif;fill:#1f2328}
"""

# Metrics that count things: printed as integers, never ``4.000``.
_COUNT_NAMES = ("count", "n", "rows", "iterations", "drifted_features", "n_groups")


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _number(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return format_value(float(value))


def _is_count(metric: str) -> bool:
    leaf = metric.rsplit("/", 1)[-1].rsplit(".", 1)[-1]
    return leaf in _COUNT_NAMES or leaf.startswith("n_") or leaf.endswith("_count")


def _metric_value(metric: str, value: Any) -> str:
    return format_count(value) if _is_count(metric) else _number(value)


def check_warnings(check: Mapping[str, Any]) -> list[str]:
    """The check's warning sentences: its ``warnings`` key, or (older reports) its details'."""
    listed = check.get("warnings")
    if not listed:
        listed = (check.get("details") or {}).get("warnings") or []
    return [str(w) for w in listed]


def _not_judged(warning: str) -> bool:
    return "not judged" in warning or "too noisy to judge" in warning


def summary_warnings(report: Mapping[str, Any]) -> list[str]:
    """The decision's warnings, plus any check warning it does not already carry."""
    lines = [str(w) for w in report.get("warnings") or []]
    for check in report["checks"]:
        for warning in check_warnings(check):
            line = f"{check['name']}: {warning}"
            if line not in lines:
                lines.append(line)
    return lines


# --------------------------------------------------------------------------- header


_REGISTRY_ALIAS = re.compile(r"^models:/(?P<name>[^/@]+)@(?P<alias>[^/@]+)$")


def resolved_version(report: Mapping[str, Any], role: str) -> tuple[str, str] | None:
    """``(model, version)`` a ``models:/NAME@ALIAS`` reference resolved to: the report's
    ``resolved.<role>`` (the runner's record of what the alias pointed at when the
    validation ran), or, for older reports, the promotion record."""
    resolved = (report.get("resolved") or {}).get(role) or {}
    if resolved.get("version"):
        return str(resolved.get("model") or ""), str(resolved["version"])
    alias = _REGISTRY_ALIAS.match(str(report.get(role) or ""))
    promotion = report.get("promotion") or {}
    if alias and promotion.get("model") == alias["name"]:
        version = None
        if role == "baseline" and promotion.get("alias") == alias["alias"]:
            version = promotion.get("previous_version")
        elif role == "candidate" and promotion.get("promoted"):
            version = promotion.get("version")
        if version:
            return alias["name"], str(version)
    return None


def _model_line(report: Mapping[str, Any], role: str, label: str) -> str:
    uri = str(report.get(role))
    text = f"{label} <code>{_e(uri)}</code>"
    if _REGISTRY_ALIAS.match(uri):
        found = resolved_version(report, role)
        if found:
            text += (
                f" → <span class='resolved' id='{role}-resolved'>{_e(found[0])} version "
                f"{_e(found[1])}</span>"
            )
        else:
            text += " <span class='muted'>(resolved version not in this report)</span>"
    return text


def render_html(report: Mapping[str, Any]) -> str:
    """The report as one HTML document."""
    verdict = report["decision"]
    models = _model_line(report, "candidate", "candidate")
    if report.get("baseline"):
        models += "<br>" + _model_line(report, "baseline", "champion")
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width,initial-scale=1'>",
        f"<title>validate: {_e(verdict.upper())}</title><style>{_CSS}</style></head><body>",
        "<h1>Model validation</h1>",
        f"<div class='verdict {_e(verdict)}' id='verdict'><strong>Decision: "
        f"{_e(verdict.upper())}</strong><br>{models}</div>",
    ]
    if report.get("reasons"):
        parts.append("<ul>" + "".join(f"<li>{_e(r)}</li>" for r in report["reasons"]) + "</ul>")
    warnings = summary_warnings(report)
    if warnings:
        parts.append(
            f"<div class='warnings' id='warnings'><strong>{len(warnings)} warning"
            f"{'s' if len(warnings) > 1 else ''}</strong><ul>"
            + "".join(f"<li>{_e(w)}</li>" for w in warnings)
            + "</ul></div>"
        )
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


def _warning_list(warnings: Sequence[str]) -> str:
    if not warnings:
        return ""
    return (
        "<ul class='check-warnings'>"
        + "".join(f"<li>warning: {_e(w)}</li>" for w in warnings)
        + "</ul>"
    )


def _checks_table(checks: Sequence[Mapping[str, Any]]) -> str:
    rows = ["<table><tr><th>check</th><th>status</th><th>blocking</th><th>message</th></tr>"]
    for check in checks:
        rows.append(
            f"<tr><td><a href='#check-{_e(check['name'])}'>{_e(check['name'])}</a></td>"
            f"<td class='status {_e(check['status'])}'>{_e(check['status'])}</td>"
            f"<td>{'yes' if check['blocking'] else 'no'}</td><td>{_e(check['message'])}"
            f"{_warning_list(check_warnings(check))}</td></tr>"
        )
    rows.append("</table>")
    return "\n".join(rows)


# --------------------------------------------------------------------------- one check


def _check_section(check: Mapping[str, Any]) -> str:
    details = check.get("details") or {}
    warnings = check_warnings(check)
    parts = [
        f"<section id='check-{_e(check['name'])}'><h2>{_e(check['name'])} "
        f"<span class='status {_e(check['status'])}'>{_e(check['status'])}</span></h2>",
        _warning_list(warnings),
    ]
    parts.append(
        _assertions(check.get("assertions") or [], [w for w in warnings if _not_judged(w)])
    )
    comparison = details.get("vs_baseline")
    if comparison:
        parts.append(
            "<h3>Candidate vs champion (paired, same rows)</h3><table><tr><th>metric</th>"
            "<th>champion</th><th>difference</th><th>CI</th>"
            "<th>p (two-sided, no difference)</th></tr>"
        )
        for metric, entry in comparison.items():
            difference, interval = format_estimate(entry.get("difference"), entry.get("ci"))
            parts.append(
                f"<tr><td>{_e(metric)}</td><td class='num'>{_number(entry.get('champion'))}</td>"
                f"<td class='num'>{difference}</td><td class='num ci'>{interval}</td>"
                f"<td class='num'>{_number(entry.get('p_value'))}</td></tr>"
            )
        parts.append("</table>")
    for grouping, entry in (details.get("groupings") or {}).items():
        parts.append(_grouping(grouping, entry, _min_group_size(details, warnings)))
    for column, histogram in (details.get("histograms") or {}).items():
        parts.append(f"<h3>Drift: {_e(column)} (reference vs eval)</h3>")
        parts.append(f"<div class='chart-scroll'>{histogram_svg(histogram, x_title=column)}</div>")
    if isinstance(details.get("batches"), Mapping) and details["batches"]:
        parts.append(_latency(details))
    metrics = {
        k: v for k, v in check.get("metrics", {}).items() if not k.endswith(("ci_low", "ci_high"))
    }
    if metrics:
        parts.append(
            "<details><summary>all metrics</summary><table>"
            + "".join(
                f"<tr><td>{_e(k)}</td><td class='num'>{_metric_value(k, v)}</td></tr>"
                for k, v in metrics.items()
            )
            + "</table></details>"
        )
    parts.append("</section>")
    return "\n".join(p for p in parts if p)


def _assertions(assertions: Sequence[Mapping[str, Any]], not_judged: Sequence[str]) -> str:
    if not assertions and not not_judged:
        return ""
    rows = ["<table><tr><th>assertion</th><th>value</th><th>CI</th><th>result</th></tr>"]
    for a in assertions:
        if _is_count(a["metric"]) and not a.get("ci"):
            value, interval = format_count(a["value"]), "–"
        else:
            value, interval = format_estimate(a["value"], a.get("ci"))
        outcome = ("passed", "pass") if a["passed"] else ("failed", "fail")
        rows.append(
            f"<tr><td>{_e(a['sentence'])}</td><td class='num'>{value}</td>"
            f"<td class='num ci'>{interval}</td><td class='status {outcome[0]}'>{outcome[1]}</td>"
            "</tr>"
        )
    for warning in not_judged:
        rows.append(
            f"<tr class='not-judged'><td>{_e(warning)}</td><td class='num'>–</td>"
            "<td class='num'>–</td><td class='status not-judged'>not judged</td></tr>"
        )
    rows.append("</table>")
    return "".join(rows)


# --------------------------------------------------------------------------- bias


def _min_group_size(details: Mapping[str, Any], warnings: Sequence[str]) -> int | None:
    if details.get("min_group_size") is not None:
        return int(details["min_group_size"])
    for warning in warnings:
        found = re.search(r"min_group_size (\d+)", warning)
        if found:
            return int(found[1])
    return None


_GROUP_COLUMNS = (
    ("selection_rate", "selection rate"),
    ("true_positive_rate", "TPR"),
    ("false_positive_rate", "FPR"),
    ("mae", "MAE"),
    ("rmse", "RMSE"),
)


def _grouping(name: str, entry: Mapping[str, Any], min_size: int | None) -> str:
    """The chart of the groups in the aggregates, a table of every group with its n, and a
    note naming the groups left out (and why)."""
    rows = list(entry.get("groups") or [])
    known = {str(g.get("group")) for g in rows}
    rows += [
        {"group": label, "included": False}
        for label in entry.get("excluded_small_groups") or []
        if str(label) not in known
    ]
    included = [g for g in rows if g.get("included")]
    excluded = [g for g in rows if not g.get("included")]
    parts = [f"<h3>Rates by group: {_e(name)}</h3>"]
    if any("selection_rate" in g for g in included):
        parts.append(f"<div class='chart-scroll'>{group_rates_svg(included)}</div>")
    if excluded:
        listed = ", ".join(
            f"{g['group']} (n={format_count(g.get('count'))})" if "count" in g else str(g["group"])
            for g in excluded
        )
        below = f"below min_group_size {min_size}" if min_size is not None else "too small"
        parts.append(
            f"<p class='note small-groups'>Not drawn and left out of the aggregates, {below}: "
            f"{_e(listed)}.</p>"
        )
    columns = [(key, label) for key, label in _GROUP_COLUMNS if any(key in g for g in rows)]
    table = [
        "<table class='groups'><tr><th>group</th><th>n</th>"
        + "".join(f"<th>{label}</th>" for _, label in columns)
        + "<th>in aggregates</th></tr>"
    ]
    for g in rows:
        cells = []
        for key, _ in columns:
            value, interval = format_estimate(g.get(key), (g.get("ci") or {}).get(key))
            cells.append(f"<td class='num'>{value}" + (f" {interval}" if interval != "–" else ""))
        table.append(
            f"<tr><td>{_e(g['group'])}</td><td class='num group-n'>{format_count(g.get('count'))}"
            f"</td>{''.join(cells)}<td>{'yes' if g.get('included') else 'no'}</td></tr>"
        )
    table.append("</table>")
    parts.append("".join(table))
    return "\n".join(parts)


# --------------------------------------------------------------------------- latency


def _latency(details: Mapping[str, Any]) -> str:
    """Every batch size: a p50/p95/p99 panel (candidate beside champion) and a table row."""
    batches = details["batches"]
    sizes = sorted(batches, key=lambda s: (not str(s).isdigit(), int(s) if str(s).isdigit() else 0))
    device = details.get("device") or {}
    where = device.get("placement", "")
    gpu = (device.get("gpu") or {}).get("name")
    heading = (
        "Latency by batch size" + (f" on {where}" if where else "") + (f" ({gpu})" if gpu else "")
    )
    parts = [
        f"<h3>{_e(heading)}</h3><div class='panels'>"
        + "".join(latency_svg(size, batches[size]) for size in sizes)
        + "</div>",
        "<table class='latency'><tr><th>batch size</th><th>model</th><th>p50 ms</th>"
        "<th>p95 ms</th><th>p95 CI</th><th>p99 ms</th><th>throughput rows/s</th><th>CV</th>"
        "<th>timed calls</th><th>p95 ratio vs champion</th></tr>",
    ]
    for size in sizes:
        entry = batches[size]
        ratio = entry.get("p95_ratio_vs_baseline") or {}
        for role, label in (("candidate", "candidate"), ("baseline", "champion")):
            summary = entry.get(role)
            if not isinstance(summary, Mapping):
                continue
            ci = summary.get("ci") or {}
            p95, p95_ci = format_estimate(summary.get("p95_ms"), ci.get("p95_ms"))
            ratio_text = "–"
            if role == "candidate" and ratio:
                value, interval = format_estimate(ratio.get("value"), ratio.get("ci"))
                ratio_text = value + (f" {interval}" if interval != "–" else "")
            parts.append(
                f"<tr data-batch='{_e(size)}'><td class='num'>{_e(size)}</td><td>{label}</td>"
                f"<td class='num'>{_number(summary.get('p50_ms'))}</td><td class='num'>{p95}</td>"
                f"<td class='num ci'>{p95_ci}</td>"
                f"<td class='num'>{_number(summary.get('p99_ms'))}</td>"
                f"<td class='num'>{_throughput(summary.get('throughput_rps'))}</td>"
                f"<td class='num'>{_number(summary.get('cv'))}</td>"
                f"<td class='num'>{format_count(summary.get('iterations'))}</td>"
                f"<td class='num'>{ratio_text}</td></tr>"
            )
    parts.append("</table>")
    return "\n".join(parts)


def _throughput(value: Any) -> str:
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        return "–"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.1f}"


def write_html(report: Mapping[str, Any], path: str | Path) -> None:
    write_atomically(path, render_html(report))
