"""The Kubernetes integration session: a real control plane, the node agent, and a real
MLflow server, all on 127.0.0.1. Run by ``nox -s k8s`` (VALIDATE_K8S=1); a plain pytest
run skips this folder with a message saying so."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from control_plane import ControlPlane, binaries  # noqa: E402
from mlflow_server import MlflowServer  # noqa: E402
from node_agent import NodeAgent  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
ENABLED = os.environ.get("VALIDATE_K8S") == "1"


def pytest_collection_modifyitems(config, items):
    if ENABLED:
        return
    skip = pytest.mark.skip(
        reason="KUBERNETES INTEGRATION NOT RUN: set VALIDATE_K8S=1 (nox -s k8s builds and "
        "starts the control plane)"
    )
    for item in items:
        if "tests/k8s" in str(item.fspath):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def cluster(tmp_path_factory):
    """The control plane plus one node with one GPU; yields the kubeconfig path."""
    warnings.filterwarnings("ignore", message="Unverified HTTPS request")
    try:
        bin_dir = binaries()
    except RuntimeError as exc:
        pytest.fail(f"KUBERNETES CONTROL PLANE UNAVAILABLE: {exc}")
    folder = tmp_path_factory.mktemp("k8s")
    plane = ControlPlane(folder / "plane", bin_dir).start()
    agent = NodeAgent(plane.kubeconfig, folder / "node", gpus=1).start()
    try:
        yield plane
    finally:
        agent.stop()
        plane.stop()


@pytest.fixture(scope="session")
def mlflow_url(tmp_path_factory):
    server = MlflowServer(tmp_path_factory.mktemp("mlflow")).start()
    yield server.url
    server.stop()


@pytest.fixture(scope="session")
def sample(tmp_path_factory, mlflow_url):
    """The credit sample, built once, its champion registered on the MLflow server."""
    folder = tmp_path_factory.mktemp("credit")
    env = {**os.environ, "MLFLOW_TRACKING_URI": mlflow_url, "TF_CPP_MIN_LOG_LEVEL": "2"}
    built = subprocess.run(
        [
            sys.executable,
            str(REPO / "sample_models/credit/build.py"),
            "--out",
            str(folder / "artifacts"),
        ],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert built.returncode == 0, built.stderr[-2000:]
    return folder
