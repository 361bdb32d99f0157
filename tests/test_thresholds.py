import math

import pytest
from pydantic import ValidationError

from validate.thresholds import Bound, CIBound, judge


def test_min_bound_sentences():
    (ok,) = judge("roc_auc", 0.871, Bound(min=0.8))
    assert ok.passed and ok.sentence == "roc_auc 0.871 >= min 0.8"
    (bad,) = judge("roc_auc", 0.71, Bound(min=0.8))
    assert not bad.passed and bad.sentence == "roc_auc 0.710 < min 0.8"


def test_both_sides_give_two_assertions():
    low, high = judge("equalized_odds_difference", 0.14, Bound(min=0.0, max=0.1))
    assert low.passed and not high.passed
    assert high.sentence == "equalized_odds_difference 0.140 > max 0.1"
    assert (low.op, high.op) == (">=", "<=")


def test_nan_fails_and_says_so():
    (result,) = judge("roc_auc", math.nan, Bound(min=0.8))
    assert not result.passed
    assert "could not be computed" in result.sentence


def test_bound_needs_min_or_max():
    with pytest.raises(ValidationError, match="give min or max"):
        Bound()


def test_contradictory_bound_is_rejected():
    with pytest.raises(ValidationError, match="no value can pass"):
        Bound(min=0.9, max=0.1)


# -- approximate values: judge_bounded ------------------------------------------------------


@pytest.mark.parametrize(
    ("bound", "passed", "decided"),
    [
        (CIBound(min=0.70), True, True),  # the whole range [0.79, 0.81] is above
        (CIBound(min=0.85), False, True),  # the whole range is below
        (CIBound(min=0.80), False, False),  # inside the range: not decided, fails closed
        (CIBound(max=0.805), False, False),
        (CIBound(max=0.90), True, True),
    ],
)
def test_judge_bounded_passes_only_across_the_whole_bound(bound, passed, decided):
    from validate.thresholds import judge_bounded

    (found,) = judge_bounded("roc_auc", 0.80, bound, None, low=0.79, high=0.81)
    assert found.passed is passed
    assert found.value == 0.80  # the estimate is reported, not the end it was judged at
    assert ("inside its error bound" in found.sentence) is not decided
    if decided:
        assert "(approximate, ±0.01)" in found.sentence


def test_judge_bounded_moves_the_ci_it_judges_on():
    from validate.thresholds import judge_bounded

    bound = CIBound(min=0.75, judge="lower_ci")
    # The lower CI 0.755 clears 0.75, but not once moved down by the bound 0.01.
    (found,) = judge_bounded("roc_auc", 0.80, bound, (0.755, 0.845), low=0.79, high=0.81)
    assert not found.passed and "inside its error bound" in found.sentence
    (found,) = judge_bounded("roc_auc", 0.80, bound, (0.77, 0.83), low=0.79, high=0.81)
    assert found.passed


def test_judge_bounded_without_a_bound_is_judge():
    from validate.thresholds import judge_bounded

    bound = CIBound(min=0.5, max=0.9)
    assert judge_bounded("f1", 0.7, bound, None, low=0.7, high=0.7) == judge("f1", 0.7, bound)
