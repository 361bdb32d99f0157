"""Attacks on validate.sqlite_store that held in a hostile review: odd names, concurrent
writers, read-only stores, deleted runs and experiments, run ids as paths."""

from __future__ import annotations

import sqlite3
import threading

import pytest
from mlflow import MlflowClient

from validate.sqlite_store import SqliteStore, StoreRefused
from validate.tracking import failure_kind

NAMES = ["a/b", "team@x", 'it\'s "q"', "x'; DROP TABLE runs;--", "名前-ü", "%_[*]?"]


@pytest.mark.parametrize("name", NAMES)
def test_odd_experiment_names(tmp_path, name):
    db = tmp_path / "mlflow.db"
    client = MlflowClient(tracking_uri=f"sqlite:///{db}")
    eid = client.create_experiment(name, artifact_location=str(tmp_path / "art"))
    client.create_experiment(name + "x", artifact_location=str(tmp_path / "other"))
    store = SqliteStore.open(db, name)
    assert store is not None and store.experiment_id == eid
    run = store.create_run(run_name=name, tags={"t": name + "\x00nul"})
    store.log_batch(run, params={"p": "v" * 6000}, tags={"big": "z" * 8000})
    store.set_terminated(run, "FINISHED")
    got = client.get_run(run)
    assert got.info.experiment_id == eid and got.data.tags["t"] == name + "\x00nul"
    assert got.data.tags["mlflow.runName"] == name == got.info.run_name


def test_concurrent_writers_on_one_store(tmp_path):
    db = tmp_path / "mlflow.db"
    client = MlflowClient(tracking_uri=f"sqlite:///{db}")
    client.create_experiment("e", artifact_location=str(tmp_path / "art"))
    errors, ids = [], []

    def work():
        try:
            store = SqliteStore.open(db, "e")
            for i in range(20):
                run = store.create_run(run_name=f"r{i}", tags={})
                store.log_batch(run, metrics=[("m", float(i), 1)], params={"p": str(i)})
                store.set_terminated(run, "FINISHED")
                ids.append(run)
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(client.search_runs(["1"], max_results=1000)) == 80


def test_read_only_store_is_an_outage(tmp_path):
    db = tmp_path / "mlflow.db"
    MlflowClient(tracking_uri=f"sqlite:///{db}").create_experiment(
        "e", artifact_location=str(tmp_path / "art")
    )
    store = SqliteStore.open(db, "e")
    store._connection = sqlite3.connect(f"file:{db}?mode=ro", uri=True, isolation_level=None)
    with pytest.raises(sqlite3.OperationalError) as exc:
        store.create_run(run_name="r", tags={})
    assert failure_kind(exc.value) == "outage"


def test_deleted_run_and_experiment_refused(tmp_path):
    db = tmp_path / "mlflow.db"
    client = MlflowClient(tracking_uri=f"sqlite:///{db}")
    eid = client.create_experiment("e", artifact_location=str(tmp_path / "art"))
    store = SqliteStore.open(db, "e")
    run = store.create_run(run_name="r", tags={})
    client.delete_experiment(eid)
    with pytest.raises(StoreRefused):
        store.create_run(run_name="r2", tags={})
    client.delete_run(run)
    with pytest.raises(StoreRefused):
        store.set_terminated(run, "FINISHED")


def test_run_id_never_a_path(tmp_path):
    db = tmp_path / "mlflow.db"
    MlflowClient(tracking_uri=f"sqlite:///{db}").create_experiment(
        "e", artifact_location=str(tmp_path / "art")
    )
    store = SqliteStore.open(db, "e")
    with pytest.raises(StoreRefused):
        store.log_text("../../x", "t", "f")
