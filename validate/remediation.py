"""``validate remediate``: retrain a Keras candidate with MinDiff, then validate before and after.

MinDiff (TensorFlow Model Remediation) adds to the training loss a penalty on the
distance between the score distributions of the sensitive group and the rest,
by default among negatively labelled examples, which narrows the false-positive-rate
gap. The remediated model is saved as ``remediated.keras`` and both models are
validated with the config's own checks, each recorded as an MLflow run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from validate.config import LoadedConfig, load_config
from validate.data import read_table
from validate.errors import ConfigError, DataError
from validate.models.adapter import resolve_model, tf_env_defaults

HEADLINE = (
    "roc_auc",
    "accuracy",
    "demographic_parity_difference",
    "equalized_odds_difference",
    "mmd",
    "absolute_correlation",
)


@dataclass(frozen=True)
class RemediationOutcome:
    model_path: Path
    before: dict[str, Any]
    after: dict[str, Any]
    sensitive_feature: str = ""
    sensitive_group: str = ""  # the group MinDiff trained against, as the check chose it

    def table(self) -> str:
        """Which group MinDiff trained against, then before/after rows for the headline
        metrics that both runs report."""
        before, after = _flat_metrics(self.before), _flat_metrics(self.after)
        header = (
            f"MinDiff trained against {self.sensitive_feature} = '{self.sensitive_group}' "
            "vs the rest (the group the mindiff check measures)\n"
            if self.sensitive_group
            else ""
        )
        rows = [("METRIC", "BEFORE", "AFTER", "CHANGE")]
        for name in HEADLINE:
            if name in before and name in after:
                rows.append(
                    (
                        name,
                        f"{before[name]:.4f}",
                        f"{after[name]:.4f}",
                        f"{after[name] - before[name]:+.4f}",
                    )
                )
        rows.append(("decision", self.before["decision"], self.after["decision"], ""))
        widths = [max(len(r[i]) for r in rows) for i in range(4)]
        return header + "\n".join(
            "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows
        )


def _flat_metrics(report: dict[str, Any]) -> dict[str, float]:
    merged: dict[str, float] = {}
    for check in report["checks"]:
        merged.update({k: v for k, v in check["metrics"].items() if v is not None})
    return merged


def remediate(config_path: str, out: str, *, jobs: int = 1) -> RemediationOutcome:
    """Retrain the Keras candidate with MinDiff and validate the original and the result."""
    loaded = load_config(config_path)
    config = loaded.config
    section = config.checks.get("mindiff")
    if section is None:
        raise ConfigError(
            "checks.mindiff: remediate needs a mindiff section "
            "(sensitive_feature, optional remediation: weight, epochs)"
        )
    from checks.mindiff import MinDiffCheck, group_labels

    check = MinDiffCheck.from_config(
        "mindiff",
        {k: v for k, v in (section or {}).items() if k != "blocking"},
        task=config.data.task,
    )
    settings: Any = check.settings
    group = chosen_group(loaded, settings)  # a config problem: say so before loading models
    location = loaded.resolve(config.model.candidate)
    if location is None or config.data.prediction:
        raise ConfigError(
            "model.candidate: remediate retrains a Keras model; precomputed "
            "scores (data.prediction) cannot be retrained"
        )
    candidate = resolve_model(location, role="candidate", task=config.data.task)
    if candidate.kind != "keras":
        raise ConfigError(
            f"model.candidate: remediate retrains Keras (.keras) models with MinDiff; "
            f"{config.model.candidate} is a {candidate.kind} model"
        )
    if not config.data.train:
        raise ConfigError("data.train: remediate retrains on the training data; set data.train")
    train = read_table(loaded.resolve(config.data.train) or "", field="data.train")
    features = config.data.features or [c for c in train.columns if c != config.data.target]
    missing = [
        c
        for c in (*features, config.data.target, settings.sensitive_feature)
        if c not in train.columns
    ]
    if missing:
        raise DataError(f"data.train: missing column(s) {', '.join(missing)}")
    if not (group_labels(train, settings.sensitive_feature) == group).any():
        raise DataError(
            f"data.train: no rows with {settings.sensitive_feature} = '{group}', the group the "
            "mindiff check compares; MinDiff cannot train against a group it has no rows of"
        )

    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    model_path = out_dir / "remediated.keras"
    tf_env_defaults()
    from validate.models.keras_models import quiet_native_stderr

    with quiet_native_stderr():
        _fit(
            candidate.location,
            train,
            features,
            config.data.target,
            settings,
            group,
            model_path,
            seed=config.seed,
        )

    from validate.runner import RunRequest, run_validation

    reports = []
    for name, model in (("before", candidate.location), ("after", str(model_path.resolve()))):
        variant = _variant_config(loaded, model, out_dir / f"validation.{name}.yaml")
        outcome = run_validation(
            RunRequest(
                config_path=str(variant), jobs=jobs, json_path=str(out_dir / f"report.{name}.json")
            )
        )
        reports.append(outcome.report)
    return RemediationOutcome(
        model_path=model_path,
        before=reports[0],
        after=reports[1],
        sensitive_feature=settings.sensitive_feature,
        sensitive_group=group,
    )


def chosen_group(loaded: LoadedConfig, settings: Any) -> str:
    """The group remediation trains against: the one the ``mindiff`` check measures.

    The check's own rule (:func:`checks.mindiff.sensitive_group`: ``sensitive_group``, else
    the rarer of exactly two values) applied to the data the check measures (``data.eval``),
    so training and measuring cannot pick different groups even when the training data's
    rarer value is another one.

    Raises
    ------
    ConfigError
        No ``sensitive_group`` and the eval column does not have exactly two values of
        unequal frequency.
    """
    from checks.mindiff import group_labels, sensitive_group

    if settings.sensitive_group is not None:
        return str(settings.sensitive_group)
    frame = read_table(loaded.resolve(loaded.config.data.eval) or "", field="data.eval")
    if settings.sensitive_feature not in frame.columns:
        raise DataError(f"data.eval: missing column {settings.sensitive_feature}")
    return sensitive_group(
        group_labels(frame, settings.sensitive_feature), settings.sensitive_feature, None
    )


def _variant_config(loaded: LoadedConfig, model: str, path: Path) -> Path:
    """The same validation with absolute paths, another candidate, and no promotion."""
    raw = loaded.config.model_dump(mode="json", exclude_none=True)
    raw["model"]["candidate"] = model
    for key in ("eval", "reference", "train"):
        if key in raw["data"]:
            raw["data"][key] = loaded.resolve(raw["data"][key])
    if "baseline" in raw["model"]:
        raw["model"]["baseline"] = loaded.resolve(raw["model"]["baseline"])
    raw.pop("promote", None)
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return path


def _fit(
    source: str,
    train: Any,
    features: list[str],
    target: str,
    settings: Any,
    group: str,
    destination: Path,
    *,
    seed: int,
) -> None:
    import tensorflow as tf
    import tf_keras
    from tensorflow_model_remediation import min_diff

    from checks.mindiff import group_labels

    tf_keras.utils.set_random_seed(seed)
    remedy = settings.remediation
    x = train[features].to_numpy(np.float32)
    y = train[target].to_numpy(np.float32)
    column = group_labels(train, settings.sensitive_feature)
    within = {"negative": y == 0, "positive": y == 1, "all": np.ones(len(y), bool)}[settings.within]
    sensitive = within & (column == group).to_numpy()
    others = within & ~(column == group).to_numpy()
    if not sensitive.any() or not others.any():
        raise DataError(
            f"data.train: no {settings.within} rows in both groups of "
            f"{settings.sensitive_feature}; MinDiff needs both"
        )

    def batches(features_only: np.ndarray) -> Any:
        dataset = tf.data.Dataset.from_tensor_slices(features_only)
        return dataset.shuffle(len(features_only), seed=seed).repeat().batch(remedy.batch_size)

    original = (
        tf.data.Dataset.from_tensor_slices((x, y))
        .shuffle(len(x), seed=seed)
        .batch(remedy.batch_size)
    )
    packed = min_diff.keras.utils.pack_min_diff_data(
        original,
        sensitive_group_dataset=batches(x[sensitive]),
        nonsensitive_group_dataset=batches(x[others]),
    )
    model = tf_keras.models.load_model(source, compile=False)
    wrapped = min_diff.keras.MinDiffModel(
        model,
        min_diff.losses.MMDLoss(kernel=settings.kernel, enable_summary_histogram=False),
        loss_weight=remedy.weight,
    )
    wrapped.compile(
        optimizer=tf_keras.optimizers.Adam(remedy.learning_rate), loss="binary_crossentropy"
    )
    wrapped.fit(packed, epochs=remedy.epochs, verbose=0)
    wrapped.original_model.save(destination)
