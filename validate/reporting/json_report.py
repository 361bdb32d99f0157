"""The JSON report. Keys may be added, never renamed (see the design's contract)."""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
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
    """Fail before any work if a report cannot be written where asked.

    Reports are replaced atomically (a temporary file beside them, then a rename), so the
    target must be a regular file or not exist yet, in a folder we can write.
    """
    target = Path(path)
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise ValidateError(f"{option} {path}: folder {folder} does not exist; create it first")
    if target.is_dir():
        raise ValidateError(f"{option} {path}: is a folder; give a file path")
    if target.exists() and not target.is_file():
        raise ValidateError(
            f"{option} {path}: is not a regular file (a device or pipe); give a file path"
        )
    if not os.access(folder, os.W_OK | os.X_OK) or (
        target.exists() and not os.access(target, os.W_OK)
    ):
        raise ValidateError(f"{option} {path}: cannot write there; pick a writable path")
    return target


def json_safe(value: Any) -> Any:
    """``value`` with every NaN and ±inf replaced by None (JSON has neither)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return json_safe(value.item())
    return value


def write_report(report: Mapping[str, Any], path: str | Path) -> None:
    """Write the report atomically: readers see the old file or the whole new one, never a
    truncated or empty one. NaN and ±inf are written as null."""
    text = json.dumps(json_safe(report), indent=2, allow_nan=False, default=str) + "\n"
    write_atomically(path, text)


def write_atomically(path: str | Path, text: str) -> None:
    """Write ``text`` to a temporary file beside ``path``, sync it, then rename it over."""
    target = Path(path)
    handle, temporary = tempfile.mkstemp(
        prefix=f".{target.name}.", suffix=".tmp", dir=target.parent if str(target.parent) else "."
    )
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
