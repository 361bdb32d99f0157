from validate.gate import Policy, decide
from validate.results import CheckResult, Status


def result(name, status, blocking=True, message=""):
    return CheckResult(name=name, status=status, blocking=blocking, message=message)


def test_all_passed_is_pass():
    decision = decide([result("a", Status.PASSED), result("b", Status.PASSED)])
    assert decision.passed and decision.verdict == "pass" and decision.exit_code == 0


def test_blocking_failure_blocks_with_reason():
    decision = decide(
        [result("a", Status.PASSED), result("b", Status.FAILED, message="x 1 > max 0")]
    )
    assert not decision.passed and decision.exit_code == 1
    assert decision.reasons == ("failed: b: x 1 > max 0",)


def test_advisory_failure_only_warns():
    decision = decide([result("a", Status.PASSED), result("b", Status.FAILED, blocking=False)])
    assert decision.passed and decision.warnings


def test_blocking_error_fails_closed_with_exit_3():
    decision = decide([result("a", Status.ERROR, message="boom")])
    assert not decision.passed and decision.errored and decision.exit_code == 3


def test_advisory_error_does_not_block():
    decision = decide([result("a", Status.PASSED), result("b", Status.ERROR, blocking=False)])
    assert decision.passed and decision.exit_code == 0


def test_skipped_does_not_block_but_is_named():
    decision = decide([result("a", Status.PASSED), result("lat", Status.SKIPPED, message="no GPU")])
    assert decision.passed and decision.warnings == ("lat skipped: no GPU",)


def test_no_results_is_a_failure():
    assert not decide([]).passed


def test_policy_overrides_result_blocking():
    decision = decide([result("b", Status.FAILED)], Policy(blocking={"b": False}))
    assert decision.passed


def test_every_check_warning_sentence_reaches_the_decision():
    noisy = CheckResult(
        name="latency",
        status=Status.PASSED,
        warnings=("batch_1.p95_ms <= 10 not judged, too noisy: CV 1.20 > max_cv 0.5",),
    )
    legacy = CheckResult(
        name="bias",
        status=Status.PASSED,
        details={"warnings": ["groups below min_group_size 30 are left out: male/under_25 (n=25)"]},
    )
    decision = decide([noisy, legacy])
    assert decision.passed
    assert decision.warnings == (
        "latency: batch_1.p95_ms <= 10 not judged, too noisy: CV 1.20 > max_cv 0.5",
        "bias: groups below min_group_size 30 are left out: male/under_25 (n=25)",
    )


def test_check_warnings_survive_the_json_round_trip():
    original = CheckResult(name="bias", status=Status.PASSED, warnings=("small group left out",))
    copied = CheckResult.from_dict(original.to_dict())
    assert copied.warnings == ("small group left out",)
    assert original.to_dict()["warnings"] == ["small group left out"]
