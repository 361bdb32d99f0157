"""What exporting traces and metrics costs a run: ``validate run`` on a small config with
and without OpenTelemetry configured (an OTLP/HTTP receiver on 127.0.0.1), alternating,
median wall time of each.

    python benchmarks/otel_overhead.py [--runs N] [--rows N]

The config is the test suite's kind (accuracy and bias on precomputed score columns), so
the run is short and the export's share of it shows; on a long run it is smaller still.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

CONFIG = """\
data: {eval: eval.parquet, target: label, prediction: score, baseline_prediction: weak_score}
checks:
  accuracy: {thresholds: {roc_auc: {min: 0.7}, accuracy: {min: 0.6}}}
  bias: {sensitive_features: [group], thresholds: {demographic_parity_difference: {max: 0.2}}}
mlflow: {experiment: overhead}
"""


def one_run(folder: Path, env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system, the run's processes)."""
    exe = Path(sys.executable).parent / "validate"
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(
        [str(exe), "run", "-c", "validation.yaml"], cwd=folder, env=env, capture_output=True
    )
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode not in (0, 1):
        raise SystemExit(done.stderr.decode()[-2000:])
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed, cpu


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--rows", type=int, default=5000)
    args = parser.parse_args()
    from conftest import make_frame
    from otlp_receiver import OtlpReceiver

    with tempfile.TemporaryDirectory() as name, OtlpReceiver() as receiver:
        folder = Path(name)
        make_frame(args.rows).to_parquet(folder / "eval.parquet")
        (folder / "validation.yaml").write_text(CONFIG, encoding="utf-8")
        plain = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
        plain["MLFLOW_TRACKING_URI"] = f"sqlite:///{folder / 'mlflow.db'}"
        exporting = {**plain, "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url}
        one_run(folder, plain)  # creates the store, warms the file cache
        without, with_otel = [], []
        for _ in range(args.runs):
            without.append(one_run(folder, plain))
            with_otel.append(one_run(folder, exporting))
        spans = len(receiver.spans())
    print(f"rows={args.rows} runs={args.runs} (alternating); {spans} spans received")
    for index, what in ((0, "wall"), (1, "CPU")):
        off = statistics.median(t[index] for t in without)
        on = statistics.median(t[index] for t in with_otel)
        print(
            f"{what:4}: without OpenTelemetry {off:.2f} s, exporting {on:.2f} s (medians): "
            f"{on - off:+.2f} s ({(on - off) / off:+.1%})"
        )


if __name__ == "__main__":
    main()
