"""What the supervising parent costs: ``validate --help`` and a small ``validate run``, this
tree against an older checkout of validate, interleaved (A B A B) on the same data.

    git worktree add /tmp/before <commit before supervision>
    python benchmarks/supervision.py --before /tmp/before [--runs N]

The older checkout is put first on PYTHONPATH, so both use this environment's packages.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

HERE = Path(__file__).resolve().parent.parent


def small_run(folder: Path) -> Path:
    """An accuracy + bias run on 2,000 rows of precomputed scores (sqlite MLflow)."""
    rng = np.random.default_rng(0)
    rows = 2000
    x = rng.normal(size=rows)
    frame = pd.DataFrame(
        {
            "x": x,
            "label": (rng.random(rows) < 1 / (1 + np.exp(-2 * x))).astype(int),
            "score": 1 / (1 + np.exp(-2 * x)),
            "group": rng.choice(["a", "b"], size=rows),
        }
    )
    frame.to_parquet(folder / "eval.parquet", index=False)
    config = {
        "version": 1,
        "data": {"eval": "eval.parquet", "target": "label", "prediction": "score"},
        "checks": {
            "accuracy": {"thresholds": {"roc_auc": {"min": 0.7}}},
            "bias": {"sensitive_features": ["group"], "n_resamples": 200},
        },
        "mlflow": {"tracking_uri": f"sqlite:///{folder / 'mlflow.db'}", "experiment": "bench"},
    }
    path = folder / "validation.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def timed(command: list[str], env: dict[str, str], expect: int = 0) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, env=env, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != expect:
        raise SystemExit(f"{' '.join(command)} failed: {done.stderr.decode()[-500:]}")
    return elapsed


def compare(name: str, args: list[str], before: Path, runs: int, expect: int = 0) -> None:
    cli = [sys.executable, "-c", "from validate.cli import main; main()"]
    environments = {
        "now": {**os.environ, "PYTHONPATH": str(HERE)},
        "before": {**os.environ, "PYTHONPATH": str(before)},
    }
    samples: dict[str, list[float]] = {key: [] for key in environments}
    for _key, env in environments.items():
        timed(cli + args, env, expect)  # warm the file cache
    for _ in range(runs):
        for key, env in environments.items():
            samples[key].append(timed(cli + args, env, expect))
    now, then = statistics.median(samples["now"]), statistics.median(samples["before"])
    print(f"{name:<28} before {then:7.3f} s   now {now:7.3f} s   cost {now - then:+7.3f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, required=True, help="an older checkout")
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    compare("validate --help", ["--help"], args.before, args.runs)
    # Refused at load: the process start-up and supervision cost alone.
    compare("validate run (bad -c)", ["run", "-c", "missing.yaml"], args.before, args.runs, 2)
    with tempfile.TemporaryDirectory() as folder:
        config = small_run(Path(folder))
        compare("validate run (small)", ["run", "-c", str(config)], args.before, args.runs)


if __name__ == "__main__":
    main()
