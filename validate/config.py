"""validation.yaml: load, validate at the boundary, and report errors by their YAML path."""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import UnionType
from typing import Any, Literal, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from validate import yaml_loader
from validate.config_file import read_config_text, resolve_location
from validate.engine_settings import SparkEngine
from validate.errors import ConfigError
from validate.kubernetes_settings import KubernetesSection

Task = Literal["binary", "multiclass", "regression"]
TASKS: tuple[str, ...] = ("binary", "multiclass", "regression")

# Tracking-URI schemes MLflow ships a store for (a SQLAlchemy "+driver" suffix is allowed);
# a plugin can add more under the ``mlflow.tracking_store`` entry-point group.
TRACKING_SCHEMES = (
    "file",
    "sqlite",
    "http",
    "https",
    "postgresql",
    "mysql",
    "mssql",
    "databricks",
    "databricks-uc",
)
SEED_MAX = 2**32 - 1  # NumPy seeds are 32-bit unsigned
# MLflow's own alias rules (mlflow.utils.validation): letters, digits, _ and -, at most 255
# characters; ``latest`` and ``v<digits>`` name versions, so MLflow reserves them.
_ALIAS = re.compile(r"[A-Za-z0-9_-]{1,255}")
_RESERVED_ALIAS = re.compile(r"latest|v\d+", re.IGNORECASE)
# In a registered model name these break models:/name@alias URIs or MLflow's REST paths.
_MODEL_NAME_FORBIDDEN = "/:@%"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class OutputSection(_Section):
    """Which output of an ONNX or PyTorch model holds the scores, and how to read it."""

    name: str | None = Field(
        default=None,
        description="ONNX output name, PyTorch dict key or tuple index; default: the "
        "probability output (scikit-learn converters) or the only output.",
    )
    activation: Literal["none", "sigmoid", "softmax"] = Field(
        default="none", description="Turns logits into probabilities: sigmoid or softmax."
    )


class ModelSection(_Section):
    candidate: str | None = Field(
        default=None,
        description="MLflow URI, MLflow model folder, .keras file, SavedModel folder, .onnx "
        "file, torch.export .pt2 or TorchScript file.",
    )
    baseline: str | None = Field(
        default=None, description="Champion to compare against (optional)."
    )
    output: OutputSection | None = Field(
        default=None, description="The candidate's score output (ONNX and PyTorch models)."
    )
    baseline_output: OutputSection | None = Field(
        default=None, description="The champion's score output (ONNX and PyTorch models)."
    )
    scoring_timeout_seconds: float = Field(
        default=3600.0,
        gt=0,
        allow_inf_nan=False,
        description="Loading and scoring the models must finish within this; else exit 2.",
    )


class DataSection(_Section):
    eval: str = Field(
        description=(
            "Evaluation data: a parquet or CSV file; with engine: spark, parquet files, "
            "folders, globs or object-store URIs."
        )
    )
    reference: str | None = Field(
        default=None, description="Drift reference data (optional); as eval for engine: spark."
    )
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
            duplicated = sorted(name for name, n in Counter(value).items() if n > 1)
            if duplicated:
                from validate.data import brief_list

                raise ValueError(f"features names {brief_list(duplicated)} more than once")
        return value


class MlflowSection(_Section):
    tracking_uri: str | None = Field(
        default=None, description="Default: $MLFLOW_TRACKING_URI, else sqlite:///mlflow.db."
    )
    experiment: str = "validate"
    tags: dict[str, str] = Field(
        default_factory=dict,
        description="Extra tags on the validation's MLflow run (not validate.* or mlflow.*).",
    )

    @field_validator("tags")
    @classmethod
    def _user_tags(cls, value: dict[str, str]) -> dict[str, str]:
        # validate.* tags are the run's evidence (validate.live, validate.decision_record):
        # a config that could set them could forge a promotable record.
        reserved = sorted(k for k in value if k.lower().startswith(("validate.", "mlflow.")))
        if reserved:
            raise ValueError(
                f"tag names {', '.join(reserved)} are reserved (validate.*, mlflow.*); "
                "choose another prefix"
            )
        long = sorted(k for k in value if not k or len(k) > 250)
        if long:
            raise ValueError("tag names must have 1 to 250 characters")
        return value

    @field_validator("tracking_uri")
    @classmethod
    def _known_scheme(cls, value: str | None) -> str | None:
        if value is not None:
            check_tracking_uri(value)
        return value

    @field_validator("experiment")
    @classmethod
    def _named(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("is empty; name the MLflow experiment (default: validate)")
        return value


class PromoteSection(_Section):
    model: str | None = Field(
        default=None, description="Registered model name; default: the baseline's model name."
    )
    alias: str = "champion"
    enabled: bool = Field(default=True, description="Promote on pass without --promote.")
    require_signature: bool = Field(
        default=False,
        description="Sign the decision record (VALIDATE_SIGNING_KEY) and verify it to promote.",
    )

    @field_validator("model")
    @classmethod
    def _model_name(cls, value: str | None) -> str | None:
        if value is not None:
            check_model_name(value)
        return value

    @field_validator("alias")
    @classmethod
    def _alias(cls, value: str) -> str:
        check_alias(value)
        return value


class Config(_Section):
    """The whole validation.yaml, validated."""

    version: Literal[1] = 1
    model: ModelSection = Field(default_factory=ModelSection)
    data: DataSection
    checks: dict[str, dict[str, Any] | None] = Field(
        description="Check id → its settings; every check also takes `blocking: false`."
    )
    executor: Literal["local", "kubernetes"] = "local"
    engine: Literal["local"] | SparkEngine = Field(
        default="local",
        description=(
            "Where statistics are computed: local (this process) or "
            "{kind: spark, master: ..., conf: {...}}."
        ),
    )
    kubernetes: KubernetesSection | None = Field(
        default=None, description="Where check Jobs run (executor: kubernetes)."
    )
    mlflow: MlflowSection = Field(default_factory=MlflowSection)
    promote: PromoteSection | None = None
    seed: int = 0

    @field_validator("engine", mode="before")
    @classmethod
    def _one_engine(cls, value: Any) -> Any:
        # pydantic would report both members of the union; say once what is wrong.
        shape = "write local, or {kind: spark, master: URL, conf: {spark.*: value}}"
        if isinstance(value, dict):
            if value.get("kind") != "spark":
                raise ValueError(f"unknown engine kind {value.get('kind')!r}; {shape}")
            try:
                return SparkEngine.model_validate(value)
            except ValidationError as exc:
                raise ValueError(
                    describe_validation_error(exc, SparkEngine).removeprefix("(top level): ")
                ) from None
        if value != "local":
            raise ValueError(f"unknown engine {yaml_loader.clip(str(value))!r}; {shape}")
        return value

    @field_validator("seed")
    @classmethod
    def _seed_in_range(cls, value: int) -> int:
        if not 0 <= value <= SEED_MAX:
            raise ValueError(
                f"{value} is outside 0..{SEED_MAX} (NumPy seeds are 32-bit unsigned); "
                "use a number in that range"
            )
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Config:
        if not self.checks:
            raise ValueError(
                "checks is empty; list at least one check (see `validate checks list`)"
            )
        # Whether a model is needed depends on the checks selected (a drift-only run needs
        # none): validate.inputs.require_configured_inputs asks for it, naming the checks.
        return self


class LoadedConfig(BaseModel):
    """A validated config plus where it came from (relative paths resolve against its folder)."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    config: Config
    path: Path
    digest: str

    def resolve(self, location: str | None) -> str | None:
        """Resolve a file location relative to the config's folder; URIs pass through."""
        return None if location is None else resolve_location(self.path.parent, location)


def load_config(path: str | os.PathLike[str]) -> LoadedConfig:
    """Read and validate a validation.yaml.

    The file is read with limits (:mod:`validate.yaml_loader`): at most 1 MiB, no deep
    nesting, no alias bombs, no duplicate keys.

    Raises
    ------
    ConfigError
        With one line naming the file, the YAML path and how to fix it.
    """
    config_path = Path(path)
    text = read_config_text(config_path)
    try:
        raw = yaml_loader.load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{config_path}: {_describe_yaml_error(exc)}") from exc
    return parse_config(raw, source=config_path)


def _describe_yaml_error(exc: yaml.YAMLError) -> str:
    """``line 3, column 1: duplicate key 'min' …; how to fix``: one short line."""
    mark = getattr(exc, "problem_mark", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
    problem = yaml_loader.clip(" ".join(str(getattr(exc, "problem", None) or "").split()), 160)
    if isinstance(exc, yaml_loader.YamlLimitError):
        return f"{where}{problem}"
    return f"{where}{problem or 'invalid YAML'}; fix the YAML syntax"


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
    digest = hashlib.sha256(canonical.encode()).hexdigest()  # as written: folder-independent
    folder = source.resolve().parent
    if config.mlflow.tracking_uri is not None:
        resolved = resolve_tracking_uri(config.mlflow.tracking_uri, folder)
        mlflow = config.mlflow.model_copy(update={"tracking_uri": resolved})
        config = config.model_copy(update={"mlflow": mlflow})
    return LoadedConfig(config=config, path=source.resolve(), digest=digest)


_SQLITE = re.compile(r"(sqlite(?:\+\w+)?:///)([^?]*)(\?.*)?", re.IGNORECASE | re.DOTALL)
_DRIVE = re.compile(r"[A-Za-z]:[\\/]")


def resolve_tracking_uri(uri: str, folder: Path) -> str:
    """A local tracking store named by a relative path resolves against ``folder`` (the
    config's), as every other relative path in the config does.

    ``sqlite:///mlflow.db`` becomes ``sqlite:////abs/folder/mlflow.db``; ``file:mlruns`` and
    a plain ``mlruns`` become absolute too. Absolute paths, ``sqlite:///:memory:`` and
    every server URI (http, https, postgresql, databricks, …) are returned as they are.
    ``MLFLOW_TRACKING_URI`` never comes through here: it is the user's shell's, so a
    relative path in it means the current folder, as it does for MLflow itself.
    """
    sqlite = _SQLITE.fullmatch(uri)
    if sqlite is not None:
        prefix, location, query = sqlite.group(1), sqlite.group(2), sqlite.group(3) or ""
        if not location or location == ":memory:" or _is_absolute(location):
            return uri
        return f"{prefix}{_absolute(location, folder)}{query}"
    scheme = _scheme(uri)
    if scheme == "file":
        location = uri[len("file:") :]
        if location.startswith("/"):  # file:/abs, file:///abs, file://host/…
            return uri
        return Path(_absolute(location, folder)).as_uri()
    if uri in ("databricks", "databricks-uc"):  # MLflow's words for a workspace, not folders
        return uri
    if scheme is None and not _is_absolute(os.path.expanduser(uri)):
        return _absolute(uri, folder)
    return uri


def _is_absolute(location: str) -> bool:
    return location.startswith("/") or _DRIVE.match(location) is not None


def _absolute(location: str, folder: Path) -> str:
    return os.path.normpath(folder / os.path.expanduser(location))


def sqlite_database(uri: str) -> Path | None:
    """The file a ``sqlite:///`` tracking URI names (relative: to the current folder), or
    None for any other store and for an in-memory database."""
    sqlite = _SQLITE.fullmatch(uri)
    if sqlite is None or sqlite.group(2) in ("", ":memory:"):
        return None
    return Path(sqlite.group(2)).absolute()


def describe_validation_error(
    exc: ValidationError, model: type[BaseModel], prefix: str = ""
) -> str:
    """Turn pydantic's report into one line: ``checks.accuracy.thresholds.roc_auc: …``."""
    errors = exc.errors(include_url=False)
    first = errors[0]
    parts = [yaml_loader.clip(str(part)) for part in (prefix, *first["loc"]) if part != ""]
    location = ".".join(parts)
    message = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        valid = _valid_keys(model, first["loc"][:-1])
        unknown = str(first["loc"][-1])
        message = f"unknown key '{yaml_loader.clip(unknown)}'"
        if valid:
            message += f"; valid keys: {', '.join(valid)}"
        close = difflib.get_close_matches(unknown, valid, n=1, cutoff=0.6)
        if close:
            message += f"; did you mean '{close[0]}'?"
        location = ".".join(parts[:-1]) or "(top level)"
    elif first["type"] == "missing":
        message = "required but missing"
    elif first["type"] == "finite_number":
        message = "nan and inf are not numbers a gate can compare; write a finite number"
    suffix = (
        f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})"
        if len(errors) > 1
        else ""
    )
    return f"{location or '(top level)'}: {message}{suffix}"


def _valid_keys(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """Walk the model along ``loc`` to list the keys allowed at that place.

    Mapping values (``thresholds.<metric>``) and list items (``slices.0``) are walked
    through, so a bound's keys are listed under any metric name."""
    current: Any = model
    for part in loc:
        current = _model_in(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(str(part))
            if field is None:
                return []
            current = field.annotation
        elif get_origin(current) in (dict, Mapping, list, tuple, Sequence):
            args = get_args(current)
            if not args:
                return []
            current = args[-1] if get_origin(current) in (dict, Mapping) else args[0]
        else:
            return []
    current = _model_in(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return []


def _model_in(annotation: Any) -> Any:
    """The BaseModel (or container) inside ``X | None`` or ``X`` (enough for our shapes)."""
    if get_origin(annotation) not in (Union, UnionType):
        return annotation
    members = get_args(annotation)
    for candidate in members:
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    for candidate in members:
        if get_origin(candidate) in (dict, Mapping, list, tuple, Sequence):
            return candidate
    return annotation


def check_tracking_uri(uri: str) -> None:
    """Refuse a tracking URI whose scheme MLflow has no store for (plain paths are fine).

    Only the scheme is quoted back: the rest of a URI may hold a password.
    """
    if not uri.strip():
        raise ValueError("is empty; give a URI such as sqlite:///mlflow.db or leave it out")
    scheme = _scheme(uri)
    if scheme is None or scheme.split("+", 1)[0] in TRACKING_SCHEMES:
        return
    if scheme in _plugin_tracking_schemes():
        return
    raise ValueError(
        f"scheme '{yaml_loader.clip(scheme, 30)}' is not one MLflow can track to; use "
        f"{', '.join(TRACKING_SCHEMES)}, or a folder path"
    )


def _scheme(uri: str) -> str | None:
    """The URI's scheme in lower case, or None for a plain path (``C:\\x`` included)."""
    match = re.match(r"([A-Za-z][A-Za-z0-9+.\-]*):", uri)
    if match is None or len(match.group(1)) == 1:  # no scheme, or a Windows drive letter
        return None
    return match.group(1).lower()


def _plugin_tracking_schemes() -> set[str]:
    """Schemes that installed MLflow plugins register (read only when a scheme is unknown)."""
    from importlib.metadata import entry_points

    return {entry.name.lower() for entry in entry_points(group="mlflow.tracking_store")}


def check_alias(alias: str) -> None:
    """Refuse an alias MLflow rejects or reserves (``latest``, ``v1``), before any check runs."""
    if not _ALIAS.fullmatch(alias):
        raise ValueError(
            f"'{yaml_loader.clip(alias)}' is not a valid MLflow alias; use 1 to 255 letters, "
            "digits, _ or - (for example champion)"
        )
    if _RESERVED_ALIAS.fullmatch(alias):
        raise ValueError(
            f"'{alias}' is reserved by MLflow (latest and v<number> name versions); "
            "choose another alias, for example champion"
        )


def check_model_name(name: str) -> None:
    """Refuse a registered model name that MLflow or a models:/ URI cannot carry."""
    if not name.strip() or name != name.strip():
        raise ValueError(
            "is empty or starts or ends with spaces; give the registered model's exact name"
        )
    bad = sorted({c for c in name if c in _MODEL_NAME_FORBIDDEN or not c.isprintable()})
    if bad:
        shown = ", ".join(repr(c) for c in bad[:5])
        raise ValueError(
            f"'{yaml_loader.clip(name)}' contains {shown}; registered model names cannot hold "
            f"{' '.join(_MODEL_NAME_FORBIDDEN)} or control characters: rename it"
        )
    if name == "." or name.startswith(".."):
        raise ValueError(f"'{yaml_loader.clip(name)}' is not a valid model name; rename it")


def json_schema(
    check_settings: Mapping[str, type[BaseModel] | str] | None = None,
) -> dict[str, Any]:
    """JSON Schema of validation.yaml, for editor completion.

    ``check_settings`` maps each installed check's id to its ``Settings`` model (or to
    why it could not be loaded): ``checks.<id>`` then gets that model's schema, the keys
    every check takes (``blocking``, ``timeout_seconds``) and, where a mapping's keys are
    an enum (``propertyNames``, as the built-in checks give metric names), one property
    per name so editors complete them.
    """
    schema = Config.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "validate: validation.yaml"
    if check_settings:
        properties = schema["properties"]["checks"].setdefault("properties", {})
        for name, settings in sorted(check_settings.items()):
            properties[name] = {"anyOf": [_check_schema(schema, name, settings), {"type": "null"}]}
    return schema


def _check_schema(root: dict[str, Any], name: str, settings: type[BaseModel] | str) -> Any:
    """The schema of ``checks.<name>``, its definitions moved into ``root['$defs']``."""
    from validate.registry import DEFAULT_TIMEOUT_S

    common = {
        "blocking": {
            "type": "boolean",
            "default": True,
            "description": "false: advisory; reported, never blocks promotion.",
        },
        "timeout_seconds": {
            "type": "number",
            "exclusiveMinimum": 0,
            "default": DEFAULT_TIMEOUT_S,
            "description": "Past it the check is an error (fail closed).",
        },
    }
    if isinstance(settings, str):
        return {"type": "object", "properties": common, "description": settings}
    prefix = f"check.{re.sub(r'[^A-Za-z0-9_.-]', '_', name)}."
    try:
        schema = settings.model_json_schema(ref_template=f"#/$defs/{prefix}{{model}}")
    except Exception as exc:  # noqa: BLE001 - a plugin's odd settings cost completion only
        return {"type": "object", "properties": common, "description": f"no schema: {exc}"}
    definitions = root.setdefault("$defs", {})
    for key, value in schema.pop("$defs", {}).items():
        definitions[prefix + key] = value
    for node in (schema, *definitions.values()):
        _complete_enumerated_keys(node)
    schema.setdefault("properties", {})
    for key, value in common.items():
        schema["properties"].setdefault(key, value)
    schema.setdefault("title", f"checks.{name}")
    return schema


def _complete_enumerated_keys(node: Any) -> None:
    """``{propertyNames: {enum: [a, b]}, additionalProperties: X}`` also lists ``a`` and
    ``b`` as properties: editors complete properties, not property names."""
    if isinstance(node, list):
        for item in node:
            _complete_enumerated_keys(item)
        return
    if not isinstance(node, dict):
        return
    names = (node.get("propertyNames") or {}).get("enum")
    value = node.get("additionalProperties")
    if isinstance(names, list) and isinstance(value, dict):
        node.setdefault("properties", {})
        for key in names:
            node["properties"].setdefault(key, value)
    for child in list(node.values()):
        _complete_enumerated_keys(child)
