"""validate.rest_store against a real ``mlflow server`` on 127.0.0.1: a run that finds its
experiment on a plain-HTTP server records through the REST API without importing MLflow,
and MLflow reads back the same content as from a run its own client recorded."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from mlflow import MlflowClient

sys.path.insert(0, str(Path(__file__).parent))
from mlflow_server import MlflowServer  # noqa: E402
from test_recorded_content import (  # noqa: E402
    CONFIG,
    GOLDEN,
    assert_matches,
    content_of,
    run_info,
    scored_tables,
    validate_run,
)

from validate.recorder import MlflowRecorder, RecordingFailed  # noqa: E402
from validate.rest_store import RestStore, ServerUnavailable  # noqa: E402
from validate.tracking import failure_kind  # noqa: E402


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    running = MlflowServer(tmp_path_factory.mktemp("rest-store-server")).start()
    try:
        yield running
    finally:
        running.stop()


def test_a_run_on_a_server_records_what_mlflow_records(server, tmp_path):
    scored_tables(tmp_path)
    config = CONFIG.replace("sqlite:///mlflow.db", server.url)
    (tmp_path / "validation.yaml").write_text(config, encoding="utf-8")
    first, first_imports = validate_run(tmp_path)  # creates the experiment: MLflow
    second, second_imports = validate_run(tmp_path)
    assert "mlflow" in first_imports
    assert not {m for m in second_imports if m.split(".")[0] in ("mlflow", "requests")}
    client = MlflowClient(tracking_uri=server.url)
    # The golden content, but for the config's hash (this config names the server).
    expected = json.loads(GOLDEN.read_text(encoding="utf-8"))
    mlflow_wrote = content_of(client, first)
    for part, key in (("params", "config_hash"), ("tags", "validate.config_hash")):
        expected["validation"][part][key] = mlflow_wrote["validation"][part][key]
    for run_id in (first, second):
        assert_matches(content_of(client, run_id), expected)
    assert run_info(client, second) == run_info(client, first)
    report = json.loads(
        Path(client.download_artifacts(second, "validation_report.json", str(tmp_path))).read_text()
    )
    assert report["mlflow"]["run_id"] == second and report["decision"] == "pass"


def test_direct_writes_refuse_and_fail_as_mlflow_does(server):
    client = MlflowClient(tracking_uri=server.url)
    client.create_experiment("rest-edges")
    store = RestStore.open(server.url, "rest-edges")
    assert store is not None
    run_id = store.create_run(run_name="r", tags={"a": "1"})
    store.log_batch(run_id, metrics=[("m", 0.5, 1)], params={"p": "x"}, tags={"a": "2"})
    store.log_text(run_id, "hello", "dir/f.txt")
    store.set_terminated(run_id, "FAILED")
    run = client.get_run(run_id)
    assert run.info.status == "FAILED" and run.data.metrics == {"m": 0.5}
    assert run.data.params == {"p": "x"} and run.data.tags["a"] == "2"
    assert [a.path for a in client.list_artifacts(run_id, "dir")] == ["dir/f.txt"]
    recorder = MlflowRecorder(tracking_uri=server.url, experiment="rest-edges", native=store)
    with pytest.raises(RecordingFailed) as refused:  # a name MLflow refuses: exit 3
        recorder.start(run_name="r", params={"bad!key": 1}, tags={})
    assert "refused" in str(refused.value) and recorder.failure is None


@pytest.mark.parametrize(
    "setting",
    [
        ("MLFLOW_TRACKING_TOKEN", "t"),
        ("MLFLOW_TRACKING_USERNAME", "u"),
        ("MLFLOW_TRACKING_INSECURE_TLS", "true"),
        ("MLFLOW_TRACKING_AUTH", "x"),
    ],
)
def test_credentials_and_tls_settings_leave_it_to_mlflow(server, monkeypatch, setting):
    MlflowClient(tracking_uri=server.url).get_experiment_by_name("Default")
    monkeypatch.setenv(*setting)
    assert RestStore.open(server.url, "Default") is None


def test_a_netrc_leaves_it_to_mlflow(server, monkeypatch, tmp_path):
    """requests (MLflow's client) sends a .netrc's credentials; this store would not."""
    assert RestStore.open(server.url, "Default") is not None
    (tmp_path / ".netrc").write_text("machine 127.0.0.1 login u password p\n")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert RestStore.open(server.url, "Default") is None


def test_what_it_does_not_handle_goes_to_mlflow(server):
    host = server.url.removeprefix("http://")
    assert RestStore.open(server.url, "no such experiment") is None
    assert RestStore.open(f"https://{host}", "Default") is None
    assert RestStore.open(f"http://user:pw@{host}", "Default") is None
    assert RestStore.open("http://127.0.0.1:9", "Default") is None  # nothing listens


def test_a_server_that_goes_away_is_an_outage(tmp_path):
    server = MlflowServer(tmp_path / "short-lived").start()
    try:
        store = RestStore.open(server.url, "Default", timeout=5)
        assert store is not None
        run_id = store.create_run(run_name="r", tags={})
    finally:
        server.stop()
    with pytest.raises(ServerUnavailable) as gone:
        store.set_terminated(run_id, "FINISHED")
    assert failure_kind(gone.value) == "outage"
