"""MinDiff distances between the score distributions of two groups, computed with
TensorFlow Model Remediation's own loss classes (so the number is exactly what a
MinDiff-trained model minimises).

* MMD: maximum mean discrepancy with a Gaussian or Laplacian kernel
  (Gretton et al. 2012; ``min_diff.losses.MMDLoss``).
* Absolute correlation between membership and score
  (``min_diff.losses.AbsoluteCorrelationLoss``).

Bootstrap: the losses accept ``sample_weight``; multinomial row counts as weights
are the row bootstrap without copying rows (each resample costs one O(n²) call).
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from validate.models.adapter import tf_env_defaults


def losses(kernel: str) -> dict[str, Any]:
    """The library's loss objects (TensorFlow is imported here, and only here)."""
    tf_env_defaults()
    from validate.models.keras_models import quiet_native_stderr

    with quiet_native_stderr():
        from tensorflow_model_remediation import min_diff
    return {
        "mmd": min_diff.losses.MMDLoss(kernel=kernel, enable_summary_histogram=False),
        "absolute_correlation": min_diff.losses.AbsoluteCorrelationLoss(
            enable_summary_histogram=False
        ),
    }


def distances(
    membership: np.ndarray,
    scores: np.ndarray,
    *,
    kernel: str = "gaussian",
    weights: np.ndarray | None = None,
) -> dict[str, float]:
    """MinDiff's losses on (membership, scores); ``weights`` has shape (n,) or (B, n)."""
    import tensorflow as tf

    member = tf.constant(membership.reshape(-1, 1), dtype=tf.float32)
    predicted = tf.constant(scores.reshape(-1, 1), dtype=tf.float32)
    values: dict[str, Any] = {}
    if weights is None:
        for name, loss in losses(kernel).items():
            values[name] = float(loss(member, predicted))
        return values
    batch = np.atleast_2d(weights)
    for name, traced in _traced(kernel).items():
        values[name] = np.array(
            [
                float(traced(member, predicted, tf.constant(w.reshape(-1, 1), dtype=tf.float32)))
                for w in batch
            ]
        )
    return values


@functools.lru_cache(maxsize=2)
def _traced(kernel: str) -> dict[str, Any]:
    """The same losses as TensorFlow graphs, for the bootstrap's one call per resample.

    Eager dispatch of a loss's ops costs ~30 times its arithmetic at a few hundred rows
    (75 ms a call against 2.5 ms traced), which made the bootstrap the check's whole
    run time; the traced graph computes the same ops (equal to float32 rounding).
    """
    import tensorflow as tf

    def traced(loss: Any) -> Any:
        def call(member: Any, predicted: Any, weight: Any) -> Any:
            return loss(member, predicted, weight)

        return tf.function(call, reduce_retracing=True)

    return {name: traced(loss) for name, loss in losses(kernel).items()}


def stratified_sample(membership: np.ndarray, limit: int, seed: int) -> np.ndarray:
    """Row indices: at most ``limit`` rows, split as evenly as the two groups allow."""
    rng = np.random.default_rng(seed)
    groups = [np.flatnonzero(membership == value) for value in (1.0, 0.0)]
    if sum(len(g) for g in groups) <= limit:
        return np.sort(np.concatenate(groups))
    small, large = sorted(groups, key=len)
    take_small = min(len(small), limit // 2)
    take_large = min(len(large), limit - take_small)
    chosen = [
        rng.choice(small, take_small, replace=False),
        rng.choice(large, take_large, replace=False),
    ]
    return np.sort(np.concatenate(chosen))


def bootstrap_weights(membership: np.ndarray, n_resamples: int, seed: int) -> np.ndarray:
    """(B, n) multinomial counts, resampling within each group (group sizes stay fixed)."""
    rng = np.random.default_rng(seed)
    weights = np.zeros((n_resamples, len(membership)))
    for value in (1.0, 0.0):
        index = np.flatnonzero(membership == value)
        weights[:, index] = rng.multinomial(
            len(index), np.full(len(index), 1 / len(index)), size=n_resamples
        )
    return weights
