"""validate.sqlite_store creates a new tracking store, and a new experiment, as MLflow
would (issue 16): the same schema, rows and artifact folders, read back by MLflow; and
leaves creation to MLflow wherever that is not certain.

To accept a new MLflow's schema (after checking what its new migrations do):
VALIDATE_UPDATE_GOLDEN=1 pytest tests/test_store_creation.py, and review the diff of
validate/store_schema.py.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from pathlib import Path

import pytest
from mlflow import MlflowClient

from validate import sqlite_store, store_schema
from validate.sqlite_store import SqliteStore, StoreRefused

SCHEMA_MODULE = Path(store_schema.__file__)
# The generated module keeps its docstring (this file's rewrite changes only the schema).
MODULE_HEAD = f'"""{store_schema.__doc__}"""\n# ruff: noqa: E501\n'


def mlflow_store(folder: Path, *experiments: str) -> Path:
    """A store MLflow creates in ``folder`` (its working directory, which MLflow's
    default artifact root follows), with ``experiments`` created through MLflow."""
    cwd = Path.cwd()
    folder.mkdir(parents=True, exist_ok=True)
    os.chdir(folder)
    try:
        # An absolute URI: MLflow keeps one store per URI in a process.
        client = MlflowClient(tracking_uri=f"sqlite:///{folder.absolute() / 'mlflow.db'}")
        client.search_experiments()  # creates the store
        for name in experiments:
            client.create_experiment(name)
    finally:
        os.chdir(cwd)
    return folder / "mlflow.db"


def _literal(value: object) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, int | float):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def schema_module_text(database: Path) -> str:
    """validate/store_schema.py as generated from ``database``: sqlite_master's statements
    in creation order, then every table's rows except experiments (the default
    experiment's folder depends on the working directory: it is added apart)."""
    with sqlite3.connect(database) as db:
        (head,) = db.execute("SELECT version_num FROM alembic_version").fetchone()
        statements = [
            sql
            for (sql,) in db.execute(
                "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY rowid"
            )
        ]
        tables = db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name != 'experiments' "
            "ORDER BY rowid"
        ).fetchall()
        for (table,) in tables:
            for row in db.execute(f'SELECT * FROM "{table}" ORDER BY rowid'):
                values = ",".join(_literal(value) for value in row)
                statements.append(f'INSERT INTO "{table}" VALUES({values})')
    lines = [MODULE_HEAD, f"MIGRATION_HEAD = {json.dumps(head)}", "STATEMENTS = ("]
    lines += [f"    {json.dumps(statement)}," for statement in statements]
    return "\n".join([*lines, ")", ""])


def schema_of(database: Path) -> list[tuple]:
    """sqlite_master, in an order and spelling that do not depend on the order MLflow's
    migrations happened to create things in (it varies from one new store to the next:
    indexes, and a table's constraints, come out in different orders)."""
    with sqlite3.connect(database) as db:
        query = "SELECT type, name, tbl_name, sql FROM sqlite_master"
        return sorted((*entry[:3], _canonical(entry[3])) for entry in db.execute(query))


def _canonical(sql: str | None) -> object:
    """A CREATE TABLE as its sorted definitions (columns, constraints); else as is."""
    if sql is None or not sql.startswith("CREATE TABLE"):
        return sql
    head, _, body = sql.partition("(")
    parts, depth, current = [], 0, ""
    for char in body.rstrip()[:-1]:  # without the closing parenthesis
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            parts.append(current.strip())
            current = ""
        else:
            current += char
    return head.strip(), tuple(sorted([*parts, current.strip()]))


def rows_of(database: Path, table: str) -> list[tuple]:
    with sqlite3.connect(database) as db:
        return db.execute(f'SELECT * FROM "{table}" ORDER BY rowid').fetchall()


def experiments_of(database: Path, folder: Path) -> list[tuple]:
    """Experiments without their times, the folder they live under spelled ``ROOT``."""
    with sqlite3.connect(database) as db:
        rows = db.execute(
            "SELECT experiment_id, name, artifact_location, lifecycle_stage, workspace, "
            "creation_time = last_update_time FROM experiments ORDER BY experiment_id"
        ).fetchall()
    return [(i, n, loc.replace(folder.as_posix(), "ROOT"), *rest) for i, n, loc, *rest in rows]


def test_the_shipped_schema_is_the_one_mlflows_migrations_create(tmp_path):
    made = mlflow_store(tmp_path)
    if os.environ.get("VALIDATE_UPDATE_GOLDEN"):
        SCHEMA_MODULE.write_text(schema_module_text(made), encoding="utf-8")
    shipped = tmp_path / "shipped.db"
    with contextlib.closing(sqlite3.connect(shipped)) as db:
        db.executescript(";\n".join(store_schema.STATEMENTS) + ";")
    assert schema_of(shipped) == schema_of(made), (
        "MLflow's migrations now create another schema: review it, then run "
        "VALIDATE_UPDATE_GOLDEN=1 pytest tests/test_store_creation.py"
    )
    for table in ("alembic_version", "workspaces"):
        assert rows_of(shipped, table) == rows_of(made, table)
    assert sqlite_store._installed_migration_head() == store_schema.MIGRATION_HEAD


@pytest.mark.parametrize("folder_name", ["plain", "a b@c+d=ü,~!'$&()"])
def test_a_new_store_is_the_store_mlflow_creates(tmp_path, monkeypatch, folder_name):
    theirs_folder, ours_folder = tmp_path / "theirs" / folder_name, tmp_path / "ours" / folder_name
    theirs_folder.mkdir(parents=True)
    ours_folder.mkdir(parents=True)
    theirs = mlflow_store(theirs_folder, "team/model@v2")
    monkeypatch.chdir(ours_folder)
    ours = Path("mlflow.db")
    store = SqliteStore.open(ours, "team/model@v2")
    assert store is not None
    assert not ours.exists()  # nothing is created before the first write
    run_id = store.create_run(run_name="r", tags={})
    store.log_text(run_id, "x", "f.txt")
    store.set_terminated(run_id, "FINISHED")
    store.close()
    assert schema_of(ours) == schema_of(theirs)
    for table in ("alembic_version", "workspaces", "experiment_tags"):
        assert rows_of(ours, table) == rows_of(theirs, table), table
    assert experiments_of(ours, ours_folder) == experiments_of(theirs, theirs_folder)
    assert ours.stat().st_mode == theirs.stat().st_mode
    assert [p.name for p in ours_folder.iterdir() if p.name.startswith(".")] == []  # no leftovers
    # MLflow reads the store without migrating it, and writes into it as into its own.
    before = schema_of(ours)
    client = MlflowClient(tracking_uri=f"sqlite:///{ours.absolute()}")
    experiment = client.get_experiment_by_name("team/model@v2")
    assert experiment.artifact_location == f"{ours_folder.absolute().as_posix()}/mlruns/1"
    assert client.get_run(run_id).info.status == "FINISHED"
    assert [a.path for a in client.list_artifacts(run_id)] == ["f.txt"]
    client.set_terminated(client.create_run(experiment.experiment_id).info.run_id)
    assert client.create_experiment("next") == "2"
    assert schema_of(ours) == before


def test_an_experiment_is_created_in_a_store_as_mlflow_creates_it(tmp_path, monkeypatch):
    database = mlflow_store(tmp_path, "first")
    monkeypatch.chdir(tmp_path)
    store = SqliteStore.open(database, "second")
    assert store is not None and store.experiment_id == ""
    assert [row[1] for row in experiments_of(database, tmp_path)] == ["Default", "first"]
    run_id = store.create_run(run_name="r", tags={})
    assert store.experiment_id == "2"
    client = MlflowClient(tracking_uri=f"sqlite:///{database}")
    client.create_experiment("third")
    rows = experiments_of(database, tmp_path)
    assert rows[2] == (2, "second", "ROOT/mlruns/2", "active", "default", 1)
    assert rows[3] == (3, "third", "ROOT/mlruns/3", "active", "default", 1)
    assert client.get_run(run_id).info.experiment_id == "2"
    again = SqliteStore.open(database, "second")  # found now, not created twice
    assert again is not None and again.experiment_id == "2"


def test_a_failed_first_write_creates_no_experiment(tmp_path, monkeypatch):
    database = mlflow_store(tmp_path)
    monkeypatch.chdir(tmp_path)
    store = SqliteStore.open(database, "e")
    with pytest.raises(StoreRefused), store.together():
        run_id = store.create_run(run_name="r", tags={})
        store.log_batch(run_id, params={"bad!": "x"})
    assert [row[1] for row in experiments_of(database, tmp_path)] == ["Default"]


@pytest.mark.parametrize(
    "change",
    [
        "another MLflow",
        "artifact root set for MLflow",
        "writes through MLflow asked for",
        "percent in the working directory",
        "question mark in the working directory",
        "semicolon in the working directory",
        "no-break space in the working directory",
        "empty experiment name",
        "experiment name too long",
        "no parent folder",
        "an empty file",
        "deleted experiment of that name",
    ],
)
def test_mlflow_creates_where_creating_directly_is_not_certain(tmp_path, monkeypatch, change):
    folder, database, experiment = tmp_path, tmp_path / "mlflow.db", "e"
    if change == "another MLflow":
        monkeypatch.setattr(sqlite_store, "_installed_migration_head", lambda: "0123abcd")
    elif change == "artifact root set for MLflow":
        monkeypatch.setenv("_MLFLOW_SERVER_ARTIFACT_ROOT", "s3://bucket/x")
    elif change == "writes through MLflow asked for":
        monkeypatch.setenv(sqlite_store.THROUGH_MLFLOW_ENV, "1")
    elif change.endswith("in the working directory"):
        marks = {"percent": "%20", "question": "?", "semicolon": ";", "no-break": "\xa0"}
        mark = marks[change.split()[0]]
        folder = tmp_path / f"a{mark}b"
        folder.mkdir()
    elif change == "empty experiment name":
        experiment = ""
    elif change == "experiment name too long":
        experiment = "x" * 501
    elif change == "no parent folder":
        database = tmp_path / "missing" / "mlflow.db"
    elif change == "an empty file":
        database.touch()
    elif change == "deleted experiment of that name":
        mlflow_store(tmp_path, "e")
        with sqlite3.connect(database) as db:
            db.execute("UPDATE experiments SET lifecycle_stage = 'deleted' WHERE name = 'e'")
    monkeypatch.chdir(folder)
    assert SqliteStore.open(database, experiment) is None


def test_a_store_made_meanwhile_is_written_into_not_replaced(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    store = SqliteStore.open(tmp_path / "mlflow.db", "e")
    assert store is not None
    mlflow_store(tmp_path, "other")  # another process creates it before our first write
    default_before = rows_of(tmp_path / "mlflow.db", "experiments")[0]
    run_id = store.create_run(run_name="r", tags={})
    rows = rows_of(tmp_path / "mlflow.db", "experiments")
    assert rows[0] == default_before and [row[1] for row in rows] == ["Default", "other", "e"]
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    assert client.get_run(run_id).info.run_name == "r"


def test_a_store_made_meanwhile_with_an_unknown_schema_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    store = SqliteStore.open(tmp_path / "mlflow.db", "e")
    assert store is not None
    mlflow_store(tmp_path)
    with sqlite3.connect(tmp_path / "mlflow.db") as db:
        db.execute("UPDATE alembic_version SET version_num = 'future'")
    with pytest.raises(StoreRefused, match="another program created"):
        store.create_run(run_name="r", tags={})
    assert rows_of(tmp_path / "mlflow.db", "alembic_version") == [("future",)]
    assert rows_of(tmp_path / "mlflow.db", "runs") == []


def test_without_hard_links_the_store_is_copied_into_place(tmp_path, monkeypatch):
    """FAT, many SMB and FUSE mounts refuse os.link: the store is created exclusively
    and copied in, and a store that appeared meanwhile is still never replaced."""

    def no_links(source, destination):
        raise PermissionError(1, "Operation not permitted", source)

    monkeypatch.setattr(sqlite_store.os, "link", no_links)
    monkeypatch.chdir(tmp_path)
    store = SqliteStore.open(tmp_path / "mlflow.db", "e")
    store.create_run(run_name="r", tags={})
    assert schema_of(tmp_path / "mlflow.db") == schema_of(mlflow_store(tmp_path / "m"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m", "mlflow.db"]
    later = SqliteStore.open(tmp_path / "other.db", "e")
    (tmp_path / "other.db").write_bytes(b"someone else's")
    with pytest.raises(sqlite3.DatabaseError):
        later.create_run(run_name="r", tags={})
    assert (tmp_path / "other.db").read_bytes() == b"someone else's"


def test_stores_left_half_made_by_killed_runs_are_removed_once_old(tmp_path, monkeypatch):
    old, recent = tmp_path / ".mlflow.db.creating-old", tmp_path / ".mlflow.db.creating-new"
    for path in (old, recent):
        path.write_bytes(b"x" * 1000)
    os.utime(old, (0, 0))
    monkeypatch.chdir(tmp_path)
    SqliteStore.open(tmp_path / "mlflow.db", "e").create_run(run_name="r", tags={})
    assert not old.exists() and recent.exists()  # a recent one may be another run's
