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
4. Model formats (``--formats``, or alone with ``--formats-only``): one small MLP
   (scikit-learn, 6 → 64 → 64 → 1, trained on the credit sample's applicants) timed
   through MLflow pyfunc, as its skl2onnx conversion on ONNX Runtime, and re-implemented
   in PyTorch (``torch.export`` .pt2 and TorchScript), at batch sizes 1, 64 and 1024,
   interleaved through the latency check's own timed calls. With ``--device gpu`` the
   ONNX model runs on the CUDA execution provider and PyTorch on CUDA tensors (pyfunc
   stays where scikit-learn runs: the CPU).
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
from typing import Any

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


def build_formats(folder: Path) -> tuple[dict[str, str], Any]:
    """The same MLP as an MLflow folder, an ONNX file, a .pt2 and a TorchScript file."""
    import mlflow.sklearn
    import torch
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    sys.path.insert(0, str(REPO))
    import warnings

    from sample_models.credit.build import make_applicants

    frame = make_applicants(np.random.default_rng(0), 5000, drift=0.0)
    warnings.simplefilter("ignore")  # an MLP stopped early warns; its speed is what counts
    pipeline = make_pipeline(
        StandardScaler(), MLPClassifier((64, 64), max_iter=30, random_state=0)
    ).fit(frame[FEATURES], frame["default"])
    mlflow.sklearn.save_model(
        pipeline,
        str(folder / "sklearn"),
        skops_trusted_types=["sklearn.neural_network._stochastic_optimizers.AdamOptimizer"],
    )
    graph = convert_sklearn(
        pipeline,
        initial_types=[("input", FloatTensorType([None, len(FEATURES)]))],
        options={MLPClassifier: {"zipmap": False}},
    )
    (folder / "model.onnx").write_bytes(graph.SerializeToString())
    scaler, mlp = pipeline.steps[0][1], pipeline.steps[1][1]
    layers: list[Any] = []
    for i, (weights, bias) in enumerate(zip(mlp.coefs_, mlp.intercepts_, strict=True)):
        linear = torch.nn.Linear(*weights.shape)
        with torch.no_grad():
            linear.weight.copy_(torch.tensor(weights.T))
            linear.bias.copy_(torch.tensor(bias))
        layers += [linear, torch.nn.ReLU() if i < len(mlp.coefs_) - 1 else torch.nn.Sigmoid()]

    class Scaled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.register_buffer("mean", torch.tensor(scaler.mean_, dtype=torch.float32))
            self.register_buffer("scale", torch.tensor(scaler.scale_, dtype=torch.float32))
            self.net = torch.nn.Sequential(*layers)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.net((x - self.mean) / self.scale)

    module = Scaled().eval()
    example = (torch.zeros(4, len(FEATURES)),)
    program = torch.export.export(module, example, dynamic_shapes=({0: torch.export.Dim("batch")},))
    torch.export.save(program, str(folder / "model.pt2"))
    torch.jit.save(torch.jit.script(module), str(folder / "model.pt"))
    paths = {
        "MLflow pyfunc (sklearn)": str(folder / "sklearn"),
        "ONNX Runtime": str(folder / "model.onnx"),
        "torch.export .pt2": str(folder / "model.pt2"),
        "TorchScript": str(folder / "model.pt"),
    }
    return paths, frame


def formats_table(device: str, iterations: int) -> None:
    """Section 4: each format's p50/p95/throughput per batch size, interleaved."""
    from validate.models.adapter import resolve_model
    from validate.models.timing import Placement, timed_call
    from validate.stats.latency import summarize
    from validate.timing import Budget, measure_interleaved

    with tempfile.TemporaryDirectory() as scratch:
        paths, frame = build_formats(Path(scratch))
        refs = {
            name: resolve_model(path, role="candidate", task="binary")
            for name, path in paths.items()
        }
        scores = {name: ref.predict(frame, tuple(FEATURES)) for name, ref in refs.items()}
        reference = scores["MLflow pyfunc (sklearn)"]
        placement = Placement(
            device=device, tf_device=None, gpu_index=0 if device == "gpu" else None
        )
        budget = Budget(warmup=20, iterations=iterations, max_seconds=60)
        print(f"\nmodel formats on {device}, {iterations} timed calls each, interleaved")
        for name, got in scores.items():
            print(f"  {name}: max |score - sklearn| = {np.abs(got - reference).max():.2e}")
        print(f"{'format':<24} {'batch':>6} {'p50 ms':>8} {'p95 ms':>8} {'rows/s':>12}")
        for size in (1, 64, 1024):
            batch = frame.iloc[:size]
            calls = {}
            for name, ref in refs.items():
                on = placement if ref.kind != "mlflow" else Placement("cpu", None)
                calls[name] = timed_call(ref, batch, tuple(FEATURES), on)
            timings = measure_interleaved(calls, budget)
            for name, series in timings.items():
                summary = summarize(series, size)
                print(
                    f"{name:<24} {size:>6} {summary.p50_ms:8.3f} {summary.p95_ms:8.3f} "
                    f"{summary.throughput_rps:12,.0f}"
                )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--device", choices=("cpu", "gpu"), default="cpu")
    parser.add_argument("--artifacts", type=Path, default=SAMPLE / "artifacts")
    parser.add_argument("--formats", action="store_true", help="also time ONNX and PyTorch")
    parser.add_argument("--formats-only", action="store_true", help="only section 4")
    args = parser.parse_args()
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if args.formats_only:
        formats_table(args.device, args.iterations)
        return

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
    if args.formats:
        formats_table(args.device, args.iterations)


if __name__ == "__main__":
    main()
