"""The pytest plugin, tested with pytester: one item per check, outcomes follow statuses."""

import mlflow
import yaml
from conftest import base_config

pytest_plugins = ["pytester"]


def write(pytester, config):
    path = pytester.path / "validation.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_plugin_is_inert_without_a_config(pytester):
    pytester.makepyfile("def test_ok():\n    assert True\n")
    result = pytester.runpytest_subprocess("--help")
    result.stdout.fnmatch_lines(["*--validate-config=PATH*"])
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=1)


def test_check_statuses_map_to_test_outcomes(
    pytester, data_dir, models_dir, plugin_env, monkeypatch
):
    for key, value in plugin_env.items():
        monkeypatch.setenv(key, value)
    config = base_config(
        data_dir,
        models_dir,
        checks={
            "accuracy": {"thresholds": {"roc_auc": {"min": 0.99}}},
            "bias": {"sensitive_features": ["group"], "n_resamples": 50},
            "raising": {},
            "skipper": {},
        },
    )
    path = write(pytester, config)
    result = pytester.runpytest_subprocess("--validate-config", str(path), "-rA")
    result.assert_outcomes(passed=1, failed=1, errors=1, skipped=1)
    result.stdout.fnmatch_lines(
        [
            "*raising: check raised ValueError: division by zero in a plugin*",
            "*accuracy: roc_auc * < min 0.99*",
            "*SKIPPED*no GPU on this runner*",
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


def test_bad_config_is_a_usage_error(pytester, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\n")
    result = pytester.runpytest_subprocess("--validate-config", str(bad))
    assert result.ret == 4
    result.stderr.fnmatch_lines(["*--validate-config: *data: required but missing*"])
