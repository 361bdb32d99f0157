"""Resolve a model location (MLflow URI, MLflow folder, .keras, SavedModel, ONNX, PyTorch
program) to a scorer."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from validate.errors import ModelError, RecorderError
from validate.models.scores import normalize_scores

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

MLFLOW_URI_PREFIXES = ("models:/", "runs:/", "mlflow-artifacts:/")
TENSORFLOW_KINDS = ("keras", "savedmodel")
# Scored by their own runtime (ONNX Runtime, torch), not through TensorFlow or pyfunc.
NATIVE_KINDS = ("onnx", "torch_export", "torchscript")
# Local model files that promotion registers inside validate's pyfunc wrapper.
FILE_KINDS = TENSORFLOW_KINDS + NATIVE_KINDS


@dataclass(frozen=True)
class RegistryVersion:
    """A registered model version, as it was when the validation resolved it."""

    name: str
    version: str

    @property
    def uri(self) -> str:
        return f"models:/{self.name}/{self.version}"


@dataclass(frozen=True)
class ModelRef:
    """A resolved model: where it is, what kind it is, and (lazily) how to score with it.

    Picklable, so worker processes and Jobs can receive it; the loaded model is
    cached per process and never pickled.
    """

    uri: str  # as the user wrote it
    location: str  # resolved: an absolute path, or an MLflow URI pinned to a version
    kind: str  # mlflow | keras | savedmodel | onnx | torch_export | torchscript | column
    role: str  # candidate | baseline
    task: str
    registry: RegistryVersion | None = None
    column: str | None = None
    features: tuple[str, ...] = ()  # the config's model inputs, recorded when it is registered
    output: str | None = None  # ONNX/PyTorch: which output holds the scores (model.output)
    activation: str = "none"  # ONNX/PyTorch: none | sigmoid | softmax, applied to that output
    _loaded: list[Any] = field(default_factory=list, compare=False, repr=False)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_loaded"] = []
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    def scorer(self) -> Any:
        """The loaded model (an object with ``predict_scores(frame)``), loaded once."""
        if not self._loaded:
            self._loaded.append(_load(self))
        return self._loaded[0]

    def predict(self, frame: pd.DataFrame, features: tuple[str, ...]) -> np.ndarray:
        """Scores for ``frame``, normalised to the task's shape."""
        who = f"model.{self.role} ({self.uri})"
        if self.kind == "column":
            assert self.column is not None
            raw: Any = frame[self.column].to_numpy()
        else:
            scorer = self.scorer()
            inputs = self.model_inputs(frame, features)
            try:
                raw = scorer.predict_scores(inputs)
            except ModelError:
                raise
            except Exception as exc:  # noqa: BLE001 - a model raising is a bad model, not a bug
                # TensorFlow's messages start "in user code:": keep the whole text, condensed.
                text = " ".join(str(exc).split())
                raise ModelError(
                    f"{who}: predict failed: {type(exc).__name__}: {text[:300]}; "
                    "check that data.features match the model's inputs"
                ) from exc
        return normalize_scores(raw, task=self.task, n_rows=len(frame), who=who)

    def inputs(self, features: tuple[str, ...]) -> tuple[tuple[str, ...], str]:
        """The columns this model takes, in its order, and where that list comes from.

        A model that declares its inputs (sklearn feature names, an MLflow signature, the
        features recorded when validate registered it) gets exactly those, so the
        champion may use other features than the candidate, and data.features may list
        more columns than the model takes (drift and bias watch them too). A model that
        declares none takes data.features, and the source says so.
        """
        scorer = self.scorer()
        declared = getattr(scorer, "input_columns", None)
        if not declared:
            return features, "data.features (the model declares no inputs of its own)"
        return tuple(declared), getattr(scorer, "input_source", None) or "the model"

    def model_inputs(self, frame: pd.DataFrame, features: tuple[str, ...]) -> pd.DataFrame:
        """The columns of ``frame`` this model takes, in its order (see :meth:`inputs`)."""
        columns, _ = self.inputs(features)
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise ModelError(
                f"model.{self.role} ({self.uri}): eval data lacks the model's input column(s) "
                f"{', '.join(missing)}"
            )
        return frame.loc[:, list(columns)]


def precomputed(column: str, *, role: str, task: str, uri: str | None = None) -> ModelRef:
    """Scores read from an eval column (pipelines that score upstream)."""
    return ModelRef(
        uri=uri or f"column:{column}",
        location=uri or "",
        kind="column",
        role=role,
        task=task,
        column=column,
    )


def resolve_model(location: str, *, role: str, task: str) -> ModelRef:
    """Classify ``location`` and pin registry URIs to a version, without loading the model.

    Raises
    ------
    ModelError
        When the location does not exist or is not a model this project can load.
    """
    who = f"model.{role}"
    if location.startswith(MLFLOW_URI_PREFIXES):
        registry = _pin_registry_version(location, who) if location.startswith("models:/") else None
        pinned = registry.uri if registry else location
        return ModelRef(
            uri=location, location=pinned, kind="mlflow", role=role, task=task, registry=registry
        )
    path = Path(location)
    if not path.exists():
        raise ModelError(
            f"{who}: {location}: no such file or folder; give an MLflow URI (models:/name@alias), "
            "an MLflow model folder, a .keras file, a SavedModel folder, an .onnx file, a "
            "torch.export .pt2 or a TorchScript file"
        )
    if path.is_dir() and (path / "MLmodel").is_file():
        kind = "mlflow"
    elif path.is_file() and path.suffix in (".keras", ".h5"):
        kind = "keras"
    elif path.is_dir() and (path / "saved_model.pb").is_file():
        kind = "savedmodel"
    elif path.is_file() and path.suffix.lower() in PICKLE_SUFFIXES:
        raise ModelError(bare_pickle_message(who, path))
    elif _is_onnx(path):
        kind = "onnx"
    elif path.is_file() and (found := _torch_kind(path, who)):
        kind = found
    else:
        raise ModelError(
            f"{who}: {location}: not a model this tool loads (no MLmodel file, not .keras, "
            "no saved_model.pb, not .onnx, .pt2 or TorchScript)"
        )
    return ModelRef(uri=location, location=str(path.resolve()), kind=kind, role=role, task=task)


PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib", ".sav")


def bare_pickle_message(who: str, path: Path) -> str:
    """Why a bare pickle is refused, and the one command that makes it a model we load.

    A bare pickle has no flavour, signature or recorded environment, so it could be
    scored but not registered on promotion, timed by the latency check or staged for
    Kubernetes; saved once as an MLflow model folder it is all of those, under the same
    trust notice as every other local model (SECURITY.md). Nothing is unpickled here.
    """
    source = path.resolve()
    target = source.with_name(f"{source.stem}-mlflow")
    command = (
        f"import joblib, mlflow.sklearn; "
        f"mlflow.sklearn.save_model(joblib.load({str(source)!r}), {str(target)!r})"
    )
    return (
        f"{who}: {path}: a bare pickle is not a model this tool loads (no flavour or signature, "
        "and promotion could not register it); save it once as an MLflow model folder and "
        f'set {who} to that folder: python -c "{command}" (for a scikit-learn estimator; '
        "unpickling runs the file's code, so only for files you trust: see SECURITY.md)"
    )


def _pin_registry_version(uri: str, who: str) -> RegistryVersion:
    """``models:/name@alias`` and ``models:/name/3`` become a concrete version now."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    body = uri[len("models:/") :].strip("/")
    client = MlflowClient()
    try:
        if "@" in body:
            name, alias = body.split("@", 1)
            version = client.get_model_version_by_alias(name, alias)
        elif "/" in body:
            name, number = body.rsplit("/", 1)
            if number.lower() == "latest" or not number.isdigit():
                raise ModelError(f"{who}: {uri}: pin a version number or an alias, not '{number}'")
            version = client.get_model_version(name, number)
        else:
            raise ModelError(f"{who}: {uri}: expected models:/NAME/VERSION or models:/NAME@ALIAS")
    except MlflowException as exc:
        from validate.tracking import is_unreachable

        if is_unreachable(exc):
            raise RecorderError(
                f"{who}: MLflow at {_tracking_uri()} is unreachable, so {uri} cannot be "
                "resolved; nothing was run or promoted; try again when it is back"
            ) from exc
        raise ModelError(
            f"{who}: {uri} does not resolve in the MLflow registry at "
            f"{_tracking_uri()}: {_mlflow_message(exc)}"
        ) from exc
    return RegistryVersion(name=version.name, version=str(version.version))


def _tracking_uri() -> str:
    """The tracking URI without credentials (it ends up in error messages)."""
    import mlflow

    from validate.tracking import redact_uri

    return redact_uri(mlflow.get_tracking_uri())


def _mlflow_message(exc: Exception) -> str:
    from validate.tracking import scrub_credentials

    message = getattr(exc, "message", None) or str(exc)
    return scrub_credentials(" ".join(str(message).split()))[:300]


def _is_onnx(path: Path) -> bool:
    from validate.models.onnx_models import onnx_file

    return onnx_file(path) is not None


def _torch_kind(path: Path, who: str) -> str | None:
    from validate.models.torch_models import torch_kind

    return torch_kind(path, who)


def load_native(location: str, *, kind: str, who: str, output: str | None, activation: str) -> Any:
    """An ONNX or PyTorch scorer for the file at ``location``."""
    if kind == "onnx":
        from validate.models.onnx_models import load_onnx_model

        return load_onnx_model(location, who=who, output=output, activation=activation)
    from validate.models.torch_models import load_torch_model

    return load_torch_model(location, kind=kind, who=who, output=output, activation=activation)


def _load(ref: ModelRef) -> Any:
    if ref.kind in NATIVE_KINDS:
        return load_native(
            ref.location,
            kind=ref.kind,
            who=f"model.{ref.role}",
            output=ref.output,
            activation=ref.activation,
        )
    if ref.kind == "mlflow":
        from validate.models.mlflow_models import load_mlflow_model

        return load_mlflow_model(ref.location, task=ref.task, who=f"model.{ref.role} ({ref.uri})")
    if ref.kind in ("keras", "savedmodel"):
        from validate.models.keras_models import load_tensorflow_model

        return load_tensorflow_model(ref.location, kind=ref.kind, who=f"model.{ref.role}")
    raise ModelError(f"model.{ref.role}: cannot load a model of kind '{ref.kind}'")


def tf_env_defaults() -> None:
    """TF 2.16+ ships Keras 3; tf-keras (legacy Keras 2) is what MinDiff and our models use."""
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
