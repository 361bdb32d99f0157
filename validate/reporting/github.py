"""GitHub Actions output: a Markdown step summary, ``::error``/``::warning`` annotations,
and step outputs, all from the JSON report (so they work on a report from any run)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from validate.reporting.console import key_metrics_text

_ICONS = {"passed": "✅", "failed": "❌", "error": "💥", "skipped": "⏭️"}


def _escape_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _escape_annotation(text: str) -> str:
    # Workflow commands need %, CR and LF escaped.
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def step_summary(report: Mapping[str, Any]) -> str:
    """Markdown: verdict, one row per check, the MLflow link when the server is http(s)."""
    verdict = report["decision"].upper()
    lines = [f"## validate: {'✅' if report['decision'] == 'pass' else '❌'} {verdict}", ""]
    lines.append(
        f"Candidate `{report['candidate']}`"
        + (f" vs champion `{report['baseline']}`" if report.get("baseline") else "")
    )
    lines += [
        "",
        "| check | status | blocking | key metrics | details |",
        "| --- | --- | --- | --- | --- |",
    ]
    for check in report["checks"]:
        failing = [a["sentence"] for a in check.get("assertions", []) if not a["passed"]]
        details = "<br>".join(failing) if failing else check["message"]
        judged = (a["metric"] for a in check.get("assertions", []))
        metrics = key_metrics_text(judged, check["metrics"])
        lines.append(
            f"| {check['name']} | {_ICONS.get(check['status'], '')} {check['status']} | "
            f"{'yes' if check['blocking'] else 'no'} | {_escape_cell(metrics)} | "
            f"{_escape_cell(details)} |"
        )
    warnings = report.get("warnings") or []
    if warnings:
        lines += ["", "**Warnings:**", ""]
        lines += [f"- {_escape_cell(warning)}" for warning in warnings]
    promotion = report.get("promotion")
    if promotion:
        lines += ["", f"**Promotion:** {promotion.get('message', '')}"]
    mlflow = report.get("mlflow", {})
    uri, run_id = mlflow.get("tracking_uri", ""), mlflow.get("run_id")
    if run_id and uri.startswith(("http://", "https://")):
        lines += ["", f"[MLflow run {run_id}]({uri.rstrip('/')}/#/runs/{run_id})"]
    elif run_id:
        lines += ["", f"MLflow run `{run_id}` ({uri})"]
    return "\n".join(lines) + "\n"


def annotation_commands(report: Mapping[str, Any], config_path: str | None = None) -> list[str]:
    """``::error`` for blocking failures and errors, ``::warning`` for advisory ones, skips
    and every sentence a check returned as a warning."""
    commands = []
    for check in report["checks"]:
        for warning in check.get("warnings", ()):
            properties = f"title=validate {check['name']} warning"
            if config_path:
                properties = f"file={config_path},{properties}"
            commands.append(f"::warning {properties}::{_escape_annotation(warning)}")
        if check["status"] == "passed":
            continue
        blocking_problem = check["blocking"] and check["status"] in ("failed", "error")
        level = "error" if blocking_problem else "warning"
        properties = f"title=validate {check['name']} {check['status']}"
        if config_path:
            properties = f"file={config_path},{properties}"
        commands.append(f"::{level} {properties}::{_escape_annotation(check['message'])}")
    return commands


def outputs(report: Mapping[str, Any], paths: Mapping[str, str]) -> dict[str, str]:
    values = {
        "decision": report["decision"],
        "mlflow-run-id": report.get("mlflow", {}).get("run_id") or "",
    }
    values.update({f"{name}-path": path for name, path in paths.items() if path})
    return values


def publish(
    report: Mapping[str, Any],
    *,
    config_path: str | None = None,
    paths: Mapping[str, str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> list[str]:
    """Write the summary and outputs where GitHub says (env files), return the annotations."""
    env = os.environ if environ is None else environ
    summary_file = env.get("GITHUB_STEP_SUMMARY")
    if summary_file:
        with Path(summary_file).open("a", encoding="utf-8") as handle:
            handle.write(step_summary(report))
    output_file = env.get("GITHUB_OUTPUT")
    if output_file:
        with Path(output_file).open("a", encoding="utf-8") as handle:
            for key, value in outputs(report, paths or {}).items():
                handle.write(f"{key}={value}\n")
    return annotation_commands(report, config_path)
