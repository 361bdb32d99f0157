"""Promoting bytes the alias already holds registers nothing (issue 14, item 7).

Re-promoting the champion used to register a duplicate version (alias 2 -> 3 for the
same bytes): a champion registered by hand carries no digest tag, and a Keras candidate
is registered inside a pyfunc wrapper whose digest is not the .keras file's. Promoting
the same validation run twice said the alias moved instead of "already promoted"."""

import json
import shutil
from pathlib import Path

import pytest
import yaml
from conftest import FEATURES, base_config, make_frame, register_champion, run_cli
from mlflow import MlflowClient


def alias_version(name: str, alias: str = "champion") -> str:
    return str(MlflowClient().get_model_version_by_alias(name, alias).version)


def version_count(name: str) -> int:
    return len(MlflowClient().search_model_versions(f"name = '{name}'"))


def validate(tmp_path: Path, config: dict, *extra: str) -> tuple[int, dict, str]:
    path = tmp_path / "validate.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    report = tmp_path / "report.json"
    done = run_cli("run", "-c", str(path), "--json", str(report), *extra)
    return done.returncode, json.loads(report.read_text()), done.stdout + done.stderr


def test_the_hand_registered_champion_promoted_again_is_not_registered_twice(
    tmp_path, data_dir, models_dir
):
    version = register_champion(models_dir / "good")  # no validate tags at all
    candidate = tmp_path / "candidate"
    shutil.copytree(models_dir / "good", candidate)
    config = base_config(data_dir, models_dir)
    config["model"] = {"candidate": str(candidate), "baseline": "models:/credit@champion"}
    code, report, output = validate(tmp_path, config, "--promote")
    assert code == 0, output
    assert report["promotion"]["message"].startswith("already promoted: version")
    assert report["promotion"]["promoted"] is False
    assert alias_version("credit") == version and version_count("credit") == 1


@pytest.fixture(scope="module")
def keras_candidate(tmp_path_factory) -> Path:
    import os

    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    import tf_keras as keras

    frame = make_frame(400, seed=5)
    model = keras.Sequential([keras.layers.Input((3,)), keras.layers.Dense(1, "sigmoid")])
    model.compile(loss="binary_crossentropy", optimizer=keras.optimizers.Adam(0.1))
    model.fit(frame[FEATURES].to_numpy(), frame["label"].to_numpy(), epochs=5, verbose=0)
    path = tmp_path_factory.mktemp("keras") / "candidate.keras"
    model.save(path)
    return path


def test_a_keras_candidate_promoted_twice_is_registered_once(tmp_path, data_dir, keras_candidate):
    config = base_config(data_dir, keras_candidate.parent)
    config["model"] = {"candidate": str(keras_candidate)}
    config["promote"] = {"model": "kcredit", "alias": "champion"}
    code, report, output = validate(tmp_path, config, "--promote")
    assert code == 0, output
    assert report["promotion"]["promoted"] is True and version_count("kcredit") == 1

    # The same file against the champion it became: nothing new to register.
    config["model"]["baseline"] = "models:/kcredit@champion"
    code, report, output = validate(tmp_path, config, "--promote")
    assert code == 0, output
    assert report["promotion"]["message"] == (
        "already promoted: version 1 holds alias 'champion' with these bytes; nothing registered"
    )
    assert alias_version("kcredit") == "1" and version_count("kcredit") == 1


def test_promoting_one_keras_run_twice_says_already_promoted(tmp_path, data_dir, keras_candidate):
    config = base_config(data_dir, keras_candidate.parent)
    config["model"] = {"candidate": str(keras_candidate)}
    config["promote"] = {"model": "kpromote", "alias": "champion", "enabled": False}
    code, report, output = validate(tmp_path, config)
    assert code == 0, output
    run_id = report["mlflow"]["run_id"]
    first = run_cli("promote", run_id)
    assert first.returncode == 0, first.stderr
    again = run_cli("promote", run_id)
    assert again.returncode == 0, again.stderr
    assert "already promoted: version 1 holds alias 'champion'" in again.stdout
    assert "now points at" not in again.stdout + again.stderr
    assert version_count("kpromote") == 1


def test_a_tampered_wrapper_is_not_taken_for_the_candidate(tmp_path, data_dir, keras_candidate):
    """A version tagged with the candidate's digest whose wrapper differs (here: an extra
    file, as a planted module would be) is not taken for the candidate: the alias moves
    from it to the genuine version holding the validated bytes."""
    config = base_config(data_dir, keras_candidate.parent)
    config["model"] = {"candidate": str(keras_candidate)}
    config["promote"] = {"model": "ktamper", "alias": "champion"}
    code, report, output = validate(tmp_path, config, "--promote")
    assert code == 0, output
    client = MlflowClient()
    stored = client.get_model_version("ktamper", "1")
    planted = tmp_path / "planted"
    import mlflow.artifacts

    local = Path(mlflow.artifacts.download_artifacts(stored.source, dst_path=str(planted)))
    (local / "code").mkdir()
    (local / "code" / "sitecustomize.py").write_text("print('planted')\n")
    import mlflow

    mlflow.set_experiment("forgery")
    with mlflow.start_run() as run:
        mlflow.log_artifacts(str(local), "model")
    forged = mlflow.register_model(f"runs:/{run.info.run_id}/model", "ktamper").version
    digest = report["candidate_digest"]
    client.set_model_version_tag("ktamper", forged, "validate.candidate_digest", digest)
    client.set_registered_model_alias("ktamper", "champion", forged)

    config["model"]["baseline"] = "models:/ktamper@champion"
    code, report, output = validate(tmp_path, config, "--promote")
    assert code == 0, output
    assert report["promotion"]["promoted"] is True
    assert alias_version("ktamper") == "1" and str(forged) == "2"
    assert version_count("ktamper") == 2  # nothing registered: version 1 is these bytes
