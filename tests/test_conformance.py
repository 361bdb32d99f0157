"""Every installed built-in check passes the conformance kit, on every task it supports."""

import pytest

from checks.accuracy import AccuracyCheck
from validate.results import Status
from validate.testing import assert_check_conforms, example_context


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_accuracy_conforms(task):
    check = AccuracyCheck.from_config("accuracy", {}, task=task)
    result = assert_check_conforms(check, example_context(task))
    assert result.status is Status.PASSED


def test_failing_accuracy_conforms():
    check = AccuracyCheck.from_config(
        "accuracy", {"thresholds": {"roc_auc": {"min": 0.999}}}, task="binary"
    )
    result = assert_check_conforms(check)
    assert result.status is Status.FAILED and result.failed_assertions


def test_kit_catches_a_check_that_returns_the_wrong_type():
    class Broken:
        def run(self, context):
            return {"status": "passed"}

    with pytest.raises(AssertionError, match="run\\(\\) returned dict"):
        assert_check_conforms(Broken())


def test_latency_conforms_without_a_model():
    from checks.latency import LatencyCheck

    check = LatencyCheck.from_config("latency", {}, task="binary")
    result = assert_check_conforms(check, example_context("binary"))
    assert result.status is Status.SKIPPED  # the example context holds scores, not a model
