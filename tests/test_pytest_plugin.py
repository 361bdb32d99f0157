"""The pytest plugin, tested with pytester: the config file is collected, one item per check,
and each item's outcome is the gate's verdict on that check."""

import os

import mlflow
import yaml
from conftest import base_config, install_fake_distribution

pytest_plugins = ["pytester"]

WARNING_CHECK = """
    from validate import CheckResult, Status

    class Warner:
        def run(self, context):
            return CheckResult(name="warner", status=Status.PASSED, message="fine",
                               warnings=("only 12 rows in group b; the CI is wide",))
"""

# An advisory bias check that fails: a threshold no real model meets.
ADVISORY_BIAS = {
    "blocking": False,
    "sensitive_features": ["group"],
    "n_resamples": 0,
    "thresholds": {"demographic_parity_difference": {"max": 0.0001}},
}


def write(pytester, config, name="validation.yaml"):
    path = pytester.path / name
    path.write_text(yaml.safe_dump(config))
    return path


def use_env(monkeypatch, env):
    for key, value in env.items():
        monkeypatch.setenv(key, value)


def test_plugin_is_inert_without_a_config(pytester):
    pytester.makepyfile("def test_ok():\n    assert True\n")
    result = pytester.runpytest_subprocess("--help")
    result.stdout.fnmatch_lines(["*--validate-config=PATH*"])
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=1)
    result.stdout.no_fnmatch_line("*recorded in MLflow*")


def test_check_outcomes_follow_the_gate(pytester, data_dir, models_dir, plugin_env, monkeypatch):
    use_env(monkeypatch, plugin_env)
    config = base_config(
        data_dir,
        models_dir,
        checks={
            "accuracy": {"thresholds": {"roc_auc": {"min": 0.99}}},  # blocking, fails
            "bias": ADVISORY_BIAS,  # advisory, fails
            "raising": {},  # blocking, errors
            "skipper": {},
        },
    )
    path = write(pytester, config)
    skipper_line = path.read_text().splitlines().index("  skipper: {}") + 1
    pytester.makepyfile("def test_hand_written():\n    pass\n")
    result = pytester.runpytest_subprocess("--validate-config", str(path), "-rA")
    result.assert_outcomes(passed=1, failed=1, errors=1, skipped=1, xfailed=1)
    assert result.ret == 1
    result.stdout.fnmatch_lines(
        [
            "collected 5 items",  # the count the outcomes add up to
            "*raising: check raised ValueError: division by zero in a plugin*",
            "*accuracy: roc_auc * < min 0.99*",
            "*- validate validation.yaml -*",
            "decision: fail (validate run exits 3 on this config)",
            "warning: advisory failed: bias: demographic_parity_difference * > max 0.0001*",
            "warning: skipper skipped: no GPU on this runner",
            "recorded in MLflow: run * at sqlite:///*",
            "*short test summary info*",
            "PASSED test_check_outcomes_follow_the_gate.py::test_hand_written",
            f"SKIPPED [[]1[]] validation.yaml:{skipper_line}: no GPU on this runner",
            "XFAIL validation.yaml::bias - advisory failed (blocking: false; validate run "
            "still passes): demographic_parity_difference * > max 0.0001*",
            "ERROR validation.yaml::raising - raising: check raised ValueError*",
            "FAILED validation.yaml::accuracy - accuracy: roc_auc *",
        ]
    )


def test_advisory_failures_and_warnings_keep_the_session_passing(
    pytester, data_dir, models_dir, plugin_env, monkeypatch, tmp_path
):
    site = tmp_path / "warner_site"
    install_fake_distribution(
        site, "warner_check", {"warner": "warner_mod:Warner"}, {"warner_mod": WARNING_CHECK}
    )
    use_env(monkeypatch, plugin_env)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([plugin_env["PYTHONPATH"], str(site)]))
    config = base_config(
        data_dir,
        models_dir,
        checks={"accuracy": {}, "raising": {"blocking": False}, "warner": {}},
    )
    config["mlflow"] = {"experiment": "advisory"}
    path = write(pytester, config)
    # A project that turns warnings into errors gets the same verdict: library warnings
    # raised inside the validation are not the project's.
    result = pytester.runpytest_subprocess("--validate-config", str(path), "-W", "error")
    result.assert_outcomes(passed=2, xfailed=1)
    assert result.ret == 0
    result.stdout.fnmatch_lines(
        [
            "decision: pass (validate run exits 0 on this config)",
            "warning: advisory error: raising: check raised ValueError: division by zero*",
            "warning: warner: only 12 rows in group b; the CI is wide",
            "recorded in MLflow: run * at sqlite:///*none promotes)",
        ]
    )
    (run,) = mlflow.search_runs(
        experiment_names=["advisory"],
        output_format="list",
        filter_string="tags.`validate.kind` = 'validation'",
    )
    result.stdout.fnmatch_lines([f"recorded in MLflow: run {run.info.run_id} at *"])


def test_items_are_named_after_the_config_file(pytester, data_dir, models_dir):
    config = base_config(data_dir, models_dir, checks={"accuracy": {}, "bias": ADVISORY_BIAS})
    path = write(pytester, config)
    pytester.makepyfile("def test_hand_written():\n    pass\n")
    # Collecting runs nothing; the config file is collected once, also when the folder
    # holding it is walked.
    result = pytester.runpytest_subprocess("--validate-config", str(path), "--collect-only", "-q")
    result.stdout.fnmatch_lines(
        [
            "test_items_are_named_after_the_config_file.py::test_hand_written",
            "validation.yaml::accuracy",
            "validation.yaml::bias",
            "3 tests collected*",
        ]
    )
    result = pytester.runpytest_subprocess(
        "--validate-config", "validation.yaml", "validation.yaml::bias", "--collect-only", "-q"
    )
    result.stdout.fnmatch_lines(["validation.yaml::bias", "1 test collected*"])
    result = pytester.runpytest_subprocess(
        "--validate-config", "validation.yaml", ".", "-k", "accuracy", "--collect-only", "-q"
    )
    result.stdout.fnmatch_lines(["validation.yaml::accuracy", "1/3 tests collected*"])


def test_the_ini_option_is_relative_to_the_ini_file(pytester, data_dir, models_dir, monkeypatch):
    folder = pytester.mkdir("models")
    write(pytester, base_config(data_dir, models_dir), name="models/validation.yaml")
    pytester.makeini("[pytest]\nvalidate_config = models/validation.yaml\n")
    sub = pytester.mkdir("sub")
    monkeypatch.chdir(sub)
    result = pytester.runpytest_subprocess("--collect-only", "-q", "..")
    result.stdout.fnmatch_lines(["models/validation.yaml::accuracy", "1 test collected*"])
    assert folder.is_dir()


def test_a_missing_config_names_the_plugin_option(pytester):
    result = pytester.runpytest_subprocess("--validate-config", "missing.yaml")
    assert result.ret == 4
    result.stderr.fnmatch_lines(
        [
            "*--validate-config: */missing.yaml: config file not found; give "
            "--validate-config PATH (or validate_config in the pytest ini file) naming a "
            "validation.yaml file"
        ]
    )
    assert "-c PATH" not in result.stderr.str()
    pytester.makeini("[pytest]\nvalidate_config = nowhere.yaml\n")
    result = pytester.runpytest_subprocess()
    assert result.ret == 4
    result.stderr.fnmatch_lines(["*validate_config in tox.ini: */nowhere.yaml: config file not*"])


def test_bad_config_is_a_usage_error(pytester, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\n")
    result = pytester.runpytest_subprocess("--validate-config", str(bad))
    assert result.ret == 4
    result.stderr.fnmatch_lines(["*--validate-config: *data: required but missing*"])


def test_a_validation_that_cannot_run_errors_every_item_once(pytester, data_dir, models_dir):
    config = base_config(data_dir, models_dir, checks={"accuracy": {}, "bias": ADVISORY_BIAS})
    config["data"]["eval"] = str(data_dir / "gone.parquet")
    path = write(pytester, config)
    result = pytester.runpytest_subprocess("--validate-config", str(path))
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(
        [
            "*accuracy: the validation could not run: *gone.parquet*",
            "*bias: the validation could not run: *gone.parquet*",
            "the validation could not run: *gone.parquet*",
        ]
    )


def test_fixtures_for_hand_written_tests(pytester, data_dir, models_dir):
    path = write(pytester, base_config(data_dir, models_dir))
    pytester.makepyfile(
        """
        def test_decision(validation):
            assert validation["decision"] == "pass"
            assert validation["checks"][0]["metrics"]["roc_auc"] > 0.7

        def test_data(eval_data):
            assert len(eval_data) == 800 and "label" in eval_data

        def test_model(candidate_model, eval_data):
            scores = candidate_model.predict(eval_data, ("x1", "x2", "x3"))
            assert scores.shape == (800,) and 0 <= scores.min() <= scores.max() <= 1
        """
    )
    result = pytester.runpytest_subprocess("--validate-config", str(path))
    result.assert_outcomes(passed=4)  # three hand-written tests and the accuracy item
    result.stdout.fnmatch_lines(["collected 4 items"])


def test_validation_runs_once_with_xdist(pytester, data_dir, models_dir):
    config = base_config(
        data_dir,
        models_dir,
        checks={"accuracy": {}, "bias": {"sensitive_features": ["group"], "n_resamples": 20}},
    )
    config["mlflow"] = {"experiment": "xdist-once"}
    path = write(pytester, config)
    pytester.makepyfile("def test_a(validation):\n    pass\n\ndef test_b(validation):\n    pass\n")
    result = pytester.runpytest_subprocess("--validate-config", str(path), "-n", "2")
    result.assert_outcomes(passed=4)
    runs = mlflow.search_runs(
        experiment_names=["xdist-once"],
        output_format="list",
        filter_string="tags.`validate.kind` = 'validation'",
    )
    assert len(runs) == 1
    # The controller prints what the worker's validation said.
    result.stdout.fnmatch_lines([f"recorded in MLflow: run {runs[0].info.run_id} at *"])


def test_a_run_mlflow_could_not_record_fails_the_session(pytester, data_dir, models_dir):
    # `validate run` exits 3 here although every check passed: so must pytest (non-zero).
    config = base_config(data_dir, models_dir)
    config["mlflow"]["tracking_uri"] = "http://127.0.0.1:9"  # nothing listens on discard
    path = write(pytester, config)
    result = pytester.runpytest_subprocess("--validate-config", str(path))
    result.assert_outcomes(passed=1)
    assert result.ret == 1
    result.stdout.fnmatch_lines(
        [
            "decision: pass (validate run exits 3 on this config)",
            "error: MLflow at http://127.0.0.1:9 failed while creating the validation run*"
            "validate sync *",
        ]
    )
    result.stdout.no_fnmatch_line("recorded in MLflow*")
