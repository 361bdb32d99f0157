"""The real ``validate`` command as a subprocess: exit codes and the JSON report contract."""

import json
import signal
from pathlib import Path

import mlflow
import pytest
from click.testing import CliRunner
from conftest import base_config, register_champion, run_cli
from mlflow import MlflowClient
from processes import start_validate, wait_for

from validate import __version__
from validate.cli import cli


def test_version_and_help():
    runner = CliRunner()
    assert runner.invoke(cli, ["--version"]).output.strip() == f"validate, version {__version__}"
    help_text = runner.invoke(cli, ["run", "--help"]).output
    for option in ("--config", "--check", "--jobs", "--json", "--promote", "--debug"):
        assert option in help_text


def test_schema_prints_json_schema():
    result = CliRunner().invoke(cli, ["schema"])
    schema = json.loads(result.output)
    assert schema["properties"]["data"]["$ref"].endswith("DataSection")
    assert "checks" in schema["required"]


def test_checks_list_shows_builtin():
    result = CliRunner().invoke(cli, ["checks", "list"])
    assert "accuracy  checks.accuracy:AccuracyCheck  (validate-gate)" in result.output


@pytest.fixture
def champion(models_dir):
    return register_champion(models_dir / "weak")


def test_pass_promotes_and_json_follows_the_contract(
    write_config, data_dir, models_dir, champion, tmp_path
):
    config = base_config(
        data_dir,
        models_dir,
        **{
            "model.baseline": "models:/credit@champion",
            "promote": {"model": "credit", "alias": "champion"},
        },
    )
    report_path = tmp_path / "report.json"
    result = run_cli("run", "-c", str(write_config(config)), "--json", str(report_path))
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert "decision: PASS" in result.stdout
    report = json.loads(report_path.read_text())
    assert report["schema_version"] == 1
    assert report["decision"] == "pass"
    assert report["candidate"] == str(models_dir / "good")
    assert report["baseline"] == "models:/credit@champion"
    assert report["mlflow"]["tracking_uri"].startswith("sqlite:///")
    (check,) = report["checks"]
    assert {"name", "status", "blocking", "duration_s", "message", "metrics", "assertions"} <= set(
        check
    )
    assert check["name"] == "accuracy" and check["status"] == "passed" and check["blocking"] is True
    (assertion,) = check["assertions"]
    assert {"metric", "op", "threshold", "value", "ci", "passed"} <= set(assertion)
    assert assertion["metric"] == "roc_auc" and assertion["op"] == ">=" and assertion["passed"]
    assert assertion["value"] == check["metrics"]["roc_auc"]
    assert check["details"]["baseline_metrics"]["roc_auc"] < check["metrics"]["roc_auc"]
    promotion = report["promotion"]
    assert promotion["model"] == "credit" and promotion["alias"] == "champion"
    assert promotion["promoted"] is True and promotion["version"] == str(int(champion) + 1)

    client = MlflowClient()
    run_id = report["mlflow"]["run_id"]
    parent = client.get_run(run_id)
    assert parent.info.status == "FINISHED"
    assert parent.data.tags["validate.decision"] == "pass"
    params = parent.data.params
    assert params["candidate"] == str(models_dir / "good")
    assert params["baseline_resolved"] == f"models:/credit/{champion}"
    assert (
        len(params["config_hash"]) == 64 and "version.mlflow" in params and "git_commit" in params
    )
    children = client.search_runs(
        [parent.info.experiment_id], f"tags.mlflow.parentRunId = '{run_id}'"
    )
    (child,) = children
    assert child.data.tags["validate.status"] == "passed"
    assert child.data.metrics["roc_auc"] == check["metrics"]["roc_auc"]
    assert child.data.metrics["assertion.roc_auc.min.passed"] == 1.0
    artifacts = [a.path for a in client.list_artifacts(run_id)]
    assert "validation_report.json" in artifacts
    version = client.get_model_version_by_alias("credit", "champion")
    assert str(version.version) == promotion["version"]
    assert version.tags["validate.validation_run_id"] == run_id
    assert version.tags["validate.previous_version"] == champion
    # The promoted version is a real model: it loads and scores.
    loaded = mlflow.pyfunc.load_model("models:/credit@champion")
    assert loaded is not None


def test_failing_gate_exits_1_and_does_not_promote(
    write_config, data_dir, models_dir, champion, tmp_path
):
    config = base_config(
        data_dir,
        models_dir,
        **{
            "model.baseline": "models:/credit@champion",
            "promote": {"model": "credit"},
            "checks": {"accuracy": {"thresholds": {"roc_auc": {"min": 0.99}}}},
        },
    )
    report_path = tmp_path / "report.json"
    result = run_cli("run", "-c", str(write_config(config)), "--json", str(report_path))
    assert result.returncode == 1, result.stderr
    assert "blocked by failed: accuracy: roc_auc" in result.stdout and "< min 0.99" in result.stdout
    report = json.loads(report_path.read_text())
    assert report["decision"] == "fail" and report["promotion"]["promoted"] is False
    assert str(MlflowClient().get_model_version_by_alias("credit", "champion").version) == champion
    parent = MlflowClient().get_run(report["mlflow"]["run_id"])
    assert parent.data.tags["validate.decision"] == "fail" and parent.info.status == "FAILED"

    refused = run_cli("promote", report["mlflow"]["run_id"])
    assert refused.returncode == 1
    assert "recorded decision 'fail'; only a passing validation can be promoted" in refused.stderr


def test_erroring_check_exits_3_and_advisory_checks_do_not_block(
    write_config, data_dir, models_dir, plugin_env, tmp_path
):
    config = base_config(data_dir, models_dir, checks={"accuracy": {}, "raising": {}})
    report_path = tmp_path / "r.json"
    result = run_cli(
        "run", "-c", str(write_config(config)), "--json", str(report_path), env=plugin_env
    )
    assert result.returncode == 3, result.stderr
    report = json.loads(report_path.read_text())
    assert [c["status"] for c in report["checks"]] == ["passed", "error"]
    assert "ValueError: division by zero in a plugin" in report["checks"][1]["message"]
    assert "Traceback" not in result.stdout + result.stderr

    config["checks"]["raising"] = {"blocking": False}
    advisory = run_cli("run", "-c", str(write_config(config)), "--jobs", "2", env=plugin_env)
    assert advisory.returncode == 0, advisory.stderr
    assert "warning: advisory error: raising" in advisory.stdout


def test_only_selected_checks_run(write_config, data_dir, models_dir, plugin_env, tmp_path):
    config = base_config(data_dir, models_dir, checks={"accuracy": {}, "raising": {}})
    report_path = tmp_path / "r.json"
    result = run_cli(
        "run",
        "-c",
        str(write_config(config)),
        "--check",
        "accuracy",
        "--json",
        str(report_path),
        env=plugin_env,
    )
    assert result.returncode == 0
    assert [c["name"] for c in json.loads(report_path.read_text())["checks"]] == ["accuracy"]


def test_ctrl_c_exits_130_and_marks_the_run_killed(write_config, data_dir, models_dir, plugin_env):
    config = base_config(data_dir, models_dir, checks={"sleepy": {}})
    process = start_validate("run", "-c", str(write_config(config)), env=plugin_env)
    wait_for(Path(plugin_env["SLEEPY_MARKER"]), process=process)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130
    assert "interrupted" in stderr and "Traceback" not in stderr
    runs = mlflow.search_runs(experiment_names=["tests"], output_format="list")
    (run,) = runs
    assert run.info.status == "KILLED" and run.data.tags["validate.decision"] == "killed"


def recorded_pass_config(data_dir, models_dir):
    """Validated against the champion, promotion target recorded, promotion left for later."""
    return base_config(
        data_dir,
        models_dir,
        **{
            "model.baseline": "models:/credit@champion",
            "promote": {"model": "credit", "enabled": False},
        },
    )


def test_promote_command_moves_alias_from_a_recorded_pass(
    write_config, data_dir, models_dir, champion, tmp_path
):
    config = recorded_pass_config(data_dir, models_dir)
    report_path = tmp_path / "r.json"
    assert (
        run_cli("run", "-c", str(write_config(config)), "--json", str(report_path)).returncode == 0
    )
    report = json.loads(report_path.read_text())
    assert report["promotion"] is None
    assert str(MlflowClient().get_model_version_by_alias("credit", "champion").version) == champion

    promoted = run_cli("promote", report["mlflow"]["run_id"])
    assert promoted.returncode == 0, promoted.stderr
    assert f"moved {champion} -> {int(champion) + 1}" in promoted.stdout
    assert str(MlflowClient().get_model_version_by_alias("credit", "champion").version) == str(
        int(champion) + 1
    )


def test_promote_unknown_run_is_usage_error():
    result = run_cli("promote", "0123456789abcdef0123456789abcdef")
    assert result.returncode == 2
    assert "not found in MLflow" in result.stderr


def test_partial_runs_never_promote(write_config, data_dir, models_dir, champion, tmp_path):
    config = base_config(
        data_dir,
        models_dir,
        checks={"accuracy": {}, "bias": {"sensitive_features": ["group"]}},
        **{"model.baseline": "models:/credit@champion", "promote": {"model": "credit"}},
    )
    report_path = tmp_path / "r.json"
    result = run_cli(
        "run", "-c", str(write_config(config)), "--check", "accuracy", "--json", str(report_path)
    )
    # Promotion was asked for and a subset passed: that is not a pass of the gate.
    assert result.returncode == 1, result.stderr
    assert "only some checks ran (accuracy of accuracy, bias)" in result.stderr
    promotion = json.loads(report_path.read_text())["promotion"]
    assert promotion["promoted"] is False and "only some checks ran" in promotion["message"]


def test_promotion_gate_checks_config_model_and_dry_run(
    write_config, data_dir, models_dir, champion, tmp_path
):
    config = recorded_pass_config(data_dir, models_dir)
    path = write_config(config)
    report_path = tmp_path / "r.json"
    assert run_cli("run", "-c", str(path), "--json", str(report_path)).returncode == 0
    run_id = json.loads(report_path.read_text())["mlflow"]["run_id"]

    dry = run_cli(
        "promote",
        run_id,
        "--dry-run",
        "--config",
        str(path),
        "--model-uri",
        str(models_dir / "good"),
    )
    assert dry.returncode == 0, dry.stderr
    assert f"dry run: would move alias 'champion' of 'credit' from {champion} to" in dry.stdout
    assert str(MlflowClient().get_model_version_by_alias("credit", "champion").version) == champion

    changed = dict(config, checks={"accuracy": {"thresholds": {"roc_auc": {"min": 0.5}}}})
    other = write_config(changed, "changed.yaml")
    refused = run_cli("promote", run_id, "--config", str(other))
    assert refused.returncode == 1
    assert "validated a different config than" in refused.stderr

    wrong_model = run_cli("promote", run_id, "--model-uri", str(models_dir / "weak"))
    assert wrong_model.returncode == 1
    assert f"validated {models_dir / 'good'} (digest " in wrong_model.stderr
    assert f"but {models_dir / 'weak'} has digest" in wrong_model.stderr
    assert str(MlflowClient().get_model_version_by_alias("credit", "champion").version) == champion


def test_credentials_in_the_tracking_uri_never_reach_the_output(write_config, data_dir, models_dir):
    import socket

    with socket.socket() as sock:  # a loopback port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    uri = f"http://user:s3cr3t-token@127.0.0.1:{port}"
    env = {
        "MLFLOW_TRACKING_URI": uri,
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
        "MLFLOW_HTTP_REQUEST_TIMEOUT": "5",
    }
    for extra in ({}, {"model.baseline": "models:/credit@champion"}):
        result = run_cli(
            "run", "-c", str(write_config(base_config(data_dir, models_dir, **extra))), env=env
        )
        assert result.returncode in (2, 3), result.stderr
        assert "s3cr3t-token" not in result.stdout + result.stderr
        assert f"127.0.0.1:{port}" in result.stderr  # the location is still named
