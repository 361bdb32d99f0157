"""Every bad input of the foundation: exit 2, one line naming the field and the fix, no
traceback, no run recorded as passed, no promotion."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from conftest import FEATURES, base_config, make_frame

from validate.cli import cli


def invoke(*args):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def assert_clean_failure(result, *fragments):
    assert result.exit_code == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("validate: error: ")
    assert "Traceback" not in result.stderr + result.stdout
    for fragment in fragments:
        assert fragment in lines[0]
    assert_nothing_passed()


def assert_nothing_passed():
    import mlflow

    runs = mlflow.search_runs(search_all_experiments=True, output_format="list")
    assert not [r for r in runs if r.data.tags.get("validate.decision") == "pass"]
    from mlflow import MlflowClient

    for model in MlflowClient().search_registered_models():
        assert not model.aliases


def test_missing_config(tmp_path):
    assert_clean_failure(
        invoke("run", "-c", str(tmp_path / "missing.yaml")), "config file not found", "-c PATH"
    )


def test_malformed_config(write_config):
    path = write_config("version: 1\nchecks: {accuracy: {\n")
    assert_clean_failure(
        invoke("run", "-c", str(path)), "validation.yaml: line", "fix the YAML syntax"
    )


def test_unknown_check_lists_valid_ones(write_config, data_dir, models_dir):
    path = write_config(base_config(data_dir, models_dir, checks={"acuracy": {}}))
    assert_clean_failure(
        invoke("run", "-c", str(path)),
        "checks.acuracy: unknown check",
        "installed checks: accuracy",
        "validate checks list",
    )


def test_unknown_metric_for_task(write_config, data_dir, models_dir):
    path = write_config(
        base_config(data_dir, models_dir, checks={"accuracy": {"thresholds": {"r2": {"min": 0.1}}}})
    )
    assert_clean_failure(
        invoke("run", "-c", str(path)),
        "checks.accuracy.thresholds.r2: unknown metric for task 'binary'",
        "roc_auc",
    )


def test_threshold_with_neither_min_nor_max(write_config, data_dir, models_dir):
    path = write_config(
        base_config(data_dir, models_dir, checks={"accuracy": {"thresholds": {"roc_auc": {}}}})
    )
    assert_clean_failure(
        invoke("run", "-c", str(path)), "checks.accuracy.thresholds.roc_auc: give min or max"
    )


def test_missing_data_file(write_config, data_dir, models_dir):
    path = write_config(base_config(data_dir, models_dir, **{"data.eval": "nowhere/eval.parquet"}))
    assert_clean_failure(invoke("run", "-c", str(path)), "data.eval:", "file not found")


def test_unsupported_data_format(write_config, data_dir, models_dir):
    (data_dir / "eval.xlsx").write_text("x")
    path = write_config(
        base_config(data_dir, models_dir, **{"data.eval": str(data_dir / "eval.xlsx")})
    )
    assert_clean_failure(
        invoke("run", "-c", str(path)), "unsupported file type '.xlsx'", ".parquet or .csv"
    )


def test_missing_target_column(write_config, data_dir, models_dir):
    path = write_config(base_config(data_dir, models_dir, **{"data.target": "defaulted"}))
    assert_clean_failure(
        invoke("run", "-c", str(path)),
        "missing target column(s) defaulted",
        "data.target names them",
        "available: x1",
    )


def test_missing_feature_column(write_config, data_dir, models_dir):
    path = write_config(base_config(data_dir, models_dir, **{"data.features": ["x1", "x9"]}))
    assert_clean_failure(
        invoke("run", "-c", str(path)), "missing feature column(s) x9", "data.features"
    )


def test_missing_prediction_column(write_config, data_dir, models_dir):
    path = write_config(base_config(data_dir, models_dir, **{"data.prediction": "p_hat"}))
    assert_clean_failure(
        invoke("run", "-c", str(path)), "missing prediction column(s) p_hat", "data.prediction"
    )


def test_model_uri_that_does_not_resolve(write_config, data_dir, models_dir):
    path = write_config(
        base_config(data_dir, models_dir, **{"model.baseline": "models:/credit@champion"})
    )
    assert_clean_failure(
        invoke("run", "-c", str(path)), "model.baseline: models:/credit@champion does not resolve"
    )


def test_model_path_that_does_not_exist(write_config, data_dir, models_dir):
    path = write_config(base_config(data_dir, models_dir, **{"model.candidate": "models/gone"}))
    assert_clean_failure(
        invoke("run", "-c", str(path)), "model.candidate:", "no such file or folder"
    )


def test_model_output_of_wrong_shape(write_config, data_dir, models_dir):
    # A three-class model validated as a binary task predicts (n, 3).
    path = write_config(
        base_config(data_dir, models_dir, **{"model.candidate": str(models_dir / "three_class")})
    )
    assert_clean_failure(
        invoke("run", "-c", str(path)), "model.candidate", "shape (800, 3)", "task 'binary' expects"
    )


def test_empty_eval_set(write_config, data_dir, models_dir):
    make_frame().head(0).to_parquet(data_dir / "empty.parquet", index=False)
    path = write_config(
        base_config(data_dir, models_dir, **{"data.eval": str(data_dir / "empty.parquet")})
    )
    assert_clean_failure(invoke("run", "-c", str(path)), "data.eval", "no rows")


def test_nan_in_target(write_config, data_dir, models_dir):
    frame = make_frame()
    frame["label"] = frame["label"].astype(float)
    frame.loc[[3, 7], "label"] = np.nan
    frame.to_csv(data_dir / "holes.csv", index=False)
    path = write_config(
        base_config(data_dir, models_dir, **{"data.eval": str(data_dir / "holes.csv")})
    )
    assert_clean_failure(
        invoke("run", "-c", str(path)), "target column 'label' has 2 missing value(s)"
    )


def test_non_binary_labels_for_binary_task(write_config, data_dir, models_dir):
    frame = make_frame()
    frame.loc[0, "label"] = 2
    frame.to_parquet(data_dir / "three.parquet", index=False)
    path = write_config(
        base_config(data_dir, models_dir, **{"data.eval": str(data_dir / "three.parquet")})
    )
    assert_clean_failure(invoke("run", "-c", str(path)), "binary task needs labels 0 and 1")


def test_unwritable_json_path(write_config, data_dir, models_dir, tmp_path):
    path = write_config(base_config(data_dir, models_dir))
    assert_clean_failure(
        invoke("run", "-c", str(path), "--json", str(tmp_path / "no" / "r.json")),
        "--json",
        "does not exist",
    )


def test_unknown_check_on_command_line(write_config, data_dir, models_dir):
    path = write_config(base_config(data_dir, models_dir))
    assert_clean_failure(
        invoke("run", "-c", str(path), "--check", "drift"),
        "--check drift: not in the config's checks (accuracy)",
    )


def test_kubernetes_executor_is_refused_clearly(write_config, data_dir, models_dir):
    path = write_config(base_config(data_dir, models_dir, executor="kubernetes"))
    assert_clean_failure(invoke("run", "-c", str(path)), "executor: 'kubernetes' is not available")


def test_debug_shows_the_traceback(tmp_path):
    result = invoke("run", "-c", str(tmp_path / "missing.yaml"), "--debug")
    assert result.exit_code == 2
    assert "Traceback" in result.stderr


@pytest.mark.parametrize("kind", ["parquet", "csv"])
def test_garbage_data_file(write_config, data_dir, models_dir, kind):
    bad = Path(data_dir / f"garbage.{kind}")
    bad.write_bytes(b"\x00\x01\x02 not a table" if kind == "parquet" else b"")
    path = write_config(base_config(data_dir, models_dir, **{"data.eval": str(bad)}))
    assert_clean_failure(invoke("run", "-c", str(path)), "data.eval", f"cannot read as {kind}")


def test_feature_list_is_used_in_order(write_config, data_dir, models_dir):
    # Sanity check for the happy path of the same fixture: a valid config passes.
    result = invoke("run", "-c", str(write_config(base_config(data_dir, models_dir))))
    assert result.exit_code == 0, result.stderr
    assert pd.read_parquet(data_dir / "eval.parquet").columns[:3].tolist() == FEATURES


def test_missing_sensitive_column(write_config, data_dir, models_dir):
    path = write_config(
        base_config(data_dir, models_dir, checks={"bias": {"sensitive_features": ["gender"]}})
    )
    assert_clean_failure(
        invoke("run", "-c", str(path)),
        "checks.bias: column(s) gender not in data.eval",
        "available: x1",
    )


def test_bias_on_multiclass_task(write_config, data_dir, models_dir):
    path = write_config(
        base_config(
            data_dir,
            models_dir,
            checks={"bias": {"sensitive_features": ["group"]}},
            **{"data.task": "multiclass"},
        )
    )
    assert_clean_failure(
        invoke("run", "-c", str(path)), "checks.bias: fairness metrics need binary"
    )


def test_remediate_needs_a_keras_candidate(write_config, data_dir, models_dir):
    config = base_config(
        data_dir,
        models_dir,
        checks={"mindiff": {"sensitive_feature": "group"}},
        **{"data.train": str(data_dir / "train.parquet")},
    )
    result = invoke("remediate", "-c", str(write_config(config)), "--out", "out")
    assert_clean_failure(
        result, "model.candidate: remediate retrains Keras (.keras) models", "is a mlflow model"
    )


def test_remediate_needs_a_mindiff_section(write_config, data_dir, models_dir):
    result = invoke(
        "remediate", "-c", str(write_config(base_config(data_dir, models_dir))), "--out", "out"
    )
    assert_clean_failure(result, "checks.mindiff: remediate needs a mindiff section")


def test_precomputed_scores_outside_unit_interval(write_config, data_dir, models_dir):
    frame = make_frame()
    frame["logit"] = frame["score"] * 4 - 2
    frame.to_parquet(data_dir / "logits.parquet", index=False)
    config = base_config(
        data_dir,
        models_dir,
        **{"data.eval": str(data_dir / "logits.parquet"), "data.prediction": "logit"},
    )
    assert_clean_failure(
        invoke("run", "-c", str(write_config(config))),
        "binary scores must be probabilities in [0, 1]",
    )


def test_precomputed_scores_drive_every_accuracy_feature(
    write_config, data_dir, models_dir, tmp_path
):
    import json

    config = base_config(
        data_dir,
        models_dir,
        checks={
            "accuracy": {
                "thresholds": {"roc_auc": {"min": 0.7}},
                "vs_baseline": {"roc_auc": {"min_gain": 0.0}},
                "slices": ["group"],
                "min_slice_size": 50,
            }
        },
        **{"data.prediction": "score", "data.baseline_prediction": "weak_score"},
    )
    config["model"].pop("candidate")
    result = invoke("run", "-c", str(write_config(config)), "--json", str(tmp_path / "r.json"))
    assert result.exit_code == 0, result.stderr
    (check,) = json.loads((tmp_path / "r.json").read_text())["checks"]
    assert check["details"]["vs_baseline"]["roc_auc"]["ci"][0] > 0
    assert {s["slice"] for s in check["details"]["slices"]} == {"group=a", "group=b"}
    assert check["assertions"][0]["ci"] is not None
