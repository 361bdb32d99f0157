"""How much the latency check's measurement costs, and how repeatable its p95 is.

    python benchmarks/latency.py [--runs N] [--iterations N] [--device cpu|gpu]

1. Overhead: the timed cost of an empty function through the same loop the check
   uses (two clock reads, the call, the append).
2. Run-to-run spread of p95 on the credit sample's Keras model, at batch sizes
   1, 64 and 1024: N independent measurements (warm-up, then timed calls), beside
   what a one-shot timer reports (one ``model.predict`` timed once, no warm-up, the
   way Deepchecks' inference-time check measures). The ratio of the spreads says
   how much more repeatable the gate's number is than a single timing.
3. The interleaved ratio of the model against itself (two compiled copies, A B A B):
   its spread across runs shows how much of the run-to-run drift interleaving cancels.
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

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "sample_models" / "credit"
FEATURES = ["income", "debt_ratio", "age", "credit_history_years", "late_payments", "loan_amount"]


def overhead_ns(calls: int = 200_000) -> float:
    from validate.timing import Budget, measure_interleaved

    timings = measure_interleaved(
        {"empty": lambda: None}, Budget(warmup=1000, iterations=calls, max_seconds=60)
    )
    return float(np.median(timings["empty"]))


def sample_model(folder: Path) -> Path:
    model = folder / "candidate_good.keras"
    if not model.is_file():
        subprocess.run(
            [sys.executable, str(SAMPLE / "build.py"), "--out", str(folder), "--no-register"],
            check=True,
            capture_output=True,
        )
    return model


def spread(values: list[float]) -> tuple[float, float]:
    """Relative range (max − min) / median, and coefficient of variation, across runs."""
    median = statistics.median(values)
    return (max(values) - min(values)) / median, statistics.stdev(values) / statistics.mean(values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--device", choices=("cpu", "gpu"), default="cpu")
    parser.add_argument("--artifacts", type=Path, default=SAMPLE / "artifacts")
    args = parser.parse_args()
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    empty = overhead_ns()
    print(f"measurement overhead: {empty:.0f} ns per timed call (median of 200,000 empty calls)")

    import pandas as pd

    from validate.models.adapter import resolve_model
    from validate.models.timing import Placement, timed_call
    from validate.stats.latency import summarize
    from validate.timing import Budget, measure_interleaved

    with tempfile.TemporaryDirectory() as scratch:
        folder = args.artifacts if (args.artifacts / "eval.parquet").is_file() else Path(scratch)
        model_path = sample_model(folder)
        frame = pd.read_parquet(folder / "eval.parquet")
        ref = resolve_model(str(model_path), role="candidate", task="binary")
        device = "/GPU:0" if args.device == "gpu" else "/CPU:0"
        placement = Placement(device=args.device, tf_device=device)
        budget = Budget(warmup=20, iterations=args.iterations, max_seconds=60)
        keras_model = ref.scorer().model
        print(
            f"\nsample Keras model on {args.device}, {args.runs} runs of "
            f"{args.iterations} timed calls each"
        )
        header = (
            f"{'batch':>6} {'p50 ms':>7} {'p50 spread':>11} {'p95 ms':>7} {'p95 spread':>11} "
            f"{'p95 CV':>7} "
            f"{'one-shot median ms':>19} {'one-shot spread':>16} {'one-shot CV':>12} "
            f"{'spread ratio':>13} {'A/A p95 ratio':>14} {'A/A spread':>11}"
        )
        print(header)
        for size in (1, 64, 1024):
            batch = frame.iloc[:size]
            p50s, p95s, single, self_ratios = [], [], [], []
            for _ in range(args.runs):
                call = timed_call(ref, batch, tuple(FEATURES), placement)
                twin = timed_call(ref, batch, tuple(FEATURES), placement)
                timings = measure_interleaved({"candidate": call, "twin": twin}, budget)
                self_ratios.append(
                    summarize(timings["candidate"], size).p95_ms
                    / summarize(timings["twin"], size).p95_ms
                )
                summary = summarize(timings["candidate"], size)
                p50s.append(summary.p50_ms)
                p95s.append(summary.p95_ms)
                matrix = batch[FEATURES].to_numpy(np.float32)
                started = time.perf_counter_ns()
                keras_model.predict(matrix, verbose=0)
                single.append((time.perf_counter_ns() - started) / 1e6)
            ours, theirs = spread(p95s), spread(single)
            print(
                f"{size:>6} {statistics.median(p50s):7.3f} {spread(p50s)[0]:10.1%} "
                f"{statistics.median(p95s):7.3f} {ours[0]:10.1%} {ours[1]:7.1%} "
                f"{statistics.median(single):19.3f} {theirs[0]:15.1%} {theirs[1]:12.1%} "
                f"{theirs[0] / ours[0]:12.1f}x {statistics.median(self_ratios):14.3f} "
                f"{spread(self_ratios)[0]:10.1%}"
            )


if __name__ == "__main__":
    main()
