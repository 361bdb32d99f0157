"""Metric keys made from column and group names are keys MLflow accepts (a name holding
``/../`` made every run exit 3: MLflow refuses path-like keys)."""

from __future__ import annotations

import pytest
from mlflow import MlflowClient
from mlflow.entities import Metric

from validate.recorder import _metric_key

NAMES = ["a/../b", "a/./b", "/a", "a//b", "..", "a/..", "…/../@x", "race/ethnicity/x"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    client = MlflowClient(f"sqlite:///{tmp_path_factory.mktemp('keys')}/keys.db")
    return client, client.create_run(client.create_experiment("keys")).info.run_id


@pytest.mark.parametrize("name", NAMES)
def test_mlflow_accepts_the_key(run, name):
    client, run_id = run
    key = _metric_key(f"bias/{name}/demographic_parity_difference")
    client.log_batch(run_id, metrics=[Metric(key, 0.1, 0, 0)])
    assert client.get_run(run_id).data.metrics[key] == 0.1


def test_ordinary_keys_are_unchanged():
    for key in ("roc_auc.ci_high", "sex/demographic_parity_difference", "assertion.f1.min.passed"):
        assert _metric_key(key) == key
