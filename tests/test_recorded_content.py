"""What a run records in MLflow stays the same while the run gets faster (issue 16): the
params, metrics (to 1e-9), tags and artifact names of a scored accuracy + bias + drift run,
compared with tests/golden/recorded_content.json, whether MLflow wrote them or
validate.sqlite_store did.

Values that change from run to run (ids, times, digests, paths, versions) are compared
by key only. To accept an intended change: VALIDATE_UPDATE_GOLDEN=1 pytest this file,
and review the diff of the golden file.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from validate.sqlite_store import THROUGH_MLFLOW_ENV

GOLDEN = Path(__file__).parent / "golden" / "recorded_content.json"
CONFIG = """\
data:
  eval: eval.parquet
  reference: reference.parquet
  target: label
  prediction: score
  baseline_prediction: champion
  features: [x, z]
checks:
  accuracy:
    thresholds: {roc_auc: {min: 0.6}}
    vs_baseline: {roc_auc: {max_drop: 0.05}}
  bias:
    sensitive_features: [group]
    thresholds: {demographic_parity_difference: {max: 0.5}}
  drift: {}
mlflow:
  tracking_uri: sqlite:///mlflow.db
  experiment: recorded-content
"""
# Recorded values that differ between two runs of the same data (compared by key only).
VOLATILE = (
    "digest",
    "commit",
    "report_id",
    "version",
    "path",
    "uri",
    "user",
    "source",
    "decision_record",
    "signature",
    "started",
    "host",
    "runName",
    "git",
)


def scored_tables(folder: Path) -> None:
    rng = np.random.default_rng(7)
    n = 4000
    label = (rng.random(n) < 0.35).astype(int)
    frame = pd.DataFrame(
        {
            "x": rng.normal(size=n) + label,
            "z": rng.choice(["u", "v", "w"], n),
            "group": rng.choice(["a", "b"], n, p=[0.6, 0.4]),
            "label": label,
        }
    )
    frame["score"] = 1 / (1 + np.exp(-(frame["x"] * 1.2 - 0.5)))
    frame["champion"] = 1 / (1 + np.exp(-(frame["x"] * 1.1 - 0.4 + rng.normal(0, 0.3, n))))
    frame.to_parquet(folder / "eval.parquet")
    frame.assign(x=frame["x"] + 0.3).to_parquet(folder / "reference.parquet")


def stable(mapping: dict[str, str]) -> dict[str, str | None]:
    """Values kept where they are stable, keys only where they are not."""
    return {
        key: None if any(word in key.lower() for word in VOLATILE) else value
        for key, value in sorted(mapping.items())
    }


def recorded(client: MlflowClient, run_id: str) -> dict:
    run = client.get_run(run_id)
    artifacts, stack = [], [""]
    while stack:
        for item in client.list_artifacts(run_id, stack.pop() or None):
            (stack if item.is_dir else artifacts).append(item.path)
    return {
        "params": stable(run.data.params),
        "metrics": {k: run.data.metrics[k] for k in sorted(run.data.metrics)},
        "tags": stable({k: v for k, v in run.data.tags.items() if not k.startswith("mlflow.")}),
        "artifacts": sorted(artifacts),
        "status": run.info.status,
    }


def validate_run(folder: Path, *, through_mlflow: bool = False) -> tuple[str, set[str]]:
    """One ``validate run`` of CONFIG in ``folder``: its MLflow run id, and the modules the
    run process imported. ``through_mlflow``: MLflow's own store code writes everything."""
    env = {**os.environ, "PYTHONPROFILEIMPORTTIME": "1"}
    env.pop(THROUGH_MLFLOW_ENV, None)
    if through_mlflow:
        env[THROUGH_MLFLOW_ENV] = "1"
    done = subprocess.run(
        [sys.executable, "-m", "validate", "run", "-c", "validation.yaml", "--json", "r.json"],
        cwd=folder,
        capture_output=True,
        text=True,
        env=env,
    )
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    imported = {
        line.split("|")[-1].strip()
        for line in done.stderr.splitlines()
        if line.startswith("import time:")
    }
    return json.loads((folder / "r.json").read_text())["mlflow"]["run_id"], imported


def content_of(client: MlflowClient, run_id: str) -> dict:
    parent = recorded(client, run_id)
    experiment = client.get_run(run_id).info.experiment_id
    children = client.search_runs([experiment], f"tags.mlflow.parentRunId = '{run_id}'")
    return {
        "validation": parent,
        "checks": {
            c.data.tags["validate.check"]: recorded(client, c.info.run_id) for c in children
        },
    }


def run_info(client: MlflowClient, run_id: str) -> dict:
    """What MLflow shows of a run besides its data, with the run's own id taken out."""
    run = client.get_run(run_id)
    info = run.info
    return {
        "name": info.run_name,
        "user": info.user_id,
        "lifecycle": info.lifecycle_stage,
        "artifact_uri": info.artifact_uri.replace(run_id, "RUN"),
        "closed": info.end_time is not None and info.end_time >= info.start_time,
        "mlflow_tags": {
            k: v.replace(run_id, "RUN") for k, v in run.data.tags.items() if k.startswith("mlflow.")
        },
        "inputs": len(run.inputs.dataset_inputs),
    }


def test_a_scored_run_records_what_it_recorded_before(tmp_path):
    """Three times: MLflow creates the store and writes the first run (asked to, with
    VALIDATE_WRITE_THROUGH_MLFLOW); the second finds the store and writes it directly
    (validate.sqlite_store, without importing MLflow); the third, in another folder,
    creates its store directly too. All record the golden content, and MLflow reads the
    same run info back from each."""
    scored_tables(tmp_path)
    (tmp_path / "validation.yaml").write_text(CONFIG, encoding="utf-8")
    first, first_imports = validate_run(tmp_path, through_mlflow=True)
    second, second_imports = validate_run(tmp_path)
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    scored_tables(fresh)
    (fresh / "validation.yaml").write_text(CONFIG, encoding="utf-8")
    third, third_imports = validate_run(fresh)
    assert "mlflow" in first_imports
    for imports in (second_imports, third_imports):
        assert not {m for m in imports if m.split(".")[0] in ("mlflow", "sqlalchemy")}
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    fresh_client = MlflowClient(tracking_uri=f"sqlite:///{fresh / 'mlflow.db'}")
    content = content_of(client, first)
    if os.environ.get("VALIDATE_UPDATE_GOLDEN"):
        GOLDEN.write_text(json.dumps(content, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    expected = json.loads(GOLDEN.read_text(encoding="utf-8"))
    for run_id in (first, second):
        assert_matches(content_of(client, run_id), expected)
    assert_matches(content_of(fresh_client, third), expected)
    assert run_info(client, second) == run_info(client, first)
    in_fresh = run_info(fresh_client, third)
    in_fresh["artifact_uri"] = in_fresh["artifact_uri"].replace(str(fresh), str(tmp_path))
    assert in_fresh == run_info(client, first)
    first_checks = client.search_runs(
        [client.get_run(first).info.experiment_id], f"tags.mlflow.parentRunId = '{first}'"
    )
    for check in first_checks:
        name = check.data.tags["validate.check"]
        (twin,) = client.search_runs(
            [check.info.experiment_id],
            f"tags.mlflow.parentRunId = '{second}' and tags.`validate.check` = '{name}'",
        )
        mine, theirs = run_info(client, twin.info.run_id), run_info(client, check.info.run_id)
        mine["mlflow_tags"]["mlflow.parentRunId"] = theirs["mlflow_tags"]["mlflow.parentRunId"]
        assert mine == theirs, name


def assert_matches(content: dict, expected: dict) -> None:
    for run in ("validation", *sorted(expected["checks"])):
        got = content if run == "validation" else content["checks"]
        want = expected if run == "validation" else expected["checks"]
        got, want = got[run], want[run]
        assert sorted(got["metrics"]) == sorted(want["metrics"]), run
        assert got["metrics"] == pytest.approx(want["metrics"], rel=1e-9, abs=1e-12), run
        for part in ("params", "tags", "artifacts", "status"):
            assert got[part] == want[part], (run, part)
    assert sorted(content["checks"]) == sorted(expected["checks"])
