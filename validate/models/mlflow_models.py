"""MLflow models (registry URIs, run URIs, local folders) as scorers."""

from __future__ import annotations

import contextlib
import io
from typing import Any

import numpy as np

from validate.errors import ModelError


class _ProbaScorer:
    """scikit-learn classifiers: pyfunc's predict gives labels, so ask for probabilities."""

    input_source = "scikit-learn's feature_names_in_"

    def __init__(self, estimator: Any) -> None:
        self.estimator = estimator
        names = getattr(estimator, "feature_names_in_", None)
        self.input_columns = None if names is None else tuple(str(n) for n in names)

    def predict_scores(self, frame: Any) -> np.ndarray:
        return self.estimator.predict_proba(frame)


class _PyfuncScorer:
    def __init__(self, model: Any) -> None:
        self.model = model
        self.input_columns, self.input_source = _signature_columns(model)

    def predict_scores(self, frame: Any) -> Any:
        return self.model.predict(frame)


def load_mlflow_model(location: str, *, task: str, who: str) -> Any:
    """Load with the flavour that yields scores: sklearn's predict_proba, else pyfunc."""
    import mlflow.models
    import mlflow.pyfunc

    try:
        flavors = mlflow.models.get_model_info(location).flavors
        if "sklearn" in flavors and task in ("binary", "multiclass"):
            import mlflow.sklearn

            estimator = mlflow.sklearn.load_model(location)
            if hasattr(estimator, "predict_proba"):
                return _ProbaScorer(estimator)
        # Defining our PythonModel wrapper (no type hints, on purpose) makes MLflow warn, and
        # MLflow resets the warning filters while it does; import it here with the warning
        # text swallowed, before unpickling a registered Keras candidate needs it.
        with contextlib.redirect_stderr(io.StringIO()):
            import validate.models.pyfunc_wrapper  # noqa: F401
        return _PyfuncScorer(mlflow.pyfunc.load_model(location))
    except Exception as exc:  # noqa: BLE001 - any load failure means an unusable model
        message = " ".join((getattr(exc, "message", None) or str(exc)).split())[:300]
        raise ModelError(f"{who}: cannot load the MLflow model: {message}") from exc


def _signature_columns(model: Any) -> tuple[tuple[str, ...] | None, str | None]:
    """Column names the model declares, and where it declares them: the features recorded
    when validate registered it, else its input signature when that has named columns.

    A model whose metadata cannot be read fails to load (``load_mlflow_model`` names it)
    rather than quietly taking data.features.
    """
    recorded = (model.metadata.metadata or {}).get("validate_features")
    if recorded:
        return tuple(str(n) for n in recorded), "the features recorded when it was registered"
    schema = model.metadata.get_input_schema()
    if schema is not None and schema.has_input_names():
        names = schema.input_names()
        if names:
            return tuple(str(n) for n in names), "its MLflow signature"
    return None, None
