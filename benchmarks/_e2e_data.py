"""Data and configs for benchmarks/end_to_end.py: seeded tables written as parquet, and one
validation.yaml per case using only documented keys.

Parquet files are written without pandas' metadata, so the anchors' own environments
(pandas 2, for Evidently and TFMA) read them back exactly as our pandas 3 does.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

# The growth table's reference is one fixed size, so the drift reference is part of the
# fixed cost and "per row" means per eval row.
GROWTH_REFERENCE_ROWS = 100_000
ADULT_ROWS, ADULT_REFERENCE_ROWS = 15_000, 30_000
BIAS_ROWS, DRIFT_ROWS, DRIFT_COLUMNS = 2_000_000, 200_000, 20


@dataclass(frozen=True)
class Case:
    """One prepared measurement: a folder holding validation.yaml and its data files."""

    name: str
    folder: Path
    rows: int
    expected_exit: int
    expected_statuses: dict[str, str]
    files: dict[str, Path] = field(default_factory=dict)

    @property
    def config(self) -> Path:
        return self.folder / "validation.yaml"

    def reset_tracking(self) -> None:
        """A fresh MLflow store per run: opening (creating) it is part of what users pay."""
        for name in ("mlflow.db", "mlruns", "mlartifacts", "report.json"):
            path = self.folder / name
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()


def write_parquet(frame: pd.DataFrame, path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(frame, preserve_index=False)
    pq.write_table(table.replace_schema_metadata(None), path)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def bias_table(rows: int, seed: int) -> pd.DataFrame:
    """Label, a precomputed score, and one sensitive column with 4 groups (40/30/20/10%)."""
    rng = np.random.default_rng(seed)
    group = rng.choice(np.array(["a", "b", "c", "d"]), rows, p=[0.4, 0.3, 0.2, 0.1])
    label = (rng.random(rows) < 0.3).astype(np.int8)
    logit = -1.2 + 2.4 * label + rng.normal(0, 1, rows) + np.where(group == "d", 0.05, 0.0)
    return pd.DataFrame(
        {"label": label, "score": _sigmoid(logit).astype(np.float32), "group": group}
    )


def drift_table(rows: int, columns: int, seed: int, shifted: int) -> pd.DataFrame:
    """``columns`` numeric features of mixed shapes; the first ``shifted`` move by 0.3 SD."""
    rng = np.random.default_rng(seed)
    data: dict[str, np.ndarray] = {}
    for index in range(columns):
        shift = 0.3 if index < shifted else 0.0
        kind = index % 3
        if kind == 0:
            values = rng.normal(shift, 1.0, rows)
        elif kind == 1:
            values = rng.lognormal(0.0, 0.5, rows) + shift * 0.53  # SD of lognormal(0, .5)
        else:
            values = rng.uniform(0, 1, rows) + shift * 0.29  # SD of U(0, 1)
        data[f"n{index}"] = values
    return pd.DataFrame(data)


_ADULT_CATEGORIES = {
    "workclass": (["Private", "Self-emp", "Gov", "Other"], [0.7, 0.12, 0.13, 0.05]),
    "education": (
        ["HS-grad", "Some-college", "Bachelors", "Masters", "Doctorate", "11th"],
        [0.32, 0.22, 0.17, 0.06, 0.02, 0.21],
    ),
    "marital_status": (
        ["Married", "Never-married", "Divorced", "Widowed"],
        [0.46, 0.33, 0.15, 0.06],
    ),
    "occupation": (
        ["Prof", "Craft", "Exec", "Admin", "Sales", "Service", "Other"],
        [0.13, 0.13, 0.13, 0.12, 0.11, 0.1, 0.28],
    ),
    "relationship": (
        ["Husband", "Not-in-family", "Own-child", "Unmarried", "Wife"],
        [0.4, 0.26, 0.16, 0.11, 0.07],
    ),
    "race": (
        ["White", "Black", "Asian-Pac", "Amer-Indian", "Other"],
        [0.85, 0.1, 0.03, 0.01, 0.01],
    ),
    "sex": (["Male", "Female"], [0.67, 0.33]),
    "native_country": (
        ["United-States", "Mexico", "Philippines", "Germany", "Other"],
        [0.9, 0.02, 0.01, 0.01, 0.06],
    ),
}


def adult_table(rows: int, seed: int) -> pd.DataFrame:
    """Adult-shaped: 6 numeric and 8 categorical columns, a ~24% positive label, the
    candidate's and a slightly worse champion's precomputed scores."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "age": rng.integers(17, 90, rows),
            "fnlwgt": rng.lognormal(12, 0.5, rows).round(),
            "education_num": rng.integers(1, 17, rows),
            "capital_gain": np.where(rng.random(rows) < 0.08, rng.lognormal(8, 1, rows), 0).round(),
            "capital_loss": np.where(
                rng.random(rows) < 0.05, rng.lognormal(7, 0.3, rows), 0
            ).round(),
            "hours_per_week": np.clip(rng.normal(40, 12, rows), 1, 99).round(),
        }
    )
    for column, (values, weights) in _ADULT_CATEGORIES.items():
        frame[column] = rng.choice(np.array(values), rows, p=weights)
    signal = (
        0.04 * (frame["age"].to_numpy() - 38)
        + 0.35 * (frame["education_num"].to_numpy() - 10)
        + 0.04 * (frame["hours_per_week"].to_numpy() - 40)
        + 1.2 * (frame["marital_status"].to_numpy() == "Married")
    )
    latent = signal + rng.normal(0, 1.0, rows)
    frame["label"] = (latent > 1.3).astype(np.int8)
    frame["score"] = _sigmoid(latent - 1.3 + rng.normal(0, 1.0, rows)).astype(np.float32)
    frame["champion_score"] = _sigmoid(latent - 1.3 + rng.normal(0, 1.3, rows)).astype(np.float32)
    return frame


def growth_table(rows: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    """tests/test_scale.py's table: five float32 features, a 4-level group, label, and the
    candidate's and champion's scores."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            f"x{i}": (rng.standard_normal(rows) + (shift if i == 1 else 0)).astype(np.float32)
            for i in (1, 2, 3, 4, 5)
        }
    )
    logit = 1.5 * frame["x1"].to_numpy() - 1.0 * frame["x2"].to_numpy()
    frame["group"] = rng.choice(np.array(["a", "b", "c", "d"]), rows, p=[0.4, 0.3, 0.2, 0.1])
    probability = _sigmoid(logit)
    frame["label"] = (rng.random(rows) < probability).astype(np.int8)
    frame["score"] = np.clip(probability + rng.normal(0, 0.05, rows), 0, 1).astype(np.float32)
    frame["champion_score"] = np.clip(probability + rng.normal(0, 0.1, rows), 0, 1).astype(
        np.float32
    )
    return frame


def _prepare(folder: Path, key: dict[str, Any], build) -> None:  # noqa: ANN001
    """Write the case's files unless the same ones (same key) are already there."""
    stamp = folder / "case.json"
    if stamp.exists() and json.loads(stamp.read_text()) == key:
        return
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    build()
    stamp.write_text(json.dumps(key))


def _write_config(folder: Path, data: dict[str, Any], checks: dict[str, Any], seed: int) -> None:
    config = {
        "version": 1,
        "data": data,
        "checks": checks,
        "mlflow": {"tracking_uri": "sqlite:///mlflow.db", "experiment": "e2e-bench"},
        "seed": seed,
    }
    (folder / "validation.yaml").write_text(yaml.safe_dump(config, sort_keys=False))


def bias_case(root: Path, seed: int, rows: int = BIAS_ROWS) -> Case:
    folder = root / f"bias-{rows}"

    def build() -> None:
        write_parquet(bias_table(rows, seed), folder / "eval.parquet")
        _write_config(
            folder,
            {"eval": "eval.parquet", "target": "label", "prediction": "score"},
            {
                "bias": {
                    "sensitive_features": ["group"],
                    "thresholds": {
                        "demographic_parity_difference": {"max": 0.1},
                        "equalized_odds_difference": {"max": 0.1},
                    },
                }
            },
            seed,
        )

    _prepare(folder, {"case": "bias", "rows": rows, "seed": seed, "v": 1}, build)
    return Case("bias", folder, rows, 0, {"bias": "passed"}, {"eval": folder / "eval.parquet"})


def drift_case(root: Path, seed: int, rows: int = DRIFT_ROWS, columns: int = DRIFT_COLUMNS) -> Case:
    folder = root / f"drift-{rows}x{columns}"

    def build() -> None:
        current = drift_table(rows, columns, seed + 1, shifted=2)
        current["label"] = np.random.default_rng(seed).integers(0, 2, rows).astype(np.int8)
        write_parquet(current, folder / "eval.parquet")
        write_parquet(drift_table(rows, columns, seed, shifted=0), folder / "reference.parquet")
        _write_config(
            folder,
            {"eval": "eval.parquet", "reference": "reference.parquet", "target": "label"},
            {"drift": {"thresholds": {"share_drifted_features": {"max": 0.3}}}},
            seed,
        )

    key = {"case": "drift", "rows": rows, "columns": columns, "seed": seed, "v": 1}
    _prepare(folder, key, build)
    files = {"eval": folder / "eval.parquet", "reference": folder / "reference.parquet"}
    return Case("drift", folder, rows, 0, {"drift": "passed"}, files)


_SUITE_CHECKS = {
    "accuracy": {
        "thresholds": {"roc_auc": {"min": 0.7}},
        "vs_baseline": {"roc_auc": {"max_drop": 0.01}},
    },
    "bias": {
        "sensitive_features": ["group"],
        "thresholds": {"demographic_parity_difference": {"max": 0.1}},
    },
    "drift": {"thresholds": {"share_drifted_features": {"max": 0.5}}},
}
_SUITE_STATUSES = {"accuracy": "passed", "bias": "passed", "drift": "passed"}


def adult_case(root: Path, seed: int) -> Case:
    folder = root / "adult"

    def build() -> None:
        write_parquet(adult_table(ADULT_ROWS, seed + 1), folder / "eval.parquet")
        reference = adult_table(ADULT_REFERENCE_ROWS, seed).drop(
            columns=["label", "score", "champion_score"]
        )
        write_parquet(reference, folder / "reference.parquet")
        checks = json.loads(json.dumps(_SUITE_CHECKS))
        checks["bias"]["sensitive_features"] = ["sex", "race"]
        # intersections of sex and race include groups of ~50 rows: their noise alone
        # reaches 0.1-0.15 in demographic parity
        checks["bias"]["thresholds"]["demographic_parity_difference"]["max"] = 0.25
        checks["drift"]["thresholds"]["share_drifted_features"]["max"] = 0.3
        _write_config(
            folder,
            {
                "eval": "eval.parquet",
                "reference": "reference.parquet",
                "target": "label",
                "prediction": "score",
                "baseline_prediction": "champion_score",
            },
            checks,
            seed,
        )

    _prepare(folder, {"case": "adult", "seed": seed, "v": 2}, build)
    files = {"eval": folder / "eval.parquet", "reference": folder / "reference.parquet"}
    return Case("adult", folder, ADULT_ROWS, 0, dict(_SUITE_STATUSES), files)


def growth_case(root: Path, seed: int, rows: int) -> Case:
    """Accuracy vs champion, bias and drift on ``rows`` eval rows (x1 moved by 0.3 SD: one
    of six columns drifts, under the 0.5 share allowed)."""
    folder = root / f"growth-{rows}"

    def build() -> None:
        write_parquet(growth_table(rows, seed + 1, shift=0.3), folder / "eval.parquet")
        reference = growth_table(GROWTH_REFERENCE_ROWS, seed).drop(
            columns=["label", "score", "champion_score"]
        )
        write_parquet(reference, folder / "reference.parquet")
        _write_config(
            folder,
            {
                "eval": "eval.parquet",
                "reference": "reference.parquet",
                "target": "label",
                "prediction": "score",
                "baseline_prediction": "champion_score",
            },
            _SUITE_CHECKS,
            seed,
        )

    _prepare(folder, {"case": "growth", "rows": rows, "seed": seed, "v": 1}, build)
    files = {"eval": folder / "eval.parquet", "reference": folder / "reference.parquet"}
    return Case("growth", folder, rows, 0, dict(_SUITE_STATUSES), files)
