"""Recording into an MLflow sqlite tracking store without importing MLflow (issue 16).

Importing MLflow and opening its SQLAlchemy store cost about 5 s of CPU, more than the
statistics of most runs. A run that only needs to *write* its results (a parent run,
one nested run per check, params, metrics, tags, artifacts) can do that with the
standard library's ``sqlite3`` in milliseconds, writing the same rows MLflow's
``SqlAlchemyStore`` writes for the same calls.

A store that does not exist yet, or an experiment it does not hold yet, is created at
the first write, as MLflow would create it: the store from ``validate.store_schema`` (the
statements MLflow's migrations leave, about 1.5 s of migrations and 3 s of imports in
MLflow), the experiment with the artifact folder MLflow would give it. Both only where
the installed MLflow's migration head is the one that schema was taken from.

This is used only where it is certainly equivalent; :meth:`SqliteStore.open` returns
None (the caller then uses MLflow) for anything else: a file that holds no store (an
empty one included), a schema with a column this module does not fill and that has no
default, an experiment that is deleted or keeps its artifacts anywhere but on the local
file system, MLflow's multi-workspace mode, and ``VALIDATE_WRITE_THROUGH_MLFLOW`` set.
``tests/test_sqlite_store.py`` and ``tests/test_store_creation.py`` write the same things
both ways and compare what MLflow reads back.
"""

from __future__ import annotations

import contextlib
import importlib.util
import math
import os
import posixpath
import re
import sqlite3
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

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
# Set (to anything but empty), every write goes through MLflow's own store code.
THROUGH_MLFLOW_ENV = "VALIDATE_WRITE_THROUGH_MLFLOW"
# MLflow's default artifact root for a sqlite store (DEFAULT_LOCAL_FILE_AND_ARTIFACT_PATH),
# unless this variable names another; and its longest experiment name.
_ARTIFACT_ROOT_ENV = "_MLFLOW_SERVER_ARTIFACT_ROOT"
_DEFAULT_ARTIFACT_FOLDER = "mlruns"
_MAX_EXPERIMENT_NAME = 500
_DEFAULT_WORKSPACE = "default"  # MLflow's DEFAULT_WORKSPACE_NAME
_CREATING = ".creating-"  # in the names of new stores while they are made
_STALE_AFTER_S = 600.0
# Characters that URL parsing reads in a path (MLflow appends the experiment id to the
# artifact root as to a URI): a working directory holding one is left to MLflow.
_URI_SIGNIFICANT = re.compile(r"[?#%;\\\x00-\x1f\x7f]")
_TERMINAL = ("FINISHED", "FAILED", "KILLED")
# MLflow's own rule for param, metric and tag names (mlflow.utils.validation, POSIX).
_NAME = re.compile(r"^[/\w.\- :]*$")
_MAX_KEY = 250
_STAGING_PREFIX = ".artifact.uploading."  # MLflow's local artifact repository's
_UMASK_LOCK = threading.Lock()
_REVISION = re.compile(r"^revision\s*=\s*[\"']([0-9a-zA-Z_]+)[\"']", re.MULTILINE)
_DOWN_REVISION = re.compile(r"^down_revision\s*=\s*(.+)$", re.MULTILINE)


class StoreRefused(Exception):
    """The store's contents forbid the write, as MLflow would refuse it (a run that is no
    longer active): :func:`validate.tracking.failure_kind` calls this ``refused``."""

    validate_refusal = True


class SqliteStore:
    """Writes runs into an existing MLflow sqlite store with ``sqlite3``.

    Each method is one transaction, or joins the one :meth:`together` holds open. Errors
    are ``sqlite3`` errors (``OperationalError`` for a locked, missing or read-only
    database: an outage to the recorder), ``OSError`` for artifacts, or
    :class:`StoreRefused`.
    """

    def __init__(self, database: Path, experiment: str) -> None:
        self.database = database
        self.experiment = experiment  # its name: looked up again when a run is created
        self.experiment_id = ""
        self._artifact_root = Path()  # the experiment's artifact folder
        self._artifact_location = ""  # as MLflow spells it (path or file URI)
        self._connection: sqlite3.Connection | None = None
        self._together_thread: int | None = None  # the thread inside together(), if any
        # Set when the store or the experiment is to be created at the first write: the
        # artifact root MLflow would give new experiments (an absolute path).
        self._new_store = False
        self._artifact_root_for_new = ""
        self._schema_unchecked = False  # a store another process created first

    @classmethod
    def open(cls, database: Path | None, experiment: str) -> SqliteStore | None:
        """The store for ``experiment`` in ``database`` if writing it directly is certainly
        what MLflow would do; None where MLflow must do it (see the module's docstring).

        A database or experiment that does not exist yet is created at the first write,
        as MLflow creates them: a run refused before it records anything leaves no store."""
        if database is None or any(
            os.environ.get(name) for name in (*_ENV_FOR_MLFLOW, THROUGH_MLFLOW_ENV)
        ):
            return None
        if any(c in str(database) for c in "%?#"):
            return None  # sqlite and SQLAlchemy read these in URIs: leave the path to MLflow
        head = _installed_migration_head()
        if head is None:
            return None
        try:
            if not database.exists() and not database.is_symlink():
                return cls._to_create(database, experiment, head, new_store=True)
            if not database.is_file() or database.stat().st_size == 0:
                return None
            connection = sqlite3.connect(_uri(database, "ro"), uri=True, timeout=5)
        except (OSError, sqlite3.Error):
            return None
        try:
            if not _schema_is_known(connection, head):
                return None
            found = _experiment(connection, experiment)
            named = found is not None or _name_taken(connection, experiment)
        except sqlite3.Error:
            return None  # MLflow opens it and reports what is wrong in its own words
        finally:
            connection.close()
        if not named:
            return cls._to_create(database, experiment, head, new_store=False)
        store = cls(database, experiment)
        return store if store._use_experiment(found) else None

    @classmethod
    def _to_create(
        cls, database: Path, experiment: str, head: str, *, new_store: bool
    ) -> SqliteStore | None:
        """A store that creates ``database`` (``new_store``) and ``experiment`` at its first
        write, as MLflow would; None where what MLflow would create is not certain."""
        from validate.store_schema import MIGRATION_HEAD

        root = _new_artifact_root()
        if (
            head != MIGRATION_HEAD  # another MLflow: its migrations may create other things
            or root is None
            or not 0 < len(experiment) <= _MAX_EXPERIMENT_NAME
            or (new_store and not database.absolute().parent.is_dir())  # MLflow's error
        ):
            return None
        store = cls(database, experiment)
        store._new_store = new_store
        store._artifact_root_for_new = root
        return store

    # ------------------------------------------------------------------ writes

    def create_run(self, *, run_name: str, tags: Mapping[str, str]) -> str:
        """A RUNNING run with ``tags`` (plus ``mlflow.runName``), as MlflowClient.create_run."""
        run_id = uuid.uuid4().hex
        all_tags = dict(tags)
        all_tags.setdefault("mlflow.runName", run_name)
        _check_keys(all_tags)
        with self._transaction() as db:
            self._resolve_experiment_again(db)  # the experiment's location, as it is now
            artifact_uri = f"{self._artifact_location}/{run_id}/artifacts"  # append_to_uri_path
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
            stored = [(name, *_sanitised(number), stamp) for name, number, stamp in metric_rows]
            db.executemany(
                "INSERT OR IGNORE INTO metrics (key, value, is_nan, timestamp, run_uuid, step) "
                "VALUES (?, ?, ?, ?, ?, 0)",
                [(name, number, nan, stamp, run_id) for name, number, nan, stamp in stored],
            )
            for name, number, nan, stamp in stored:
                _update_latest(db, run_id, name, number, nan, stamp)
            self._set_tags(db, run_id, tags or {})

    def set_tags(self, run_id: str, tags: Mapping[str, str]) -> None:
        _check_keys(tags)
        with self._transaction() as db:
            self._require_active(db, run_id)
            self._set_tags(db, run_id, tags)

    def set_terminated(
        self, run_id: str, status: str, tags: Mapping[str, str] | None = None
    ) -> None:
        """Close a run (``FINISHED``, ``FAILED`` or ``KILLED``) now, with ``tags`` (the
        decision) in the same transaction: never a decision on a run left RUNNING."""
        if status not in _TERMINAL:
            raise ValueError(f"not a terminal run status: {status}")
        _check_keys(tags or {})
        with self._transaction() as db:
            self._require_active(db, run_id)
            self._set_tags(db, run_id, tags or {})
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
        # As MLflow's shutil_copytree_without_file_permissions: os.walk does not descend
        # into a symlinked folder (it is made, empty); files are copied by content.
        for folder, folders, files in os.walk(local_dir):
            target = destination / os.path.relpath(folder, local_dir)
            target.mkdir(parents=True, exist_ok=True)
            for name in folders:
                (target / name).mkdir(exist_ok=True)
            for name in files:
                _write_atomically(target / name, Path(folder, name).read_bytes())

    # ------------------------------------------------------------------ helpers

    def _use_experiment(self, found: tuple[int, str] | None) -> bool:
        """Write into ``found`` (id, artifact location) if its artifacts are local."""
        root = _local_folder(found[1]) if found is not None else None
        if found is None or root is None:
            return False
        self.experiment_id = str(found[0])
        self._artifact_root, self._artifact_location = root, found[1].rstrip("/")
        return True

    def _resolve_experiment_again(self, db: sqlite3.Connection) -> None:
        """Look the experiment up by name again, as MLflow does when it creates a run: it
        may have been renamed, replaced or deleted while the data loaded. One that is to
        be created, and still has no row by its name, is created here (in the caller's
        transaction: with the run, or not at all)."""
        if self._schema_unchecked:
            from validate.store_schema import MIGRATION_HEAD

            if not _schema_is_known(db, MIGRATION_HEAD):
                raise StoreRefused(
                    f"another program created the tracking store {self.database} while the "
                    "run was starting, with a schema this run does not know"
                )
            self._schema_unchecked = False
        found = _experiment(db, self.experiment)
        if found is None and self._artifact_root_for_new and not _name_taken(db, self.experiment):
            found = _insert_experiment(db, self.experiment, self._artifact_root_for_new)
        if not self._use_experiment(found):
            raise StoreRefused(
                f"experiment {self.experiment!r} was deleted, or moved its artifacts off this "
                "machine, while the run was starting"
            )

    def _artifact_folder(self, run_id: str) -> Path:
        if not run_id.isalnum():  # ours are uuid hex; never a path to follow
            raise StoreRefused(f"not a run id: {run_id!r}")
        return self._artifact_root / run_id / "artifacts"

    @contextlib.contextmanager
    def together(self) -> Iterator[None]:
        """The writes made inside as one transaction: all of them are recorded, or none.

        A commit is the store's fsyncs, most of what a small write costs; a nested run
        written as one (created, logged, closed) costs one. Re-entering joins the block
        already open."""
        if self._together_thread == threading.get_ident():
            yield
            return
        with self._transaction():
            self._together_thread = threading.get_ident()
            try:
                yield
            finally:
                self._together_thread = None

    def _transaction(self) -> _Transaction | contextlib.nullcontext[sqlite3.Connection]:
        if (
            self._connection is not None
            and self._together_thread == threading.get_ident()
            and self._connection.in_transaction
        ):
            return contextlib.nullcontext(self._connection)  # inside together()
        if self._connection is None:
            if self._new_store:
                self._schema_unchecked = not _create_database(
                    self.database, self._artifact_root_for_new
                )
                self._new_store = False
            # isolation_level=None: transactions are ours (BEGIN IMMEDIATE takes the write
            # lock up front, so two runs writing at once wait instead of failing midway).
            # mode=rw: a store that has gone is an error, never a new empty file.
            self._connection = sqlite3.connect(
                _uri(self.database, "rw"),
                uri=True,
                timeout=30,
                isolation_level=None,
                check_same_thread=False,
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
        # A transaction left open (a signal raised between BEGIN and the with block, a
        # COMMIT that failed) is rolled back first: a KILLED marking must get through.
        if self._connection.in_transaction:
            self._connection.execute("ROLLBACK")
        try:
            self._connection.execute("BEGIN IMMEDIATE")
        except BaseException:
            if self._connection.in_transaction:
                self._connection.execute("ROLLBACK")
            raise
        return self._connection

    def __exit__(self, kind: object, error: object, trace: object) -> None:
        if kind is None:
            self._connection.execute("COMMIT")
        elif self._connection.in_transaction:
            self._connection.execute("ROLLBACK")


def _schema_is_known(connection: sqlite3.Connection, head: str) -> bool:
    """The store is at the installed MLflow's migration head (MLflow refuses to open any
    other), every table we write has the columns we fill, and any other column may be left
    out (nullable or defaulted); and no experiment lives outside MLflow's default workspace
    (MLflow refuses to open such a store in single-workspace mode)."""
    version = connection.execute("SELECT version_num FROM alembic_version").fetchall()
    if [row[0] for row in version] != [head]:
        return False
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


def _name_taken(connection: sqlite3.Connection, name: str) -> bool:
    """Whether any experiment, active or deleted, is called ``name`` (MLflow's names are
    unique: it refuses to create a second)."""
    row = connection.execute("SELECT 1 FROM experiments WHERE name = ?", (name,)).fetchone()
    return row is not None


def _new_artifact_root() -> str | None:
    """The artifact root MLflow gives a sqlite store's new experiments: ``./mlruns`` made
    absolute against the working directory (mlflow.utils.uri.resolve_uri_if_local); None
    where that is not certain (another root set for MLflow, a directory whose name URL
    parsing would read or that is not printable, a platform whose paths are not POSIX)."""
    if os.name != "posix" or os.environ.get(_ARTIFACT_ROOT_ENV):
        return None
    try:
        root = Path.cwd().joinpath(_DEFAULT_ARTIFACT_FOLDER).as_posix()
    except OSError:
        return None  # the working directory was removed
    if (
        not root.startswith("/")
        or root.startswith("//")
        or _URI_SIGNIFICANT.search(root)
        or not root.isprintable()  # MLflow writes experiment 0's folder as repr() gives it
    ):
        return None
    return root


def _insert_experiment(db: sqlite3.Connection, name: str, root: str) -> tuple[int, str]:
    """Create experiment ``name`` as SqlAlchemyStore.create_experiment does: the next id,
    active, in the default workspace, its artifacts under ``root``/id."""
    now = _now_ms()
    columns = {column[1] for column in db.execute("PRAGMA table_info(experiments)")}
    workspace = "workspace" in columns
    cursor = db.execute(
        "INSERT INTO experiments (name, artifact_location, lifecycle_stage, creation_time, "
        f"last_update_time{', workspace' if workspace else ''}) "
        f"VALUES (?, NULL, 'active', ?, ?{', ?' if workspace else ''})",
        (name, now, now, *((_DEFAULT_WORKSPACE,) if workspace else ())),
    )
    experiment_id = int(cursor.lastrowid or 0)
    location = f"{root}/{experiment_id}"
    db.execute(
        "UPDATE experiments SET artifact_location = ? WHERE experiment_id = ?",
        (location, experiment_id),
    )
    return experiment_id, location


def _create_database(database: Path, root: str) -> bool:
    """Create a new store at ``database`` as MLflow's migrations leave one (with its
    default experiment 0), unless one appears there first (then False).

    The store is built in a temporary file beside it and linked into place: a store some
    other process created meanwhile is never replaced, and no half-made one is ever seen.
    """
    from validate.store_schema import STATEMENTS

    folder = database.absolute().parent
    prefix = f".{database.name}{_CREATING}"
    _remove_stale(folder, prefix)
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=prefix)
    os.close(handle)
    try:
        os.chmod(temporary, 0o644 & ~_umask())  # the mode sqlite gives the files it creates
        now = _now_ms()
        default = (
            "INSERT INTO experiments (experiment_id, name, artifact_location, lifecycle_stage, "
            f"creation_time, last_update_time, workspace) VALUES (0, 'Default', "
            f"{_sql_text(root + '/0')}, 'active', {now}, {now}, {_sql_text(_DEFAULT_WORKSPACE)})"
        )
        with contextlib.closing(sqlite3.connect(temporary, isolation_level=None)) as db:
            db.executescript("BEGIN;\n" + ";\n".join((*STATEMENTS, default)) + ";\nCOMMIT;")
        try:
            os.link(temporary, database)
        except FileExistsError:
            return False  # another process's store: written into if its schema is known
        except OSError:
            # A file system without hard links (FAT, many SMB and FUSE mounts): created
            # exclusively and copied in. Another process opening it during the copy sees
            # a damaged store and fails; none is ever replaced.
            return _copy_exclusively(Path(temporary), database)
        return True
    finally:
        Path(temporary).unlink(missing_ok=True)


def _copy_exclusively(source: Path, destination: Path) -> bool:
    """Copy ``source`` to a new file ``destination``; False if that already exists."""
    try:
        handle = os.open(destination, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        return False
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(source.read_bytes())
            stream.flush()
            os.fsync(stream.fileno())
    except BaseException:
        destination.unlink(missing_ok=True)  # ours, half written
        raise
    return True


def _remove_stale(folder: Path, prefix: str) -> None:
    """Remove stores left half-made by runs killed while creating them (a SIGKILL gives no
    chance to clean up). Only old ones: creating a store takes milliseconds, and a fresh
    one may be another run's, in the making."""
    cutoff = time.time() - _STALE_AFTER_S
    with contextlib.suppress(OSError):
        for entry in os.scandir(folder):
            if entry.name.startswith(prefix) and entry.is_file(follow_symlinks=False):
                with contextlib.suppress(OSError):
                    if entry.stat(follow_symlinks=False).st_mtime < cutoff:
                        os.unlink(entry.path)


def _sql_text(value: str) -> str:
    """A SQL string literal (executescript takes no parameters)."""
    return "'" + value.replace("'", "''") + "'"


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
    seen: set[tuple[str, str, int]] = set()
    rows = []
    for key, value, stamp in metrics:
        identity = (key, repr(float(value)), int(stamp))  # repr: NaN equals itself here
        if identity not in seen:
            seen.add(identity)
            rows.append((key, float(value), int(stamp)))
    return rows


def _sanitised(value: float) -> tuple[float, int]:
    """(stored value, is_nan) as MLflow stores a metric: NaN as 0 flagged, ±inf as ±max."""
    if math.isnan(value):
        return 0.0, 1
    if math.isinf(value):
        return (sys.float_info.max if value > 0 else -sys.float_info.max), 0
    return value, 0


def _update_latest(
    db: sqlite3.Connection, run_id: str, key: str, value: float, nan: int, stamp: int
) -> None:
    """``latest_metrics`` holds each key's newest (step, timestamp, value), as MLflow's."""
    row = db.execute(
        "SELECT step, timestamp, value FROM latest_metrics WHERE run_uuid = ? AND key = ?",
        (run_id, key),
    ).fetchone()
    if row is None:
        db.execute(
            "INSERT INTO latest_metrics (key, value, timestamp, step, is_nan, run_uuid) "
            "VALUES (?, ?, ?, 0, ?, ?)",
            (key, value, stamp, nan, run_id),
        )
    elif (0, stamp, value) > (row[0], row[1], row[2]):
        db.execute(
            "UPDATE latest_metrics SET value = ?, timestamp = ?, step = 0, is_nan = ? "
            "WHERE run_uuid = ? AND key = ?",
            (value, stamp, nan, run_id, key),
        )


def _write_atomically(destination: Path, content: bytes) -> None:
    """Staged under MLflow's own prefix (which its listings hide) and given the mode
    MLflow gives (0666 less the umask), then renamed into place."""
    handle, temporary = tempfile.mkstemp(dir=destination.parent, prefix=_STAGING_PREFIX)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(content)
        os.chmod(temporary, 0o666 & ~_umask())
        os.replace(temporary, destination)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _umask() -> int:
    """The process's umask, read without changing it where Linux allows."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    with _UMASK_LOCK:
        current = os.umask(0)
        os.umask(current)
    return current


def _uri(database: Path, mode: str) -> str:
    return f"file:{quote(str(database.absolute()))}?mode={mode}"


def _installed_migration_head() -> str | None:
    """The alembic revision the installed MLflow creates stores at, read from its migration
    files (importing MLflow is what this module avoids); None if it cannot be told."""
    spec = importlib.util.find_spec("mlflow")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "store" / "db_migrations"
    revisions: set[str] = set()
    parents: set[str] = set()
    try:
        for path in (folder / "versions").glob("*.py"):
            text = path.read_text(encoding="utf-8")
            revision = _REVISION.search(text)
            down = _DOWN_REVISION.search(text)
            if revision is None or down is None:
                continue
            revisions.add(revision.group(1))
            parents.update(re.findall(r"[\"']([0-9a-zA-Z_]+)[\"']", down.group(1)))
    except OSError:
        return None
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


def _now_ms() -> int:
    return int(time.time() * 1000)
