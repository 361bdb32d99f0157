"""Recording after the alias moved: a failure is said, and never turns a promotion into a
killed run with exit 3 and reports that say "not promoted" (hostile review)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from validate.recorder import RecordingFailed
from validate.runner import _record_after_promotion


def state(promoted: bool) -> SimpleNamespace:
    # Only what the rule reads: the promotion outcome, the recorder's failure, the problem.
    promotion = {"promoted": promoted, "model": "m", "alias": "champion", "version": "3"}
    recorder = SimpleNamespace(failure=None)
    return SimpleNamespace(promotion=promotion, recorder=recorder, problem=None)


def refused() -> None:
    raise RecordingFailed("MLflow at http://127.0.0.1:5000 refused the request while tagging")


def test_a_refusal_after_the_alias_moved_is_said_not_raised():
    after = state(promoted=True)
    _record_after_promotion(after, refused, "its report")
    assert after.problem == (
        "the candidate was promoted, but recording its report in MLflow failed: MLflow at "
        "http://127.0.0.1:5000 refused the request while tagging"
    )


def test_an_outage_after_the_alias_moved_is_said_too():
    after = state(promoted=True)

    def outage() -> None:  # the recorder swallows an outage and remembers it
        after.recorder.failure = "MLflow at http://127.0.0.1:5000 failed while tagging: refused"

    _record_after_promotion(after, outage, "its validate.promotion tag")
    assert after.problem.startswith("the candidate was promoted, but recording its validate")


def test_before_any_promotion_a_refusal_still_raises():
    with pytest.raises(RecordingFailed):
        _record_after_promotion(state(promoted=False), refused, "its report")
