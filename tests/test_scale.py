"""Scale: a 10M-row eval set (generated here, never committed) through accuracy with the
paired champion comparison, bias with CIs, and drift, in one `validate run` process whose
peak memory is measured. It must finish and stay far below the machine's 24 GiB."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

pytestmark = pytest.mark.scale

ROWS = 10_000_000
PEAK_LIMIT_GIB = 12  # half the CI machine: room for the rest of the test run beside it


def synthetic(n: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            f"x{i}": (rng.standard_normal(n) + (shift if i == 1 else 0)).astype(np.float32)
            for i in (1, 2, 3, 4, 5)
        }
    )
    logit = 1.5 * frame["x1"] - 1.0 * frame["x2"]
    frame["group"] = pd.Categorical(rng.choice(list("abcd"), size=n, p=[0.4, 0.3, 0.2, 0.1]))
    probability = 1 / (1 + np.exp(-logit))
    frame["label"] = (rng.random(n) < probability).astype(np.int8)
    noisy = probability + rng.normal(0, 0.1, n)
    frame["champion_score"] = np.clip(noisy, 0, 1).astype(np.float32)
    return frame


def test_ten_million_rows(tmp_path, models_dir):
    synthetic(ROWS, seed=1, shift=0.3).to_parquet(tmp_path / "eval.parquet", index=False)
    synthetic(1_000_000, seed=2).to_parquet(tmp_path / "reference.parquet", index=False)
    config = {
        "version": 1,
        "model": {"candidate": str(models_dir / "good")},  # scikit-learn, inputs x1 x2 x3
        "data": {
            "eval": "eval.parquet",
            "reference": "reference.parquet",
            "target": "label",
            "features": ["x1", "x2", "x3", "x4", "x5", "group"],
            "baseline_prediction": "champion_score",
        },
        "checks": {
            "accuracy": {
                "thresholds": {"roc_auc": {"min": 0.7}},
                "vs_baseline": {"roc_auc": {"max_drop": 0.01}},
            },
            "bias": {
                "sensitive_features": ["group"],
                "thresholds": {"demographic_parity_difference": {"max": 0.05}},
            },
            "drift": {"thresholds": {"share_drifted_features": {"max": 0.5}}},
        },
        "mlflow": {"experiment": "scale"},
    }
    (tmp_path / "validation.yaml").write_text(yaml.safe_dump(config))
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    done = subprocess.run(
        [
            str(Path(sys.executable).parent / "validate"),
            "run",
            "-c",
            "validation.yaml",
            "--json",
            "report.json",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    peak_gib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads((tmp_path / "report.json").read_text())
    by_name = {c["name"]: c for c in report["checks"]}
    assert [c["status"] for c in report["checks"]] == ["passed", "passed", "passed"]
    drifted = {f["column"]: f["drifted"] for f in by_name["drift"]["details"]["features"]}
    assert drifted == {
        "x1": True,
        "x2": False,
        "x3": False,
        "x4": False,
        "x5": False,
        "group": False,
    }  # the 0.3 SD shift of x1, nothing else
    assert by_name["accuracy"]["metrics"]["roc_auc"] > 0.8
    # The peak of every child so far; the validate process is by far the largest.
    assert before / 2**20 < PEAK_LIMIT_GIB
    assert peak_gib < PEAK_LIMIT_GIB, f"peak memory {peak_gib:.1f} GiB"
    print(f"10M rows: peak memory of validate run {peak_gib:.2f} GiB")
