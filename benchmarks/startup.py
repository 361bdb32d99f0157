"""Start-up time of ``validate --help`` beside ``mlflow --help`` and a bare interpreter.

    python benchmarks/startup.py [--runs N]

Users run the CLI on every pull request; its start-up must not pay for
TensorFlow, MLflow or fairlearn imports it does not use.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path


def median_seconds(command: list[str], runs: int) -> float:
    subprocess.run(command, capture_output=True, check=True)  # warm the file cache
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(command, capture_output=True, check=True)
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    bin_dir = Path(sys.executable).parent
    validate = shutil.which("validate", path=str(bin_dir)) or "validate"
    mlflow = shutil.which("mlflow", path=str(bin_dir)) or "mlflow"
    rows = [
        ("python -c pass", median_seconds([sys.executable, "-c", "pass"], args.runs)),
        ("validate --help", median_seconds([validate, "--help"], args.runs)),
        ("mlflow --help", median_seconds([mlflow, "--help"], args.runs)),
    ]
    ours = rows[1][1]
    print(f"{'command':<18} {'median s':>9} {'vs validate':>12}")
    for name, seconds in rows:
        print(f"{name:<18} {seconds:9.3f} {seconds / ours:11.2f}x")


if __name__ == "__main__":
    main()
