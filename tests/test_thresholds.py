import math

import pytest
from pydantic import ValidationError

from validate.thresholds import Bound, judge


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
