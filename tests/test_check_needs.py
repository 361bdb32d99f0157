"""Each check asks only for the inputs it uses (issue 14, item 2).

A table of labels and scores is enough for accuracy and bias; drift needs data, not a
model; a missing input is exit 2 with one line naming the check that needs it."""

import json

import pytest
import yaml
from conftest import make_frame, run_cli

from validate.check import Input
from validate.registry import select_checks


def scored_table(folder, n=800, seed=0):
    """Label, a sensitive column and two score columns: no model inputs at all."""
    frame = make_frame(n, seed=seed)
    table = frame[["label", "group", "score", "weak_score"]]
    path = folder / f"scored{seed}.parquet"
    table.to_parquet(path, index=False)
    return path


def write(tmp_path, config):
    path = tmp_path / "validate.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def run(tmp_path, config, *extra):
    report = tmp_path / "report.json"
    completed = run_cli("run", "-c", str(write(tmp_path, config)), "--json", str(report), *extra)
    data = json.loads(report.read_text()) if report.exists() else None
    return completed, data


def test_scored_table_with_only_label_and_scores_is_enough_for_accuracy_and_bias(tmp_path):
    config = {
        "version": 1,
        "data": {
            "eval": str(scored_table(tmp_path)),
            "target": "label",
            "prediction": "score",
            "baseline_prediction": "weak_score",
        },
        "checks": {
            "accuracy": {
                "thresholds": {"roc_auc": {"min": 0.6}},
                "vs_baseline": {"roc_auc": {"max_drop": 0.05}},
            },
            "bias": {
                "sensitive_features": ["group"],
                "thresholds": {"demographic_parity_difference": {"max": 0.5}},
            },
        },
        "mlflow": {"experiment": "tests"},
    }
    completed, report = run(tmp_path, config)
    assert completed.returncode == 0, completed.stderr
    assert [c["status"] for c in report["checks"]] == ["passed", "passed"]


def test_drift_only_run_needs_no_model(tmp_path):
    make_frame(600, seed=1).drop(columns=["score", "weak_score"]).to_parquet(
        tmp_path / "eval.parquet"
    )
    make_frame(600, seed=2).drop(columns=["score", "weak_score"]).to_parquet(
        tmp_path / "reference.parquet"
    )
    config = {
        "version": 1,
        "data": {
            "eval": str(tmp_path / "eval.parquet"),
            "reference": str(tmp_path / "reference.parquet"),
            "target": "label",
        },
        "checks": {"drift": {}},
        "mlflow": {"experiment": "tests"},
    }
    completed, report = run(tmp_path, config)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert report["candidate"] is None
    (drift,) = report["checks"]
    assert drift["status"] == "passed"
    assert {"x1", "x2", "x3"} <= {entry["column"] for entry in drift["details"]["features"]}


@pytest.mark.parametrize(
    ("data", "checks", "expected"),
    [
        (
            {},
            {"accuracy": {"thresholds": {"roc_auc": {"min": 0.6}}}},
            "model.candidate is missing: checks.accuracy needs the candidate's scores; give a "
            "model URI or path, or data.prediction (a score column)",
        ),
        (
            {"prediction": "score"},
            {"latency": {"batch_sizes": [1]}},
            "model.candidate is missing: checks.latency needs a model to call; give a model "
            "URI or path",
        ),
        (
            {"prediction": "score"},
            {
                "accuracy": {"vs_baseline": {"roc_auc": {"max_drop": 0.05}}},
                "bias": {
                    "sensitive_features": ["group"],
                    "vs_baseline": {"demographic_parity_difference": {"max_increase": 0.05}},
                },
            },
            "model.baseline is missing: checks.accuracy and checks.bias need the champion's "
            "scores (vs_baseline); give model.baseline or data.baseline_prediction, or drop "
            "the vs_baseline thresholds",
        ),
        (
            {"prediction": "score"},
            {"drift": {}},
            "data.reference is missing: checks.drift needs reference data; give a parquet or "
            "CSV file",
        ),
    ],
    ids=["candidate-scores", "candidate-model", "champion-scores", "reference"],
)
def test_a_missing_input_names_the_check_that_needs_it(tmp_path, data, checks, expected):
    config = {
        "version": 1,
        "data": {"eval": str(scored_table(tmp_path)), "target": "label", **data},
        "checks": checks,
        "mlflow": {"experiment": "tests"},
    }
    completed, report = run(tmp_path, config)
    assert completed.returncode == 2
    assert completed.stderr.strip().splitlines() == [f"validate: error: {expected}"]
    assert report is None


def test_features_are_asked_for_only_by_checks_that_read_them(tmp_path):
    columns = ["label", "score", "weak_score"]
    make_frame(300, seed=1)[columns].to_parquet(tmp_path / "eval.parquet")
    make_frame(300, seed=2)[columns].to_parquet(tmp_path / "reference.parquet")
    config = {
        "version": 1,
        "data": {
            "eval": str(tmp_path / "eval.parquet"),
            "reference": str(tmp_path / "reference.parquet"),
            "target": "label",
            "prediction": "score",
            "baseline_prediction": "weak_score",
        },
        "checks": {"drift": {}},
        "mlflow": {"experiment": "tests"},
    }
    completed, _ = run(tmp_path, config)
    assert completed.returncode == 2
    assert (
        "no feature columns left after the target and score columns, and checks.drift "
        "needs them; list data.features" in completed.stderr
    )


def test_promotion_needs_a_model_even_when_the_checks_do_not(tmp_path):
    make_frame(400, seed=1).to_parquet(tmp_path / "eval.parquet")
    make_frame(400, seed=2).to_parquet(tmp_path / "reference.parquet")
    config = {
        "version": 1,
        "data": {
            "eval": str(tmp_path / "eval.parquet"),
            "reference": str(tmp_path / "reference.parquet"),
            "target": "label",
            "features": ["x1", "x2", "x3"],
        },
        "checks": {"drift": {}},
        "promote": {"model": "credit", "alias": "champion"},
        "mlflow": {"experiment": "tests"},
    }
    completed, _ = run(tmp_path, config, "--promote")
    assert completed.returncode == 2
    assert "model.candidate is missing: promotion moves the alias to a model" in completed.stderr


def test_built_in_checks_declare_their_needs():
    sections = {
        "accuracy": {},
        "bias": {"sensitive_features": ["group"]},
        "drift": {"columns": ["x1"]},
        "latency": {},
    }
    needs = {item.name: item.check.needs() for item in select_checks(sections, task="binary")}
    assert needs == {
        "accuracy": {Input.CANDIDATE_SCORES},
        "bias": {Input.CANDIDATE_SCORES},
        "drift": {Input.REFERENCE},
        "latency": {Input.CANDIDATE_MODEL, Input.FEATURES},
    }


def test_a_check_declaring_an_unknown_input_is_a_usage_error():
    from validate.errors import ConfigError
    from validate.inputs import needs_of
    from validate.registry import SelectedCheck

    class Odd:
        def needs(self):
            return {"a GPU cluster"}

    with pytest.raises(ConfigError, match=r"checks.odd: the check declares it needs 'a GPU"):
        needs_of([SelectedCheck(name="odd", check=Odd(), blocking=True, source="tests")])
