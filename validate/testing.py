"""Conformance kit: the same contract tests for every check, ours and third-party ones.

from validate.testing import assert_check_conforms, example_context

def test_my_check_conforms():
    assert_check_conforms(MyCheck.from_config("my_check", {}, task="binary"))
"""

from __future__ import annotations

import json
import pickle
from typing import Any

import numpy as np

from validate.check import CheckContext
from validate.results import CheckResult, Status


def example_context(task: str = "binary", rows: int = 200, seed: int = 0) -> CheckContext:
    """A small, realistic context (labels, scores, a champion, a group column) for ``task``."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    features = pd.DataFrame({"x1": rng.normal(size=rows), "x2": rng.normal(size=rows)})
    signal = features["x1"].to_numpy()
    frame = features.assign(group=rng.choice(["a", "b"], size=rows))
    if task == "regression":
        y: Any = signal * 2 + rng.normal(size=rows)
        candidate, baseline = signal * 2, signal
    elif task == "multiclass":
        y = np.digitize(signal, [-0.5, 0.5])
        logits = np.stack([-signal, np.zeros(rows), signal], axis=1)
        candidate = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        baseline = np.full((rows, 3), 1 / 3)
    else:
        y = (rng.random(rows) < 1 / (1 + np.exp(-2 * signal))).astype(np.int64)
        candidate = 1 / (1 + np.exp(-2 * signal))
        baseline = 1 / (1 + np.exp(-signal))
    frame["target"] = y
    return CheckContext(
        task=task,
        target="target",
        features=("x1", "x2"),
        eval_data=frame,
        y_true=np.asarray(y),
        candidate_scores=candidate,
        baseline_scores=baseline,
        reference_data=frame.copy(),
        seed=seed,
    )


def assert_check_conforms(check: Any, context: CheckContext | None = None) -> CheckResult:
    """Run ``check`` and assert the contract every check must keep.

    The result is a :class:`CheckResult` with a valid status and a message; it
    survives JSON (``to_dict``/``from_dict``) and pickling, as it must to cross a
    process or a Kubernetes Job; failed results name their failing assertions;
    running twice on the same context gives the same metrics (seeded randomness).
    """
    context = context or example_context()
    first = check.run(context)
    assert isinstance(first, CheckResult), f"run() returned {type(first).__name__}"
    assert isinstance(first.status, Status)
    assert first.status is not Status.ERROR, f"check errored on a valid context: {first.message}"
    assert first.message, "every outcome carries a sentence saying what was checked"
    encoded = json.dumps(first.to_dict(), allow_nan=False)
    assert CheckResult.from_dict(json.loads(encoded)).to_dict() == first.to_dict()
    assert pickle.loads(pickle.dumps(first)) == first
    if first.status is Status.FAILED and first.assertions:
        assert first.failed_assertions, "a failed result with assertions names the failing ones"
    second = check.run(context)
    assert json.dumps(second.to_dict()["metrics"], sort_keys=True) == json.dumps(
        first.to_dict()["metrics"], sort_keys=True
    ), "same context, same seed: the metrics must not change"
    return first
