"""Plant known secrets in the environment and the tracking URI, run validations (recorded,
promoted, and one during an outage), then scan every output for them: console, JSON,
JUnit, HTML, the GitHub step summary and outputs, the pending report and its files, and
everything MLflow holds (params, tags, metric keys, artifacts, registry)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import base_config, run_cli
from mlflow import MlflowClient
from mlflow_server import MlflowServer, free_port

pytestmark = pytest.mark.integration

SECRETS = {
    "MLFLOW_TRACKING_TOKEN": "tok-9f2c1b7e0d",
    "MLFLOW_TRACKING_PASSWORD": "pw-77d1e0c3aa",
    "AWS_SECRET_ACCESS_KEY": "aws-5b0c6d2f91e4",
    "AWS_ACCESS_KEY_ID": "AKIA3SECRETX7Q",
    "AZURE_STORAGE_CONNECTION_STRING": "AccountKey=az-0c4e8f1b",
    "GOOGLE_APPLICATION_CREDENTIALS": "/secrets/gcp-key-31d9.json",
}
URI_PASSWORD = "uri-pass-4a6b8c"


def assert_clean(text: str, where: str) -> None:
    for value in (*SECRETS.values(), URI_PASSWORD):
        assert value not in text, f"secret {value!r} leaked into {where}"


def test_no_secret_reaches_any_output(tmp_path, data_dir, models_dir, write_config):
    server = MlflowServer(tmp_path / "server").start()
    port = server.url.rsplit(":", 1)[1]
    secret_uri = f"http://validator:{URI_PASSWORD}@127.0.0.1:{port}"
    summary, outputs = tmp_path / "summary.md", tmp_path / "outputs.txt"
    env = {
        **SECRETS,
        "MLFLOW_TRACKING_URI": secret_uri,
        "GITHUB_STEP_SUMMARY": str(summary),
        "GITHUB_OUTPUT": str(outputs),
    }
    config = base_config(
        data_dir,
        models_dir,
        checks={
            "accuracy": {"thresholds": {"roc_auc": {"min": 0.7}}},
            "bias": {
                "sensitive_features": ["group"],
                "thresholds": {"demographic_parity_difference": {"max": 0.001}},
                "blocking": False,
            },
        },
        promote={"model": "credit"},
    )
    reports = tmp_path / "reports"
    reports.mkdir()
    texts: dict[str, str] = {}
    try:
        done = run_cli(
            "run",
            "-c",
            str(write_config(config)),
            "--json",
            str(reports / "r.json"),
            "--junit",
            str(reports / "r.xml"),
            "--html",
            str(reports / "r.html"),
            env=env,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        texts["run console"] = done.stdout + done.stderr
        github = run_cli("github-report", str(reports / "r.json"), env=env)
        texts["github-report console"] = github.stdout + github.stderr
        texts["step summary"] = summary.read_text() if summary.exists() else ""
        texts["step outputs"] = outputs.read_text() if outputs.exists() else ""

        # An outage: the same secrets, a port nothing listens on; the report is kept locally.
        down = f"http://validator:{URI_PASSWORD}@127.0.0.1:{free_port()}"
        config["mlflow"]["tracking_uri"] = down
        offline = run_cli(
            "run",
            "-c",
            str(write_config(config, "offline.yaml")),
            "--json",
            str(reports / "offline.json"),
            env={**env, "MLFLOW_TRACKING_URI": down},
        )
        assert offline.returncode == 3, offline.stdout + offline.stderr
        texts["outage console"] = offline.stdout + offline.stderr

        for path in reports.rglob("*"):
            if path.is_file():
                texts[str(path)] = path.read_text(errors="replace")
        texts.update(_everything_in_mlflow(server.url, tmp_path / "downloads"))
    finally:
        server.stop()

    assert any("offline.artifacts" in where for where in texts)  # the kept check files
    assert len(texts) > 12
    for where, text in texts.items():
        assert_clean(text, where)


def _everything_in_mlflow(url: str, downloads: Path) -> dict[str, str]:
    client = MlflowClient(tracking_uri=url)
    texts = {}
    experiments = client.search_experiments()
    for run in client.search_runs([e.experiment_id for e in experiments]):
        run_id = run.info.run_id
        texts[f"run {run_id} params"] = repr(run.data.params)
        texts[f"run {run_id} tags"] = repr(run.data.tags)
        texts[f"run {run_id} metrics"] = repr(run.data.metrics)
        local = Path(client.download_artifacts(run_id, "", str(downloads / run_id)))
        for path in local.rglob("*"):
            if path.is_file():
                texts[f"artifact {path}"] = path.read_text(errors="replace")
    for model in client.search_registered_models():
        texts[f"registered {model.name}"] = repr(model)
        for version in client.search_model_versions(f"name = '{model.name}'"):
            texts[f"version {model.name}/{version.version}"] = repr(version)
    return texts
