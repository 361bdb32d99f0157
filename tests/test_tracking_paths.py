"""A relative local tracking store in the config resolves against the config's folder, as
every relative path there does; the environment's URI and server URIs stay as they are
(issue 14 item 5)."""

import json
import os
from pathlib import Path

import mlflow
import pytest
import yaml
from conftest import base_config, register_champion, run_cli

from validate.config import load_config, resolve_tracking_uri, sqlite_database
from validate.tracking import tracking_uri_for

FOLDER = Path("/srv/project/ci")


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("sqlite:///mlflow.db", "sqlite:////srv/project/ci/mlflow.db"),
        ("sqlite:///../state/mlflow.db", "sqlite:////srv/project/state/mlflow.db"),
        ("sqlite:///./db/m.db?timeout=20", "sqlite:////srv/project/ci/db/m.db?timeout=20"),
        ("sqlite+pysqlite:///m.db", "sqlite+pysqlite:////srv/project/ci/m.db"),
        ("sqlite:////var/lib/mlflow.db", "sqlite:////var/lib/mlflow.db"),
        ("sqlite:///:memory:", "sqlite:///:memory:"),
        ("file:mlruns", "file:///srv/project/ci/mlruns"),
        ("file:./runs/x", "file:///srv/project/ci/runs/x"),
        ("file:///var/mlruns", "file:///var/mlruns"),
        ("mlruns", "/srv/project/ci/mlruns"),
        ("/var/mlruns", "/var/mlruns"),
        ("http://mlflow:5000", "http://mlflow:5000"),
        ("https://u:p@mlflow.example/x", "https://u:p@mlflow.example/x"),
        ("postgresql://u@db/mlflow", "postgresql://u@db/mlflow"),
        ("databricks", "databricks"),  # MLflow's word for the workspace, not a folder
        ("databricks-uc", "databricks-uc"),
        ("runs", "/srv/project/ci/runs"),
        ("databricks://profile", "databricks://profile"),
    ],
)
def test_relative_local_stores_resolve_against_the_config_folder(uri, expected):
    assert resolve_tracking_uri(uri, FOLDER) == expected


def test_load_config_resolves_the_tracking_uri_and_keeps_the_digest(tmp_path, data_dir, models_dir):
    config = base_config(data_dir, models_dir, **{"mlflow.tracking_uri": "sqlite:///mlflow.db"})
    digests = []
    for name in ("a", "b"):
        folder = tmp_path / name
        folder.mkdir()
        path = folder / "validation.yaml"
        path.write_text(yaml.safe_dump(config))
        loaded = load_config(path)
        assert loaded.config.mlflow.tracking_uri == f"sqlite:///{folder.resolve()}/mlflow.db"
        digests.append(loaded.digest)
    assert digests[0] == digests[1]  # the config hash is of the text, not of where it lies


def test_the_environment_uri_is_the_shells_and_stays_relative(monkeypatch, capsys):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///here.db")
    assert tracking_uri_for(None) == "sqlite:///here.db"
    assert sqlite_database("sqlite:///here.db") == Path.cwd() / "here.db"
    assert capsys.readouterr().err == ""


def test_a_configured_database_that_does_not_exist_yet_is_named(tmp_path, capsys):
    database = tmp_path / "sub" / "mlflow.db"
    uri = f"sqlite:///{database}"
    assert tracking_uri_for(uri) == uri
    assert capsys.readouterr().err == (
        f"note: mlflow.tracking_uri: tracking database {database} does not exist yet; "
        "it will be created\n"
    )
    database.parent.mkdir()
    database.touch()
    assert tracking_uri_for(uri) == uri
    assert capsys.readouterr().err == ""


def test_run_from_another_folder_finds_the_champion_in_the_configs_database(
    tmp_path, data_dir, models_dir
):
    sub = tmp_path / "sub"
    sub.mkdir()
    store = f"sqlite:///{sub / 'mlflow.db'}"
    mlflow.set_tracking_uri(store)
    mlflow.set_registry_uri(store)
    register_champion(models_dir / "weak")
    config = base_config(
        data_dir,
        models_dir,
        **{
            "model.baseline": "models:/credit@champion",
            "mlflow.tracking_uri": "sqlite:///mlflow.db",
        },
    )
    (sub / "validate.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    done = run_cli(
        "run",
        "-c",
        os.path.join("..", "sub", "validate.yaml"),
        "--json",
        "report.json",
        cwd=elsewhere,
        env={"MLFLOW_TRACKING_URI": ""},
    )

    assert done.returncode == 0, done.stderr
    assert done.stderr == ""  # the database exists: no note
    report = json.loads((elsewhere / "report.json").read_text())
    assert report["mlflow"]["tracking_uri"] == f"sqlite:///{sub.resolve()}/mlflow.db"
    (check,) = report["checks"]
    assert "roc_auc" in check["details"]["baseline_metrics"]
    assert not (elsewhere / "mlflow.db").exists()
