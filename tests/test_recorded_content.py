"""What a run records in MLflow stays the same while the run gets faster (issue 16): the
params, metrics (to 1e-9), tags and artifact names of a scored accuracy + bias + drift run,
compared with tests/golden/recorded_content.json.

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


def test_a_scored_run_records_what_it_recorded_before(tmp_path):
    scored_tables(tmp_path)
    (tmp_path / "validation.yaml").write_text(CONFIG, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "validate", "run", "-c", "validation.yaml", "--json", "r.json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    run_id = json.loads((tmp_path / "r.json").read_text())["mlflow"]["run_id"]
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    parent = recorded(client, run_id)
    experiment = client.get_run(run_id).info.experiment_id
    children = client.search_runs([experiment], f"tags.mlflow.parentRunId = '{run_id}'")
    content = {
        "validation": parent,
        "checks": {
            c.data.tags["validate.check"]: recorded(client, c.info.run_id) for c in children
        },
    }
    if os.environ.get("VALIDATE_UPDATE_GOLDEN"):
        GOLDEN.write_text(json.dumps(content, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    expected = json.loads(GOLDEN.read_text(encoding="utf-8"))
    for run in ("validation", *sorted(expected["checks"])):
        got = content if run == "validation" else content["checks"]
        want = expected if run == "validation" else expected["checks"]
        got, want = got[run], want[run]
        assert sorted(got["metrics"]) == sorted(want["metrics"]), run
        assert got["metrics"] == pytest.approx(want["metrics"], rel=1e-9, abs=1e-12), run
        for part in ("params", "tags", "artifacts", "status"):
            assert got[part] == want[part], (run, part)
    assert sorted(content["checks"]) == sorted(expected["checks"])
