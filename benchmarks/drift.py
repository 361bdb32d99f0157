"""Drift: our check vs Evidently 0.7's DataDriftPreset on the same data, time and peak memory.

    python benchmarks/drift.py [--evidently-python /path/to/venv/bin/python]

Evidently 0.7 does not import with pandas 3, so it runs in its own virtual
environment (``python -m venv ev && ev/bin/pip install 'evidently>=0.7,<0.8' 'pandas<3'``)
whose interpreter is passed with --evidently-python. Each measurement runs in a fresh
process (this script with --worker), so peak memory (ru_maxrss) is its own; both
sides generate the same data from the same seed.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

CASES = [(100_000, 20, False), (1_000_000, 20, False), (1_000_000, 100, True)]


def make(rows: int, columns: int, mixed: bool, seed: int):
    import pandas as pd

    rng = np.random.default_rng(seed)
    data = {}
    for index in range(columns):
        if mixed and index % 4 == 3:
            data[f"c{index}"] = rng.choice(["a", "b", "c", "d", "e"], rows)
        else:
            data[f"n{index}"] = rng.normal(0.05 * (index % 3) * seed, 1, rows)
    return pd.DataFrame(data)


def run_ours(rows: int, columns: int, mixed: bool) -> float:
    from checks.drift import DriftCheck
    from validate.check import CheckContext

    reference, current = make(rows, columns, mixed, 0), make(rows, columns, mixed, 1)
    started = time.perf_counter()
    context = CheckContext(
        task="binary",
        target="label",
        features=tuple(current.columns),
        eval_data=current,
        reference_data=reference,
        y_true=np.zeros(rows, dtype=int),
        candidate_scores=np.zeros(rows),
    )
    DriftCheck.from_config("drift", {"histograms": False}, task="binary").run(context)
    return time.perf_counter() - started


def run_evidently(rows: int, columns: int, mixed: bool) -> float:
    reference, current = make(rows, columns, mixed, 0), make(rows, columns, mixed, 1)
    started = time.perf_counter()
    try:
        from evidently import Report
        from evidently.presets import DataDriftPreset

        Report([DataDriftPreset()]).run(current, reference)
    except ImportError:  # older API
        from evidently.metric_preset import DataDriftPreset
        from evidently.report import Report

        Report(metrics=[DataDriftPreset()]).run(reference_data=reference, current_data=current)
    return time.perf_counter() - started


def measure(python: str, worker: str, rows: int, columns: int, mixed: bool) -> dict[str, float]:
    command = [
        python,
        str(Path(__file__).resolve()),
        "--worker",
        worker,
        "--rows",
        str(rows),
        "--columns",
        str(columns),
    ] + (["--mixed"] if mixed else [])
    completed = subprocess.run(
        command,
        capture_output=True,
        text=True,
        check=False,
        timeout=3600,
        cwd=Path(__file__).resolve().parent.parent,
    )
    if completed.returncode != 0:
        return {
            "error": completed.stderr.strip().splitlines()[-1] if completed.stderr else "failed"
        }
    return json.loads(completed.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--evidently-python")
    parser.add_argument("--worker", choices=["ours", "evidently"])
    parser.add_argument("--rows", type=int)
    parser.add_argument("--columns", type=int)
    parser.add_argument("--mixed", action="store_true")
    args = parser.parse_args()
    if args.worker:
        run = run_ours if args.worker == "ours" else run_evidently
        seconds = run(args.rows, args.columns, args.mixed)
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps({"seconds": seconds, "peak_mb": peak_mb}))
        return
    header = ("case", "ours s", "ours MB", "evidently s", "evidently MB", "ratio")
    print(
        f"{header[0]:<24} {header[1]:>8} {header[2]:>8} {header[3]:>12} {header[4]:>13} "
        f"{header[5]:>7}"
    )
    for rows, columns, mixed in CASES:
        label = f"{rows:,} x {columns}{' mixed' if mixed else ''}"
        ours = measure(sys.executable, "ours", rows, columns, mixed)
        theirs = (
            measure(args.evidently_python, "evidently", rows, columns, mixed)
            if args.evidently_python and not mixed
            else {}
        )
        if "seconds" in theirs:
            print(
                f"{label:<24} {ours['seconds']:8.2f} {ours['peak_mb']:8.0f} "
                f"{theirs['seconds']:12.2f} {theirs['peak_mb']:13.0f} "
                f"{theirs['seconds'] / ours['seconds']:6.0f}x"
            )
        else:
            note = theirs.get("error", "not run")
            print(f"{label:<24} {ours['seconds']:8.2f} {ours['peak_mb']:8.0f}   ({note})")


if __name__ == "__main__":
    main()
