"""Against a real ``mlflow server`` process on 127.0.0.1: runs, registry, promotion, refusals."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import pytest
from conftest import base_config, register_champion, run_cli
from mlflow import MlflowClient
from mlflow_server import MlflowServer

from validate.digest import candidate_digest
from validate.errors import PromotionError
from validate.models import resolve_model
from validate.promotion import LOCK_SUFFIX, PromotionTarget, promote, registry_lock

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory):
    """A real MLflow tracking + registry + artifact server, started and stopped here."""
    server = MlflowServer(tmp_path_factory.mktemp("mlflow_server")).start()
    yield server.url
    server.stop()


@pytest.fixture
def server(mlflow_server, monkeypatch, request):
    """Point this test (and the CLI it runs) at the server, with its own model name."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    mlflow.set_tracking_uri(mlflow_server)
    mlflow.set_registry_uri(mlflow_server)
    return mlflow_server


def unique_name(request) -> str:
    return "m_" + request.node.name.replace("[", "_").replace("]", "")[:40]


def test_run_records_nested_runs_and_promotes(
    server, request, write_config, data_dir, models_dir, tmp_path
):
    name = unique_name(request)
    champion = register_champion(models_dir / "weak", name=name)
    config = base_config(
        data_dir,
        models_dir,
        **{
            "model.baseline": f"models:/{name}@champion",
            "promote": {"model": name},
            "mlflow": {"experiment": name},
        },
    )
    report_path = tmp_path / "report.json"
    result = run_cli("run", "-c", str(write_config(config)), "--json", str(report_path))
    assert result.returncode == 0, result.stderr
    report = json.loads(report_path.read_text())
    assert report["mlflow"]["tracking_uri"] == server
    client = MlflowClient()
    run_id = report["mlflow"]["run_id"]
    parent = client.get_run(run_id)
    (child,) = client.search_runs(
        [parent.info.experiment_id], f"tags.mlflow.parentRunId = '{run_id}'"
    )
    assert child.data.tags["validate.check"] == "accuracy"
    assert child.data.tags["validate.status"] == "passed"
    assert "check_result.json" in [a.path for a in client.list_artifacts(child.info.run_id)]
    stored = json.loads(
        Path(client.download_artifacts(run_id, "validation_report.json", str(tmp_path))).read_text()
    )
    assert stored["decision"] == "pass" and stored["promotion"]["promoted"] is True
    version = client.get_model_version_by_alias(name, "champion")
    assert str(version.version) == str(int(champion) + 1)
    assert version.tags["validate.validation_run_id"] == run_id
    assert version.tags["validate.decision"] == "pass"
    # Re-scoring the promoted version through the registry gives the candidate's scores.
    from conftest import FEATURES, make_frame

    frame = make_frame(25)
    promoted = resolve_model(f"models:/{name}@champion", role="baseline", task="binary")
    original = resolve_model(str(models_dir / "good"), role="candidate", task="binary")
    assert (
        promoted.predict(frame, tuple(FEATURES)) == original.predict(frame, tuple(FEATURES))
    ).all()


def test_promote_refuses_when_the_alias_moved(
    server, request, write_config, data_dir, models_dir, tmp_path
):
    name = unique_name(request)
    register_champion(models_dir / "weak", name=name)
    config = base_config(
        data_dir,
        models_dir,
        **{
            "model.baseline": f"models:/{name}@champion",
            "promote": {"model": name, "enabled": False},
            "mlflow": {"experiment": name},
        },
    )
    report_path = tmp_path / "report.json"
    assert (
        run_cli("run", "-c", str(write_config(config)), "--json", str(report_path)).returncode == 0
    )
    run_id = json.loads(report_path.read_text())["mlflow"]["run_id"]

    # Meanwhile another pipeline promoted a different champion.
    moved_to = register_champion(models_dir / "good", name=name)
    refused = run_cli("promote", run_id)
    assert refused.returncode == 1
    line = refused.stderr.strip()
    assert "\n" not in line
    assert f"alias 'champion' of model '{name}' now points at version {moved_to}" in line
    assert "compared against version 1" in line and "re-run the validation" in line
    client = MlflowClient()
    assert str(client.get_model_version_by_alias(name, "champion").version) == moved_to
    assert len(client.search_model_versions(f"name = '{name}'")) == 2  # nothing registered


def test_compare_and_set_inside_promote(server, request, models_dir):
    name = unique_name(request)
    first = register_champion(models_dir / "weak", name=name)
    second = register_champion(models_dir / "weak", name=name)
    client = MlflowClient()
    candidate = resolve_model(str(models_dir / "good"), role="candidate", task="binary")
    digest = candidate_digest(candidate, server)
    mlflow.set_experiment(name)
    with mlflow.start_run() as run:
        pass
    stale = PromotionTarget(model=name, alias="champion", expected_version=first)
    with pytest.raises(PromotionError, match=f"now points at version {second}"):
        promote(
            client,
            candidate=candidate,
            target=stale,
            run_id=run.info.run_id,
            digest=digest,
            tracking_uri=server,
        )
    fresh = PromotionTarget(model=name, alias="champion", expected_version=second)
    outcome = promote(
        client,
        candidate=candidate,
        target=fresh,
        run_id=run.info.run_id,
        digest=digest,
        tracking_uri=server,
    )
    assert outcome.promoted and outcome.previous_version == second
    assert str(client.get_model_version_by_alias(name, "champion").version) == outcome.version
    assert not client.search_registered_models(f"name = '{name}{LOCK_SUFFIX}'")


def test_registry_lock_excludes_and_recovers_when_stale(server, request):
    name = unique_name(request)
    client = MlflowClient()
    with (
        registry_lock(client, name),
        pytest.raises(PromotionError, match="is held by another promotion"),
        registry_lock(client, name, wait_s=0.5),
    ):
        pass
    # A holder that died leaves its lock behind; after stale_after_s it is taken over.
    client.create_registered_model(name + LOCK_SUFFIX)
    time.sleep(1.1)
    with registry_lock(client, name, wait_s=0.5, stale_after_s=1.0):
        pass
    assert not client.search_registered_models(f"name = '{name}{LOCK_SUFFIX}'")


def test_two_validations_racing_for_the_alias_exactly_one_wins(
    server, request, write_config, data_dir, models_dir, plugin_env, tmp_path
):
    """Two passing candidates, validated against the same champion, promote at the same time."""
    name = unique_name(request)
    champion = register_champion(models_dir / "weak", name=name)
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    env = {**plugin_env, "BARRIER_DIR": str(barrier), "MLFLOW_TRACKING_URI": server}
    processes = []
    for index in range(2):
        config = base_config(
            data_dir,
            models_dir,
            checks={"accuracy": {}, "barrier": {}},
            **{
                "model.baseline": f"models:/{name}@champion",
                "promote": {"model": name},
                "mlflow": {"experiment": name},
            },
        )
        path = write_config(config, f"candidate{index}.yaml")
        processes.append(
            subprocess.Popen(
                [
                    str(Path(sys.executable).parent / "validate"),
                    "run",
                    "-c",
                    str(path),
                    "--json",
                    str(tmp_path / f"r{index}.json"),
                ],
                env={**os.environ, **env},
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    outputs = [p.communicate(timeout=300) for p in processes]
    codes = sorted(p.returncode for p in processes)
    assert codes == [0, 1], outputs
    reports = [json.loads((tmp_path / f"r{i}.json").read_text()) for i in range(2)]
    winners = [r for r in reports if r["promotion"]["promoted"]]
    losers = [r for r in reports if not r["promotion"]["promoted"]]
    assert len(winners) == 1 and len(losers) == 1
    assert "refusing to promote" in losers[0]["promotion"]["message"]
    assert f"compared against version {champion}" in losers[0]["promotion"]["message"]
    client = MlflowClient()
    assert (
        str(client.get_model_version_by_alias(name, "champion").version)
        == winners[0]["promotion"]["version"]
    )
    assert (
        len(client.search_model_versions(f"name = '{name}'")) == 2
    )  # the loser registered nothing
