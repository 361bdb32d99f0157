"""The sample model repository runs as its README says: train, then pytest with the plugin."""

import os
import shutil
import subprocess
import sys

import yaml
from conftest import REPO

SAMPLE = REPO / "sample_models" / "model_repo"


def test_sample_repo_trains_and_its_pytest_run_passes(tmp_path):
    repo = tmp_path / "model_repo"
    shutil.copytree(SAMPLE, repo, ignore=shutil.ignore_patterns("artifacts", "mlflow.db", "mlruns"))
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{repo / 'mlflow.db'}"}
    trained = subprocess.run(
        [sys.executable, "train.py"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert trained.returncode == 0, trained.stderr[-2000:]
    tested = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rA"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert tested.returncode == 0, tested.stdout[-3000:] + tested.stderr[-2000:]
    assert "5 passed" in tested.stdout  # two check items and three hand-written tests
    assert "PASSED validation.yaml::accuracy" in tested.stdout
    assert "PASSED validation.yaml::bias" in tested.stdout


def test_sample_workflow_uses_the_action_and_promotes_on_merge():
    workflow = yaml.safe_load((SAMPLE / ".github" / "workflows" / "validate.yml").read_text())
    steps = workflow["jobs"]["validate"]["steps"]
    action = next(s for s in steps if str(s.get("uses", "")).endswith("/ci@v0"))
    assert action["with"]["config"] == "validation.yaml"
    assert "push" in action["with"]["promote"]
