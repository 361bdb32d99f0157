"""The console table: one row per check, the failing assertion as a sentence."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from validate.gate import Decision
from validate.numbers import format_metric
from validate.reporting.text import one_line
from validate.results import CheckResult, Status

_STATUS_COLOURS = {
    Status.PASSED: "green",
    Status.FAILED: "red",
    Status.ERROR: "magenta",
    Status.SKIPPED: "yellow",
}


def key_metrics(result: CheckResult, limit: int = 3) -> str:
    """The metrics that have thresholds first, then the rest, up to ``limit``."""
    return key_metrics_text((a.metric for a in result.assertions), result.metrics, limit)


def key_metrics_text(
    judged: Iterable[str], metrics: Mapping[str, float | None], limit: int = 3
) -> str:
    """``name value`` for the judged metrics, then headline ones; absent values are skipped.

    Shared by the console table and the GitHub step summary (which reads the JSON report).
    """
    first = [m for m in dict.fromkeys(judged) if m in metrics]
    # Per-slice names ("sex/…") and interval ends stay in the JSON and MLflow.
    headline = [m for m in metrics if "/" not in m and not m.endswith(("ci_low", "ci_high"))]
    names = (first + [m for m in headline if m not in first])[:limit]
    return ", ".join(
        f"{n} {format_metric(n, value)}" for n in names if (value := metrics[n]) is not None
    )


def render_console(
    results: Sequence[CheckResult],
    decision: Decision,
    promotion: Mapping[str, Any] | None,
    *,
    run_id: str | None,
    colour: bool = False,
) -> str:
    """The text printed after a run."""
    import click

    rows = [("CHECK", "STATUS", "BLOCKING", "KEY METRICS", "MESSAGE")]
    for r in results:
        rows.append(
            (
                one_line(r.name),
                r.status.value,
                "yes" if r.blocking else "no",
                one_line(key_metrics(r)),
                one_line(r.message),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = []
    for index, row in enumerate(rows):
        cells = [row[i].ljust(widths[i]) for i in range(4)]
        if index and colour:
            status = Status(row[1])
            cells[1] = click.style(cells[1], fg=_STATUS_COLOURS[status], bold=True)
        lines.append("  ".join([*cells, row[4]]).rstrip())
    verdict = decision.verdict.upper()
    if colour:
        verdict = click.style(verdict, fg="green" if decision.passed else "red", bold=True)
    lines.append("")
    lines.append(f"decision: {verdict}" + (f"  (MLflow run {run_id})" if run_id else ""))
    lines.extend(f"  blocked by {one_line(reason)}" for reason in decision.reasons)
    lines.extend(f"  warning: {one_line(warning)}" for warning in decision.warnings)
    if promotion is not None:
        lines.append(f"promotion: {one_line(promotion.get('message', ''))}")
    return "\n".join(lines)
