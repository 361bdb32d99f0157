"""Issue 13, items 6, 10, 13 (thresholds), 14 (config), 17 and 18 (config): a hostile or
careless validation.yaml is exit 2 with one line that says what is wrong and how to fix it,
before any check runs, any MLflow run is recorded or any model is registered.

Each test runs the real ``validate`` command as a subprocess (exit codes, stderr), except
where it looks inside the YAML loader to show that a bomb is refused before it is expanded.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import mlflow
import pytest
import yaml
from click.testing import CliRunner
from conftest import base_config, run_cli
from mlflow import MlflowClient

from validate import yaml_loader
from validate.cli import cli
from validate.config import TRACKING_SCHEMES, load_config
from validate.errors import ConfigError

MAX_LINE = 300


def refused(done: Any, *phrases: str) -> str:
    """Exit 2, exactly one short stderr line holding every phrase, no traceback."""
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    line = lines[0]
    assert line.startswith("validate: error: "), line
    assert len(line) <= MAX_LINE, (len(line), line)
    assert "Traceback" not in done.stderr + done.stdout
    for phrase in phrases:
        assert phrase in line, f"{phrase!r} not in {line!r}"
    return line


def nothing_recorded() -> None:
    """No run recorded as passed or left RUNNING, no model registered (so no alias moved).

    A refused config never reaches MLflow, so usually the test's sqlite store does not even
    exist; opening it would create it, so it is searched only when it does.
    """
    uri = os.environ["MLFLOW_TRACKING_URI"]
    if uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).exists():
        return
    runs = mlflow.search_runs(search_all_experiments=True, output_format="list")
    assert not [r for r in runs if r.data.tags.get("validate.decision") == "pass"]
    assert not [r for r in runs if r.info.status == "RUNNING"]
    assert not MlflowClient().search_registered_models()


def write(tmp_path: Path, config: dict[str, Any] | str) -> Path:
    path = tmp_path / "validation.yaml"
    text = config if isinstance(config, str) else yaml.safe_dump(config, sort_keys=False)
    path.write_text(text, encoding="utf-8")
    return path


def run_config(tmp_path: Path, config: dict[str, Any] | str) -> Any:
    """The real ``validate run`` as a subprocess."""
    return run_cli("run", "-c", str(write(tmp_path, config)), cwd=tmp_path)


def invoke_config(tmp_path: Path, config: dict[str, Any] | str) -> Any:
    """``validate run`` in this process (CliRunner): for the many variants of one item,
    each of which also has a subprocess test."""
    result = CliRunner().invoke(cli, ["run", "-c", str(write(tmp_path, config))])
    return SimpleNamespace(returncode=result.exit_code, stderr=result.stderr, stdout=result.stdout)


BOMB = "\n".join(
    [
        "version: 1",
        "model: {candidate: MODEL}",
        "data: {eval: EVAL, target: label, features: [x1, x2, x3]}",
        "checks:",
        "  accuracy:",
        '    a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]',
        *(
            f"    {name}: &{name} [{', '.join([f'*{previous}'] * 9)}]"
            for previous, name in zip("abcdefgh", "bcdefghi", strict=True)
        ),
        "",
    ]
)


# -- item 6 ---------------------------------------------------------------------------------


def test_item6_ci_judge_without_resamples_is_exit_2(tmp_path, data_dir, models_dir):
    checks = {
        "bias": {
            "sensitive_features": ["group"],
            "n_resamples": 0,
            "thresholds": {"demographic_parity_difference": {"max": 0.5, "judge": "upper_ci"}},
        }
    }
    config = base_config(data_dir, models_dir, checks=checks)
    config["promote"] = {"model": "credit", "alias": "champion"}
    refused(
        run_config(tmp_path, config),
        "checks.bias.thresholds.demographic_parity_difference: judge: upper_ci needs "
        "confidence intervals; set n_resamples >= 1 (default 1000) or judge: point",
    )
    nothing_recorded()


@pytest.mark.parametrize(
    ("check", "settings", "where"),
    [
        (
            "bias",
            {
                "sensitive_features": ["g"],
                "n_resamples": 0,
                "vs_baseline": {
                    "demographic_parity_difference": {"max_increase": 0.1, "judge": "upper_ci"}
                },
            },
            "checks.bias.vs_baseline.demographic_parity_difference: judge: upper_ci",
        ),
        (
            "bias",
            {
                "sensitive_features": ["g"],
                "custom_metrics": {"m": "sklearn.metrics:recall_score"},
                "thresholds": {"m_difference": {"max": 0.1, "judge": "upper_ci"}},
            },
            "checks.bias.thresholds.m_difference: judge: upper_ci needs confidence intervals; "
            "custom metrics have none",
        ),
        (
            "accuracy",
            {"n_resamples": 0, "thresholds": {"accuracy": {"min": 0.7, "judge": "lower_ci"}}},
            "checks.accuracy.thresholds.accuracy: judge: lower_ci needs confidence intervals",
        ),
        (
            "drift",
            {"thresholds": {"share_drifted_features": {"max": 0.3, "judge": "upper_ci"}}},
            "checks.drift.thresholds.share_drifted_features: judge: upper_ci needs confidence "
            "intervals; drift metrics have none",
        ),
        (
            "latency",
            {"n_resamples": 0, "thresholds": {"p95_ms": {"max": 50, "judge": "upper_ci"}}},
            "checks.latency.thresholds.p95_ms: judge: upper_ci needs confidence intervals",
        ),
        (
            "latency",
            {"n_resamples": 0, "max_ratio_vs_baseline": 1.2, "ratio_judge": "upper_ci"},
            "checks.latency.ratio_judge: ratio_judge: upper_ci needs confidence intervals",
        ),
    ],
)
def test_item6_every_check_refuses_ci_judges_without_intervals(check, settings, where):
    from checks.accuracy import AccuracyCheck
    from checks.bias import BiasCheck
    from checks.drift import DriftCheck
    from checks.latency import LatencyCheck

    classes = {"accuracy": AccuracyCheck, "bias": BiasCheck, "drift": DriftCheck}
    check_class = {**classes, "latency": LatencyCheck}[check]
    with pytest.raises(ConfigError) as caught:
        check_class.from_config(check, settings, task="binary")
    assert where in str(caught.value)


def test_item6_analytic_intervals_need_no_resamples():
    from checks.accuracy import AccuracyCheck

    settings = {"n_resamples": 0, "thresholds": {"roc_auc": {"min": 0.7, "judge": "lower_ci"}}}
    AccuracyCheck.from_config("accuracy", settings, task="binary")  # DeLong needs no bootstrap


def test_item6_judge_fails_closed_when_no_interval_was_computed():
    from validate.thresholds import CIBound, judge

    (assertion,) = judge("m", 0.01, CIBound(max=0.1, judge="upper_ci"), ci=None)
    assert not assertion.passed
    assert "needs a confidence interval and none was computed" in assertion.sentence


# -- item 10 --------------------------------------------------------------------------------


def test_item10_yaml_alias_bomb_is_exit_2_fast(tmp_path, data_dir, models_dir):
    text = BOMB.replace("MODEL", str(models_dir / "good")).replace(
        "EVAL", str(data_dir / "eval.parquet")
    )
    refused(run_config(tmp_path, text), "line 11", "aliases expand to more than 100,000 values")
    nothing_recorded()


def test_item10_alias_bomb_is_refused_before_anything_is_constructed(monkeypatch):
    """The bomb is measured on the composed node graph; constructing it would expand it."""

    def constructed(self, node):
        raise AssertionError("the loader constructed Python objects from the bomb")

    monkeypatch.setattr(yaml_loader.BoundedLoader, "construct_document", constructed)
    with pytest.raises(yaml_loader.YamlLimitError, match="aliases expand to more than"):
        yaml_loader.load(BOMB)


def test_item10_recursive_alias_is_refused():
    with pytest.raises(yaml_loader.YamlLimitError, match="recursive alias"):
        yaml_loader.load("a: &x [1, *x]\n")


def test_item10_shared_anchors_still_load():
    text = "base: &b {min: 0.7}\nt: {roc_auc: *b, accuracy: {<<: *b, max: 0.99}}\n"
    assert yaml_loader.load(text)["t"] == {
        "roc_auc": {"min": 0.7},
        "accuracy": {"min": 0.7, "max": 0.99},
    }


# -- item 13 (thresholds) -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("override", "where"),
    [
        ({"checks.accuracy.thresholds.roc_auc": {"min": float("nan")}}, "roc_auc.min"),
        ({"checks.accuracy.thresholds.roc_auc": {"min": float("-inf")}}, "roc_auc.min"),
        (
            {"checks.accuracy.vs_baseline": {"roc_auc": {"max_drop": float("inf")}}},
            "vs_baseline.roc_auc.max_drop",
        ),
        (
            {
                "checks.bias": {
                    "sensitive_features": ["group"],
                    "thresholds": {"demographic_parity_difference": {"max": float("inf")}},
                }
            },
            "checks.bias.thresholds.demographic_parity_difference.max",
        ),
        (
            {
                "checks.bias": {
                    "sensitive_features": ["group"],
                    "vs_baseline": {
                        "demographic_parity_difference": {"max_increase": float("nan")}
                    },
                }
            },
            "checks.bias.vs_baseline.demographic_parity_difference.max_increase",
        ),
        (
            {"checks.drift": {"per_column": {"x1": {"threshold": float("inf")}}}},
            "checks.drift.per_column.x1.threshold",
        ),
        ({"checks.latency": {"max_seconds": float("inf")}}, "checks.latency.max_seconds"),
        ({"data.threshold": float("nan")}, "data.threshold"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_item13_nan_and_inf_thresholds_are_exit_2(tmp_path, data_dir, models_dir, override, where):
    config = base_config(data_dir, models_dir, **override)
    refused(invoke_config(tmp_path, config), where, "nan and inf are not numbers")
    nothing_recorded()


def test_item13_nan_threshold_is_exit_2_before_any_run(tmp_path, data_dir, models_dir):
    text = yaml.safe_dump(base_config(data_dir, models_dir)).replace("min: 0.7", "min: .nan")
    text += "promote: {model: credit, alias: champion}\n"
    refused(
        run_config(tmp_path, text),
        "checks.accuracy.thresholds.roc_auc.min: nan and inf are not numbers a gate can "
        "compare; write a finite number",
    )
    nothing_recorded()


# -- item 14 (config) -----------------------------------------------------------------------


def test_item14_deeply_nested_yaml_is_exit_2(tmp_path):
    refused(run_config(tmp_path, "checks: " + "[" * 50_000), "nested more than 100 levels")


@pytest.mark.parametrize(
    ("override", "phrases"),
    [
        ({"seed": -1}, ("seed: -1 is outside 0..4294967295",)),
        ({"seed": 2**32}, ("seed: 4294967296 is outside 0..4294967295",)),
        ({"mlflow.experiment": ""}, ("mlflow.experiment: is empty",)),
        ({"mlflow.experiment": "  "}, ("mlflow.experiment: is empty",)),
        (
            {"mlflow.tracking_uri": "foo://bar"},
            ("mlflow.tracking_uri: scheme 'foo' is not one MLflow can track to", "databricks-uc"),
        ),
        (
            {"promote": {"model": "credit", "alias": "latest"}},
            ("promote.alias: 'latest' is reserved by MLflow",),
        ),
        (
            {"promote": {"model": "credit", "alias": "V1"}},
            ("promote.alias: 'V1' is reserved by MLflow",),
        ),
        (
            {"promote": {"model": "credit", "alias": "my champion"}},
            ("promote.alias: 'my champion' is not a valid MLflow alias",),
        ),
        (
            {"promote": {"model": "a/b", "alias": "champion"}},
            ("promote.model: 'a/b' contains '/'",),
        ),
        ({"promote": {"model": "credit@x", "alias": "c"}}, ("promote.model: 'credit@x'",)),
        ({"promote": {"model": " credit", "alias": "c"}}, ("promote.model: is empty or starts",)),
        ({"promote": {"model": "cre\x07dit", "alias": "c"}}, ("control characters",)),
    ],
)
def test_item14_input_errors_are_exit_2_before_any_run(
    tmp_path, data_dir, models_dir, override, phrases
):
    config = base_config(data_dir, models_dir, **override)
    line = refused(invoke_config(tmp_path, config), *phrases)
    assert "validate sync" not in line
    nothing_recorded()


def test_item14_bad_promotion_target_is_exit_2_before_any_run(tmp_path, data_dir, models_dir):
    """Refused at load time: no check runs, no run is recorded, no version is registered."""
    for promote, phrase in (
        ({"model": "credit", "alias": "v1"}, "promote.alias: 'v1' is reserved by MLflow"),
        ({"model": "a/b", "alias": "champion"}, "promote.model: 'a/b' contains '/'"),
    ):
        config = base_config(data_dir, models_dir, promote=promote)
        refused(run_config(tmp_path, config), phrase)
        nothing_recorded()


def test_item14_tracking_uri_error_names_every_scheme_and_hides_the_rest(
    write_config, data_dir, models_dir
):
    config = base_config(data_dir, models_dir, **{"mlflow.tracking_uri": "foo://u:s3cret@h/x"})
    with pytest.raises(ConfigError) as caught:
        load_config(write_config(config))
    assert all(scheme in str(caught.value) for scheme in TRACKING_SCHEMES)
    assert "s3cret" not in str(caught.value)


@pytest.mark.parametrize(
    "uri",
    [
        "sqlite:///mlflow.db",
        "file:///tmp/mlruns",
        "./mlruns",
        "/tmp/mlruns",
        "C:\\mlruns",
        "postgresql+psycopg2://u:p@h/db",
        "databricks",
        "databricks-uc",
        "databricks://profile",
        "https://mlflow.example.com",
    ],
)
def test_item14_usable_tracking_uris_load(write_config, data_dir, models_dir, uri):
    load_config(write_config(base_config(data_dir, models_dir, **{"mlflow.tracking_uri": uri})))


# -- item 17 --------------------------------------------------------------------------------


def test_item17_duplicate_yaml_keys_are_exit_2_with_their_line(tmp_path, data_dir, models_dir):
    text = "\n".join(
        [
            "version: 1",
            f"model: {{candidate: {models_dir / 'good'}}}",
            f"data: {{eval: {data_dir / 'eval.parquet'}, target: label}}",
            "checks:",
            "  accuracy:",
            "    thresholds:",
            "      roc_auc:",
            "        min: 0.99",
            "        min: 0.1",
            "",
        ]
    )
    refused(
        run_config(tmp_path, text),
        "line 9, column 9: duplicate key 'min' (first at line 8); keep one of them",
    )
    nothing_recorded()


# -- item 18 (config) -----------------------------------------------------------------------


def test_item18_config_folder_is_named_as_a_folder(tmp_path):
    folder = tmp_path / "a_folder"
    folder.mkdir()
    with pytest.raises(ConfigError, match="a_folder: is a folder, not a config file"):
        load_config(folder)


def test_item18_config_folder_on_the_command_line_is_one_line(tmp_path):
    folder = tmp_path / "a_folder"
    folder.mkdir()
    refused(run_cli("run", "-c", str(folder)), "a_folder: is a folder, not a config file")


def test_item18_config_fifo_and_stdin_say_what_they_are(tmp_path):
    fifo = tmp_path / "a_fifo"
    os.mkfifo(fifo)
    refused(run_cli("run", "-c", str(fifo)), "a_fifo: is not a regular file")
    piped = run_cli("run", "-c", "/dev/stdin")  # stdin is a pipe under subprocess.run
    refused(piped, "/dev/stdin: is not a regular file")


def test_item18_huge_config_is_refused_by_its_size(tmp_path):
    big = tmp_path / "validation.yaml"
    with big.open("wb") as file:
        file.truncate(50 * 1024 * 1024)  # sparse: 50 MB that cost nothing to write
    refused(run_cli("run", "-c", str(big)), "is 50.0 MiB, over the 1 MiB limit")


def test_item18_long_lists_in_config_errors_are_shortened(tmp_path, data_dir, models_dir):
    names = [f"column_{i}" for i in range(2000)]
    config = base_config(data_dir, models_dir, **{"data.features": names + names})
    refused(run_config(tmp_path, config), "features names column_0", "… and 1,995 more")


def test_item18_long_keys_are_clipped(tmp_path, data_dir, models_dir):
    config = base_config(data_dir, models_dir)
    config["data"]["x" * 5000] = 1
    refused(run_config(tmp_path, config), "data: unknown key 'xxx")


@pytest.mark.skipif(sys.platform == "win32", reason="mkfifo")
def test_item18_fifo_does_not_hang_the_loader(tmp_path):
    fifo = tmp_path / "validation.yaml"
    os.mkfifo(fifo)
    with pytest.raises(ConfigError, match="is not a regular file"):
        load_config(fifo)
