"""Keras files, SavedModels, ONNX files and PyTorch programs registered as MLflow pyfunc
models that return scores."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

import mlflow.pyfunc
from mlflow.pyfunc import PythonModel

from validate.models.adapter import NATIVE_KINDS, ModelRef, load_native


class TensorFlowScores(PythonModel):
    """pyfunc wrapper: loads the model file artifact (Keras, SavedModel, ONNX, PyTorch
    program), predicts scores. The name stays for the versions already registered with it."""

    def __init__(self, kind: str, output: str | None = None, activation: str = "none") -> None:
        self.kind = kind
        self._scorer: Any = None
        if output is not None or activation != "none":
            # Only when set: a Keras wrapper pickles as it always did, so promotion still
            # recognises the versions it registered before (promotion._wrapper_matcher).
            self.output = output
            self.activation = activation

    def load_context(self, context: Any) -> None:
        if self.kind in NATIVE_KINDS:
            self._scorer = load_native(
                context.artifacts["model"],
                kind=self.kind,
                who="registered model",
                output=getattr(self, "output", None),
                activation=getattr(self, "activation", "none"),
            )
            return
        from validate.models.keras_models import load_tensorflow_model

        self._scorer = load_tensorflow_model(
            context.artifacts["model"], kind=self.kind, who="registered model"
        )

    @property
    def scorer(self) -> Any:
        """The loaded model file's scorer (latency times it directly)."""
        return self._scorer

    def predict(self, context, model_input, params=None):
        # No type hints here on purpose: MLflow turns hints into a schema it then enforces.
        return self._scorer.predict_scores(model_input)


def save_tensorflow_pyfunc(
    ref: ModelRef, destination: Path, features: tuple[str, ...] | None = None
) -> None:
    """Write an MLflow model folder at ``destination`` that wraps ``ref``'s file."""
    with warnings.catch_warnings():
        # MLflow warns that python_model objects are cloudpickled; ours is a tiny known class.
        warnings.simplefilter("ignore")
        mlflow_logger = logging.getLogger("mlflow")
        level = mlflow_logger.level
        mlflow_logger.setLevel(logging.ERROR)
        try:
            mlflow.pyfunc.save_model(
                path=str(destination),
                python_model=TensorFlowScores(ref.kind, ref.output, ref.activation),
                artifacts={"model": ref.location},
                # Keras models take a bare matrix: remember which columns, in which order,
                # so a later validation scores this version with its own inputs.
                metadata={"validate_features": list(features)} if features else None,
            )
        finally:
            mlflow_logger.setLevel(level)
