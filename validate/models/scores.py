"""Model outputs normalised to one shape per task, with one-line errors for the wrong shape."""

from __future__ import annotations

from typing import Any

import numpy as np

from validate.errors import ModelError

_EXPECTED = {
    "binary": "(n,), (n, 1) or (n, 2) probabilities",
    "multiclass": "(n, k) class probabilities with k >= 2",
    "regression": "(n,) or (n, 1) predictions",
}


def normalize_scores(raw: Any, *, task: str, n_rows: int, who: str) -> np.ndarray:
    """Return scores shaped for ``task``.

    binary → (n,) probability of the positive class; multiclass → (n, k)
    probabilities; regression → (n,) predictions.

    Raises
    ------
    ModelError
        When the output has the wrong shape, length or values for the task.
    """
    array = np.asarray(raw.to_numpy() if hasattr(raw, "to_numpy") else raw)
    if array.dtype == object or not np.issubdtype(array.dtype, np.number):
        try:
            array = array.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise ModelError(
                f"{who}: model output is not numeric ({array.dtype}); {task} expects "
                f"{_EXPECTED[task]}"
            ) from exc
    array = array.astype(np.float64, copy=False)
    shape = array.shape
    if array.ndim == 2 and task in ("binary", "regression") and shape[1] == 1:
        array = array[:, 0]
    elif array.ndim == 2 and task == "binary" and shape[1] == 2:
        array = array[:, 1]
    if not _shape_fits(array, task) or len(array) != n_rows:
        raise ModelError(
            f"{who}: model output has shape {shape} for {n_rows} rows; "
            f"task '{task}' expects {_EXPECTED[task]} (check data.task and the model)"
        )
    if not np.all(np.isfinite(array)):
        raise ModelError(f"{who}: model output has NaN or infinite values")
    if task in ("binary", "multiclass") and (array.min() < 0.0 or array.max() > 1.0):
        raise ModelError(
            f"{who}: {task} scores must be probabilities in [0, 1], got "
            f"[{array.min():.3g}, {array.max():.3g}]; return probabilities, not logits or labels"
        )
    return array


def _shape_fits(array: np.ndarray, task: str) -> bool:
    if task == "multiclass":
        return array.ndim == 2 and array.shape[1] >= 2
    return array.ndim == 1
