import dataclasses
import json
import math

import pytest

from validate.results import Assertion, CheckResult, Status


def test_check_result_round_trips_through_json():
    result = CheckResult(
        name="accuracy",
        status="failed",
        metrics={"roc_auc": 0.7, "log_loss": math.nan},
        assertions=[
            Assertion(
                "roc_auc",
                ">=",
                0.8,
                0.7,
                False,
                ci=(0.65, 0.75),
                sentence="roc_auc 0.700 < min 0.8",
            )
        ],
        message="roc_auc 0.700 < min 0.8",
        duration_s=0.25,
        details={"rows": 10},
        blocking=False,
    )
    text = json.dumps(result.to_dict(), allow_nan=False)  # NaN must not leak into JSON
    back = CheckResult.from_dict(json.loads(text))
    assert back.status is Status.FAILED
    assert back.assertions == result.assertions
    assert back.metrics["roc_auc"] == 0.7 and math.isnan(back.metrics["log_loss"])
    assert back.blocking is False and back.details == {"rows": 10}
    assert result.to_dict()["schema_version"] == 1


def test_results_are_frozen():
    result = CheckResult(name="x", status=Status.PASSED)
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.status = Status.FAILED  # type: ignore[misc]
    assert isinstance(result.assertions, tuple)


def test_status_is_a_string_enum():
    assert Status("error") is Status.ERROR
    assert str(Status.SKIPPED) == "skipped"
    with pytest.raises(ValueError):
        Status("crashed")
