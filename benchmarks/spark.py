"""The Spark engine against the local engine on one generated data set (issue 19).

    python benchmarks/spark.py ROWS [--data DIR] [--master local[2]|standalone]
                               [--skip-local] [--local-rows N [--no-spark-sample]] [--keep DIR]
                               [--driver-memory 512m]

Generates ``ROWS`` rows of eval and of reference data (``benchmarks/spark_data.py``)
unless ``--data`` holds them, then, each in a fresh process:

* the local engine: the accuracy (vs the champion), bias and drift checks on the rows,
  loaded with pandas (wall time and peak RSS);
* the Spark engine: the same statistics from merged per-partition partials (wall time,
  including the SparkSession start, and the peak RSS of the driver: the Python process
  and its JVM; with ``--master standalone``, a master and two workers on 127.0.0.1 with
  1 GiB executors, started here by this process, not by the driver, so neither they nor
  their executors are counted as the driver; the executors' own peaks are shown apart).

With ``--local-rows N`` the local engine reads only a sample: the first data files (whole
files, in name order) holding at least N eval rows, and as many reference files for at
least N reference rows, hard-linked into ``DIR/sample-N/``. Spark then runs twice: on
that same sample (so each approximated statistic's bound is set against its actual
difference on identical rows) and on all rows (whose verdicts are set against the
sample's; ``--no-spark-sample`` skips the first). With the generator's 500k-row files
the sample is exactly the data set ``spark_data.py N`` writes.

Prints each approximated statistic's worst reported bound and its worst actual difference
from the local (exact) value over the numeric columns, whether count metrics are
identical, and whether the verdicts (accuracy threshold, accuracy vs champion, bias, each
drift column) agree. ``--keep DIR`` keeps each run's JSON there.
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
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "benchmarks"))
sys.path.insert(0, str(REPO / "tests"))

GROUPINGS = (("sex",), ("age_group",), ("sex", "age_group"))
COUNT_METRICS = ("accuracy", "balanced_accuracy", "precision", "recall", "f1")
# The checks as configured for both engines; the Spark side judges with the checks' code.
ACCURACY = {
    "thresholds": {"accuracy": {"min": 0.7}},
    "vs_baseline": {"accuracy": {"max_drop": 0.01}},
}
BIAS = {
    "sensitive_features": ["sex", "age_group"],
    "thresholds": {"demographic_parity_difference": {"max": 0.1}},
}


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
    accuracy = AccuracyCheck.from_config("accuracy", ACCURACY, task="binary").run(context)
    bias = BiasCheck.from_config("bias", BIAS, task="binary").run(context)
    drift = DriftCheck.from_config("drift", {"columns": drift_columns()}, task="binary").run(
        context
    )
    seconds = time.perf_counter() - started
    comparison = accuracy.details["vs_baseline"]["accuracy"]
    result = {
        "seconds": seconds,
        "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "rows": [len(current), len(reference)],
        "accuracy": {m: accuracy.metrics[m] for m in (*COUNT_METRICS, "roc_auc")},
        "accuracy_ci": {
            m: [accuracy.metrics[f"{m}.ci_low"], accuracy.metrics[f"{m}.ci_high"]]
            for m in COUNT_METRICS
        },
        "vs_champion": {"accuracy": [comparison["difference"], *comparison["ci"]]},
        "bias": {n: g["aggregates"] for n, g in bias.details["groupings"].items()},
        "verdicts": {a.metric: bool(a.passed) for a in (*accuracy.assertions, *bias.assertions)},
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
    if os.environ.get("BENCH_DRIVER_MEMORY"):
        conf["spark.driver.memory"] = os.environ["BENCH_DRIVER_MEMORY"]
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
    accuracy_settings, bias_settings = _settings()
    accuracy = er.accuracy(
        summary.scores,
        confidence=accuracy_settings.confidence,
        n_resamples=accuracy_settings.n_resamples,
        seed=0,
    )
    judged = {
        " x ".join(g): er.bias(
            summary.scores,
            " x ".join(g),
            min_group_size=bias_settings.min_group_size,
            method=bias_settings.method,
            agg=bias_settings.agg,
            n_resamples=bias_settings.n_resamples,
            seed=0,
            confidence=bias_settings.confidence,
        )["judged"]
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
    comparison = accuracy["vs_baseline"]["accuracy"]
    result = {
        "seconds": time.perf_counter() - started,
        "session_seconds": session_s,
        "driver_memory": conf["spark.driver.memory"],
        "rows": [
            int(summary.scores["cells"].sum()),
            int(next(iter(summary.reference["numeric"].values()))["moments"][0]),
        ],
        "accuracy": accuracy["metrics"],
        "accuracy_ci": {m: [i.low, i.high] for m, i in accuracy["intervals"].items()},
        "roc_auc_bound": accuracy["bounds"]["roc_auc"],
        "vs_champion": {"accuracy": [comparison.value, comparison.low, comparison.high]},
        "bias": {name: found.point for name, found in judged.items()},
        "verdicts": _spark_verdicts(accuracy, judged, accuracy_settings, bias_settings),
        "drift": drift,
    }
    out.write_text(json.dumps(result))


def _settings() -> tuple[Any, Any]:
    from checks.accuracy import AccuracyCheck
    from checks.bias import BiasCheck

    return (
        AccuracyCheck.from_config("accuracy", ACCURACY, task="binary").settings,
        BiasCheck.from_config("bias", BIAS, task="binary").settings,
    )


def _spark_verdicts(
    accuracy: dict[str, Any], judged: dict[str, Any], accuracy_settings: Any, bias_settings: Any
) -> dict[str, bool]:
    """The accuracy and bias checks' assertions on the Spark numbers, by the checks' code."""
    from checks.accuracy import baseline_assertion
    from validate.thresholds import judge

    assertions = []
    for metric, bound in accuracy_settings.thresholds.items():
        interval = accuracy["intervals"].get(metric)
        ci = (interval.low, interval.high) if interval is not None else None
        assertions.extend(judge(metric, accuracy["metrics"][metric], bound, ci))
    for metric, rule in accuracy_settings.vs_baseline.items():
        assertion, _ = baseline_assertion(
            metric, accuracy["vs_baseline"][metric], rule, accuracy_settings.confidence
        )
        assertions.append(assertion)
    for name, bound in bias_settings.thresholds.items():
        # The worst grouping, as the bias check judges (every threshold here is a max).
        grouping = max(judged, key=lambda g: judged[g].point[name])
        value, interval = judged[grouping].point[name], judged[grouping].ci.get(name)
        ci = (interval[0], interval[1]) if interval else None
        assertions.extend(judge(name, value, bound, ci))
    return {a.metric: bool(a.passed) for a in assertions}


# -- measuring -------------------------------------------------------------------------------


def _processes() -> tuple[dict[int, list[int]], dict[int, int]]:
    """Every process's children and resident memory (KiB), from /proc.

    A JVM starting a process (a Python worker) clones itself sharing its memory until the
    new program runs; that clone (same command line as its parent) shows the parent's RSS
    and is left out, so the JVM is not counted twice."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    java: dict[int, int] = {}  # JVM pid -> parent pid
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            text = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        stat = text.rsplit(")", 1)[1].split()
        children.setdefault(int(stat[1]), []).append(int(entry))
        rss[int(entry)] = int(stat[21]) * (resource.getpagesize() // 1024)
        if text[text.find("(") + 1 : text.rfind(")")] == "java":
            java[int(entry)] = int(stat[1])
    for pid, parent in java.items():
        if parent in java and _cmdline(pid) == _cmdline(parent):
            rss[pid] = 0
    return children, rss


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _tree(root: int, children: dict[int, list[int]]) -> list[int]:
    found, stack = [], [root]
    while stack:
        pid = stack.pop()
        found.append(pid)
        stack.extend(children.get(pid, []))
    return found


def _is_executor(pid: int, rss: dict[int, int]) -> bool:
    return bool(rss.get(pid)) and b"CoarseGrainedExecutorBackend" in _cmdline(pid)


def measured(command: list[str], env: dict[str, str]) -> tuple[int, list[float], dict[str, list]]:
    """Run ``command``; return its exit code; the peak RSS (MiB) of its process tree (the
    driver), then of its Python process alone and of the rest (its JVM), each at its own
    peak; and each standalone executor's peak RSS (MiB): the executor JVM alone and with
    its Python workers. Executors are children of the workers this process started, never
    of the driver, so they are not in the driver's tree."""
    process = subprocess.Popen(command, env=env)
    peak = [0, 0, 0]  # the tree, the Python process, the rest (its JVM)
    executors: dict[int, list[int]] = {}  # pid -> [JVM peak, JVM + Python workers peak]
    done = threading.Event()

    def poll() -> None:
        while not done.is_set():
            children, rss = _processes()
            driver = _tree(process.pid, children)
            total, python = sum(rss.get(p, 0) for p in driver), rss.get(process.pid, 0)
            for index, value in enumerate((total, python, total - python)):
                peak[index] = max(peak[index], value)
            ours = set(_tree(os.getpid(), children)) - set(driver)
            for pid in ours:
                if pid in executors or _is_executor(pid, rss):
                    tree = sum(rss.get(p, 0) for p in _tree(pid, children))
                    seen = executors.setdefault(pid, [0, 0])
                    seen[0], seen[1] = max(seen[0], rss.get(pid, 0)), max(seen[1], tree)
            time.sleep(0.2)

    watcher = threading.Thread(target=poll, daemon=True)
    watcher.start()
    code = process.wait()
    done.set()
    watcher.join()
    mib = {str(pid): [jvm / 1024, tree / 1024] for pid, (jvm, tree) in executors.items()}
    return code, [value / 1024 for value in peak], mib


def parquet_rows(folder: Path) -> list[tuple[Path, int]]:
    import pyarrow.parquet as pq

    return [(f, pq.read_metadata(f).num_rows) for f in sorted(folder.glob("*.parquet"))]


def sample(data: Path, rows: int) -> Path:
    """``data/sample-ROWS``: hard links to the first whole eval and reference files holding
    at least ``rows`` rows each (deterministic; no data copied)."""
    folder = data / f"sample-{rows}"
    for name in ("eval", "reference"):
        target = folder / name
        target.mkdir(parents=True, exist_ok=True)
        taken = 0
        for path, count in parquet_rows(data / name):
            if taken >= rows:
                break
            link = target / path.name
            if not link.exists():
                os.link(path, link)
            taken += count
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rows", type=int, nargs="?", default=0)
    parser.add_argument("--data", type=Path)
    parser.add_argument("--master", default="local[2]", help="a Spark master URL, or standalone")
    parser.add_argument("--skip-local", action="store_true")
    parser.add_argument("--local-rows", type=int, default=0, help="local engine on a sample")
    parser.add_argument("--no-spark-sample", action="store_true")
    parser.add_argument("--driver-memory", help="spark.driver.memory (default: 512m)")
    parser.add_argument("--keep", type=Path, help="keep each run's JSON in this folder")
    parser.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        kind, data, out = args.worker
        if kind == "local":
            local_worker(Path(data), Path(out))
        else:
            spark_worker(kind, Path(data), Path(out))
        return
    import contextlib

    import spark_data
    from spark_cluster import spark_env, standalone_cluster

    data = args.data or Path(tempfile.mkdtemp(prefix=f"validate-spark-{args.rows}-"))
    if not (data / "eval").exists():
        started = time.perf_counter()
        files = max(2, -(-args.rows // 500_000))
        spark_data.generate(args.rows, data, files=files)
        print(f"generated {args.rows:,} rows x2 in {time.perf_counter() - started:.0f} s: {data}")
    rows = [sum(n for _, n in parquet_rows(data / name)) for name in ("eval", "reference")]
    part = sample(data, args.local_rows) if 0 < args.local_rows < rows[0] else None
    # (name, engine, folder): local on the sample (or all rows), Spark on the sample, then all.
    jobs = [] if args.skip_local else [("local", "local", part or data)]
    if part is not None and not args.no_spark_sample:
        jobs.append(("spark_sample", "spark", part))
    jobs.append(("spark", "spark", data))
    env = spark_env(str(REPO))
    if args.driver_memory:
        env["BENCH_DRIVER_MEMORY"] = args.driver_memory
    results: dict[str, dict] = {}
    with contextlib.ExitStack() as stack:
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        keep = args.keep or scratch
        keep.mkdir(parents=True, exist_ok=True)
        master = args.master
        for name, engine, folder in jobs:
            if engine == "spark" and master == "standalone":  # started once, for Spark only
                master = stack.enter_context(
                    standalone_cluster(scratch, env, worker_memory="1200m")
                )
            out = keep / f"{name}.json"
            kind = "local" if engine == "local" else master
            command = [sys.executable, __file__, "--worker", kind, str(folder), str(out)]
            code, peak, executors = measured(command, env)
            if code != 0:
                raise SystemExit(f"{name} engine failed (exit {code})")
            results[name] = json.loads(out.read_text())
            results[name]["tree_peak_mib"], *parts = peak
            results[name]["driver_parts_mib"] = parts
            results[name]["executors_mib"] = executors
            out.write_text(json.dumps(results[name]))
            print(f"{name}: done in {results[name]['seconds']:.1f} s", flush=True)
    report(rows, args.master, results)


# -- the report ------------------------------------------------------------------------------


def _rows(found: dict) -> str:
    return f"{found['rows'][0]:,} eval + {found['rows'][1]:,} reference rows"


def report(rows: list[int], master: str, results: dict[str, dict]) -> None:
    spark = results["spark"]
    local = results.get("local")
    print(f"\nrows: {rows[0]:,} eval + {rows[1]:,} reference; Spark master: {master}")
    if local is not None:
        where = "all rows" if local["rows"][0] == rows[0] else f"a SAMPLE: {_rows(local)}"
        print(
            f"local engine ({where}): {local['seconds']:.1f} s, "
            f"peak RSS {local['peak_mib']:.0f} MiB"
        )
    for name in ("spark_sample", "spark"):
        if name not in results:
            continue
        found = results[name]
        print(
            f"spark engine ({_rows(found)}): {found['seconds']:.1f} s "
            f"(session start {found['session_seconds']:.1f} s), peak driver RSS "
            f"(spark.driver.memory {found.get('driver_memory', '512m')}) "
            f"{found['tree_peak_mib']:.0f} MiB (Python driver + its JVM; not the cluster)"
            + (
                " [peaks apart: Python {:.0f} MiB, JVM {:.0f} MiB]".format(
                    *found["driver_parts_mib"]
                )
                if "driver_parts_mib" in found
                else ""
            )
        )
        if found["executors_mib"]:
            jvm = max(v[0] for v in found["executors_mib"].values())
            tree = max(v[1] for v in found["executors_mib"].values())
            print(
                f"  {len(found['executors_mib'])} executors (-Xmx 1g each): peak RSS "
                f"{jvm:.0f} MiB JVM, {tree:.0f} MiB with its Python workers"
            )
    if local is None:
        return
    same_rows = [
        n for n in ("spark_sample", "spark") if results.get(n, {}).get("rows") == local["rows"]
    ]
    if same_rows:
        print(f"\n-- local vs Spark on the same {_rows(local)} --")
        exact(local, results[same_rows[0]])
    if spark["rows"] != local["rows"]:
        print(f"\n-- Spark on all {_rows(spark)} vs local on the sample of {_rows(local)} --")
        sampled(local, spark)


def exact(local: dict, spark: dict) -> None:
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
    verdicts(local, spark)


def sampled(local: dict, spark: dict) -> None:
    print("(different rows: differences below include sampling variation, not only the bound)")
    print(f"{'metric':<22} {'spark, all rows':>16} {'local, sample':>14}")
    for metric in COUNT_METRICS:
        print(f"{metric:<22} {spark['accuracy'][metric]:>16.5f} {local['accuracy'][metric]:>14.5f}")
    diff, low, high = spark["vs_champion"]["accuracy"]
    ldiff, llow, lhigh = local["vs_champion"]["accuracy"]
    print(
        f"accuracy vs champion: spark {diff:+.5f} [{low:+.5f}, {high:+.5f}], "
        f"local {ldiff:+.5f} [{llow:+.5f}, {lhigh:+.5f}]"
    )
    for grouping, found in spark["bias"].items():
        name = "demographic_parity_difference"
        print(
            f"{grouping:<22} DPD spark {found[name]:.5f}, local {local['bias'][grouping][name]:.5f}"
        )
    print(
        f"{'statistic':<12} {'spark value ± bound':>24} {'local sample':>13}  (worst column by "
        "|spark - local|)"
    )
    numeric = [c for c, v in spark["drift"].items() if v.get("wasserstein") is not None]
    for name in ("wasserstein", "ks", "psi"):
        column = max(numeric, key=lambda c: abs(spark["drift"][c][name] - local["drift"][c][name]))
        value, bound = spark["drift"][column][name], spark["drift"][column][f"{name}_bound"]
        print(
            f"{name:<12} {value:>12.5f} ± {bound:.1e} {local['drift'][column][name]:>13.5f}  "
            f"({column})"
        )
    print(
        f"{'roc_auc':<12} {spark['accuracy']['roc_auc']:>12.5f} ± {spark['roc_auc_bound']:.1e} "
        f"{local['accuracy']['roc_auc']:>13.5f}"
    )
    verdicts(local, spark)


def verdicts(local: dict, spark: dict) -> None:
    for name, passed in local["verdicts"].items():
        theirs = spark["verdicts"].get(name)
        shown = lambda p: "pass" if p else "FAIL"  # noqa: E731
        state = "equal" if theirs == passed else "DIFFERENT"
        print(f"verdict {name}: local {shown(passed)}, spark {shown(theirs)} ({state})")
    same = [
        c for c in spark["drift"] if spark["drift"][c]["drifted"] == local["drift"][c]["drifted"]
    ]
    differ = [c for c in spark["drift"] if c not in same]
    undecided = [c for c in spark["drift"] if not spark["drift"][c]["decided"]]
    drifted = [c for c in spark["drift"] if spark["drift"][c]["drifted"]]
    print(
        f"drift verdicts equal: {len(same)} of {len(spark['drift'])} columns"
        f"{' (differ: ' + ', '.join(differ) + ')' if differ else ''}; "
        f"drifted: {', '.join(drifted) or 'none'}; "
        f"inside the error bound: {', '.join(undecided) or 'none'}"
    )


if __name__ == "__main__":
    main()
