"""The Spark engine against the local engine on one generated data set (issue 19).

    python benchmarks/spark.py ROWS [--data DIR] [--master local[2]|standalone] [--skip-local]

Generates ``ROWS`` rows of eval and of reference data (``benchmarks/spark_data.py``)
unless ``--data`` holds them, then, each in a fresh process:

* the local engine: the accuracy (vs the champion), bias and drift checks on the rows,
  loaded with pandas (wall time and peak RSS);
* the Spark engine: the same statistics from merged per-partition partials (wall time,
  including the SparkSession start, and the peak RSS of the driver: the Python process
  and its JVM; with ``--master standalone``, a master and two workers on 127.0.0.1 with
  1 GiB executors, started here, whose memory is not the driver's).

Then prints each approximated statistic's worst reported bound and its worst actual
difference from the local (exact) value over the numeric columns, whether count metrics
are identical, and whether the verdicts agree.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "benchmarks"))
sys.path.insert(0, str(REPO / "tests"))

GROUPINGS = (("sex",), ("age_group",), ("sex", "age_group"))
COUNT_METRICS = ("accuracy", "balanced_accuracy", "precision", "recall", "f1")


def drift_columns() -> list[str]:
    import spark_data

    return [*spark_data.NUMERIC, "region"]


# -- the two engines, each run in its own process -----------------------------------------------


def local_worker(data: Path, out: Path) -> None:
    import numpy as np
    import pandas as pd

    from checks.accuracy import AccuracyCheck
    from checks.bias import BiasCheck
    from checks.drift import DriftCheck
    from validate.check import CheckContext

    started = time.perf_counter()
    current = pd.read_parquet(data / "eval")
    reference = pd.read_parquet(data / "reference", columns=drift_columns())
    context = CheckContext(
        task="binary",
        target="default",
        features=tuple(drift_columns()),
        eval_data=current,
        y_true=current["default"].to_numpy(),
        candidate_scores=current["score"].to_numpy(np.float64),
        baseline_scores=current["champion_score"].to_numpy(np.float64),
        reference_data=reference,
        seed=0,
    )
    accuracy = AccuracyCheck.from_config(
        "accuracy",
        {"thresholds": {"accuracy": {"min": 0.7}}, "vs_baseline": {"accuracy": {"max_drop": 0.01}}},
        task="binary",
    ).run(context)
    bias = BiasCheck.from_config(
        "bias",
        {
            "sensitive_features": ["sex", "age_group"],
            "thresholds": {"demographic_parity_difference": {"max": 0.1}},
        },
        task="binary",
    ).run(context)
    drift = DriftCheck.from_config("drift", {"columns": drift_columns()}, task="binary").run(
        context
    )
    seconds = time.perf_counter() - started
    result = {
        "seconds": seconds,
        "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "accuracy": {m: accuracy.metrics[m] for m in (*COUNT_METRICS, "roc_auc")},
        "accuracy_ci": {
            m: [accuracy.metrics[f"{m}.ci_low"], accuracy.metrics[f"{m}.ci_high"]]
            for m in COUNT_METRICS
        },
        "bias": {n: g["aggregates"] for n, g in bias.details["groupings"].items()},
        "drift": {
            f["column"]: {
                "drifted": f["drifted"],
                "wasserstein": f["statistics"].get("wasserstein"),
                "ks": f["statistics"].get("ks"),
                "psi": f["statistics"].get("psi"),
                "jensenshannon": f["statistics"].get("jensenshannon"),
            }
            for f in drift.details["features"]
        },
    }
    out.write_text(json.dumps(result))


def spark_worker(master: str, data: Path, out: Path) -> None:
    from spark_cluster import LOOPBACK_CONF

    from validate.engine_settings import SparkEngine
    from validate.engines import partials as pt
    from validate.engines import results as er
    from validate.engines import spark as es

    started = time.perf_counter()
    conf = {
        **LOOPBACK_CONF,
        "spark.executor.memory": "1g",
        "spark.executor.cores": "1",
        "spark.executorEnv.PYTHONPATH": os.environ.get("PYTHONPATH", ""),
    }
    spark = es.session(SparkEngine(kind="spark", master=master, conf=conf), "validate-bench")
    spark.sparkContext.setLogLevel("ERROR")
    session_s = time.perf_counter() - started
    spec = pt.ScoreSpec("default", "score", "champion_score", 0.5, GROUPINGS)
    summary = es.summarize(
        spark,
        str(data / "eval"),
        scores=spec,
        reference_location=str(data / "reference"),
        drift_columns=drift_columns(),
    )
    spark.stop()
    assert summary.scores is not None and summary.reference and summary.eval
    accuracy = er.accuracy(summary.scores, confidence=0.95, n_resamples=1000, seed=0)
    bias = {
        " x ".join(g): er.bias(
            summary.scores,
            " x ".join(g),
            min_group_size=30,
            method="between_groups",
            agg="worst_case",
            n_resamples=1000,
            seed=0,
            confidence=0.95,
        )["judged"].point
        for g in GROUPINGS
    }
    drift = {}
    for entry in er.drift(summary.reference, summary.eval):
        stats = entry["statistics"]
        drift[entry["column"]] = {
            "drifted": entry["drifted"],
            "decided": entry["decided"],
            **{k: stats.get(k) for k in ("wasserstein", "ks", "psi", "jensenshannon")},
            **{
                k: stats.get(k)
                for k in ("wasserstein_bound", "ks_bound", "psi_bound", "ks_rank_error")
            },
        }
    result = {
        "seconds": time.perf_counter() - started,
        "session_seconds": session_s,
        "accuracy": accuracy["metrics"],
        "accuracy_ci": {m: [i.low, i.high] for m, i in accuracy["intervals"].items()},
        "roc_auc_bound": accuracy["bounds"]["roc_auc"],
        "bias": bias,
        "drift": drift,
    }
    out.write_text(json.dumps(result))


# -- measuring -------------------------------------------------------------------------------


def _tree_rss_kib(root: int) -> int:
    """Resident memory of a process and all its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        stack.extend(children.get(pid, []))
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total


def measured(command: list[str], env: dict[str, str]) -> tuple[int, float]:
    """Run ``command``; return its exit code and the peak RSS (MiB) of its process tree."""
    process = subprocess.Popen(command, env=env)
    peak = 0
    done = threading.Event()

    def poll() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, _tree_rss_kib(process.pid))
            time.sleep(0.2)

    watcher = threading.Thread(target=poll, daemon=True)
    watcher.start()
    code = process.wait()
    done.set()
    watcher.join()
    return code, peak / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rows", type=int, nargs="?", default=0)
    parser.add_argument("--data", type=Path)
    parser.add_argument("--master", default="local[2]", help="a Spark master URL, or standalone")
    parser.add_argument("--skip-local", action="store_true")
    parser.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        kind, data, out = args.worker
        if kind == "local":
            local_worker(Path(data), Path(out))
        else:
            spark_worker(kind, Path(data), Path(out))
        return
    import spark_data
    from spark_cluster import spark_env, standalone_cluster

    data = args.data or Path(tempfile.mkdtemp(prefix=f"validate-spark-{args.rows}-"))
    if not (data / "eval").exists():
        started = time.perf_counter()
        files = max(2, -(-args.rows // 500_000))
        spark_data.generate(args.rows, data, files=files)
        print(f"generated {args.rows:,} rows x2 in {time.perf_counter() - started:.0f} s: {data}")
    env = spark_env(str(REPO))
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as scratch:
        jobs = [] if args.skip_local else ["local"]
        jobs.append("spark")
        for job in jobs:
            out = Path(scratch) / f"{job}.json"

            def run(master: str, job: str = job, out: Path = out) -> tuple[int, float]:
                kind = "local" if job == "local" else master
                command = [sys.executable, __file__, "--worker", kind, str(data), str(out)]
                return measured(command, env)

            if job == "spark" and args.master == "standalone":
                with standalone_cluster(Path(scratch), env, worker_memory="1200m") as url:
                    code, peak = run(url)
            else:
                code, peak = run(args.master)
            if code != 0:
                raise SystemExit(f"{job} engine failed (exit {code})")
            results[job] = json.loads(out.read_text())
            results[job]["tree_peak_mib"] = peak
    report(args.rows, args.master, results)


def report(rows: int, master: str, results: dict[str, dict]) -> None:
    spark = results["spark"]
    print(f"\nrows: {rows:,} eval + {rows:,} reference; Spark master: {master}")
    if "local" in results:
        local = results["local"]
        print(f"local engine: {local['seconds']:.1f} s, peak RSS {local['peak_mib']:.0f} MiB")
    print(
        f"spark engine: {spark['seconds']:.1f} s (session start {spark['session_seconds']:.1f} s), "
        f"peak driver RSS {spark['tree_peak_mib']:.0f} MiB (Python driver + its JVM)"
    )
    if "local" not in results:
        return
    local = results["local"]
    identical = all(spark["accuracy"][m] == local["accuracy"][m] for m in COUNT_METRICS) and all(
        spark["accuracy_ci"][m] == local["accuracy_ci"][m] for m in COUNT_METRICS
    )
    print(f"count metrics and their CIs identical: {identical}")
    print(f"fairness aggregates identical: {spark['bias'] == local['bias']}")
    print(
        f"{'statistic':<12} {'worst bound':>12} {'worst |diff|':>13}  (drift: over numeric columns)"
    )
    numeric = [c for c, v in spark["drift"].items() if v.get("wasserstein") is not None]
    for name in ("wasserstein", "ks", "psi"):
        bound = max(spark["drift"][c][f"{name}_bound"] for c in numeric)
        diff = max(abs(spark["drift"][c][name] - local["drift"][c][name]) for c in numeric)
        print(f"{name:<12} {bound:>12.2e} {diff:>13.2e}")
    auc_diff = abs(spark["accuracy"]["roc_auc"] - local["accuracy"]["roc_auc"])
    print(f"{'roc_auc':<12} {spark['roc_auc_bound']:>12.2e} {auc_diff:>13.2e}")
    rank = max(spark["drift"][c]["ks_rank_error"] for c in numeric)
    print(f"KLL rank error (eval + reference sketches, 99%): {rank:.2e}")
    same = [
        c for c in spark["drift"] if spark["drift"][c]["drifted"] == local["drift"][c]["drifted"]
    ]
    undecided = [c for c in spark["drift"] if not spark["drift"][c]["decided"]]
    print(
        f"drift verdicts equal: {len(same)} of {len(spark['drift'])} columns; "
        f"inside the error bound: {', '.join(undecided) or 'none'}"
    )


if __name__ == "__main__":
    main()
