"""Models as timed calls: one batch in, the result on the host out, on a chosen device.

What is timed is the serving path of each kind of model:

* Keras files and SavedModels: a compiled call of the model (``tf.function``) under
  TensorFlow's device placement. The input is handed over as a host tensor and the
  result is copied back with ``.numpy()``, so the host→device transfer, the kernels
  and the device→host copy (which waits for the device) are all inside the clock.
* MLflow models: ``pyfunc.predict`` on a DataFrame, as ``mlflow models serve`` runs
  them; the model places itself. Our own pyfunc wrapper around a Keras model is
  unwrapped and timed like the Keras file, so that a Keras candidate and its
  registered champion are compared model to model, not pyfunc overhead to model.
  When that wrapper's TensorFlow model cannot be reached, pyfunc is timed instead and
  :func:`tensorflow_fallback` says why (the latency check turns it into a warning).
* ONNX models: ``InferenceSession.run`` on host arrays, on the CPU provider or the CUDA
  provider (``device: gpu``). ``run`` returns host arrays, so on a GPU the copy in, the
  kernels and the copy back (which waits for the device) are inside the clock.
* PyTorch programs (``.pt2``, TorchScript): the forward pass under
  ``torch.inference_mode()``; on a GPU the host batch is copied to the device, and
  ``torch.cuda.synchronize()`` and the copy back are inside the clock.

A promoted ONNX or PyTorch model (our pyfunc wrapper around the file) is unwrapped and
timed the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from validate.errors import ModelError
from validate.models.adapter import FILE_KINDS

if TYPE_CHECKING:
    import pandas as pd

    from validate.models.adapter import ModelRef


@dataclass(frozen=True)
class Placement:
    """Where timed calls run: ``device`` is cpu or gpu; ``tf_device`` is the TensorFlow
    device string for TensorFlow models (None: TensorFlow is not involved)."""

    device: str
    tf_device: str | None
    gpu_index: int | None = None


def runs_on_tensorflow(ref: ModelRef) -> bool:
    """Whether the timed call of ``ref`` is a TensorFlow call we place ourselves."""
    return runtime_of(ref) == "tensorflow"


def runtime_of(ref: ModelRef) -> str | None:
    """``tensorflow``, ``onnxruntime`` or ``torch`` for a model we time natively (file kinds,
    and our pyfunc wrapper around one); None for models timed through pyfunc."""
    scorer = _tensorflow_scorer(ref)[0]
    if scorer is None:
        return None
    from validate.models.keras_models import KerasScorer, SignatureScorer

    if isinstance(scorer, (KerasScorer, SignatureScorer)):
        return "tensorflow"
    from validate.models.onnx_models import OnnxScorer

    return "onnxruntime" if isinstance(scorer, OnnxScorer) else "torch"


def gpu_unusable(ref: ModelRef) -> str | None:
    """Why ``ref``'s runtime cannot run on a GPU here, for runtimes that need more than a
    driver (the ONNX Runtime CUDA provider, a CUDA build of torch); None otherwise."""
    runtime = runtime_of(ref)
    if runtime == "onnxruntime":
        from validate.models.onnx_models import cuda_provider_missing

        return cuda_provider_missing()
    if runtime == "torch":
        from validate.models.torch_models import cuda_missing

        return cuda_missing()
    return None


def tensorflow_fallback(ref: ModelRef) -> str | None:
    """Why ``ref``, an MLflow model wrapping a Keras file or SavedModel, is timed through
    MLflow pyfunc rather than through TensorFlow; None when it is not such a model or
    its TensorFlow path is used."""
    return _tensorflow_scorer(ref)[1]


def timed_call(
    ref: ModelRef, batch: pd.DataFrame, features: tuple[str, ...], placement: Placement
) -> Callable[[], Any]:
    """A zero-argument function that scores ``batch`` once and returns host data.

    Everything that does not depend on the call (column selection, the float matrix)
    is prepared here, outside the clock.
    """
    inputs = ref.model_inputs(batch, features)
    scorer, _ = _tensorflow_scorer(ref)
    runtime = runtime_of(ref) if scorer is not None else None
    if runtime == "onnxruntime":
        return _onnx_call(scorer, inputs, placement)
    if runtime == "torch":
        return _torch_call(scorer, inputs, placement)
    if scorer is not None:
        return _tensorflow_call(scorer, inputs, placement.tf_device or "/CPU:0")
    if ref.kind == "mlflow":
        model = _pyfunc_model(ref)
        return lambda: np.asarray(model.predict(inputs))
    raise ModelError(
        f"model.{ref.role} ({ref.uri}): a model of kind '{ref.kind}' cannot be timed; "
        "latency needs a model file or an MLflow model, not precomputed scores"
    )


def _onnx_call(scorer: Any, inputs: pd.DataFrame, placement: Placement) -> Callable[[], Any]:
    session = scorer.session(placement.device, placement.gpu_index or 0)
    feeds = scorer.feeds(inputs)
    outputs = [scorer.output]
    # run() takes and returns host arrays: on the CUDA provider it copies in, runs and copies
    # back before returning, so the device work is inside the caller's clock.
    return lambda: session.run(outputs, feeds)


def _torch_call(scorer: Any, inputs: pd.DataFrame, placement: Placement) -> Callable[[], Any]:
    import torch

    host = torch.from_numpy(scorer.matrix(inputs))
    if placement.device == "gpu":
        device = f"cuda:{placement.gpu_index or 0}"
        module = scorer.module(device)

        def call_cuda() -> Any:
            with torch.inference_mode():
                output = scorer.select(module(host.to(device)))
                # Kernels run asynchronously: wait for them inside the clock.
                torch.cuda.synchronize(device)
                return output.to("cpu")

        return call_cuda
    module = scorer.module("cpu")

    def call_cpu() -> Any:
        with torch.inference_mode():
            return scorer.select(module(host))

    return call_cpu


def _tensorflow_call(scorer: Any, inputs: pd.DataFrame, device: str) -> Callable[[], Any]:
    import tensorflow as tf

    from validate.models.keras_models import KerasScorer, feature_matrix

    matrix = feature_matrix(inputs)
    if isinstance(scorer, KerasScorer):
        compiled = tf.function(lambda tensor: scorer.model(tensor, training=False))

        def call() -> Any:
            with tf.device(device):
                output = compiled(tf.constant(matrix))
            return output.numpy()

        return call

    (input_name,) = scorer.signature.structured_input_signature[1]

    def call_signature() -> Any:
        with tf.device(device):
            outputs = scorer.signature(**{input_name: tf.constant(matrix)})
        return [value.numpy() for value in outputs.values()]

    return call_signature


def _tensorflow_scorer(ref: ModelRef) -> tuple[Any, str | None]:
    """The loaded Keras/SavedModel scorer behind ``ref`` (None for other models), and why
    a model wrapped by our pyfunc wrapper has none we can time (None when it has one)."""
    if ref.kind in FILE_KINDS:
        return ref.scorer(), None
    if ref.kind != "mlflow":
        return None, None
    model = getattr(ref.scorer(), "model", None)
    unwrap = getattr(model, "unwrap_python_model", None)
    if unwrap is None:
        return None, None
    from mlflow.exceptions import MlflowException

    from validate.models.pyfunc_wrapper import TensorFlowScores

    try:
        wrapped = unwrap()
    except MlflowException:  # not a Python model: pyfunc of another flavour, served as such
        return None, None
    if not isinstance(wrapped, TensorFlowScores):
        return None, None  # somebody else's Python model: pyfunc is its serving path
    try:
        scorer = wrapped.scorer
    except Exception as exc:  # noqa: BLE001 - said in the result, then pyfunc is timed
        text = " ".join(str(exc).split())[:200]
        return None, f"reading its TensorFlow model failed: {type(exc).__name__}: {text}"
    if scorer is None:
        return None, (
            f"its wrapper ({type(wrapped).__name__}) holds no loaded TensorFlow model where "
            "validate's TensorFlowScores keeps it"
        )
    return scorer, None


def _pyfunc_model(ref: ModelRef) -> Any:
    """The pyfunc model MLflow would serve (for scikit-learn classifiers the scorer holds
    the estimator for ``predict_proba``; serving goes through pyfunc's ``predict``)."""
    loaded = getattr(ref.scorer(), "model", None)
    if loaded is not None and hasattr(loaded, "predict"):
        return loaded
    import mlflow.pyfunc

    try:
        return mlflow.pyfunc.load_model(ref.location)
    except Exception as exc:  # noqa: BLE001 - a model that loads for scoring but not pyfunc
        raise ModelError(
            f"model.{ref.role} ({ref.uri}): cannot load it as MLflow serves it (pyfunc): {exc}"
        ) from exc
