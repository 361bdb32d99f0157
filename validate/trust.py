"""Models run code when they load (pickle, MLflow pyfunc, Keras layers, TorchScript and
torch.export archives): say so when one comes from outside the repository being validated
and outside the MLflow registry. ONNX files hold a graph of standard operators and run
none, so they get no notice."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from validate.models.adapter import MLFLOW_URI_PREFIXES, ModelRef

LOADABLE_KINDS = ("mlflow", "keras", "savedmodel", "torch_export", "torchscript")


def foreign_model_notices(models: Iterable[ModelRef | None], root: Path) -> list[str]:
    """One line per local model file or folder outside ``root`` (the config's repository,
    or its folder when it is in none)."""
    notices = []
    for ref in models:
        if ref is None or ref.kind not in LOADABLE_KINDS:
            continue
        if ref.location.startswith(MLFLOW_URI_PREFIXES):
            continue  # from the registry or a run: provenance MLflow records
        if Path(ref.location).resolve().is_relative_to(root):
            continue
        notices.append(
            f"model.{ref.role} {ref.location} is outside this repository ({root}) and the "
            "MLflow registry; loading a model runs its code (pickle, pyfunc, Keras layers, "
            "TorchScript): "
            "validate only models you trust (see SECURITY.md)"
        )
    return notices
