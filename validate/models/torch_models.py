"""PyTorch programs: ``torch.export`` archives (``.pt2``) and TorchScript files.

torch is imported only here, when such a model is loaded. Both kinds run code from the
file when they load (TorchScript compiles the archive's code; a ``.pt2`` archive may hold
pickled constants), so both get the untrusted-code notice. A pickled ``nn.Module``
(``torch.save(model)``) is refused without being unpickled: it carries no program, only
a reference to Python classes that must be importable, and unpickling it runs its code.

The model takes the feature columns as one matrix of its parameters' floating type and
is scored with ``torch.inference_mode()`` in batches of :data:`SCORING_ROWS` rows, so
memory stays bounded on any eval size.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from validate.errors import ModelError
from validate.models.native import activate, check_width, feature_matrix

TORCHSCRIPT_SUFFIXES = (".pt", ".pth", ".torchscript")
SCORING_ROWS = 8_192


def torch_kind(path: Path, who: str) -> str | None:
    """``torch_export`` or ``torchscript`` for a PyTorch file, None for other files.

    Raises
    ------
    ModelError
        For a pickled module (``torch.save``) or a file that is no PyTorch archive.
    """
    suffix = path.suffix.lower()
    if suffix == ".pt2":
        return "torch_export"
    if suffix not in TORCHSCRIPT_SUFFIXES:
        return None
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise ModelError(
            f"{who}: {path}: not a TorchScript archive ({exc}); save the model with "
            "torch.jit.save(torch.jit.script(model), PATH) or torch.export.save (.pt2)"
        ) from exc
    if any("/code/" in name for name in names):
        return "torchscript"
    raise ModelError(
        f"{who}: {path}: a pickled PyTorch module (torch.save) is not loaded (unpickling runs "
        "its code and it holds no program); export it: torch.export.save(torch.export.export("
        "model, (example,), dynamic_shapes=...), 'model.pt2') or torch.jit.save("
        "torch.jit.script(model), 'model.pt')"
    )


class TorchScorer:
    """A loaded PyTorch program, moved to a device on first use there."""

    input_columns = None  # takes data.features as one matrix

    def __init__(
        self, path: str, *, kind: str, who: str, output: str | None, activation: str
    ) -> None:
        self.path, self.kind, self.who = path, kind, who
        self.output, self.activation = output, activation
        self._program: Any = None
        self._modules: dict[str, Any] = {}
        module = self.module("cpu")
        self.dtype, self.width = _input_type(module, self._program)

    def module(self, device: str) -> Any:
        """The callable module on ``device`` (``cpu`` or ``cuda:N``), loaded once."""
        if device not in self._modules:
            self._modules[device] = self._load(device)
        return self._modules[device]

    def _load(self, device: str) -> Any:
        import torch

        try:
            if self.kind == "torchscript":
                return torch.jit.load(self.path, map_location=device).eval()
            if self._program is None:
                self._program = _quiet_export_load(self.path)
            program = self._program
            if device != "cpu":
                from torch.export.passes import move_to_device_pass

                program = move_to_device_pass(program, device)
            return program.module()
        except Exception as exc:  # noqa: BLE001 - corrupt or incompatible archives
            text = " ".join(str(exc).split())[:300] or type(exc).__name__
            raise ModelError(f"{self.who}: cannot load {self.path} with torch: {text}") from exc

    def matrix(self, frame: Any) -> np.ndarray:
        check_width(self.who, self.width, frame.shape[1], "data.features")
        return feature_matrix(frame, self.dtype, self.who)

    def select(self, output: Any) -> Any:
        """The score tensor in what the module returned (a tensor, tuple or dict)."""
        if isinstance(output, dict):
            if self.output is not None and self.output in output:
                return output[self.output]
            if self.output is None and len(output) == 1:
                return next(iter(output.values()))
            raise ModelError(
                f"{self.who}: the module returns outputs {', '.join(map(str, output))}; "
                "set model.output.name to the one holding the scores"
            )
        if isinstance(output, (tuple, list)):
            if self.output is not None and self.output.isdigit() and int(self.output) < len(output):
                return output[int(self.output)]
            if self.output is None and len(output) == 1:
                return output[0]
            raise ModelError(
                f"{self.who}: the module returns {len(output)} outputs; set model.output.name "
                "to the index (0, 1, …) of the one holding the scores"
            )
        return output

    def to_scores(self, tensor: Any) -> np.ndarray:
        return activate(tensor.detach().to("cpu").double().numpy(), self.activation)

    def predict_scores(self, frame: Any) -> np.ndarray:
        import torch

        matrix = self.matrix(frame)
        module = self.module("cpu")
        parts = []
        with torch.inference_mode():
            for start in range(0, max(len(matrix), 1), SCORING_ROWS):
                chunk = torch.from_numpy(matrix[start : start + SCORING_ROWS])
                parts.append(self.to_scores(self.select(module(chunk))))
        return np.concatenate(parts) if len(parts) > 1 else parts[0]


def load_torch_model(
    path: str, *, kind: str, who: str, output: str | None, activation: str
) -> TorchScorer:
    """Load a ``.pt2`` or TorchScript file on the CPU."""
    try:
        import torch  # noqa: F401
    except ImportError as exc:
        raise ModelError(
            f"{who}: {path} needs PyTorch; install it: pip install 'validate-gate[torch]' "
            "(from a clone of validate: pip install '.[torch]')"
        ) from exc
    return TorchScorer(path, kind=kind, who=who, output=output, activation=activation)


def _quiet_export_load(path: str) -> Any:
    """``torch.export.load``, without the traceback it logs before re-raising a failure
    (the caller turns the failure into one line)."""
    import logging

    import torch

    logger = logging.getLogger("torch.export")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        return torch.export.load(path)
    finally:
        logger.setLevel(level)


def cuda_missing() -> str | None:
    """Why torch cannot run on a GPU here (None when it can)."""
    import torch

    if torch.cuda.is_available():
        return None
    build = torch.version.cuda
    return f"torch {torch.__version__} sees no CUDA device" + (
        "" if build else " (a CPU-only build)"
    )


def _input_type(module: Any, program: Any) -> tuple[Any, int | None]:
    """The floating type the parameters use (inputs are cast to it), and the fixed input
    width when the exported program records an example input."""
    import torch

    dtype: Any = np.float32
    tensors = [*module.parameters(), *module.buffers()]
    for tensor in tensors:
        if tensor.is_floating_point():
            numpy_types = {torch.float64: np.float64, torch.float16: np.float16}
            dtype = numpy_types.get(tensor.dtype, np.float32)
            break
    width = None
    examples = getattr(program, "example_inputs", None) if program is not None else None
    if examples and examples[0]:
        first = examples[0][0]
        if isinstance(first, torch.Tensor) and first.dim() == 2:
            width = int(first.shape[1])
    return dtype, width
