"""The Spark engine against the local engine on the same data (issue 19).

Count-based metrics (confusion-cell metrics and their bootstrap CIs, every fairlearn
aggregate and its CI) must be identical; loss means equal to floating-point summation
order; approximated drift statistics within their reported bounds; verdicts identical
wherever the engine gives one. Real pyspark: ``local[2]`` in this process (one session
for the whole test session) and, in one test, a standalone master and two workers, each
its own process on 127.0.0.1, driven from a separate driver process.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("pyspark", reason="the spark extra is not installed")
pytest.importorskip("datasketches", reason="the spark extra is not installed")
if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
    pytest.skip("SPARK ENGINE NOT TESTED: no Java runtime on this machine", allow_module_level=True)

from spark_cluster import LOOPBACK_CONF, spark_env, standalone_cluster  # noqa: E402

from checks.accuracy import AccuracyCheck  # noqa: E402
from checks.bias import BiasCheck  # noqa: E402
from checks.drift import DriftCheck  # noqa: E402
from validate.check import CheckContext  # noqa: E402
from validate.engines import partials as pt  # noqa: E402
from validate.engines import results as er  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "benchmarks"))
import spark_data  # noqa: E402

GROUPINGS = (("sex",), ("age_group",), ("sex", "age_group"))
DRIFT_COLUMNS = ("x00", "x01", "x02", "x03", "region")
COUNT_METRICS = ("accuracy", "balanced_accuracy", "precision", "recall", "f1")
SPEC = pt.ScoreSpec("default", "score", "champion_score", 0.5, GROUPINGS)


@pytest.fixture(scope="session")
def spark():
    """One local[2] session for every test of the session (Spark takes seconds to start)."""
    from validate.engine_settings import SparkEngine
    from validate.engines import spark as es

    os.environ.update(spark_env(str(REPO)))
    conf = {
        **LOOPBACK_CONF,
        "spark.executorEnv.PYTHONPATH": os.environ["PYTHONPATH"],
        "spark.default.parallelism": "2",
    }
    session = es.session(SparkEngine(kind="spark", master="local[2]", conf=conf))
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """6,000 rows each of eval and reference, three parquet files each."""
    folder = tmp_path_factory.mktemp("spark-data")
    paths = spark_data.generate(6000, folder, files=3, seed=3)
    frames = {k: pd.read_parquet(v) for k, v in paths.items()}
    return paths, frames


def local_results(eval_frame: pd.DataFrame, reference: pd.DataFrame) -> dict:
    """The local engine: the built-in checks themselves, on the rows."""
    context = CheckContext(
        task="binary",
        target="default",
        features=DRIFT_COLUMNS,
        eval_data=eval_frame,
        y_true=eval_frame["default"].to_numpy(),
        candidate_scores=eval_frame["score"].to_numpy(),
        baseline_scores=eval_frame["champion_score"].to_numpy(),
        reference_data=reference,
        seed=0,
    )
    accuracy = AccuracyCheck.from_config(
        "accuracy", {"vs_baseline": {"accuracy": {"max_drop": 0.05}}}, task="binary"
    ).run(context)
    bias = BiasCheck.from_config(
        "bias", {"sensitive_features": ["sex", "age_group"]}, task="binary"
    ).run(context)
    drift = DriftCheck.from_config("drift", {"columns": list(DRIFT_COLUMNS)}, task="binary").run(
        context
    )
    return {"accuracy": accuracy, "bias": bias, "drift": drift}


def summarize(spark, paths, **kwargs):
    from validate.engines import spark as es

    return es.summarize(
        spark,
        str(paths["eval"]),
        scores=SPEC,
        reference_location=str(paths["reference"]),
        drift_columns=DRIFT_COLUMNS,
        **kwargs,
    )


def assert_accuracy_matches(spark_accuracy: dict, local) -> None:
    metrics, ci = spark_accuracy["metrics"], spark_accuracy["intervals"]
    for name in COUNT_METRICS:
        assert metrics[name] == local.metrics[name], name  # identical, not approximately
        assert (ci[name].low, ci[name].high) == (
            local.metrics[f"{name}.ci_low"],
            local.metrics[f"{name}.ci_high"],
        ), name
    for name in ("log_loss", "brier"):  # merged moments: only the summation order differs
        assert metrics[name] == pytest.approx(local.metrics[name], rel=1e-12)
        assert ci[name].low == pytest.approx(local.metrics[f"{name}.ci_low"], rel=1e-9)
    compared = spark_accuracy["vs_baseline"]["accuracy"]
    expected = local.details["vs_baseline"]["accuracy"]
    assert compared.value == expected["difference"]
    assert list(compared.ci) == expected["ci"]


def spark_bias(scores: dict, grouping: str):
    return er.bias(
        scores,
        grouping,
        min_group_size=30,
        method="between_groups",
        agg="worst_case",
        n_resamples=1000,
        seed=0,
        confidence=0.95,
    )


def test_counts_and_drift_match_the_local_engine(spark, generated):
    paths, frames = generated
    summary = summarize(spark, paths)
    local = local_results(frames["eval"], frames["reference"])

    accuracy = er.accuracy(summary.scores, confidence=0.95, n_resamples=1000, seed=0)
    assert accuracy["rows"] == len(frames["eval"])
    assert_accuracy_matches(accuracy, local["accuracy"])
    bound = accuracy["bounds"]["roc_auc"]  # ROC AUC: approximate, within its bound
    assert abs(accuracy["metrics"]["roc_auc"] - local["accuracy"].metrics["roc_auc"]) <= bound
    width = accuracy["intervals"]["roc_auc"].high - accuracy["intervals"]["roc_auc"].low
    local_width = (
        local["accuracy"].metrics["roc_auc.ci_high"] - local["accuracy"].metrics["roc_auc.ci_low"]
    )
    assert width == pytest.approx(local_width, rel=1e-3)

    groupings = local["bias"].details["groupings"]
    for columns in GROUPINGS:
        name = " x ".join(columns)
        found = spark_bias(summary.scores, name)
        assert found["labels"] == [g["group"] for g in groupings[name]["groups"]]
        assert found["judged"].point == groupings[name]["aggregates"]
        assert found["judged"].ci == groupings[name]["ci"]
        assert found["judged"].change == groupings[name]["change_vs_baseline"]

    assert summary.reference and summary.eval
    by_column = {f["column"]: f for f in local["drift"].details["features"]}
    for entry in er.drift(summary.reference, summary.eval):
        exact = by_column[entry["column"]]
        stats = entry["statistics"]
        if entry["kind"] == "numeric":
            assert abs(entry["value"] - exact["value"]) <= entry["bound"], entry
            assert stats["ks_low"] <= exact["statistics"]["ks"] <= stats["ks_high"]
            assert abs(stats["ks"] - exact["statistics"]["ks"]) <= stats["ks_bound"] + 1e-12
            assert stats["psi_low"] <= exact["statistics"]["psi"] <= stats["psi_high"]
        else:
            for key in ("chisquare", "jensenshannon", "psi", "chisquare_p_value"):
                assert stats[key] == pytest.approx(exact["statistics"][key], rel=1e-12), key
            assert stats["jensenshannon_lower"] == exact["lower_bound"]
        if entry["decided"]:
            assert entry["drifted"] == exact["drifted"], entry
    verdicts = [e["drifted"] for e in er.drift(summary.reference, summary.eval)]
    assert verdicts == [True, True, False, False, True]  # x00, x01 moved; x02 barely; region


def test_partition_count_does_not_change_a_count(spark, generated):
    paths, _ = generated
    one = summarize(spark, paths, partitions=1)
    five = summarize(spark, paths, partitions=5)
    assert np.array_equal(one.scores["cells"], five.scores["cells"])
    for name in one.scores["groups"]:
        assert one.scores["groups"][name].keys() == five.scores["groups"][name].keys()
        for label, counted in one.scores["groups"][name].items():
            assert np.array_equal(counted, five.scores["groups"][name][label])
    assert one.eval["categorical"]["region"] == five.eval["categorical"]["region"]
    # KLL sketches, and so the bin edges, depend on how rows were split (and on the
    # sketch's coin flips); each result stays within its bound of the exact value.
    for a, b in zip(
        er.drift(one.reference, one.eval), er.drift(five.reference, five.eval), strict=True
    ):
        assert abs(a["value"] - b["value"]) <= a["bound"] + b["bound"] + 1e-12, (a, b)
        assert (a["drifted"], a["decided"]) == (b["drifted"], b["decided"])


hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@st.composite
def scored_tables(draw):
    """Small scored tables with skewed labels, ties at the threshold, and missing groups."""
    rows = draw(st.integers(min_value=60, max_value=600))
    seed = draw(st.integers(min_value=0, max_value=2**31))
    rng = np.random.default_rng(seed)
    positives = draw(st.floats(min_value=0.05, max_value=0.95))
    y = (rng.random(rows) < positives).astype(np.int64)
    grid = draw(st.sampled_from([0, 4, 10]))  # coarse scores put ties on the threshold
    score = rng.random(rows)
    champion = rng.random(rows)
    if grid:
        score, champion = np.round(score * grid) / grid, np.round(champion * grid) / grid
    sex = rng.choice(np.array(["a", "b", "c"], dtype=object), rows)
    sex[rng.random(rows) < draw(st.sampled_from([0.0, 0.05]))] = None
    sex[:2] = ["a", "b"]  # two groups at least: the bias check needs two to compare
    age = rng.choice(np.array(["young", "old"]), rows)
    return pd.DataFrame(
        {"default": y, "score": score, "champion_score": champion, "sex": sex, "age_group": age}
    )


@settings(
    max_examples=6,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(table=scored_tables())
def test_property_count_metrics_identical(spark, table):
    from validate.engines import spark as es

    with tempfile.TemporaryDirectory() as folder:
        location = Path(folder) / "eval"
        location.mkdir()
        half = len(table) // 2  # two files: two partitions to merge
        table.iloc[:half].to_parquet(location / "part-0.parquet", index=False)
        table.iloc[half:].to_parquet(location / "part-1.parquet", index=False)
        summary = es.summarize(spark, str(location), scores=SPEC)
    context = CheckContext(
        task="binary",
        target="default",
        features=(),
        eval_data=table,
        y_true=table["default"].to_numpy(),
        candidate_scores=table["score"].to_numpy(),
        baseline_scores=table["champion_score"].to_numpy(),
        seed=0,
    )
    accuracy = er.accuracy(summary.scores, confidence=0.95, n_resamples=200, seed=0)
    local = AccuracyCheck.from_config("accuracy", {"n_resamples": 200}, task="binary").run(context)
    for name in COUNT_METRICS:
        assert accuracy["metrics"][name] == local.metrics[name], name
        assert accuracy["intervals"][name].low == local.metrics[f"{name}.ci_low"], name
    bias = BiasCheck.from_config(
        "bias",
        {"sensitive_features": ["sex", "age_group"], "min_group_size": 0, "n_resamples": 200},
        task="binary",
    ).run(context)
    for columns in GROUPINGS:
        name = " x ".join(columns)
        expected = bias.details["groupings"][name]
        found = er.bias(
            summary.scores,
            name,
            min_group_size=0,
            method="between_groups",
            agg="worst_case",
            n_resamples=200,
            seed=0,
            confidence=0.95,
        )
        assert found["labels"] == [g["group"] for g in expected["groups"]]
        # NaN (a rate with no rows) compares unequal to itself: compare as text.
        assert repr(found["judged"].point) == repr(expected["aggregates"]), name
        assert repr(found["judged"].ci) == repr(expected["ci"]), name


def test_standalone_cluster_gives_the_local_verdicts(generated, tmp_path):
    """A master and two workers, separate processes on 127.0.0.1, and a driver process."""
    paths, frames = generated
    env = spark_env(str(REPO))
    conf = {
        **LOOPBACK_CONF,
        "spark.executor.memory": "512m",
        "spark.executor.cores": "1",
        "spark.cores.max": "2",
        "spark.executorEnv.PYTHONPATH": env["PYTHONPATH"],
    }
    env["VALIDATE_TEST_SPARK_CONF"] = json.dumps(conf)
    with standalone_cluster(tmp_path, env) as master:
        driver = subprocess.run(
            [
                sys.executable,
                str(REPO / "tests" / "spark_driver.py"),
                master,
                str(paths["eval"]),
                str(paths["reference"]),
            ],
            capture_output=True,
            text=True,
            env=env,
            timeout=600,
            check=False,
        )
    assert driver.returncode == 0, driver.stderr[-3000:]
    found = json.loads(driver.stdout.strip().splitlines()[-1])
    assert found["executors"] == 2  # both workers took part
    local = local_results(frames["eval"], frames["reference"])
    for name in COUNT_METRICS:
        assert found["accuracy"][name] == local["accuracy"].metrics[name]
        assert found["accuracy_ci"][name] == [
            local["accuracy"].metrics[f"{name}.ci_low"],
            local["accuracy"].metrics[f"{name}.ci_high"],
        ]
    groupings = local["bias"].details["groupings"]
    for name, point in found["bias"].items():
        assert point == groupings[name]["aggregates"]
        assert found["bias_ci"][name] == groupings[name]["ci"]
    by_column = {f["column"]: f for f in local["drift"].details["features"]}
    for entry in found["drift"]:
        exact = by_column[entry["column"]]
        assert abs(entry["value"] - exact["value"]) <= entry["bound"] + 1e-12
        assert entry["decided"] and entry["drifted"] == exact["drifted"]


def test_partials_merged_on_the_cluster_reach_the_driver_few_and_equal(spark, generated):
    """A tree merge on the executors gives the driver at most ``fan_in`` partials, and the
    same counts as merging every partition's partial on the driver."""
    from validate.engines import spark as es

    paths, _ = generated
    frame = es.read(spark, str(paths["eval"]), field="data.eval", partitions=9)
    columns = pt.DriftSpec(numeric=("x00", "x01"), categorical=("region",))
    tree = es.merge_tree(
        frame.select("x00", "x01", "region"), pt.reference_sketch_partial, columns, 2
    )
    assert tree.rdd.getNumPartitions() <= 2
    assert tree.count() <= 2
    for function, spec, chosen in (
        (pt.score_partial, SPEC, frame),
        (pt.reference_sketch_partial, columns, frame.select("x00", "x01", "region")),
    ):
        merged = es.run_partials(chosen, function, spec, fan_in=2)
        direct = es.run_partials(chosen, function, spec, fan_in=9)
        if function is pt.score_partial:
            assert np.array_equal(merged["cells"], direct["cells"])
            assert np.array_equal(merged["auc"], direct["auc"])
            for name, groups in direct["groups"].items():
                assert groups.keys() == merged["groups"][name].keys()
                for label, counted in groups.items():
                    assert np.array_equal(counted, merged["groups"][name][label])
            for key, value in direct["losses"].items():
                np.testing.assert_allclose(merged["losses"][key], value, rtol=1e-12)
        else:
            assert merged["categorical"] == direct["categorical"]
            for column, entry in direct["numeric"].items():
                found = merged["numeric"][column]
                assert (found["min"], found["max"], found["missing"]) == (
                    entry["min"],
                    entry["max"],
                    entry["missing"],
                )
                np.testing.assert_allclose(found["moments"], entry["moments"], rtol=1e-12)
                assert found["sketch"].n == entry["sketch"].n == entry["moments"][0]


def test_spark_benchmark_runs_and_finds_the_engines_equal(tmp_path):
    """benchmarks/spark.py end to end on a small data set (local engine on a sample, Spark
    on that sample and on all rows, local[2]): the script the README's figures come from
    keeps working, and on identical rows it reports identical counts and equal verdicts."""
    done = subprocess.run(
        [
            sys.executable,
            str(REPO / "benchmarks" / "spark.py"),
            "8000",
            "--data",
            str(tmp_path / "data"),
            "--local-rows",
            "4000",
            "--keep",
            str(tmp_path / "runs"),
        ],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
        cwd=REPO,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    assert "count metrics and their CIs identical: True" in out, out
    assert "fairness aggregates identical: True" in out, out
    assert "DIFFERENT" not in out.split("-- Spark on all")[0], out
    assert "-- Spark on all 8,000" in out, out
    assert {p.name for p in (tmp_path / "runs").iterdir()} == {
        "local.json",
        "spark_sample.json",
        "spark.json",
    }
