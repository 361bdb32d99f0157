"""Item: a check's warning sentence is shown wherever its verdict is (issue 14, item 6).

The bias check's small-group note and latency's "not judged" threshold used to live only
in the JSON's per-check details, with "(1 warning)" everywhere else."""

from validate.gate import decide
from validate.reporting.console import render_console
from validate.reporting.github import annotation_commands, step_summary
from validate.reporting.json_report import build_report
from validate.results import CheckResult, Status

SMALL_GROUP = "groups below min_group_size 30 are left out: male/under_25 (n=25)"
NOISY = "batch_1.p95_ms <= 10 not judged, too noisy: CV 1.20 > max_cv 0.5"


def results() -> list[CheckResult]:
    return [
        CheckResult(
            name="bias",
            status=Status.PASSED,
            message="demographic_parity_difference 0.03 <= max 0.1 (1 warning)",
            details={"warnings": [SMALL_GROUP]},
        ),
        CheckResult(name="latency", status=Status.PASSED, warnings=(NOISY,)),
    ]


def report_of(checks: list[CheckResult]) -> dict:
    return build_report(
        decision=decide(checks),
        results=checks,
        candidate="models:/m/1",
        baseline=None,
        tracking_uri="sqlite:///mlflow.db",
        run_id=None,
        promotion=None,
    )


def test_console_prints_each_warning_sentence():
    text = render_console(results(), decide(results()), None, run_id=None)
    assert f"  warning: bias: {SMALL_GROUP}" in text
    assert f"  warning: latency: {NOISY}" in text


def test_json_report_lists_warnings_at_the_top_and_per_check():
    checks = results()
    report = report_of(checks)
    assert report["warnings"] == [f"bias: {SMALL_GROUP}", f"latency: {NOISY}"]
    assert [c["warnings"] for c in report["checks"]] == [[SMALL_GROUP], [NOISY]]


def test_github_summary_and_annotations_carry_the_sentences():
    checks = results()
    report = report_of(checks)
    summary = step_summary(report)
    assert f"- bias: {SMALL_GROUP}" in summary and f"- latency: {NOISY}" in summary
    commands = annotation_commands(report)
    assert f"::warning title=validate latency warning::{NOISY}" in commands


def test_console_prints_counts_as_integers_and_intervals_at_one_precision():
    from validate.thresholds import CIBound, judge

    result = CheckResult(
        name="drift",
        status=Status.PASSED,
        metrics={"share_drifted_features": 0.25, "drifted_features": 4.0},
        assertions=judge(
            "demographic_parity_difference", 0.005, CIBound(max=0.1), (4.352e-4, 0.029)
        ),
    )
    text = render_console([result], decide([result]), None, run_id=None)
    assert "share_drifted_features 0.250, drifted_features 4\n" in text
    (assertion,) = result.assertions
    assert assertion.sentence == "demographic_parity_difference 0.0050 [0.0004, 0.0290] <= max 0.1"


def test_check_text_is_printed_on_one_line_without_control_characters():
    from validate.reporting.text import one_line

    evil = "b\n::error title=validate gate::forged PASS\x1b[2J\r\x9b"
    assert one_line(evil) == "b ::error title=validate gate::forged PASS\\x1b[2J \\x9b"
    result = CheckResult(name="bias", status=Status.PASSED, warnings=(f"left out: {evil}",))
    text = render_console([result], decide([result]), None, run_id=None)
    assert not [line for line in text.splitlines() if line.lstrip().startswith("::")]
    assert "\x1b" not in text and "\r" not in text
