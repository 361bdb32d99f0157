"""Property-based fuzzing of config loading: whatever the file holds, loading it (and
building the checks it names) either succeeds or raises ConfigError, never anything else."""

from __future__ import annotations

import contextlib
import copy
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from validate.config import load_config
from validate.errors import ConfigError
from validate.registry import select_checks

VALID: dict[str, Any] = {
    "version": 1,
    "model": {"candidate": "model", "baseline": "models:/credit@champion"},
    "data": {
        "eval": "eval.parquet",
        "reference": "train.parquet",
        "target": "label",
        "features": ["x1", "x2"],
        "task": "binary",
        "threshold": 0.5,
    },
    "checks": {
        "accuracy": {
            "thresholds": {"roc_auc": {"min": 0.8}},
            "vs_baseline": {"roc_auc": {"max_drop": 0.01}},
        },
        "bias": {
            "sensitive_features": ["group"],
            "thresholds": {"demographic_parity_difference": {"max": 0.1, "judge": "upper_ci"}},
        },
        "mindiff": {"sensitive_feature": "group", "thresholds": {"mmd": {"max": 0.05}}},
        "drift": {"thresholds": {"share_drifted_features": {"max": 0.3}}},
        "latency": {"batch_sizes": [1, 64], "thresholds": {"p95_ms": {"max": 25}}},
    },
    "executor": "local",
    "mlflow": {"experiment": "x"},
    "promote": {"model": "credit", "alias": "champion"},
}

KEYS = st.sampled_from(
    [
        "version",
        "model",
        "data",
        "checks",
        "thresholds",
        "min",
        "max",
        "judge",
        "blocking",
        "batch_sizes",
        "sensitive_features",
        "task",
        "features",
        "accuracy",
        "bias",
        "drift",
        "latency",
        "mindiff",
        "roc_auc",
        "p95_ms",
        "iterations",
        "device",
        "vs_baseline",
        "max_drop",
        "eval",
        "target",
        "candidate",
        "executor",
        "seed",
        "x",
    ]
) | st.text(max_size=12)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**20), max_value=10**20)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=4),
    max_leaves=12,
)


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    found = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*prefix, key))
    return found


PATHS = _paths(VALID)


def _load_and_build(tmp: Path, text: str) -> None:
    path = tmp / "validation.yaml"
    path.write_text(text, encoding="utf-8")
    try:
        loaded = load_config(path)
        select_checks(loaded.config.checks, task=loaded.config.data.task)
    except ConfigError as exc:
        assert str(exc).strip() and "\n" not in str(exc).strip()


FUZZ = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@FUZZ
@given(path=st.sampled_from(PATHS), value=VALUES, extra_key=st.none() | KEYS)
def test_one_field_replaced_by_anything(tmp_path, path, value, extra_key):
    config = copy.deepcopy(VALID)
    node = config
    for key in path[:-1]:
        node = node[key]
    if extra_key is not None and isinstance(node.get(path[-1]), dict):
        node[path[-1]][extra_key] = value  # an added (maybe unknown) key
    else:
        node[path[-1]] = value
    _load_and_build(tmp_path, yaml.safe_dump(config))


@FUZZ
@given(document=VALUES)
def test_any_document(tmp_path, document):
    _load_and_build(tmp_path, yaml.safe_dump(document))


@FUZZ
@given(text=st.text(max_size=200))
def test_any_text(tmp_path, text):
    _load_and_build(tmp_path, text)


@FUZZ
@given(data=st.binary(max_size=200))
def test_any_bytes(tmp_path, data):
    path = tmp_path / "validation.yaml"
    path.write_bytes(data)
    with contextlib.suppress(ConfigError):
        load_config(path)


def test_recursive_yaml_alias_is_a_config_error(tmp_path):
    _load_and_build(tmp_path, "version: 1\nchecks: &a {accuracy: *a}\ndata: {eval: e, target: y}\n")
