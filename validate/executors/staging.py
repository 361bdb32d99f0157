"""Inputs for check Jobs, staged in MLflow so a pod never needs the runner's file system.

Local data files and model files or folders are uploaded, content-addressed, to one
staging run per experiment (``blobs/<sha256>/<name>``): a file already there is not
uploaded again, by this validation or a later one. Remote locations (``models:/``,
``runs:/``, ``mlflow-artifacts:/``, ``s3://``, ``gs://``, ``https://``) pass through.
The scores computed once on the runner travel as one ``.npz`` blob, so Jobs do not
re-predict. A manifest (JSON) in the validation run says where everything is.
"""

from __future__ import annotations

import hashlib
import io
import json
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from validate.check import CheckContext
from validate.config_file import REMOTE_URI_PREFIXES
from validate.models.adapter import ModelRef
from validate.promotion import ref_to_json

MANIFEST_PATH = "validate-inputs/manifest.json"


class Stager:
    """Uploads blobs to the experiment's staging run, skipping those already there."""

    def __init__(self, client: Any, experiment_id: str) -> None:
        self.client = client
        self.run_id = self._staging_run(experiment_id)
        self._present = {
            entry.path.split("/")[-1] for entry in client.list_artifacts(self.run_id, "blobs")
        }
        self.uploaded: list[str] = []
        self.reused: list[str] = []

    def put_path(self, location: str) -> str:
        """A local file or folder as a ``runs:/`` URI; a remote location unchanged."""
        if location.startswith(REMOTE_URI_PREFIXES):
            return location
        path = Path(location)
        digest = folder_digest(path) if path.is_dir() else file_digest(path)
        target = f"blobs/{digest}"
        if digest in self._present:
            self.reused.append(path.name)
        elif path.is_dir():
            self.client.log_artifacts(self.run_id, str(path), f"{target}/{path.name}")
            self._present.add(digest)
            self.uploaded.append(path.name)
        else:
            self.client.log_artifact(self.run_id, str(path), target)
            self._present.add(digest)
            self.uploaded.append(path.name)
        return f"runs:/{self.run_id}/{target}/{path.name}"

    def put_bytes(self, name: str, data: bytes) -> str:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / name
            path.write_bytes(data)
            return self.put_path(str(path))

    def _staging_run(self, experiment_id: str) -> str:
        found = self.client.search_runs(
            [experiment_id], "tags.`validate.kind` = 'staging'", max_results=1
        )
        if found:
            return found[0].info.run_id
        run = self.client.create_run(
            experiment_id, run_name="validate staging", tags={"validate.kind": "staging"}
        )
        self.client.set_terminated(run.info.run_id, status="FINISHED")
        return run.info.run_id


def stage_inputs(
    stager: Stager,
    context: CheckContext,
    *,
    data_files: Mapping[str, str | None],
    checks: Mapping[str, Mapping[str, Any]],
) -> dict[str, Any]:
    """Upload what the Jobs need; return the manifest (which names no local path)."""
    scores = io.BytesIO()
    arrays = {"y_true": context.y_true}
    if context.candidate_scores is not None:  # a drift-only run has no model
        arrays["candidate"] = context.candidate_scores
    if context.baseline_scores is not None:
        arrays["baseline"] = context.baseline_scores
    if "reference_scores" in context.extras:
        arrays["reference"] = np.asarray(context.extras["reference_scores"])
    np.savez_compressed(scores, **arrays)  # type: ignore[arg-type]
    return {
        "schema": 1,
        "task": context.task,
        "target": context.target,
        "features": list(context.features),
        "threshold": context.threshold,
        "seed": context.seed,
        "data": {
            role: stager.put_path(location) if location else None
            for role, location in data_files.items()
        },
        "scores": stager.put_bytes("scores.npz", scores.getvalue()),
        "models": {
            role: _model_entry(stager, ref)
            for role, ref in (("candidate", context.candidate), ("baseline", context.baseline))
            if ref is not None
        },
        "checks": {name: dict(section) for name, section in checks.items()},
    }


def _model_entry(stager: Stager, ref: ModelRef) -> dict[str, Any]:
    """The model as ``validate promote`` records it, its local file swapped for the staged one."""
    entry: dict[str, Any] = json.loads(ref_to_json(ref))
    if ref.kind != "column" and ref.location:
        entry["location"] = stager.put_path(ref.location)
    return entry


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def folder_digest(path: Path) -> str:
    """Names and contents of every file below ``path``: equal folders, equal digests."""
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        digest.update(str(file.relative_to(path)).encode() + b"\0")
        digest.update(file_digest(file).encode())
    return digest.hexdigest()


def manifest_json(manifest: Mapping[str, Any]) -> str:
    return json.dumps(manifest, indent=2, sort_keys=True)
