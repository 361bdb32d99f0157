"""The JSON report. Keys may be added, never renamed (see the design's contract)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from validate.errors import ValidateError
from validate.gate import Decision
from validate.results import SCHEMA_VERSION, CheckResult


def build_report(
    *,
    decision: Decision,
    results: Sequence[CheckResult],
    candidate: str | None,
    baseline: str | None,
    tracking_uri: str,
    run_id: str | None,
    promotion: Mapping[str, Any] | None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Assemble the report dict: schema_version, decision, models, MLflow, checks, promotion."""
    checks = []
    for result in results:
        entry = result.to_dict()
        entry.pop("schema_version")
        checks.append(entry)
    report: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "decision": decision.verdict,
        "candidate": candidate,
        "baseline": baseline,
        "mlflow": {"tracking_uri": tracking_uri, "run_id": run_id},
        "checks": checks,
        "promotion": dict(promotion) if promotion is not None else None,
        "reasons": list(decision.reasons),
        "warnings": list(decision.warnings),
        "exit_code": decision.exit_code,
    }
    report.update(extra or {})
    return report


def ensure_writable(path: str | Path, *, option: str) -> Path:
    """Fail before any work if a report cannot be written where asked."""
    target = Path(path)
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise ValidateError(f"{option} {path}: folder {folder} does not exist; create it first")
    if target.is_dir():
        raise ValidateError(f"{option} {path}: is a folder; give a file path")
    try:
        with open(target, "a", encoding="utf-8"):
            pass
    except OSError as exc:
        raise ValidateError(
            f"{option} {path}: cannot write ({exc.strerror}); pick a writable path"
        ) from exc
    return target


def write_report(report: Mapping[str, Any], path: str | Path) -> None:
    Path(path).write_text(json.dumps(report, indent=2, allow_nan=False) + "\n", encoding="utf-8")
