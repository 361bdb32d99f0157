"""Hostile / unlucky-operator tests for validate.sqlite_store (direct sqlite writes).

Every test here failed on 9ed65ea (a hostile review) and names a divergence from what
MLflow 3.17's own SqlAlchemyStore / LocalArtifactRepository would do; the attacks that held
are in tests/test_held_attacks.py.
"""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import stat
import threading
import time
from pathlib import Path

import pytest
from mlflow import MlflowClient

from validate.config import sqlite_database
from validate.recorder import MlflowRecorder
from validate.runner import _native_store
from validate.sqlite_store import SqliteStore


def _make_store(folder: Path, experiment: str = "e") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    database = folder / "mlflow.db"
    client = MlflowClient(tracking_uri=f"sqlite:///{database}")
    client.create_experiment(experiment, artifact_location=str(folder / "artifacts"))
    return database


@pytest.fixture(scope="module")
def made_by_mlflow(tmp_path_factory) -> Path:
    return _make_store(tmp_path_factory.mktemp("store"))


@pytest.fixture
def database(made_by_mlflow, tmp_path) -> Path:
    copy = tmp_path / "mlflow.db"
    shutil.copyfile(made_by_mlflow, copy)
    return copy


def client_for(uri_or_db) -> MlflowClient:
    uri = uri_or_db if isinstance(uri_or_db, str) else f"sqlite:///{uri_or_db}"
    return MlflowClient(tracking_uri=uri)


# --------------------------------------------------------------------------- 1
def test_percent_in_store_path_checks_and_writes_a_different_file_than_mlflow_reads(tmp_path):
    """SqliteStore.open checks ``file:{path}?mode=ro`` as a *URI* (sqlite decodes %41 -> A),
    and SQLAlchemy (so MLflow, `validate promote`, `validate sync`) also decodes it; but the
    write connection opens the raw path. A folder name with a % escape (Jenkins-style
    workspaces such as ``feature%2Fx``) makes the native run land in a database MLflow
    never reads: the schema/experiment check and the writes are on different files."""
    decoded = _make_store(tmp_path / "sA")  # what MLflow opens for .../s%41/mlflow.db
    raw = tmp_path / "s%41"
    raw.mkdir()
    shutil.copyfile(decoded, raw / "mlflow.db")  # a stale copy at the undecoded path
    uri = f"sqlite:///{raw / 'mlflow.db'}"
    assert sqlite_database(uri) == raw / "mlflow.db"
    native = _native_store(uri, "e")
    if native is None:
        return  # the fix may well be: never go native for such a path
    run_id = native.create_run(run_name="r", tags={})
    native.set_terminated(run_id, "FINISHED")
    # MLflow, reading the store the user named, must see the run validate reported.
    assert client_for(uri).get_run(run_id).info.status == "FINISHED"


def test_hash_in_store_path_creates_a_stray_database_on_a_refused_run(tmp_path):
    """``file:/x/d#1/mlflow.db?mode=ro``: '#' starts the URI fragment, so ``mode=ro`` is lost
    and sqlite opens (and creates, read-write) ``/x/d``: SqliteStore.open leaves a stray empty
    file behind even on a run that is then refused with exit 2 ("records nothing")."""
    folder = tmp_path / "d#1"
    database = _make_store(folder)
    SqliteStore.open(database, "e")
    assert not (tmp_path / "d").exists(), "SqliteStore.open created a file outside the store"


# --------------------------------------------------------------------------- 2
@pytest.mark.parametrize("revision", ["older", "newer"])
def test_a_store_mlflow_refuses_to_open_is_not_written_directly(database, revision):
    """MLflow 3.17 opens a sqlite store only at its own alembic head (_verify_schema): an
    older store needs `mlflow db upgrade`, a newer one is refused. SqliteStore checks column
    names only, never alembic_version (nor constraints), so it writes into a store whose
    schema MLflow says it does not know: exactly the case the docstring promises to leave to
    MLflow."""
    with sqlite3.connect(database) as db:
        head = db.execute("SELECT version_num FROM alembic_version").fetchone()[0]
        other = "0c779009ac13" if revision == "older" else "ffffffffffff"
        assert other != head
        db.execute("UPDATE alembic_version SET version_num = ?", (other,))
    with pytest.raises(Exception, match="schema"):  # MLflow's own verdict on this store
        client_for(database).search_experiments()
    assert SqliteStore.open(database, "e") is None


# --------------------------------------------------------------------------- 3
def test_a_signal_while_waiting_for_the_write_lock_leaves_the_run_running_not_killed(database):
    """SIGTERM/SIGINT delivered while BEGIN IMMEDIATE waits for another writer's lock (up to
    30 s) is raised by Python right after BEGIN returns, inside _Transaction.__enter__, i.e.
    before the ``with`` body: __exit__ never runs, the transaction stays open on the shared
    connection, and recorder.kill()'s own BEGIN then fails ("cannot start a transaction within
    a transaction"), swallowed. The run stays RUNNING (not KILLED) and the process keeps the
    store's write lock until it exits. MLflow's session context manager rolls back."""
    store = SqliteStore.open(database, "e")
    recorder = MlflowRecorder(tracking_uri=f"sqlite:///{database}", experiment="e", native=store)
    recorder.start(run_name="r", params={}, tags={})
    holder = sqlite3.connect(database, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")  # another validation run writing

    def release() -> None:
        time.sleep(1.0)
        holder.execute("COMMIT")

    def on_signal(*_args) -> None:
        raise KeyboardInterrupt("SIGTERM")

    previous = signal.signal(signal.SIGALRM, on_signal)
    releaser = threading.Thread(target=release)
    releaser.start()
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.3)
        with pytest.raises(KeyboardInterrupt):
            recorder.finish({"schema_version": 1}, decision="pass")
        recorder.kill("SIGTERM")  # what runner.run_validation does next
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        releaser.join()
        holder.close()
    still_open = store._connection is not None and store._connection.in_transaction
    run = client_for(database).get_run(recorder.run_id)
    store.close()
    assert run.info.status == "KILLED", (run.info.status, still_open)
    assert run.data.tags.get("validate.decision") == "killed"


# --------------------------------------------------------------------------- 4
def test_the_experiment_is_resolved_when_the_run_is_created_not_minutes_before(database):
    """SqliteStore.open resolves name -> id at `prepare` (before data loading, which can take
    minutes); create_run only checks that *that id* is still active. If the experiment was
    renamed (or the file swapped, e.g. a CI cache restore) meanwhile, the run goes into an
    experiment of another name, with that name's checks skipped; MLflow's writer looks the
    name up when it creates the run."""
    store = SqliteStore.open(database, "e")
    client = client_for(database)
    old_id = client.get_experiment_by_name("e").experiment_id
    client.rename_experiment(old_id, "someone-else")
    new_id = client.create_experiment("e", artifact_location=str(database.parent / "new"))
    run_id = store.create_run(run_name="r", tags={})
    assert client.get_run(run_id).info.experiment_id == new_id


# --------------------------------------------------------------------------- 5
def test_artifacts_written_directly_have_mlflows_file_mode(database, tmp_path):
    """_write_atomically publishes mkstemp's 0600 file; MLflow's LocalArtifactRepository
    chmods its staged file to the umask default (0644 under umask 022) or copies the source's
    mode. check_result.json / validation_report.json written natively are unreadable to any
    other user (an MLflow server, the admission webhook, a reviewer's account)."""
    store = SqliteStore.open(database, "e")
    mine = store.create_run(run_name="r", tags={})
    store.log_text(mine, "{}", "check_result.json")
    client = client_for(database)
    theirs = client.create_run(store.experiment_id).info.run_id
    client.log_text(theirs, "{}", "check_result.json")
    root = Path(client.get_run(theirs).info.artifact_uri.removeprefix("file://"))
    their_mode = stat.S_IMODE(os.stat(root / "check_result.json").st_mode)
    mine_path = Path(client.get_run(mine).info.artifact_uri.removeprefix("file://"))
    my_mode = stat.S_IMODE(os.stat(mine_path / "check_result.json").st_mode)
    assert my_mode == their_mode, (oct(my_mode), oct(their_mode))


# --------------------------------------------------------------------------- 6
def _tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def test_a_symlinked_folder_in_a_checks_artifacts_is_not_copied_whole(database, tmp_path):
    """log_artifacts uses shutil.copytree(symlinks=False), which recurses *through* a symlink
    to a directory; MLflow walks with os.walk (no followlinks) and only makes an empty folder
    for it. A check (plug-in code) that leaves `home -> ~` or `etc -> /etc` in its artifact
    folder has the whole target tree copied into the artifact store by the native writer."""
    secret = tmp_path / "secret"
    (secret / "deep").mkdir(parents=True)
    (secret / "deep" / "id_rsa").write_text("PRIVATE", encoding="utf-8")
    plots = tmp_path / "plots"
    plots.mkdir()
    (plots / "a.svg").write_text("<svg/>", encoding="utf-8")
    (plots / "home").symlink_to(secret, target_is_directory=True)
    store = SqliteStore.open(database, "e")
    mine = store.create_run(run_name="r", tags={})
    store.log_artifacts(mine, str(plots))
    client = client_for(database)
    theirs = client.create_run(store.experiment_id).info.run_id
    client.log_artifacts(theirs, str(plots))
    root = lambda run: Path(client.get_run(run).info.artifact_uri)  # noqa: E731
    assert _tree(root(mine)) == _tree(root(theirs))


def test_a_symlink_loop_in_a_checks_artifacts_is_not_an_mlflow_outage(database, tmp_path):
    """`loop -> .` in a check's artifact folder: copytree recurses until ELOOP and raises
    shutil.Error (an OSError), which failure_kind calls an *outage* (exit 3, "run validate
    sync later"); MLflow records the run (an empty folder for the link). Plug-in code can so
    turn any run into a fake MLflow outage, and the report kept for sync can never become a
    promotable run."""
    plots = tmp_path / "plots"
    plots.mkdir()
    (plots / "a.svg").write_text("<svg/>", encoding="utf-8")
    (plots / "loop").symlink_to(".", target_is_directory=True)
    client = client_for(database)
    store = SqliteStore.open(database, "e")
    theirs = client.create_run(store.experiment_id).info.run_id
    client.log_artifacts(theirs, str(plots))  # MLflow: fine
    mine = store.create_run(run_name="r", tags={})
    store.log_artifacts(mine, str(plots))  # native: must not raise either


# --------------------------------------------------------------------------- 1 (end to end)
def test_a_run_in_a_percent_named_folder_is_found_by_mlflow_afterwards(tmp_path):
    """`validate run` exits 0 and names run X; MLflow (so `validate promote X`, the admission
    webhook, the UI) reading the same tracking URI cannot find X: the native writer wrote a
    stale copy of the store at the undecoded path."""
    import json
    import subprocess
    import sys

    sys.path.insert(0, "/work/main/tests")
    from test_recorded_content import CONFIG, scored_tables

    decoded = tmp_path / "wsA"
    workspace = tmp_path / "ws%41"
    for folder in (decoded, workspace):
        folder.mkdir()
    client = MlflowClient(tracking_uri=f"sqlite:///{decoded / 'mlflow.db'}")
    client.create_experiment("recorded-content", artifact_location=str(tmp_path / "art"))
    shutil.copyfile(decoded / "mlflow.db", workspace / "mlflow.db")
    scored_tables(workspace)
    (workspace / "validation.yaml").write_text(CONFIG, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "validate", "run", "-c", "validation.yaml", "--json", "r.json"],
        cwd=workspace,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads((workspace / "r.json").read_text())
    uri, run_id = report["mlflow"]["tracking_uri"], report["mlflow"]["run_id"]
    assert MlflowClient(tracking_uri=uri).get_run(run_id).data.tags["validate.decision"] == "pass"


# --------------------------------------------------------------------------- 7
def test_a_write_cut_short_leaves_nothing_mlflow_lists_as_an_artifact(database):
    """A run SIGKILLed (OOM killer, CI timeout) while publishing an artifact leaves the
    staging file. MLflow stages as '.artifact.uploading.*' and list_artifacts hides those;
    the native writer stages as '.tmp-*', which MLflow lists as a real artifact of the run."""
    import subprocess
    import sys

    store = SqliteStore.open(database, "e")
    run_id = store.create_run(run_name="r", tags={})
    code = (
        "import os, sys\n"
        "from pathlib import Path\n"
        "from validate.sqlite_store import SqliteStore\n"
        "store = SqliteStore.open(Path(sys.argv[1]), 'e')\n"
        "os.replace = lambda *a: os._exit(137)  # killed between write and publish\n"
        "store.log_text(sys.argv[2], '{\"status\": \"passed\"}', 'check_result.json')\n"
    )
    subprocess.run([sys.executable, "-c", code, str(database), run_id], check=False)
    listed = [a.path for a in client_for(database).list_artifacts(run_id)]
    assert listed == [], listed


# --------------------------------------------------------------------------- 8
def test_binary_fast_path_refuses_nan_scores_as_scikit_learn_does():
    """Latent (the runner's normalize_scores rejects NaN/inf first): compute_metrics promises
    scikit-learn's definitions, and scikit-learn raises on NaN scores; the new fast path now
    returns a ROC AUC / average precision for them (NaN ranks as a score), so any caller of
    validate.stats that skips normalize_scores gets a number instead of an error."""
    import numpy as np

    from validate.stats.metrics import compute_metrics

    y = np.array([0, 1, 0, 1, 1, 0])
    p = np.array([0.1, 0.9, np.nan, 0.8, 0.2, 0.3])
    # scikit-learn's refusal is caught as an undefined metric (NaN), as before the fast path.
    got = compute_metrics("binary", y, p, 0.5, ("roc_auc", "average_precision"))
    assert np.isnan(got["roc_auc"]) and np.isnan(got["average_precision"])


def test_non_finite_metrics_are_written_as_mlflow_writes_them(database):
    """Latent (MlflowRecorder drops non-finite metrics before the writer): SqliteStore.log_batch
    always writes is_nan=0, so NaN hits `INSERT OR IGNORE` (row silently dropped) and then a
    NOT NULL IntegrityError on latest_metrics (failure_kind: "bug"), and +inf is stored as inf
    where MLflow stores is_nan=1 / value 0 and +-1.7976931348623157e308."""
    import math

    store = SqliteStore.open(database, "e")
    mine = store.create_run(run_name="r", tags={})
    store.log_batch(mine, metrics=[("m", math.nan, 1), ("i", math.inf, 1)])
    got = client_for(database).get_run(mine).data.metrics
    assert math.isnan(got["m"]) and got["i"] == 1.7976931348623157e308
