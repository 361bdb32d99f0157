"""validate.sqlite_store: writes what MLflow would write, and hands back to MLflow wherever
that is not certain (issue 16). The whole-run comparison with MLflow's own writes is in
tests/test_recorded_content.py; here, each refusal and each fallback."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest
from mlflow import MlflowClient

from validate.recorder import MlflowRecorder, RecordingFailed
from validate.sqlite_store import SqliteStore, StoreRefused
from validate.tracking import failure_kind


@pytest.fixture(scope="module")
def made_by_mlflow(tmp_path_factory) -> Path:
    """A store MLflow created, with an experiment 'e' whose artifacts are local."""
    folder = tmp_path_factory.mktemp("store")
    client = MlflowClient(tracking_uri=f"sqlite:///{folder / 'mlflow.db'}")
    client.create_experiment("e", artifact_location=str(folder / "artifacts"))
    return folder / "mlflow.db"


@pytest.fixture
def database(made_by_mlflow, tmp_path) -> Path:
    copy = tmp_path / "mlflow.db"
    shutil.copyfile(made_by_mlflow, copy)
    return copy


def client_for(database: Path) -> MlflowClient:
    return MlflowClient(tracking_uri=f"sqlite:///{database}")


def test_a_run_written_directly_reads_back_through_mlflow(database, tmp_path):
    store = SqliteStore.open(database, "e")
    assert store is not None
    run_id = store.create_run(run_name="a run", tags={"k": "v"})
    store.log_batch(
        run_id,
        metrics=[("m/x", 0.5, 1000), ("m/x", 0.5, 1000), ("n", 2.0, 1000)],
        params={"p": "1"},
        tags={"k": "w"},
    )
    store.log_batch(run_id, params={"p": "1"})  # the same value again is allowed, as in MLflow
    store.set_tags(run_id, {"mlflow.runName": "renamed"})
    store.log_text(run_id, "{}", "check_result.json")
    (tmp_path / "plots").mkdir()
    (tmp_path / "plots" / "a.svg").write_text("<svg/>", encoding="utf-8")
    store.log_artifacts(run_id, str(tmp_path / "plots"))
    store.set_terminated(run_id, "FAILED")
    run = client_for(database).get_run(run_id)
    assert run.info.status == "FAILED" and run.info.run_name == "renamed"
    assert run.data.metrics == {"m/x": 0.5, "n": 2.0}
    assert run.data.params == {"p": "1"}
    assert run.data.tags["k"] == "w" and run.data.tags["mlflow.runName"] == "renamed"
    listed = {a.path for a in client_for(database).list_artifacts(run_id)}
    assert listed == {"check_result.json", "a.svg"}
    history = client_for(database).get_metric_history(run_id, "m/x")
    assert [(m.value, m.timestamp, m.step) for m in history] == [(0.5, 1000, 0)]


@pytest.mark.parametrize(
    "key",
    ["a/../b", "/abs", "bad!char", "x" * 251, "a//b", "..", "trailing/"],
)
def test_names_mlflow_refuses_are_refused(database, key):
    store = SqliteStore.open(database, "e")
    run_id = store.create_run(run_name="r", tags={})
    with pytest.raises(StoreRefused) as refused:
        store.log_batch(run_id, metrics=[(key, 1.0, 1)])
    assert failure_kind(refused.value) == "refused"
    with pytest.raises(Exception) as mlflow_refused:  # noqa: PT011 - MLflow's own error type
        client_for(database).log_metric(run_id, key, 1.0)
    assert failure_kind(mlflow_refused.value) == "refused"


def test_a_changed_param_and_a_deleted_run_are_refused(database):
    store = SqliteStore.open(database, "e")
    run_id = store.create_run(run_name="r", tags={})
    store.log_batch(run_id, params={"p": "1"})
    with pytest.raises(StoreRefused):
        store.log_batch(run_id, params={"p": "2"})
    client_for(database).delete_run(run_id)
    with pytest.raises(StoreRefused):
        store.set_terminated(run_id, "FINISHED")
    assert client_for(database).get_run(run_id).data.params == {"p": "1"}


def test_a_failed_transaction_writes_nothing(database):
    store = SqliteStore.open(database, "e")
    run_id = store.create_run(run_name="r", tags={})
    with pytest.raises(StoreRefused):
        store.log_batch(run_id, metrics=[("ok", 1.0, 1), ("bad!", 1.0, 1)], tags={"t": "x"})
    with pytest.raises(StoreRefused):
        store.log_batch(run_id, params={"p": "1"}, tags={"bad!": "x"})
    run = client_for(database).get_run(run_id)
    assert run.data.metrics == {} and run.data.params == {} and "t" not in run.data.tags


def test_a_locked_store_is_an_outage(database):
    store = SqliteStore.open(database, "e")
    run_id = store.create_run(run_name="r", tags={})
    holder = sqlite3.connect(database, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        store._connection.execute("PRAGMA busy_timeout = 100")
        with pytest.raises(sqlite3.OperationalError) as locked:
            store.set_terminated(run_id, "FINISHED")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert failure_kind(locked.value) == "outage"


def test_a_refusal_through_the_recorder_is_exit_3(database):
    """Refused, not an outage: exit 3, no "sync later"."""
    recorder = MlflowRecorder(
        tracking_uri=f"sqlite:///{database}", experiment="e", native=SqliteStore.open(database, "e")
    )
    with pytest.raises(RecordingFailed) as failed:
        recorder.start(run_name="r", params={"bad!key": 1}, tags={})
    assert failed.value.exit_code == 3 and "refused" in str(failed.value)
    assert recorder.failure is None
    # The run and its params are one transaction: no run is left without its params.
    assert client_for(database).search_runs([recorder.experiment_id]) == []


def runs_seen_by_another_connection(database: Path) -> list[str]:
    with sqlite3.connect(database) as db:
        return [row[0] for row in db.execute("SELECT name FROM runs ORDER BY name")]


def test_writes_together_are_one_transaction(database, tmp_path):
    """One commit for a nested run (the store's fsyncs are most of a small write's cost):
    nothing is visible until the block ends, and then all of it."""
    store = SqliteStore.open(database, "e")
    (tmp_path / "plots").mkdir()
    (tmp_path / "plots" / "a.svg").write_text("<svg/>", encoding="utf-8")
    with store.together():
        run_id = store.create_run(run_name="whole", tags={"k": "v"})
        store.log_batch(run_id, metrics=[("m", 1.0, 5)], params={"p": "1"})
        with store.together():  # re-entered: joins the open transaction
            store.log_text(run_id, "{}", "check_result.json")
            store.log_artifacts(run_id, str(tmp_path / "plots"))
        assert runs_seen_by_another_connection(database) == []
        store.set_terminated(run_id, "FINISHED", {"done": "yes"})
        assert runs_seen_by_another_connection(database) == []
    assert runs_seen_by_another_connection(database) == ["whole"]
    run = client_for(database).get_run(run_id)
    assert run.info.status == "FINISHED" and run.data.metrics == {"m": 1.0}
    assert run.data.params == {"p": "1"} and run.data.tags["done"] == "yes"


def test_a_failure_inside_together_writes_nothing_and_the_next_write_goes_through(database):
    store = SqliteStore.open(database, "e")
    with pytest.raises(StoreRefused), store.together():
        run_id = store.create_run(run_name="half", tags={})
        store.log_batch(run_id, metrics=[("m", 1.0, 5)])
        store.log_batch(run_id, params={"bad!": "x"})
    assert runs_seen_by_another_connection(database) == []
    with pytest.raises(KeyboardInterrupt), store.together():  # a signal mid-way
        store.create_run(run_name="interrupted", tags={})
        raise KeyboardInterrupt
    after = store.create_run(run_name="after", tags={})  # its own transaction again
    store.set_terminated(after, "KILLED")
    assert runs_seen_by_another_connection(database) == ["after"]


def set_location(database: Path, location: str) -> None:
    with sqlite3.connect(database) as db:
        db.execute("UPDATE experiments SET artifact_location = ? WHERE name = 'e'", (location,))


@pytest.mark.parametrize(
    "change",
    [
        "empty",
        "not a database",
        "deleted experiment",
        "s3 artifacts",
        "proxied artifacts",
        "relative artifacts",
        "remote file URI",
        "localhost file URI",
        "one-slash file URI",
        "unknown required column",
        "missing column",
        "another workspace",
        "workspaces enabled",
    ],
)
def test_mlflow_writes_where_direct_writes_are_not_certain(database, change, monkeypatch):
    experiment = "e"
    # A missing store or experiment is created directly: tests/test_store_creation.py.
    if change == "empty":
        database.write_bytes(b"")
    elif change == "not a database":
        database.write_bytes(b"garbage" * 100)
    elif change == "deleted experiment":
        with sqlite3.connect(database) as db:
            db.execute("UPDATE experiments SET lifecycle_stage = 'deleted' WHERE name = 'e'")
    elif change == "s3 artifacts":
        set_location(database, "s3://bucket/x")
    elif change == "proxied artifacts":
        set_location(database, "mlflow-artifacts:/1")
    elif change == "relative artifacts":
        set_location(database, "mlruns/1")
    elif change == "remote file URI":
        set_location(database, "file://otherhost/x")
    elif change == "localhost file URI":
        set_location(database, "file://localhost/x")
    elif change == "one-slash file URI":
        set_location(database, "file:/x")
    elif change == "unknown required column":
        with sqlite3.connect(database) as db:
            db.execute("ALTER TABLE runs ADD COLUMN owner VARCHAR(10) NOT NULL DEFAULT 'x'")
            db.execute("CREATE TABLE t (a)")  # an unrelated new table changes nothing
        assert SqliteStore.open(database, experiment) is not None  # defaulted: still ours
        with sqlite3.connect(database) as db:
            db.execute("ALTER TABLE metrics RENAME COLUMN is_nan TO nan_flag")
    elif change == "missing column":
        with sqlite3.connect(database) as db:
            db.execute("ALTER TABLE runs DROP COLUMN deleted_time")
    elif change == "another workspace":
        with sqlite3.connect(database) as db:
            db.execute(
                "INSERT INTO experiments (experiment_id, name, artifact_location, "
                "lifecycle_stage, workspace) VALUES (99, 'w', '/tmp/w', 'active', 'team')"
            )
    elif change == "workspaces enabled":
        monkeypatch.setenv("MLFLOW_ENABLE_WORKSPACES", "true")
    assert SqliteStore.open(database, experiment) is None


def test_a_file_uri_location_is_followed_as_mlflow_follows_it(database):
    folder = database.parent / "elsewhere dir"
    set_location(database, f"file://{folder.as_posix().replace(' ', '%20')}")
    store = SqliteStore.open(database, "e")
    run_id = store.create_run(run_name="r", tags={})
    store.log_text(run_id, "x", "f.txt")
    assert (folder / run_id / "artifacts" / "f.txt").read_text() == "x"
    theirs = client_for(database).create_run("1")
    mine = client_for(database).get_run(run_id)
    assert mine.info.artifact_uri == theirs.info.artifact_uri.replace(theirs.info.run_id, run_id)
    assert [a.path for a in client_for(database).list_artifacts(run_id)] == ["f.txt"]
