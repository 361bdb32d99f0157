"""``validate sync REPORT.json``: record a validation that ran while MLflow was down.

A run that could not reach MLflow keeps its JSON report (with a ``mlflow.pending``
block: experiment, run name, params, tags, the folder of check files) and exits 3.
Sync writes it to MLflow later, once:

* the parent run is found by the report's ``report_id`` tag; if MLflow created it
  before the outage it is completed, not duplicated, and a second sync finds the
  finished run and does nothing;
* nested runs are written only for checks not already recorded under it;
* the report file is rewritten without the pending block, with the run id.

Sync never promotes: the gate failed closed when the run happened. When every
blocking check passed, ``validate promote RUN_ID`` promotes from the recorded run.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from validate.errors import ConfigError
from validate.recorder import MlflowRecorder
from validate.reporting.json_report import write_report
from validate.results import CheckResult
from validate.tracking import redact_uri, use_tracking_uri


@dataclass(frozen=True)
class SyncOutcome:
    run_id: str
    recorded_checks: tuple[str, ...]  # written by this sync
    already_synced: bool
    tracking_uri: str = ""


def sync_report(path: str | Path, tracking_uri: str | None = None) -> SyncOutcome:
    """Upload the pending validation in ``path`` to MLflow (idempotent).

    Raises
    ------
    ConfigError
        The file is not a report of ``validate run``.
    RecorderError
        MLflow is still unreachable; nothing is lost, run sync again later.
    """
    report_path = Path(path)
    report = _read_report(report_path)
    mlflow_block = report.get("mlflow") or {}
    pending = mlflow_block.get("pending")
    report_id = report.get("report_id")
    if not pending:
        run_id = mlflow_block.get("run_id")
        if not run_id:
            raise ConfigError(f"{path}: no MLflow run and nothing pending; nothing to sync")
        return SyncOutcome(
            run_id=run_id,
            recorded_checks=(),
            already_synced=True,
            tracking_uri=mlflow_block.get("tracking_uri", ""),
        )
    if not report_id:
        raise ConfigError(f"{path}: the report has no report_id; re-run the validation")

    # The server the run meant to reach; the report holds it without credentials, which
    # MLflow's MLFLOW_TRACKING_TOKEN/USERNAME/PASSWORD variables supply, or --tracking-uri.
    uri = tracking_uri or mlflow_block.get("tracking_uri") or os.environ["MLFLOW_TRACKING_URI"]
    use_tracking_uri(uri)
    recorder = MlflowRecorder(tracking_uri=uri, experiment=pending["experiment"], strict=True)
    existing = recorder.find_validation(report_id)
    if existing is not None and "validate.decision" in existing.data.tags:
        _mark_synced(report, report_path, existing.info.run_id)
        return SyncOutcome(existing.info.run_id, (), already_synced=True, tracking_uri=uri)
    if existing is not None:
        recorder.resume(existing.info.run_id)
    else:
        recorder.start(run_name=pending["run_name"], params=pending["params"], tags=pending["tags"])
    done = recorder.recorded_checks()
    written = []
    artifacts = Path(pending.get("artifacts") or "")
    for entry in report.get("checks", []):
        if entry["name"] in done:
            continue
        folder = artifacts / entry["name"]
        recorder.record_check(
            CheckResult.from_dict(entry), str(folder) if folder.is_dir() else None
        )
        written.append(entry["name"])
    assert recorder.run_id is not None
    final = _without_pending(report, recorder.run_id)
    recorder.set_tags(
        {
            "validate.synced_from": report_path.name,
            "validate.exit_code_at_run": str(report.get("exit_code")),
        }
    )
    recorder.finish(final, decision=report["decision"])
    write_report(final, report_path)
    return SyncOutcome(recorder.run_id, tuple(written), already_synced=False, tracking_uri=uri)


def describe(outcome: SyncOutcome) -> str:
    """One line for the console."""
    where = redact_uri(outcome.tracking_uri)
    if outcome.already_synced:
        return f"already recorded: MLflow run {outcome.run_id} at {where}; nothing to do"
    checks = ", ".join(outcome.recorded_checks) or "none (all were recorded before the outage)"
    return f"recorded MLflow run {outcome.run_id} at {where}; checks written: {checks}"


def _read_report(path: Path) -> dict[str, Any]:
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: no such report; pass the JSON file validate run wrote"
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: not a JSON report ({exc})") from exc
    if not isinstance(report, dict) or "checks" not in report or "decision" not in report:
        raise ConfigError(f"{path}: not a report written by validate run")
    return report


def _without_pending(report: dict[str, Any], run_id: str) -> dict[str, Any]:
    final = json.loads(json.dumps(report))
    final["mlflow"].pop("pending", None)
    final["mlflow"]["run_id"] = run_id
    final["mlflow"]["synced"] = True
    return final


def _mark_synced(report: dict[str, Any], path: Path, run_id: str) -> None:
    # A read-only copy of the report is fine: MLflow already holds the run.
    with contextlib.suppress(OSError):
        write_report(_without_pending(report, run_id), path)
