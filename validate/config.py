"""validation.yaml: load, validate at the boundary, and report errors by their YAML path."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from validate.errors import ConfigError
from validate.kubernetes_settings import KubernetesSection

Task = Literal["binary", "multiclass", "regression"]
TASKS: tuple[str, ...] = ("binary", "multiclass", "regression")

# Locations on a server or store, readable from any machine (a Kubernetes pod included).
REMOTE_URI_PREFIXES = (
    "models:/",
    "runs:/",
    "mlflow-artifacts:/",
    "s3://",
    "gs://",
    "http://",
    "https://",
    "dbfs:/",
)
# URIs that are handed to MLflow (or a remote store) as they are, never joined to the config dir.
_URI_PREFIXES = (*REMOTE_URI_PREFIXES, "file:/")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ModelSection(_Section):
    candidate: str | None = Field(
        default=None,
        description="MLflow URI, MLflow model folder, .keras file or SavedModel folder.",
    )
    baseline: str | None = Field(
        default=None, description="Champion to compare against (optional)."
    )


class DataSection(_Section):
    eval: str = Field(description="Evaluation data: a parquet or CSV file.")
    reference: str | None = Field(default=None, description="Drift reference data (optional).")
    train: str | None = Field(default=None, description="Training data, for MinDiff remediation.")
    target: str = Field(description="Label column.")
    features: list[str] | None = Field(
        default=None,
        description="Model inputs in order; default: every column but the target and predictions.",
    )
    task: Task = "binary"
    prediction: str | None = Field(
        default=None, description="Column of precomputed candidate scores."
    )
    baseline_prediction: str | None = Field(
        default=None, description="Column of precomputed champion scores."
    )
    threshold: float = Field(
        default=0.5, gt=0.0, lt=1.0, description="Decision threshold (binary)."
    )

    @field_validator("features")
    @classmethod
    def _unique_features(cls, value: list[str] | None) -> list[str] | None:
        if value is not None:
            if not value:
                raise ValueError("features is empty; list the model inputs or leave it out")
            duplicated = sorted({f for f in value if value.count(f) > 1})
            if duplicated:
                raise ValueError(f"features names {', '.join(duplicated)} more than once")
        return value


class MlflowSection(_Section):
    tracking_uri: str | None = Field(
        default=None, description="Default: $MLFLOW_TRACKING_URI, else sqlite:///mlflow.db."
    )
    experiment: str = "validate"


class PromoteSection(_Section):
    model: str | None = Field(
        default=None, description="Registered model name; default: the baseline's model name."
    )
    alias: str = "champion"
    enabled: bool = Field(default=True, description="Promote on pass without --promote.")


class Config(_Section):
    """The whole validation.yaml, validated."""

    version: Literal[1] = 1
    model: ModelSection = Field(default_factory=ModelSection)
    data: DataSection
    checks: dict[str, dict[str, Any] | None] = Field(
        description="Check id → its settings; every check also takes `blocking: false`."
    )
    executor: Literal["local", "kubernetes"] = "local"
    kubernetes: KubernetesSection | None = Field(
        default=None, description="Where check Jobs run (executor: kubernetes)."
    )
    mlflow: MlflowSection = Field(default_factory=MlflowSection)
    promote: PromoteSection | None = None
    seed: int = 0

    @model_validator(mode="after")
    def _consistent(self) -> Config:
        if not self.checks:
            raise ValueError(
                "checks is empty; list at least one check (see `validate checks list`)"
            )
        if self.model.candidate is None and self.data.prediction is None:
            raise ValueError(
                "model.candidate is missing; give a model URI or path, or data.prediction"
            )
        return self


class LoadedConfig(BaseModel):
    """A validated config plus where it came from (relative paths resolve against its folder)."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    config: Config
    path: Path
    digest: str

    def resolve(self, location: str | None) -> str | None:
        """Resolve a file location relative to the config's folder; URIs pass through."""
        if location is None:
            return None
        if location.startswith(_URI_PREFIXES):
            return location
        expanded = Path(os.path.expanduser(location))
        if not expanded.is_absolute():
            expanded = self.path.parent / expanded
        return str(expanded.resolve())


def load_config(path: str | os.PathLike[str]) -> LoadedConfig:
    """Read and validate a validation.yaml.

    Raises
    ------
    ConfigError
        With one line naming the file, the YAML path and how to fix it.
    """
    config_path = Path(path)
    if not config_path.is_file():
        raise ConfigError(
            f"{config_path}: config file not found; pass -c PATH to a validation.yaml"
        )
    try:
        raw = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError(f"{config_path}:{where}: {problem}; fix the YAML syntax") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{config_path}: cannot read the config ({exc})") from exc
    return parse_config(raw, source=config_path)


def parse_config(raw: Any, *, source: Path) -> LoadedConfig:
    """Validate an already parsed YAML document."""
    if not isinstance(raw, dict):
        raise ConfigError(
            f"{source}: expected a mapping with version, model, data and checks; "
            f"got {type(raw).__name__}"
        )
    try:
        config = Config.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"{source}: {describe_validation_error(exc, Config)}") from exc
    canonical = json.dumps(config.model_dump(mode="json"), sort_keys=True)
    digest = hashlib.sha256(canonical.encode()).hexdigest()
    return LoadedConfig(config=config, path=source.resolve(), digest=digest)


def describe_validation_error(
    exc: ValidationError, model: type[BaseModel], prefix: str = ""
) -> str:
    """Turn pydantic's report into one line: ``checks.accuracy.thresholds.roc_auc: …``."""
    errors = exc.errors(include_url=False)
    first = errors[0]
    location = ".".join(str(part) for part in (prefix, *first["loc"]) if part != "")
    message = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        valid = _valid_keys(model, first["loc"][:-1])
        message = f"unknown key '{first['loc'][-1]}'"
        if valid:
            message += f"; valid keys: {', '.join(valid)}"
        location = location.rsplit(".", 1)[0] if "." in location else "(top level)"
    elif first["type"] == "missing":
        message = "required but missing"
    suffix = (
        f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})"
        if len(errors) > 1
        else ""
    )
    return f"{location or '(top level)'}: {message}{suffix}"


def _valid_keys(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """Walk the model along ``loc`` to list the keys allowed at that place."""
    current: Any = model
    for part in loc:
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return []
        field = current.model_fields.get(str(part))
        if field is None:
            return []
        current = _model_in(field.annotation)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return []


def _model_in(annotation: Any) -> Any:
    """The BaseModel inside ``X | None`` or ``X`` (enough for our config shapes)."""
    for candidate in (annotation, *getattr(annotation, "__args__", ())):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return annotation


def json_schema() -> dict[str, Any]:
    """JSON Schema of validation.yaml, for editor completion."""
    schema = Config.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "validate: validation.yaml"
    return schema
