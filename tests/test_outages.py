"""MLflow outages against a real server process: unreachable at start, killed mid-run.
The gate fails closed (exit 3, nothing promoted), the report and every check result are
kept locally, and ``validate sync`` records them later exactly once."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest
from conftest import base_config, run_cli
from mlflow import MlflowClient
from mlflow_server import MlflowServer, free_port
from processes import start_validate, wait_for

pytestmark = pytest.mark.integration


def validation_runs(url: str) -> list:
    client = MlflowClient(tracking_uri=url)
    experiments = [e.experiment_id for e in client.search_experiments()]
    return client.search_runs(experiments, "tags.`validate.kind` = 'validation'")


def complete_validation_run(url: str, timeout_s: float = 120.0):
    """The one validation run, once its params are logged (polling: it is being created)."""
    deadline = time.monotonic() + timeout_s
    while True:
        runs = validation_runs(url)
        if len(runs) == 1 and runs[0].data.params:
            return runs[0]
        assert time.monotonic() < deadline, f"no complete validation run: {runs}"
        time.sleep(0.2)


def nested_checks(url: str, run_id: str) -> list[str]:
    client = MlflowClient(tracking_uri=url)
    run = client.get_run(run_id)
    children = client.search_runs([run.info.experiment_id], f"tags.mlflow.parentRunId = '{run_id}'")
    return sorted(c.data.tags["validate.check"] for c in children)


def assert_one_clean_line(stderr: str, *fragments: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def test_unreachable_at_start_fails_closed_then_syncs_once(
    tmp_path, data_dir, models_dir, write_config
):
    port = free_port()  # nothing listens here yet
    url = f"http://127.0.0.1:{port}"
    config = base_config(data_dir, models_dir, promote={"model": "credit"})
    config["mlflow"]["tracking_uri"] = url
    report_path = tmp_path / "report.json"
    done = run_cli("run", "-c", str(write_config(config)), "--json", str(report_path))

    assert done.returncode == 3, done.stdout + done.stderr
    assert_one_clean_line(
        done.stderr,
        f"MLflow at {url} failed while creating the validation run",
        "nothing was promoted",
        f"validate sync {report_path}",
    )
    assert "accuracy  passed" in done.stdout  # the checks ran and are shown
    report = json.loads(report_path.read_text())
    assert report["decision"] == "pass" and report["exit_code"] == 3
    assert report["promotion"]["promoted"] is False
    assert report["checks"][0]["status"] == "passed" and report["checks"][0]["metrics"]["roc_auc"]
    pending = report["mlflow"]["pending"]
    assert pending["experiment"] == "tests" and pending["recorded_checks"] == {}
    assert Path(pending["artifacts"]).is_dir()
    copy = tmp_path / "copy.json"
    shutil.copy(report_path, copy)

    server = MlflowServer(tmp_path / "server", port).start()
    try:
        # Sync sends data only where it is told (never to the report's URI).
        synced = run_cli("sync", str(report_path), "--tracking-uri", url)
        assert synced.returncode == 0, synced.stderr
        assert synced.stdout.startswith("recorded MLflow run ") and "accuracy" in synced.stdout
        (run,) = validation_runs(url)
        assert run.data.tags["validate.decision"] == "pass"
        assert run.data.tags["validate.exit_code_at_run"] == "3"
        assert run.info.status == "FINISHED"
        assert run.data.params["config_hash"] == report["config_hash"]
        assert nested_checks(url, run.info.run_id) == ["accuracy"]
        assert "pending" not in json.loads(report_path.read_text())["mlflow"]

        # Again, and from an untouched copy of the pending report: no second run.
        again = run_cli("sync", str(report_path), "--tracking-uri", url)
        assert again.returncode == 0 and again.stdout.startswith("already recorded")
        from_copy = run_cli("sync", str(copy), env={"MLFLOW_TRACKING_URI": url})
        assert from_copy.returncode == 0 and from_copy.stdout.startswith("already recorded")
        assert len(validation_runs(url)) == 1
        assert nested_checks(url, run.info.run_id) == ["accuracy"]

        # A synced run is never promotable (the report is a file anyone could edit): it
        # carries no promotion target and is tagged as recorded by sync.
        assert run.data.tags["validate.recorded_by"] == "sync"
        assert "validate.promotion_target" not in run.data.tags
        promote = run_cli("promote", run.info.run_id, "--tracking-uri", url)
        assert promote.returncode in (1, 2), promote.stdout + promote.stderr
        assert_one_clean_line(promote.stderr)
        assert MlflowClient(tracking_uri=url).search_model_versions() == []
    finally:
        server.stop()


def test_server_killed_mid_run_keeps_results_and_sync_completes_the_run(
    tmp_path, data_dir, models_dir, write_config, plugin_env
):
    server = MlflowServer(tmp_path / "server").start()
    config = base_config(data_dir, models_dir)
    config["checks"]["waiter"] = {}
    config["mlflow"]["tracking_uri"] = server.url
    report_path = tmp_path / "report.json"
    process = start_validate(
        "run", "-c", str(write_config(config)), "--json", str(report_path), env=plugin_env
    )
    try:
        wait_for(Path(plugin_env["WAITER_STARTED"]), process=process)
        # The run is created while the checks run: the outage comes once it is complete
        # (its params logged), so what fails is recording a check.
        run = complete_validation_run(server.url)
        server.kill()  # SIGKILL: the server dies as in a crash
        Path(plugin_env["WAITER_RELEASE"]).touch()
        stdout, stderr = process.communicate(timeout=300)
    finally:
        if process.poll() is None:
            process.kill()

    assert process.returncode == 3, stdout + stderr
    assert_one_clean_line(stderr, "failed while recording check accuracy", "validate sync")
    report = json.loads(report_path.read_text())
    assert report["mlflow"]["run_id"] == run.info.run_id
    assert [c["status"] for c in report["checks"]] == ["passed", "passed"]

    server.start()  # same port, same store
    try:
        synced = run_cli("sync", str(report_path), "--tracking-uri", server.url)
        assert synced.returncode == 0, synced.stderr
        (after,) = validation_runs(server.url)  # the same run, completed: not a second one
        assert after.info.run_id == run.info.run_id
        assert after.info.status == "FINISHED" and after.data.tags["validate.decision"] == "pass"
        assert nested_checks(server.url, run.info.run_id) == ["accuracy", "waiter"]
        artifacts = MlflowClient(tracking_uri=server.url).list_artifacts(run.info.run_id)
        assert "validation_report.json" in [a.path for a in artifacts]
    finally:
        server.stop()


def test_sync_while_still_down_is_exit_3_and_loses_nothing(tmp_path, data_dir, models_dir):
    url = f"http://127.0.0.1:{free_port()}"
    report = {
        "decision": "pass",
        "report_id": "abc",
        "exit_code": 3,
        "checks": [],
        "mlflow": {
            "tracking_uri": url,
            "run_id": None,
            "pending": {"experiment": "x", "run_name": "r", "params": {}, "tags": {}},
        },
    }
    path = tmp_path / "report.json"
    path.write_text(json.dumps(report))
    done = run_cli("sync", str(path), "--tracking-uri", url)
    assert done.returncode == 3
    assert_one_clean_line(done.stderr, f"MLflow at {url} failed while looking for")
    assert json.loads(path.read_text()) == report  # untouched: sync can be retried
