"""Developer sessions: demo, tests, lint, typecheck, bench.

nox -s demo       build the credit sample and validate both candidates
nox -s tests      the full test suite (what .ci/run runs)
"""

from __future__ import annotations

import os
import shutil

import nox

nox.options.sessions = ["tests"]
nox.options.reuse_existing_virtualenvs = True

# TensorFlow's native start-up chatter would drown the demo's output.
QUIET_TF = {
    "TF_CPP_MIN_LOG_LEVEL": "2",
    "TF_USE_LEGACY_KERAS": "1",
    "MLFLOW_LOGGING_LEVEL": "WARNING",
}


@nox.session
def demo(session: nox.Session) -> None:
    """Build the credit sample; validate the biased (blocked) and good (promoted) candidates."""
    session.install("-e", ".[tf]")
    os.makedirs("reports", exist_ok=True)
    session.run("python", "sample_models/credit/build.py", env=QUIET_TF)
    session.log("biased candidate: expected to be BLOCKED (exit 1)")
    session.run(
        "validate",
        "run",
        "-c",
        "sample_models/credit/biased.yaml",
        "--json",
        "reports/biased.json",
        env=QUIET_TF,
        success_codes=[1],
    )
    session.log("good candidate: expected to PASS and be promoted (exit 0)")
    session.run(
        "validate",
        "run",
        "-c",
        "sample_models/credit/good.yaml",
        "--json",
        "reports/good.json",
        env=QUIET_TF,
        success_codes=[0],
    )
    session.log("biased candidate, remediated with MinDiff: expected to PASS after retraining")
    session.run(
        "validate",
        "remediate",
        "-c",
        "sample_models/credit/biased.yaml",
        "--out",
        "reports/remediated",
        env=QUIET_TF,
    )
    session.log("reports written to reports/; MLflow data in mlflow.db (mlflow ui to browse)")


@nox.session
def tests(session: nox.Session) -> None:
    """Every test: unit, CLI subprocess, real MLflow server on 127.0.0.1, TensorFlow models."""
    # torch pinned first, exactly: this version's CPU wheel is the one on the CI machines'
    # disk; a range (or the torch extra alone) would fetch a CUDA build of several GB.
    session.install("torch==2.13.0")
    session.install("-e", ".[all,dev]")
    args = session.posargs or ["-n", "2", "--durations=15", "--ignore=tests/k8s"]
    session.run("pytest", *args, env=QUIET_TF)


@nox.session
def k8s(session: nox.Session) -> None:
    """The Kubernetes executor against a real local control plane (built from Debian source
    and cached on first use; needs root for apt). Skipped, loudly, where it cannot be built."""
    import subprocess

    built = subprocess.run(
        ["bash", "tests/k8s/build_control_plane.sh"], capture_output=True, text=True, check=False
    )
    if built.returncode != 0:
        session.skip(
            "KUBERNETES INTEGRATION NOT RUN: the control plane cannot be built here: "
            + (built.stderr.strip().splitlines() or ["unknown reason"])[-1]
        )
    # The operator's /metrics are scraped by a real Prometheus (Debian's package); where it
    # cannot be installed, the metrics test is skipped with that reason, never silently.
    if shutil.which("prometheus") is None:
        prometheus = subprocess.run(
            ["bash", "-c", "apt-get install -y -qq prometheus || "
             "(apt-get update -qq && apt-get install -y -qq prometheus)"],
            capture_output=True,
            text=True,
            check=False,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        )  # fmt: skip
        if prometheus.returncode != 0:
            session.warn(  # the metrics test then skips, saying the same
                "PROMETHEUS NOT INSTALLED (apt-get install prometheus failed): "
                + (prometheus.stderr.strip().splitlines() or ["unknown reason"])[-1]
            )
    session.install("-e", ".[all,dev]")
    session.run(
        "pytest",
        "tests/k8s",
        "-p",
        "no:xdist",
        "-rA",
        "--durations=10",
        *session.posargs,
        env={**QUIET_TF, "VALIDATE_K8S": "1"},
    )


@nox.session
def lint(session: nox.Session) -> None:
    session.install("ruff")
    session.run(
        "ruff", "check", "validate", "checks", "tests", "sample_models", "benchmarks", "noxfile.py"
    )


@nox.session
def typecheck(session: nox.Session) -> None:
    session.install("-e", ".[dev]")
    session.run("mypy", "validate")


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks, each side by side with what users would otherwise run."""
    session.install("-e", ".[all,dev]")
    session.run("python", "benchmarks/startup.py")
    session.run("python", "benchmarks/bias.py")
    session.run("python", "benchmarks/accuracy.py")
    session.run("python", "benchmarks/verdict_quality.py")
    session.run("python", "benchmarks/latency.py", env=QUIET_TF)
    # Evidently 0.7 needs pandas<3: give its venv's python in EVIDENTLY_PYTHON to compare.
    evidently = os.environ.get("EVIDENTLY_PYTHON")
    session.run(
        "python", "benchmarks/drift.py", *(["--evidently-python", evidently] if evidently else [])
    )
