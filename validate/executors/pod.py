"""Inside a check's pod: ``validate run-check`` fetches the staged inputs through MLflow,
runs one check, records its nested run, and hands back a compact result.

The compact result (status, message, key metrics, the nested run id) is written to the
container's termination message, which Kubernetes keeps at most 4 KiB of, and printed
as the last log line (the executor's fallback). The full result, details and files go
to the check's nested MLflow run, where the executor reads them back.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from validate import telemetry, telemetry_checks
from validate.check import CheckContext
from validate.data import read_table
from validate.executors.local import artifact_folder, run_one
from validate.models.adapter import ModelRef
from validate.promotion import ref_from_json
from validate.recorder import MlflowRecorder
from validate.registry import select_checks
from validate.results import CheckResult

TERMINATION_LIMIT = 4096
DEFAULT_TERMINATION_LOG = "/dev/termination-log"


def run_check_in_pod(inputs_uri: str, check: str, parent_run: str) -> CheckResult:
    """Run ``check`` from the manifest at ``inputs_uri``; record it under ``parent_run``.

    With OpenTelemetry configured, its spans continue the run's trace (``TRACEPARENT``)."""
    with telemetry.pod_span(check, parent_run) as span:
        result, child = _run_and_record(inputs_uri, check, parent_run)
        if span is not None:
            telemetry_checks.describe_check(span, result)
    compact = compact_result(result, child)
    _write_termination_message(compact)
    print(compact, flush=True)  # the last log line: the fallback when the message is lost
    return result


def _run_and_record(inputs_uri: str, check: str, parent_run: str) -> tuple[CheckResult, str | None]:
    import mlflow.artifacts

    work = Path(tempfile.mkdtemp(prefix="validate-inputs-"))
    with telemetry.span("validate.pod.inputs", **{"validate.inputs.uri": inputs_uri}):
        manifest = json.loads(
            Path(
                mlflow.artifacts.download_artifacts(artifact_uri=inputs_uri, dst_path=str(work))
            ).read_text(encoding="utf-8")
        )
        section = dict(manifest["checks"][check])
        (selected,) = select_checks({check: section}, task=manifest["task"])
        needs_models = getattr(selected.check, "needs_models", False)
        context = _context(manifest, work, needs_models=needs_models)
    artifacts = tempfile.mkdtemp(prefix="validate-artifacts-")
    with telemetry.span("validate.pod.check", **{"validate.check.name": check}):
        result = run_one(selected, replace(context, artifact_dir=artifacts))
    with telemetry.span("validate.pod.record"):
        recorder = MlflowRecorder(
            tracking_uri=os.environ["MLFLOW_TRACKING_URI"], experiment="", strict=True
        )
        recorder.resume(parent_run)
        child = recorder.record_check(result, artifact_folder(artifacts, check))
    return result, child


def compact_result(result: CheckResult, nested_run_id: str | None) -> str:
    """At most 4 KiB of JSON: what the executor needs to decide, and where the rest is."""
    entry: dict[str, Any] = {
        "name": result.name,
        "status": result.status.value,
        "blocking": result.blocking,
        "message": result.message,
        "duration_s": round(result.duration_s, 3),
        "nested_run_id": nested_run_id,
        "metrics": {},
    }
    text = json.dumps(entry)
    for key, value in result.to_dict()["metrics"].items():
        candidate = {**entry, "metrics": {**entry["metrics"], key: value}}
        if len(json.dumps(candidate)) > TERMINATION_LIMIT - 64:
            break
        entry, text = candidate, json.dumps(candidate)
    while len(text.encode()) > TERMINATION_LIMIT:  # a very long message
        entry["message"] = entry["message"][: len(entry["message"]) // 2] + "…"
        text = json.dumps(entry)
    return text


def _write_termination_message(text: str) -> None:
    path = os.environ.get("VALIDATE_TERMINATION_LOG", DEFAULT_TERMINATION_LOG)
    try:
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)
    except OSError:
        pass  # not in a pod (a local dry run): the log line carries the result


def _context(manifest: dict[str, Any], work: Path, *, needs_models: bool) -> CheckContext:
    import mlflow.artifacts

    def fetch(uri: str | None) -> str | None:
        if uri is None:
            return None
        return mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=str(work))

    frames = {
        role: read_table(path, field=f"data.{role}") if (path := fetch(uri)) else None
        for role, uri in manifest["data"].items()
    }
    scores_path = fetch(manifest["scores"])
    assert scores_path is not None
    with np.load(scores_path) as scores:
        arrays = {name: scores[name] for name in scores.files}
    models = {
        role: _model_ref(entry, fetch if needs_models else None)
        for role, entry in manifest["models"].items()
    }
    extras = {"reference_scores": arrays["reference"]} if "reference" in arrays else {}
    eval_frame = frames["eval"]
    assert eval_frame is not None
    return CheckContext(
        task=manifest["task"],
        target=manifest["target"],
        features=tuple(manifest["features"]),
        eval_data=eval_frame,
        y_true=arrays["y_true"],
        candidate_scores=arrays.get("candidate"),
        baseline_scores=arrays.get("baseline"),
        reference_data=frames.get("reference"),
        train_data=frames.get("train"),
        candidate=models.get("candidate"),
        baseline=models.get("baseline"),
        threshold=manifest["threshold"],
        seed=manifest["seed"],
        extras=extras,
    )


def _model_ref(entry: dict[str, Any], fetch: Any) -> ModelRef:
    ref = ref_from_json(json.dumps(entry))
    if fetch is not None and ref.kind != "column" and ref.location.startswith("runs:/"):
        # Staged from the runner's disk: download it into this pod.
        ref = replace(ref, location=fetch(ref.location))
    return ref
