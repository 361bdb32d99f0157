"""Hand-written tests next to the generated check items, using validate's fixtures."""

import numpy as np


def test_the_gate_passed(validation):
    assert validation["decision"] == "pass", validation["reasons"]


def test_scores_are_probabilities(candidate_model, eval_data):
    scores = candidate_model.predict(
        eval_data, ("tenure_months", "monthly_charges", "support_calls")
    )
    assert np.all((scores >= 0) & (scores <= 1))


def test_long_tenure_customers_churn_less(candidate_model, eval_data):
    features = ("tenure_months", "monthly_charges", "support_calls")
    scores = candidate_model.predict(eval_data, features)
    long_tenure = eval_data["tenure_months"] > 48
    assert scores[long_tenure].mean() < scores[~long_tenure].mean()
