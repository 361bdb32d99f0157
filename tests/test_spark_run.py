"""``validate run`` with ``engine: {kind: spark}`` against the same run on the local engine
(issue 19): the real CLI as a subprocess, Spark ``local[2]``, partitioned parquet.

Count-based metrics and their CIs must be identical in the two JSON reports, approximated
ones within the bound the Spark report gives, statuses and the decision identical; the one
deliberate difference is a threshold inside an approximate metric's error bound, which the
Spark engine fails closed. Checks and settings the Spark engine cannot compute are exit 2
before anything is recorded.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

pytest.importorskip("pyspark", reason="the spark extra is not installed")
pytest.importorskip("datasketches", reason="the spark extra is not installed")
if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
    pytest.skip("SPARK ENGINE NOT TESTED: no Java runtime on this machine", allow_module_level=True)

from conftest import run_cli  # noqa: E402
from spark_cluster import LOOPBACK_CONF, spark_env  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "benchmarks"))
import spark_data  # noqa: E402

COLUMNS = ["x00", "x01", "x02", "x03", "region"]
COUNT_METRICS = ("accuracy", "balanced_accuracy", "precision", "recall", "f1")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """4,000 rows of eval and reference, three parquet files each (Spark reads the
    folders), and each also as one file (the local engine reads files)."""
    folder = tmp_path_factory.mktemp("spark-run")
    paths = spark_data.generate(4000, folder, files=3, seed=5)
    files = {}
    for role, location in paths.items():
        frame = pd.read_parquet(location)
        files[role] = folder / f"{role}.parquet"
        frame.to_parquet(files[role], index=False)
    return {"folders": paths, "files": files}


def config(data, *, spark: bool, checks: dict | None = None, **data_keys) -> dict:
    where = data["folders"] if spark else data["files"]
    out = {
        "version": 1,
        "data": {
            "eval": str(where["eval"]),
            "reference": str(where["reference"]),
            "target": "default",
            "prediction": "score",
            "baseline_prediction": "champion_score",
            **data_keys,
        },
        "checks": checks
        or {
            "accuracy": {
                "thresholds": {"accuracy": {"min": 0.6}, "roc_auc": {"min": 0.7}},
                "vs_baseline": {"accuracy": {"max_drop": 0.05}},
                "n_resamples": 300,
            },
            "bias": {
                "sensitive_features": ["sex", "age_group"],
                "thresholds": {"demographic_parity_difference": {"max": 0.3}},
                "n_resamples": 300,
            },
            "drift": {
                "columns": COLUMNS,
                "thresholds": {"share_drifted_features": {"max": 0.9}},
            },
        },
    }
    if spark:
        conf = {
            **LOOPBACK_CONF,
            "spark.executorEnv.PYTHONPATH": spark_env(str(REPO))["PYTHONPATH"],
            "spark.default.parallelism": "2",
        }
        out["engine"] = {"kind": "spark", "master": "local[2]", "conf": conf}
    return out


def validate(
    tmp_path: Path,
    name: str,
    body: dict,
    store: str | None = None,
    *flags: str,
    extra_env: dict[str, str] | None = None,
):
    folder = tmp_path / name
    folder.mkdir()
    (folder / "validation.yaml").write_text(yaml.safe_dump(body))
    env = {
        **spark_env(str(REPO)),
        "MLFLOW_TRACKING_URI": store or f"sqlite:///{folder / 'mlflow.db'}",
        **(extra_env or {}),
    }
    command = ["run", "-c", "validation.yaml", "--json", "report.json", *flags]
    found = run_cli(*command, env=env, cwd=folder, timeout=600)
    report = folder / "report.json"
    return found, json.loads(report.read_text()) if report.exists() else None, folder


def by_name(report: dict) -> dict:
    return {check["name"]: check for check in report["checks"]}


def assert_same(spark: dict, local: dict, differ: tuple[str, ...] = ()) -> None:
    """Statuses, exact metrics and verdicts equal; approximated metrics within bounds
    (``differ``: checks whose verdicts are allowed to differ, and why is the caller's)."""
    assert spark["decision"] == local["decision"]
    s, lo = by_name(spark), by_name(local)
    assert set(s) == set(lo)
    accuracy, exact = s["accuracy"], lo["accuracy"]
    for name in COUNT_METRICS:
        for key in (name, f"{name}.ci_low", f"{name}.ci_high", f"{name}.vs_baseline"):
            assert accuracy["metrics"][key] == exact["metrics"][key], key
    for name in ("log_loss", "brier"):
        assert accuracy["metrics"][name] == pytest.approx(exact["metrics"][name], rel=1e-12)
    bound = accuracy["details"]["error_bounds"]["roc_auc"]
    assert 0 < bound < 1e-3
    assert abs(accuracy["metrics"]["roc_auc"] - exact["metrics"]["roc_auc"]) <= bound
    assert accuracy["details"]["engine"] == "spark"
    bias, exact_bias = s["bias"], lo["bias"]
    assert bias["metrics"] == exact_bias["metrics"]  # every aggregate and CI, identical
    assert bias["details"]["groupings"] == exact_bias["details"]["groupings"]
    drift = {f["column"]: f for f in s["drift"]["details"]["features"]}
    exact_drift = {f["column"]: f for f in lo["drift"]["details"]["features"]}
    for column, entry in drift.items():
        assert entry["decided"], entry  # this data set is clear-cut at 4,000 rows
        assert entry["drifted"] == exact_drift[column]["drifted"], column
        assert abs(entry["value"] - exact_drift[column]["value"]) <= entry["error_bound"] + 1e-12
    for name in ("share_drifted_features", "drifted_features", "label_drift"):
        assert s["drift"]["metrics"][name] == lo["drift"]["metrics"][name]
    for name, check in s.items():
        if name in differ:
            continue
        assert check["status"] == lo[name]["status"], name
        assert [a["passed"] for a in check["assertions"]] == [
            a["passed"] for a in lo[name]["assertions"]
        ], name


def register_model(data, store: str) -> None:
    """A scikit-learn classifier logged and registered as models:/credit/1 in ``store``."""
    import mlflow
    import mlflow.sklearn
    from sklearn.linear_model import LogisticRegression

    mlflow.set_tracking_uri(store)
    mlflow.set_registry_uri(store)
    reference = pd.read_parquet(data["files"]["reference"])
    inputs = ["x04", "x05", "x06"]
    model = LogisticRegression().fit(reference[inputs], reference["default"])
    # An explicit experiment: an earlier test in this worker may have left MLflow's active
    # experiment pointing at an id this new store does not have.
    experiment_id = mlflow.MlflowClient(store).create_experiment("credit-model")
    with mlflow.start_run(experiment_id=experiment_id):
        mlflow.sklearn.log_model(
            model, name="model", registered_model_name="credit", input_example=reference[:2][inputs]
        )


def test_spark_run_passes_as_the_local_engine_does(data, tmp_path):
    """The candidate an MLflow model with no score column: the executors score it with the
    local engine's loader (scikit-learn's predict_proba), the champion's scores a column."""
    store = f"sqlite:///{tmp_path / 'store.db'}"
    register_model(data, store)

    def body(spark: bool) -> dict:
        found = config(data, spark=spark)
        found["model"] = {"candidate": "models:/credit/1"}
        del found["data"]["prediction"]
        return found

    spark, spark_report, _ = validate(tmp_path, "spark", body(True), store)
    assert spark.returncode == 0, spark.stderr[-3000:]
    local, local_report, _ = validate(tmp_path, "local", body(False), store)
    assert local.returncode == 0, local.stderr[-3000:]
    assert spark_report["decision"] == "pass"
    assert spark_report["candidate"] == local_report["candidate"] == "models:/credit/1"
    assert_same(spark_report, local_report)
    assert spark_report["mlflow"]["run_id"] != local_report["mlflow"]["run_id"]
    assert "Traceback" not in spark.stderr


def test_spark_run_blocks_and_fails_closed_inside_the_error_bound(data, tmp_path):
    from sklearn.metrics import roc_auc_score

    frame = pd.read_parquet(data["files"]["eval"])
    exact_auc = float(roc_auc_score(frame["default"], frame["score"]))
    checks = config(data, spark=True)["checks"]
    checks["bias"]["thresholds"] = {"demographic_parity_difference": {"max": 0.01}}
    # A threshold at the exact ROC AUC lies inside the approximation's bound: the local
    # engine passes it (>=); the Spark engine does not decide it and fails closed.
    checks["accuracy"]["thresholds"]["roc_auc"] = {"min": exact_auc}
    spark, spark_report, _ = validate(tmp_path, "spark", config(data, spark=True, checks=checks))
    assert spark.returncode == 1, spark.stderr[-3000:]
    local, local_report, _ = validate(tmp_path, "local", config(data, spark=False, checks=checks))
    assert local.returncode == 1, local.stderr[-3000:]
    assert_same(spark_report, local_report, differ=("accuracy",))
    assert by_name(spark_report)["bias"]["status"] == "failed"

    accuracy, exact = by_name(spark_report)["accuracy"], by_name(local_report)["accuracy"]
    assert (accuracy["status"], exact["status"]) == ("failed", "passed")
    judged = {a["metric"]: a for a in accuracy["assertions"]}
    assert not judged["roc_auc"]["passed"]
    assert "inside its error bound" in judged["roc_auc"]["sentence"]
    assert "failed closed" in judged["roc_auc"]["sentence"]
    assert judged["accuracy"]["passed"] and judged["accuracy vs champion"]["passed"]


@pytest.mark.parametrize("debug", [False, True], ids=["plain", "debug"])
def test_a_model_failing_on_an_executor_is_one_line_and_exit_2(data, tmp_path, debug):
    """The model needs a column the data lacks: the executors' ModelError becomes the
    run's one-line error (naming the model as configured), and nothing is recorded.

    Without --debug that line is all of stderr: Spark's log and the failed tasks' stack
    traces would bury it, and a cancelled task's lines used to arrive after it under load.
    With --debug, Spark's own output is shown as well."""
    import mlflow.sklearn
    from sklearn.linear_model import LogisticRegression

    reference = pd.read_parquet(data["files"]["reference"])
    inputs = reference[["x04", "x05"]].rename(columns={"x05": "income"})
    model = LogisticRegression().fit(inputs, reference["default"])
    mlflow.sklearn.save_model(model, str(tmp_path / "needs-income"))
    body = config(data, spark=True, checks={"accuracy": {"n_resamples": 0}})
    body["model"] = {"candidate": str(tmp_path / "needs-income")}
    del body["data"]["prediction"]
    found, report, folder = validate(
        tmp_path, "failing", body, None, *(["--debug"] if debug else [])
    )
    assert found.returncode == 2, found.stderr[-3000:]
    expected = (
        f"validate: error: model.candidate ({tmp_path / 'needs-income'}): eval data lacks the "
        "model's input column(s) income"
    )
    if debug:
        assert expected in found.stderr.splitlines()
        assert "TaskSetManager" in found.stderr  # Spark's log, shown with --debug
    else:
        assert found.stderr.strip() == expected
    assert report is None
    assert not (folder / "mlflow.db").exists()


@pytest.mark.parametrize(
    ("checks", "data_keys", "named"),
    [
        (
            {
                "accuracy": {"slices": ["sex"]},
                "latency": {"batch_sizes": [1]},
                "drift": {"columns": COLUMNS, "decide_by": "p_value"},
            },
            {},
            ["checks.accuracy.slices", "checks.latency", "checks.drift.decide_by: p_value"],
        ),
        (
            {"bias": {"sensitive_features": ["sex"]}},
            {"task": "regression"},
            ["data.task regression (binary only)"],
        ),
        (
            {"accuracy": {"thresholds": {"average_precision": {"min": 0.5}}}},
            {},
            ["checks.accuracy.thresholds.average_precision"],
        ),
    ],
)
def test_what_spark_cannot_compute_is_refused_up_front(data, tmp_path, checks, data_keys, named):
    body = config(data, spark=True, checks=checks, **data_keys)
    line = only_line_and_nothing_recorded(*validate(tmp_path, "refused", body))
    assert line.startswith("validate: error: engine: spark cannot compute "), line
    assert "use engine: local" in line
    for name in named:
        assert name in line


def only_line_and_nothing_recorded(found, report, folder) -> str:
    """The one line of a run that ended with exit 2 before recording anything."""
    assert found.returncode == 2, found.stderr
    lines = [line for line in found.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, found.stderr
    assert report is None  # nothing reported, nothing recorded
    assert not (folder / "mlflow.db").exists()
    return lines[0]


def test_a_master_spark_refuses_is_one_line_naming_sparks_reason(data, tmp_path):
    """spark-submit exits before the driver starts: its reason, which only its console
    said, is in validate's one line (the console itself is not shown without --debug)."""
    body = config(data, spark=True)
    body["engine"]["master"] = "nonsense://x"
    line = only_line_and_nothing_recorded(*validate(tmp_path, "bad-master", body))
    assert line.startswith("validate: error: engine.master nonsense://x: cannot start"), line
    assert "Master must either be yarn or start with spark, k8s, or local" in line


@pytest.mark.parametrize(
    ("conf", "reason"),
    [
        # Py4J's first line only names the Java call; the reason is the Java exception.
        ({"spark.driver.port": "notaport"}, "INVALID_CONF_VALUE"),
        # The JVM exits before it starts: only its console says why.
        ({"spark.driver.memory": "abc"}, "Invalid maximum heap size: -Xmxabc"),
    ],
    ids=["java-exception", "jvm-console"],
)
def test_a_driver_that_cannot_start_is_one_line_naming_why(data, tmp_path, conf, reason):
    body = config(data, spark=True)
    body["engine"]["conf"].update(conf)
    line = only_line_and_nothing_recorded(*validate(tmp_path, "no-driver", body))
    assert line.startswith("validate: error: engine.master local[2]: cannot start"), line
    assert reason in line


def test_spark_connect_from_the_environment_is_one_line_before_spark_starts(data, tmp_path):
    """The engine needs the RDD API, which Spark Connect lacks; pyspark itself would raise
    CANNOT_CONFIGURE_SPARK_CONNECT_MASTER, an internal error (exit 3) naming no fix."""
    body = config(data, spark=True)
    extra_env = {"SPARK_REMOTE": "sc://127.0.0.1:15002"}
    found = validate(tmp_path, "connect", body, extra_env=extra_env)
    line = only_line_and_nothing_recorded(*found)
    assert line.startswith(
        "validate: error: engine: spark: the environment variable SPARK_REMOTE asks for Spark "
        "Connect; the Spark engine needs a classic Spark session"
    ), line
    assert line.endswith("unset it"), line


def test_executors_without_validates_dependencies_are_one_line_and_exit_2(data, tmp_path):
    """A cluster whose Python lacks what validate runs there (here a bare venv: validate
    from this checkout, but no NumPy) is a setup problem to name, not an internal error."""
    import venv

    bare = tmp_path / "bare"
    venv.EnvBuilder(with_pip=False).create(bare)
    # validate hands its own sys.path down as PYTHONPATH; the workers keep Spark's entries
    # and this checkout, not the test venv's site-packages.
    worker = tmp_path / "bare-python"
    worker.write_text(
        "#!/bin/sh\n"
        "PYTHONPATH=$(printf %s \"$PYTHONPATH\" | tr ':' '\\n' | grep -v '/site-packages$' "
        "| paste -sd: -)\n"
        f'export PYTHONPATH\nexec {bare / "bin" / "python"} "$@"\n'
    )
    worker.chmod(0o755)
    body = config(data, spark=True)
    found = validate(tmp_path, "bare-executors", body, extra_env={"PYSPARK_PYTHON": str(worker)})
    line = only_line_and_nothing_recorded(*found)
    assert line.startswith(
        "validate: error: engine: spark: the executors' Python cannot import 'numpy'; install "
        "validate-gate[spark] and the models' dependencies in the Python they run"
    ), line
