"""Every bad input of the foundation: exit 2, one line naming the field and the fix, no
traceback, no run recorded as passed, no promotion."""

import pandas as pd
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


def test_kubernetes_executor_needs_its_section(write_config, data_dir, models_dir):
    path = write_config(base_config(data_dir, models_dir, executor="kubernetes"))
    assert_clean_failure(
        invoke("run", "-c", str(path)), "executor: kubernetes needs a kubernetes: section"
    )


def test_kubernetes_without_a_kubeconfig(write_config, data_dir, models_dir, tmp_path):
    config = base_config(
        data_dir,
        models_dir,
        executor="kubernetes",
        kubernetes={"image": "validate:1", "kubeconfig": str(tmp_path / "nope.yaml")},
    )
    assert_clean_failure(
        invoke("run", "-c", str(write_config(config))),
        "kubernetes: no usable kubeconfig",
        "set kubernetes.kubeconfig or KUBECONFIG",
    )


def test_kubernetes_api_server_unreachable(write_config, data_dir, models_dir, tmp_path):
    kubeconfig = tmp_path / "kubeconfig.yaml"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        "clusters: [{name: k, cluster: {server: 'https://127.0.0.1:9'}}]\n"
        "users: [{name: u, user: {token: t}}]\n"
        "contexts: [{name: c, context: {cluster: k, user: u}}]\n"
    )
    config = base_config(
        data_dir,
        models_dir,
        executor="kubernetes",
        kubernetes={"image": "validate:1", "kubeconfig": str(kubeconfig)},
    )
    assert_clean_failure(
        invoke("run", "-c", str(write_config(config))),
        "kubernetes: the API server at https://127.0.0.1:9 cannot be used",
    )


def test_debug_shows_the_traceback(tmp_path):
    result = invoke("run", "-c", str(tmp_path / "missing.yaml"), "--debug")
    assert result.exit_code == 2
    assert "Traceback" in result.stderr


def test_feature_list_is_used_in_order(write_config, data_dir, models_dir):
    # Sanity check for the happy path of the same fixture: a valid config passes.
    result = invoke("run", "-c", str(write_config(base_config(data_dir, models_dir))))
    assert result.exit_code == 0, result.stderr
    assert pd.read_parquet(data_dir / "eval.parquet").columns[:3].tolist() == FEATURES


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
