"""Recording into an MLflow sqlite tracking store without importing MLflow (issue 16).

Importing MLflow and opening its SQLAlchemy store cost about 5 s of CPU, more than the
statistics of most runs. A run that only needs to *write* its results (a parent run,
one nested run per check, params, metrics, tags, artifacts) into a store that MLflow
already created can do that with the standard library's ``sqlite3`` in milliseconds,
writing the same rows MLflow's ``SqlAlchemyStore`` writes for the same calls.

This is used only where it is certainly equivalent; :meth:`SqliteStore.open` returns
None (the caller then uses MLflow) for anything else: a file that is not there yet or
holds no store, a schema with a column this module does not fill and that has no default,
an experiment that does not exist yet, is deleted or keeps its artifacts anywhere but on
the local file system, and MLflow's multi-workspace mode. ``tests/test_sqlite_store.py``
records the same validation both ways and compares what MLflow reads back.
"""

from __future__ import annotations

import os
import posixpath
import re
import shutil
import sqlite3
import tempfile
import time
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from urllib.parse import unquote, urlsplit

# The columns each table must have for our rows to be complete, with the values MLflow's
# SqlAlchemyStore.create_run gives a run created through MlflowClient.create_run.
_REQUIRED_COLUMNS = {
    "experiments": {"experiment_id", "name", "artifact_location", "lifecycle_stage"},
    "runs": {
        "run_uuid",
        "name",
        "source_type",
        "source_name",
        "entry_point_name",
        "user_id",
        "status",
        "start_time",
        "end_time",
        "source_version",
        "lifecycle_stage",
        "artifact_uri",
        "experiment_id",
        "deleted_time",
    },
    "tags": {"key", "value", "run_uuid"},
    "params": {"key", "value", "run_uuid"},
    "metrics": {"key", "value", "timestamp", "run_uuid", "step", "is_nan"},
    "latest_metrics": {"key", "value", "timestamp", "step", "is_nan", "run_uuid"},
}
_ENV_FOR_MLFLOW = ("MLFLOW_ENABLE_WORKSPACES", "MLFLOW_WORKSPACE", "MLFLOW_WORKSPACE_STORE_URI")
_TERMINAL = ("FINISHED", "FAILED", "KILLED")
# MLflow's own rule for param, metric and tag names (mlflow.utils.validation, POSIX).
_NAME = re.compile(r"^[/\w.\- :]*$")
_MAX_KEY = 250


class StoreRefused(Exception):
    """The store's contents forbid the write, as MLflow would refuse it (a run that is no
    longer active): :func:`validate.tracking.failure_kind` calls this ``refused``."""

    validate_refusal = True


class SqliteStore:
    """Writes runs into an existing MLflow sqlite store with ``sqlite3``.

    Each method is one transaction. Errors are ``sqlite3`` errors (``OperationalError`` for
    a locked, missing or read-only database: an outage to the recorder), ``OSError`` for
    artifacts, or :class:`StoreRefused`.
    """

    def __init__(
        self, database: Path, experiment_id: str, artifact_root: Path, artifact_location: str
    ) -> None:
        self.database = database
        self.experiment_id = experiment_id
        self._artifact_root = artifact_root  # the experiment's artifact folder
        self._artifact_location = artifact_location  # as MLflow spells it (path or file URI)
        self._connection: sqlite3.Connection | None = None

    @classmethod
    def open(cls, database: Path | None, experiment: str) -> SqliteStore | None:
        """The store for ``experiment`` in ``database`` if writing it directly is certainly
        what MLflow would do; None where MLflow must do it (see the module's docstring)."""
        if database is None or any(os.environ.get(name) for name in _ENV_FOR_MLFLOW):
            return None
        try:
            if not database.is_file() or database.stat().st_size == 0:
                return None
            connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=5)
        except (OSError, sqlite3.Error):
            return None
        try:
            if not _schema_is_known(connection):
                return None
            found = _experiment(connection, experiment)
        except sqlite3.Error:
            return None  # MLflow opens it and reports what is wrong in its own words
        finally:
            connection.close()
        if found is None:
            return None
        experiment_id, location = found
        root = _local_folder(location)
        if root is None:
            return None
        return cls(database, str(experiment_id), root, location.rstrip("/"))

    # ------------------------------------------------------------------ writes

    def create_run(self, *, run_name: str, tags: Mapping[str, str]) -> str:
        """A RUNNING run with ``tags`` (plus ``mlflow.runName``), as MlflowClient.create_run."""
        run_id = uuid.uuid4().hex
        artifact_uri = f"{self._artifact_location}/{run_id}/artifacts"  # append_to_uri_path
        all_tags = dict(tags)
        all_tags.setdefault("mlflow.runName", run_name)
        _check_keys(all_tags)
        with self._transaction() as db:
            active = db.execute(
                "SELECT lifecycle_stage FROM experiments WHERE experiment_id = ?",
                (int(self.experiment_id),),
            ).fetchone()
            if active is None or active[0] != "active":
                raise StoreRefused(f"experiment {self.experiment_id} is not active")
            db.execute(
                "INSERT INTO runs (run_uuid, name, source_type, source_name, entry_point_name, "
                "user_id, status, start_time, end_time, source_version, lifecycle_stage, "
                "artifact_uri, experiment_id, deleted_time) "
                "VALUES (?, ?, 'UNKNOWN', '', '', ?, 'RUNNING', ?, NULL, '', 'active', ?, ?, NULL)",
                (
                    run_id,
                    run_name,
                    all_tags.get("mlflow.user", "unknown"),
                    _now_ms(),
                    artifact_uri,
                    int(self.experiment_id),
                ),
            )
            db.executemany(
                "INSERT INTO tags (key, value, run_uuid) VALUES (?, ?, ?)",
                [(key, value, run_id) for key, value in all_tags.items()],
            )
        return run_id

    def log_batch(
        self,
        run_id: str,
        *,
        metrics: Iterable[tuple[str, float, int]] = (),
        params: Mapping[str, str] | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> None:
        """Metrics (key, value, timestamp ms; step 0), params (never changed once logged)
        and tags (replacing a tag's old value), in one transaction."""
        metric_rows = _distinct(metrics)
        _check_keys([key for key, _, _ in metric_rows])
        _check_keys(params or {})
        _check_keys(tags or {})
        with self._transaction() as db:
            self._require_active(db, run_id)
            for key, value in (params or {}).items():
                old = db.execute(
                    "SELECT value FROM params WHERE run_uuid = ? AND key = ?", (run_id, key)
                ).fetchone()
                if old is not None and old[0] != value:
                    raise StoreRefused(f"param {key} of run {run_id} was logged already")
                if old is None:
                    db.execute(
                        "INSERT INTO params (key, value, run_uuid) VALUES (?, ?, ?)",
                        (key, value, run_id),
                    )
            db.executemany(
                "INSERT OR IGNORE INTO metrics (key, value, timestamp, run_uuid, step, is_nan) "
                "VALUES (?, ?, ?, ?, 0, 0)",
                [(name, number, stamp, run_id) for name, number, stamp in metric_rows],
            )
            for name, number, stamp in metric_rows:
                _update_latest(db, run_id, name, number, stamp)
            self._set_tags(db, run_id, tags or {})

    def set_tags(self, run_id: str, tags: Mapping[str, str]) -> None:
        _check_keys(tags)
        with self._transaction() as db:
            self._require_active(db, run_id)
            self._set_tags(db, run_id, tags)

    def set_terminated(self, run_id: str, status: str) -> None:
        """Close a run (``FINISHED``, ``FAILED`` or ``KILLED``) now."""
        if status not in _TERMINAL:
            raise ValueError(f"not a terminal run status: {status}")
        with self._transaction() as db:
            self._require_active(db, run_id)
            db.execute(
                "UPDATE runs SET status = ?, end_time = ? WHERE run_uuid = ?",
                (status, _now_ms(), run_id),
            )

    def log_text(self, run_id: str, text: str, artifact_file: str) -> None:
        """Write ``text`` as the run's artifact ``artifact_file`` (atomically)."""
        destination = self._artifact_folder(run_id) / artifact_file
        destination.parent.mkdir(parents=True, exist_ok=True)
        _write_atomically(destination, text.encode("utf-8"))

    def log_artifact(self, run_id: str, local_file: str) -> None:
        """Copy ``local_file`` into the run's artifact folder (atomically)."""
        destination = self._artifact_folder(run_id) / Path(local_file).name
        destination.parent.mkdir(parents=True, exist_ok=True)
        _write_atomically(destination, Path(local_file).read_bytes())

    def log_artifacts(self, run_id: str, local_dir: str) -> None:
        """Copy the tree under ``local_dir`` into the run's artifact folder (contents only,
        no permissions, as MLflow's local artifact repository does)."""
        destination = self._artifact_folder(run_id)
        shutil.copytree(local_dir, destination, copy_function=shutil.copyfile, dirs_exist_ok=True)

    # ------------------------------------------------------------------ helpers

    def _artifact_folder(self, run_id: str) -> Path:
        if not run_id.isalnum():  # ours are uuid hex; never a path to follow
            raise StoreRefused(f"not a run id: {run_id!r}")
        return self._artifact_root / run_id / "artifacts"

    def _transaction(self) -> _Transaction:
        if self._connection is None:
            # isolation_level=None: transactions are ours (BEGIN IMMEDIATE takes the write
            # lock up front, so two runs writing at once wait instead of failing midway).
            self._connection = sqlite3.connect(
                str(self.database), timeout=30, isolation_level=None, check_same_thread=False
            )
        return _Transaction(self._connection)

    @staticmethod
    def _require_active(db: sqlite3.Connection, run_id: str) -> None:
        row = db.execute(
            "SELECT lifecycle_stage FROM runs WHERE run_uuid = ?", (run_id,)
        ).fetchone()
        if row is None or row[0] != "active":
            raise StoreRefused(f"run {run_id} does not exist or was deleted")

    @staticmethod
    def _set_tags(db: sqlite3.Connection, run_id: str, tags: Mapping[str, str]) -> None:
        for key, value in tags.items():
            db.execute(
                "INSERT INTO tags (key, value, run_uuid) VALUES (?, ?, ?) "
                "ON CONFLICT (key, run_uuid) DO UPDATE SET value = excluded.value",
                (key, value, run_id),
            )
            if key == "mlflow.runName":  # MLflow keeps the run's name and this tag equal
                db.execute("UPDATE runs SET name = ? WHERE run_uuid = ?", (value, run_id))

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


class _Transaction:
    """``with`` block = one ``BEGIN IMMEDIATE`` … ``COMMIT`` (``ROLLBACK`` on error)."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._connection = connection

    def __enter__(self) -> sqlite3.Connection:
        self._connection.execute("BEGIN IMMEDIATE")
        return self._connection

    def __exit__(self, kind: object, error: object, trace: object) -> None:
        if kind is None:
            self._connection.execute("COMMIT")
        else:
            self._connection.execute("ROLLBACK")


def _schema_is_known(connection: sqlite3.Connection) -> bool:
    """Every table we write has the columns we fill, and any other column may be left out
    (nullable or defaulted); and no experiment lives outside MLflow's default workspace
    (MLflow refuses to open such a store in single-workspace mode)."""
    for table, required in _REQUIRED_COLUMNS.items():
        columns = connection.execute(f"PRAGMA table_info({table})").fetchall()
        names = {column[1] for column in columns}
        if not required <= names:
            return False
        for _cid, name, _type, not_null, default, _primary in columns:
            if name not in required and not_null and default is None:
                return False
    workspace = {column[1] for column in connection.execute("PRAGMA table_info(experiments)")}
    if "workspace" in workspace:
        other = connection.execute(
            "SELECT 1 FROM experiments WHERE workspace IS NOT NULL AND workspace != 'default' "
            "LIMIT 1"
        ).fetchone()
        if other is not None:
            return False
    return True


def _experiment(connection: sqlite3.Connection, name: str) -> tuple[int, str] | None:
    """(id, artifact location) of the active experiment called ``name``."""
    row = connection.execute(
        "SELECT experiment_id, artifact_location, lifecycle_stage FROM experiments WHERE name = ?",
        (name,),
    ).fetchone()
    if row is None or row[2] != "active" or not row[1]:
        return None
    return int(row[0]), str(row[1])


def _local_folder(location: str) -> Path | None:
    """The folder an artifact location names, if it is on the local file system: an
    absolute path, or a ``file:///`` URI; None for anything else (a remote scheme, a
    relative path, other spellings of ``file:`` that MLflow rewrites)."""
    if location.startswith("file:///"):
        parts = urlsplit(location)
        if parts.query or parts.fragment:
            return None
        location = unquote(parts.path)
    elif not location.startswith("/"):
        return None
    return Path(location)


def _check_keys(keys: Iterable[str]) -> None:
    """Refuse a name MLflow refuses: characters outside its set, a name that a path
    normalisation would change, or one longer than 250 characters."""
    for key in keys:
        normal = posixpath.normpath(key)
        if (
            not _NAME.match(key)
            or len(key) > _MAX_KEY
            or normal != key
            or normal == "."
            or normal.startswith(("..", "/"))
        ):
            raise StoreRefused(f"invalid name {key!r}: MLflow refuses it")


def _distinct(metrics: Iterable[tuple[str, float, int]]) -> list[tuple[str, float, int]]:
    seen: set[tuple[str, float, int]] = set()
    rows = []
    for key, value, stamp in metrics:
        row = (key, float(value), int(stamp))
        if row not in seen:
            seen.add(row)
            rows.append(row)
    return rows


def _update_latest(db: sqlite3.Connection, run_id: str, key: str, value: float, stamp: int) -> None:
    """``latest_metrics`` holds each key's newest (step, timestamp, value), as MLflow's."""
    row = db.execute(
        "SELECT step, timestamp, value FROM latest_metrics WHERE run_uuid = ? AND key = ?",
        (run_id, key),
    ).fetchone()
    if row is None:
        db.execute(
            "INSERT INTO latest_metrics (key, value, timestamp, step, is_nan, run_uuid) "
            "VALUES (?, ?, ?, 0, 0, ?)",
            (key, value, stamp, run_id),
        )
    elif (0, stamp, value) > (row[0], row[1], row[2]):
        db.execute(
            "UPDATE latest_metrics SET value = ?, timestamp = ?, step = 0, is_nan = 0 "
            "WHERE run_uuid = ? AND key = ?",
            (value, stamp, run_id, key),
        )


def _write_atomically(destination: Path, content: bytes) -> None:
    handle, temporary = tempfile.mkstemp(dir=destination.parent, prefix=".tmp-")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(content)
        os.replace(temporary, destination)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _now_ms() -> int:
    return int(time.time() * 1000)
