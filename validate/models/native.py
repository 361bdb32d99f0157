"""What ONNX and PyTorch scorers share: which output is the score, and the activation
that turns logits into probabilities.

Neither onnxruntime nor torch is imported here.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from validate.errors import ModelError

ACTIVATIONS = ("none", "sigmoid", "softmax")


def activate(values: np.ndarray, activation: str) -> np.ndarray:
    """Apply ``activation`` to raw outputs (float64 so probabilities stay in [0, 1])."""
    array = np.asarray(values, dtype=np.float64)
    if activation == "sigmoid":
        # Two branches so a large negative logit does not overflow exp().
        out = np.empty_like(array)
        positive = array >= 0
        out[positive] = 1.0 / (1.0 + np.exp(-array[positive]))
        exp = np.exp(array[~positive])
        out[~positive] = exp / (1.0 + exp)
        return out
    if activation == "softmax":
        if array.ndim != 2:
            raise ModelError(
                f"activation: softmax needs (n, k) outputs, got shape {array.shape}; "
                "use sigmoid for one logit per row"
            )
        shifted = np.exp(array - array.max(axis=1, keepdims=True))
        return shifted / shifted.sum(axis=1, keepdims=True)
    return array


def feature_matrix(frame: Any, dtype: Any, who: str) -> np.ndarray:
    """The feature columns as one matrix of the model's input type."""
    try:
        return np.ascontiguousarray(frame.to_numpy(dtype=dtype))
    except (TypeError, ValueError) as exc:
        raise ModelError(
            f"{who}: the model takes one numeric matrix; encode categorical columns upstream "
            f"or drop them from data.features ({exc})"
        ) from exc


def check_width(who: str, expected: Any, got: int, source: str) -> None:
    """A model with a fixed input width must get exactly that many columns."""
    if isinstance(expected, int) and expected > 0 and expected != got:
        raise ModelError(
            f"{who}: the model takes {expected} input columns, {source} gives {got}; "
            "list the model's inputs in data.features, in training order"
        )
