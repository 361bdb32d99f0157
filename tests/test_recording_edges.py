"""Recording edge cases from a hostile review: metric keys made from column and group
names are keys MLflow accepts, and an artifact store saying it is down is an outage."""

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


class ClientError(Exception):
    """botocore's ClientError as S3 raises it (botocore is not installed here): not an
    OSError, the HTTP status in ``response["ResponseMetadata"]["HTTPStatusCode"]``."""

    def __init__(self, status: int) -> None:
        super().__init__(f"An error occurred ({status}) when calling the PutObject operation")
        self.response = {
            "Error": {"Code": str(status)},
            "ResponseMetadata": {"HTTPStatusCode": status},
        }


@pytest.mark.parametrize(("status", "kind"), [(503, "outage"), (429, "outage"), (400, "bug")])
def test_an_artifact_store_saying_it_is_down_is_an_outage(status, kind):
    from validate.tracking import failure_kind

    try:
        try:
            raise ClientError(status)
        except ClientError as inner:
            raise RuntimeError("log_artifacts failed") from inner
    except RuntimeError as exc:
        assert failure_kind(exc) == kind
