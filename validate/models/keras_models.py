"""Keras (.keras/.h5) files and TensorFlow SavedModel folders. TensorFlow is imported only here."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator
from typing import Any

import numpy as np

from validate.errors import ModelError
from validate.models.adapter import tf_env_defaults


def feature_matrix(frame: Any) -> np.ndarray:
    """Keras models here take one float32 matrix of the features in config order."""
    try:
        return frame.to_numpy(dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise ModelError(
            "Keras/SavedModel models take numeric features; encode categorical columns "
            f"upstream or drop them from data.features ({exc})"
        ) from exc


class KerasScorer:
    def __init__(self, model: Any) -> None:
        self.model = model

    def predict_scores(self, frame: Any) -> np.ndarray:
        return np.asarray(self.model.predict(feature_matrix(frame), verbose=0))


class SignatureScorer:
    """A plain SavedModel: call its serving signature with the feature matrix."""

    def __init__(self, signature: Any) -> None:
        self.signature = signature

    def predict_scores(self, frame: Any) -> np.ndarray:
        import tensorflow as tf

        _, kwargs = self.signature.structured_input_signature
        (input_name,) = kwargs
        outputs = self.signature(**{input_name: tf.constant(feature_matrix(frame))})
        (output,) = outputs.values() if len(outputs) == 1 else (outputs[sorted(outputs)[0]],)
        return output.numpy()


@contextlib.contextmanager
def quiet_native_stderr() -> Iterator[None]:
    """Hold back what TensorFlow's C++ side prints while it starts (absl ignores
    TF_CPP_MIN_LOG_LEVEL before its logger is initialised), so users keep one clean
    line on stderr. Set VALIDATE_TF_VERBOSE=1 to see it."""
    if os.environ.get("VALIDATE_TF_VERBOSE") == "1":
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)


def load_tensorflow_model(path: str, *, kind: str, who: str) -> Any:
    """Load a Keras file or SavedModel with TF_USE_LEGACY_KERAS=1 (tf-keras)."""
    tf_env_defaults()
    with quiet_native_stderr():
        return _load(path, kind=kind, who=who)


def _load(path: str, *, kind: str, who: str) -> Any:
    try:
        import tensorflow as tf
        import tf_keras
    except ImportError as exc:
        raise ModelError(
            f"{who}: {path} needs TensorFlow; install the extra: pip install 'validate-gate[tf]' "
            "(from a clone of validate: pip install '.[tf]')"
        ) from exc
    try:
        if kind == "keras":
            return KerasScorer(tf_keras.models.load_model(path, compile=False))
        if os.path.isfile(os.path.join(path, "keras_metadata.pb")):
            return KerasScorer(tf_keras.models.load_model(path, compile=False))
        # A plain SavedModel (tf.saved_model.save): call its serving signature.
        loaded = tf.saved_model.load(path)
        signature = loaded.signatures.get("serving_default")
        if signature is None:
            raise ModelError(f"{who}: {path}: SavedModel has no serving_default signature")
        if len(signature.structured_input_signature[1]) != 1:
            raise ModelError(f"{who}: {path}: serving_default must take exactly one input tensor")
        return SignatureScorer(signature)
    except ModelError:
        raise
    except Exception as exc:  # noqa: BLE001 - corrupt or incompatible model files
        first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"{who}: cannot load {path}: {first}") from exc
