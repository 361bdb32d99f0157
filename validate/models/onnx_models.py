"""ONNX models (a ``.onnx`` file, or a folder holding one) scored with ONNX Runtime.

onnxruntime is imported only here, when such a model is loaded. Loading an ONNX file
runs no code from it (a protobuf graph of standard operators), so it gets no
untrusted-code notice.

Inputs: a model with one rank-2 input takes the feature columns as one matrix (the
model's declared inputs are data.features); a model with several inputs, or named
rank-1 inputs, takes the eval columns of the same names (what skl2onnx makes from a
DataFrame). Outputs: ``model.output.name`` picks one; otherwise the one probability
output of a scikit-learn converter (``probabilities`` / ``output_probability``, ZipMap
or not), else the only float output. ``model.output.activation`` turns logits into
probabilities.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from validate.errors import ModelError
from validate.models.native import activate, check_width, feature_matrix

# skl2onnx names its probability output one of these (with and without ZipMap).
PROBABILITY_NAMES = ("probabilities", "output_probability")
# Rows per ORT call when scoring a whole eval set: bounded memory, few calls.
SCORING_ROWS = 65_536

_DTYPES = {
    "tensor(float)": np.float32,
    "tensor(double)": np.float64,
    "tensor(float16)": np.float16,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
    "tensor(bool)": np.bool_,
    "tensor(string)": np.object_,
}


def onnx_file(path: Path) -> Path | None:
    """The model file a location names: the ``.onnx`` file itself, or the one ``.onnx``
    file in a folder (external tensor data lives beside it); None when there is none."""
    if path.is_file():
        return path if path.suffix.lower() == ".onnx" else None
    found = sorted(p for p in path.glob("*.onnx") if p.is_file()) if path.is_dir() else []
    return found[0] if len(found) == 1 else None


class OnnxScorer:
    """An ONNX Runtime session (one per device, made on first use) and how frames map to
    its inputs and its outputs to scores."""

    def __init__(self, path: str, *, who: str, output: str | None, activation: str) -> None:
        self.path = path
        self.who = who
        self.activation = activation
        self._sessions: dict[str, Any] = {}
        session = self.session("cpu")
        inputs = session.get_inputs()
        if not inputs:
            raise ModelError(f"{who}: {path}: the ONNX graph declares no inputs")
        self.inputs = [(i.name, list(i.shape), _dtype(i.type, who, i.name)) for i in inputs]
        self.matrix = len(inputs) == 1 and len(inputs[0].shape) == 2
        for name, shape, _ in self.inputs:
            _check_tabular(name, shape, matrix=self.matrix, who=who, path=path)
        # Several inputs (or a lone rank-1 one) are columns of the same names.
        self.input_columns = None if self.matrix else tuple(name for name, _, _ in self.inputs)
        self.input_source = "the ONNX graph's input names"
        self.output = _pick_output(session.get_outputs(), output, who, path)

    def session(self, device: str, gpu_index: int = 0) -> Any:
        """The inference session for ``device`` (cpu or gpu), made once."""
        key = f"{device}:{gpu_index}"
        if key not in self._sessions:
            self._sessions[key] = _session(self.path, device, gpu_index, self.who)
        return self._sessions[key]

    def feeds(self, frame: Any) -> dict[str, np.ndarray]:
        """The input arrays for ``frame`` (already cut to this model's columns)."""
        if self.matrix:
            name, shape, dtype = self.inputs[0]
            check_width(self.who, shape[1], frame.shape[1], "data.features")
            return {name: feature_matrix(frame, dtype, self.who)}
        feeds = {}
        for name, shape, dtype in self.inputs:
            column = frame[name].to_numpy()
            column = column.astype(str) if dtype is np.object_ else column.astype(dtype)
            feeds[name] = column.reshape(-1, 1) if len(shape) == 2 else column
        return feeds

    def run(self, session: Any, feeds: dict[str, np.ndarray]) -> Any:
        """One call; returns the chosen output as ONNX Runtime hands it back (host data)."""
        return session.run([self.output], feeds)[0]

    def to_scores(self, raw: Any) -> np.ndarray:
        """The chosen output as numbers, activation applied."""
        if isinstance(raw, list) and raw and isinstance(raw[0], dict):
            # ZipMap: one {class: probability} per row; columns in class order.
            keys = sorted(raw[0])
            raw = np.array([[row[k] for k in keys] for row in raw], dtype=np.float64)
        return activate(np.asarray(raw), self.activation)

    def predict_scores(self, frame: Any) -> np.ndarray:
        session = self.session("cpu")
        parts = [
            self.to_scores(self.run(session, self.feeds(frame.iloc[start : start + SCORING_ROWS])))
            for start in range(0, max(len(frame), 1), SCORING_ROWS)
        ]
        return np.concatenate(parts) if len(parts) > 1 else parts[0]


def load_onnx_model(path: str, *, who: str, output: str | None, activation: str) -> OnnxScorer:
    """Open ``path`` (a .onnx file or a folder holding one) with ONNX Runtime."""
    file = onnx_file(Path(path))
    if file is None:
        raise ModelError(f"{who}: {path}: no single .onnx file there")
    return OnnxScorer(str(file), who=who, output=output, activation=activation)


def cuda_provider_missing() -> str | None:
    """Why ONNX Runtime cannot run on a GPU here (None when its CUDA provider is built in)."""
    import onnxruntime as ort

    if "CUDAExecutionProvider" in ort.get_available_providers():
        return None
    return (
        f"onnxruntime {ort.__version__} has no CUDAExecutionProvider (the CPU wheel); "
        "install onnxruntime-gpu instead of onnxruntime"
    )


def _session(path: str, device: str, gpu_index: int, who: str) -> Any:
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise ModelError(
            f"{who}: {path} needs ONNX Runtime; install the extra: pip install "
            "'validate-gate[onnx]' (from a clone of validate: pip install '.[onnx]')"
        ) from exc
    options = ort.SessionOptions()
    # Fatal only: ONNX Runtime writes its warnings and errors to stderr itself, which would
    # break the one-line rule; a failure still raises, and becomes that one line.
    options.log_severity_level = 4
    providers: list[Any] = ["CPUExecutionProvider"]
    if device == "gpu":
        providers = [("CUDAExecutionProvider", {"device_id": gpu_index}), "CPUExecutionProvider"]
    try:
        session = ort.InferenceSession(path, sess_options=options, providers=providers)
    except Exception as exc:  # noqa: BLE001 - corrupt, truncated or unsupported graphs
        text = " ".join(str(exc).split())[:300] or type(exc).__name__
        raise ModelError(f"{who}: cannot load {path} with ONNX Runtime: {text}") from exc
    if device == "gpu" and session.get_providers()[0] != "CUDAExecutionProvider":
        # ONNX Runtime falls back to the CPU quietly; timing that as GPU would be false.
        raise ModelError(
            f"{who}: ONNX Runtime could not start its CUDA provider for {path} "
            f"(it offered {', '.join(session.get_providers())}); check CUDA and cuDNN"
        )
    return session


def _check_tabular(name: str, shape: list[Any], *, matrix: bool, who: str, path: str) -> None:
    """Tables fit two layouts: one (rows, features) matrix, or one (rows,) or (rows, 1)
    input per column; the row dimension must be free (any batch size)."""
    if matrix:
        fits = len(shape) == 2
    else:
        width = shape[1] if len(shape) == 2 else 1
        fits = len(shape) in (1, 2) and (width == 1 or not isinstance(width, int))
    if not fits:
        raise ModelError(
            f"{who}: {path}: ONNX input '{name}' has shape {shape}; validate feeds tables: one "
            "(rows, features) input, or one (rows,) or (rows, 1) input per column"
        )
    if isinstance(shape[0], int):
        raise ModelError(
            f"{who}: {path}: ONNX input '{name}' takes exactly {shape[0]} rows; export the "
            "model with a free batch dimension (None or a name) so any number of rows fits"
        )


def _dtype(onnx_type: str, who: str, name: str) -> Any:
    if onnx_type not in _DTYPES:
        raise ModelError(
            f"{who}: ONNX input '{name}' has type {onnx_type}; validate feeds "
            f"{', '.join(_DTYPES)} inputs built from eval columns"
        )
    return _DTYPES[onnx_type]


def _pick_output(outputs: list[Any], wanted: str | None, who: str, path: str) -> str:
    names = [o.name for o in outputs]
    if wanted is not None:
        if wanted not in names:
            raise ModelError(
                f"{who}: model.output.name '{wanted}' is not an output of {path}; "
                f"its outputs: {', '.join(names)}"
            )
        return wanted
    for name in PROBABILITY_NAMES:
        if name in names:
            return name
    numeric = [o.name for o in outputs if o.type in ("tensor(float)", "tensor(double)")]
    if len(numeric) == 1:
        return numeric[0]
    raise ModelError(
        f"{who}: {path} has outputs {', '.join(names)} and none is clearly the score; "
        "set model.output.name (and model.output.activation for logits)"
    )
