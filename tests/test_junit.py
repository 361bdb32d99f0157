"""--junit writes one testcase per check; a JUnit parser reads it back."""

from click.testing import CliRunner
from conftest import base_config
from junitparser import Error, Failure, JUnitXml, Skipped

from validate.cli import cli
from validate.reporting.junit import render_junit
from validate.results import Assertion, CheckResult, Status


def test_statuses_map_to_junit_elements(tmp_path):
    results = [
        CheckResult(name="accuracy", status=Status.PASSED, message="roc_auc 0.9 >= min 0.8"),
        CheckResult(
            name="bias",
            status=Status.FAILED,
            message="dpd 0.2 > max 0.1",
            assertions=[Assertion("dpd", "<=", 0.1, 0.2, False, sentence="dpd 0.200 > max 0.1")],
        ),
        CheckResult(name="drift", status=Status.ERROR, message="check raised ValueError: x"),
        CheckResult(name="latency", status=Status.SKIPPED, message="no GPU"),
        CheckResult(
            name="mindiff", status=Status.FAILED, message="mmd 0.3 > max 0.05", blocking=False
        ),
    ]
    path = tmp_path / "junit.xml"
    path.write_text(render_junit(results))
    xml = JUnitXml.fromfile(str(path))
    (suite,) = list(xml)
    cases = {case.name: case for case in suite}
    assert set(cases) == {"accuracy", "bias", "drift", "latency", "mindiff"}
    assert cases["accuracy"].is_passed
    (failure,) = cases["bias"].result
    assert isinstance(failure, Failure) and failure.text == "dpd 0.200 > max 0.1"
    assert isinstance(cases["drift"].result[0], Error)
    assert isinstance(cases["latency"].result[0], Skipped)
    assert cases["mindiff"].is_passed and "advisory failed" in cases["mindiff"].system_out
    assert (suite.tests, suite.failures, suite.errors, suite.skipped) == (5, 1, 1, 1)


def test_cli_writes_junit(write_config, data_dir, models_dir, tmp_path):
    config = base_config(
        data_dir, models_dir, checks={"accuracy": {"thresholds": {"roc_auc": {"min": 0.99}}}}
    )
    path = tmp_path / "out.xml"
    result = CliRunner().invoke(cli, ["run", "-c", str(write_config(config)), "--junit", str(path)])
    assert result.exit_code == 1, result.stderr
    (suite,) = list(JUnitXml.fromfile(str(path)))
    (case,) = list(suite)
    assert case.name == "accuracy" and not case.is_passed
    assert "< min 0.99" in case.result[0].text
