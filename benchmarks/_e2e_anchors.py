"""The anchors of benchmarks/end_to_end.py, and the virtual environments some need.

Each anchor runs as a whole process, ``PYTHON benchmarks/_e2e_anchors.py NAME ARGS``, so
its interpreter start, imports and file reads count as ours do. This file imports only
the standard library at the top: it also runs in the anchors' own environments (pandas 2
for Evidently 0.7 and TFMA), where neither numpy's nor validate's versions are ours.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve()


@dataclass(frozen=True)
class VenvSpec:
    """An anchor that needs its own environment (pip requirements, the distribution whose
    version is printed)."""

    name: str
    requirements: tuple[str, ...]
    distribution: str


VENVS = {
    "evidently": VenvSpec("evidently", ("evidently>=0.7,<0.8", "pandas<3", "pyarrow"), "evidently"),
    "tfma": VenvSpec("tfma", ("tensorflow-model-analysis", "pyarrow"), "tensorflow-model-analysis"),
}


def ensure_venv(
    spec: VenvSpec, root: Path, *, install: bool, retry: bool
) -> tuple[str | None, str]:
    """The venv's python and the anchor's version, or (None, why it is not there).

    A failed install is remembered (``install-failed.txt``) so later runs do not spend
    minutes on it again; ``retry`` tries anew.
    """
    folder = root / spec.name
    python = folder / "bin" / "python"
    ok, failed = folder / "install-ok.json", folder / "install-failed.txt"
    wanted = json.dumps(list(spec.requirements))
    if ok.exists() and ok.read_text() == wanted and python.exists():
        return str(python), installed_version(str(python), spec.distribution)
    if python.exists() and installed_version(str(python), spec.distribution) != "unknown":
        ok.write_text(wanted)  # made by hand with the same requirements: adopt it
        return str(python), installed_version(str(python), spec.distribution)
    if failed.exists() and not retry:
        return None, failed.read_text().strip() + " (remembered; --retry-anchors to try again)"
    if not install:
        return None, f"no environment at {folder} (--no-install given)"
    if folder.exists():
        shutil.rmtree(folder)
    print(f"creating {folder} ({' '.join(spec.requirements)}); this takes minutes", flush=True)
    base = getattr(sys, "_base_executable", sys.executable)
    steps = [
        [base, "-m", "venv", str(folder)],
        [str(python), "-m", "pip", "install", "-q", "--upgrade", "pip"],
        [str(python), "-m", "pip", "install", "-q", *spec.requirements],
    ]
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            lines = [
                line
                for line in (done.stderr + done.stdout).splitlines()
                if line.strip() and not line.startswith("WARNING: Location")
            ]
            reason = lines[-1] if lines else f"exit {done.returncode}"
            folder.mkdir(parents=True, exist_ok=True)
            failed.write_text(f"pip install {' '.join(spec.requirements)}: {reason}\n")
            return None, f"pip install {' '.join(spec.requirements)}: {reason}"
    ok.write_text(wanted)
    return str(python), installed_version(str(python), spec.distribution)


def installed_version(python: str, distribution: str) -> str:
    code = f"import importlib.metadata as m; print(m.version({distribution!r}))"
    done = subprocess.run([python, "-c", code], capture_output=True, text=True, check=False)
    return done.stdout.strip() or "unknown"


def command(python: str, anchor: str, *args: str) -> list[str]:
    return [python, str(HERE), anchor, *map(str, args)]


# ----------------------------------------------------------------------- the anchors


def fairlearn_bias(eval_path: str) -> dict[str, float]:
    """fairlearn's demographic_parity_difference and equalized_odds_difference on the
    precomputed scores thresholded at 0.5 (what our bias check judges, without CIs)."""
    import pandas as pd
    from fairlearn.metrics import demographic_parity_difference, equalized_odds_difference

    frame = pd.read_parquet(eval_path)
    y_true = frame["label"].to_numpy()
    y_pred = (frame["score"].to_numpy() >= 0.5).astype(int)
    return {
        "demographic_parity_difference": float(
            demographic_parity_difference(y_true, y_pred, sensitive_features=frame["group"])
        ),
        "equalized_odds_difference": float(
            equalized_odds_difference(y_true, y_pred, sensitive_features=frame["group"])
        ),
    }


def evidently_drift(eval_path: str, reference_path: str) -> dict[str, float]:
    """Evidently 0.7's DataDriftPreset over the reference's columns."""
    import pandas as pd
    from evidently import Report
    from evidently.presets import DataDriftPreset

    reference = pd.read_parquet(reference_path)
    current = pd.read_parquet(eval_path)[list(reference.columns)]
    snapshot = Report([DataDriftPreset()]).run(current, reference)
    drifted = next(
        (
            m.get("value")
            for m in snapshot.dict()["metrics"]
            if "DriftedColumnsCount" in str(m.get("metric_name", ""))
        ),
        None,
    )
    return {"drifted_columns": (drifted or {}).get("count", float("nan"))}


def mlflow_evaluate(eval_path: str, folder: str) -> dict[str, float]:
    """A classifier evaluation of a static dataset (the score column thresholded at 0.5 as
    the ``predictions`` column), logged to a fresh sqlite store in ``folder``."""
    import mlflow
    import pandas as pd

    mlflow.set_tracking_uri(f"sqlite:///{Path(folder) / 'mlflow.db'}")
    mlflow.set_experiment("e2e-bench-mlflow")
    frame = pd.read_parquet(eval_path)
    frame["prediction"] = (frame.pop("score").to_numpy() >= 0.5).astype(int)
    frame = frame.drop(columns=["champion_score"])
    # MLflow 3.x's evaluators call np.issubdtype on every column's dtype, which pandas 3's
    # string dtype breaks (TypeError); object columns are what MLflow expects.
    strings = frame.select_dtypes(include=["string", "object"]).columns
    frame = frame.astype(dict.fromkeys(strings, object))
    with mlflow.start_run():
        result = mlflow.models.evaluate(
            data=frame, targets="label", predictions="prediction", model_type="classifier"
        )
    return {k: float(v) for k, v in result.metrics.items() if isinstance(v, int | float)}


def tfma_evaluate(eval_path: str, folder: str) -> dict[str, float]:
    """TFMA's analyze_raw_data on the precomputed scores: candidate and champion (baseline)
    model specs; AUC, accuracy, calibration, TPR, FPR and the confusion cells at 0.5 (what
    Fairness Indicators reads; TFMA 0.52 has no FairnessIndicators metric), overall and
    sliced by sex and by race."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import pandas as pd
    import tensorflow_model_analysis as tfma
    from google.protobuf import text_format
    from tensorflow_model_analysis.proto import config_pb2

    frame = pd.read_parquet(eval_path)
    config = text_format.Parse(
        """
        model_specs { name: "candidate" label_key: "label" prediction_key: "score" }
        model_specs { name: "champion" label_key: "label" prediction_key: "champion_score"
                      is_baseline: true }
        metrics_specs {
          metrics { class_name: "ExampleCount" }
          metrics { class_name: "AUC" }
          metrics { class_name: "BinaryAccuracy" }
          metrics { class_name: "MeanLabel" }
          metrics { class_name: "MeanPrediction" }
          metrics { class_name: "Recall" }
          metrics { class_name: "FallOut" }
          metrics { class_name: "ConfusionMatrixAtThresholds" config: '{"thresholds": [0.5]}' }
        }
        slicing_specs {}
        slicing_specs { feature_keys: ["sex"] }
        slicing_specs { feature_keys: ["race"] }
        """,
        config_pb2.EvalConfig(),
    )
    result = tfma.analyze_raw_data(frame, config, output_path=folder)
    return {"slices": float(len(result.slicing_metrics))}


_ANCHORS = {
    "fairlearn": (fairlearn_bias, 1),
    "evidently": (evidently_drift, 2),
    "mlflow": (mlflow_evaluate, 2),
    "tfma": (tfma_evaluate, 2),
}


def main() -> None:
    parser = argparse.ArgumentParser(description="run one anchor (used by end_to_end.py)")
    parser.add_argument("anchor", choices=sorted(_ANCHORS))
    parser.add_argument("paths", nargs="+")
    args = parser.parse_args()
    function, arity = _ANCHORS[args.anchor]
    if len(args.paths) != arity:
        parser.error(f"{args.anchor} takes {arity} paths")
    print(json.dumps(function(*args.paths), default=str))


if __name__ == "__main__":
    main()
