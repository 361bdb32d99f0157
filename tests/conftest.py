"""Shared fixtures: small real data, real scikit-learn models saved as MLflow folders, configs."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

# pytester restores sys.modules after each test; pandas' Arrow extension types, imported
# lazily by the first to_parquet, then register twice with pyarrow. Import them up front.
import pandas.core.arrays.arrow.extension_types  # noqa: F401, E402
import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
FEATURES = ["x1", "x2", "x3"]


@pytest.fixture(autouse=True)
def _isolated_mlflow(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test gets its own sqlite MLflow and working directory."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")
    monkeypatch.setenv("TF_USE_LEGACY_KERAS", "1")
    import mlflow

    mlflow.set_tracking_uri(os.environ["MLFLOW_TRACKING_URI"])
    mlflow.set_registry_uri(os.environ["MLFLOW_TRACKING_URI"])


def make_frame(n: int = 800, seed: int = 0) -> pd.DataFrame:
    """A binary task with signal in x1 and x2, a group column, and precomputed scores."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({f: rng.normal(size=n) for f in FEATURES})
    logit = 1.5 * frame["x1"] - 1.0 * frame["x2"]
    frame["label"] = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    frame["group"] = rng.choice(["a", "b"], size=n)
    frame["score"] = 1 / (1 + np.exp(-logit))
    frame["weak_score"] = 1 / (1 + np.exp(-(0.2 * frame["x1"])))
    return frame


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Real scikit-learn models saved as MLflow model folders (trained once per session)."""
    import mlflow.sklearn
    from sklearn.linear_model import LinearRegression, LogisticRegression

    folder = tmp_path_factory.mktemp("models")
    train = make_frame(2000, seed=1)
    good = LogisticRegression().fit(train[FEATURES], train["label"])
    weak = LogisticRegression().fit(train[["x3"]], train["label"])
    three = np.digitize(train["x1"], [-0.5, 0.5])
    multi = LogisticRegression(max_iter=500).fit(train[FEATURES], three)
    regression = LinearRegression().fit(train[FEATURES], train["x1"] * 2)
    mlflow.sklearn.save_model(good, str(folder / "good"))
    mlflow.sklearn.save_model(weak, str(folder / "weak"))
    mlflow.sklearn.save_model(multi, str(folder / "three_class"))
    mlflow.sklearn.save_model(regression, str(folder / "regression"))
    return folder


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    folder.mkdir()
    frame = make_frame()
    frame.to_parquet(folder / "eval.parquet", index=False)
    frame.to_csv(folder / "eval.csv", index=False)
    make_frame(1000, seed=3).to_parquet(folder / "train.parquet", index=False)
    return folder


def base_config(data_dir: Path, models_dir: Path, **overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "version": 1,
        "model": {"candidate": str(models_dir / "good")},
        "data": {
            "eval": str(data_dir / "eval.parquet"),
            "target": "label",
            "features": FEATURES,
            "task": "binary",
        },
        "checks": {"accuracy": {"thresholds": {"roc_auc": {"min": 0.7}}}},
        "mlflow": {"experiment": "tests"},
    }
    for dotted, value in overrides.items():
        node = config
        *parents, last = dotted.split(".")
        for key in parents:
            node = node.setdefault(key, {})
        if value is _DELETE:
            node.pop(last, None)
        else:
            node[last] = value
    return config


_DELETE = object()


@pytest.fixture
def write_config(tmp_path: Path):
    """Write a config dict (or raw text) to validation.yaml and return its path."""

    def write(config: dict[str, Any] | str, name: str = "validation.yaml") -> Path:
        path = tmp_path / name
        text = config if isinstance(config, str) else yaml.safe_dump(config, sort_keys=False)
        path.write_text(text, encoding="utf-8")
        return path

    return write


@pytest.fixture
def delete() -> object:
    return _DELETE


def run_cli(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """Run the real ``validate`` console script as a subprocess."""
    exe = Path(sys.executable).parent / "validate"
    return subprocess.run(
        [str(exe), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        cwd=cwd,
        check=False,
    )


def install_fake_distribution(
    site: Path, name: str, entry_points: dict[str, str], modules: dict[str, str]
):
    """A real (minimal) installed distribution: a .dist-info folder with entry_points.txt."""
    dist = site / f"{name}-0.1.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    lines = "\n".join(f"{k} = {v}" for k, v in entry_points.items())
    (dist / "entry_points.txt").write_text(f"[validate.checks]\n{lines}\n")
    for module, source in modules.items():
        (site / f"{module}.py").write_text(textwrap.dedent(source))


def register_champion(model_dir: Path, name: str = "credit", alias: str = "champion") -> str:
    """Log a model folder to the current tracking server and point ``alias`` at it."""
    import mlflow
    from mlflow import MlflowClient

    mlflow.set_experiment("champions")
    with mlflow.start_run() as run:
        mlflow.log_artifacts(str(model_dir), "model")
    version = str(mlflow.register_model(f"runs:/{run.info.run_id}/model", name).version)
    MlflowClient().set_registered_model_alias(name, alias, version)
    return version


TEST_CHECKS = """
    import os, time
    from validate import CheckResult, Status

    class Raising:
        def run(self, context):
            raise ValueError("division by zero in a plugin")

    class Skipper:
        def run(self, context):
            return CheckResult(name="skipper", status=Status.SKIPPED,
                               message="no GPU on this runner")

    class Barrier:
        # Passes once two validations have reached it: makes promotions race for real.

        def run(self, context):
            folder = os.environ["BARRIER_DIR"]
            open(os.path.join(folder, str(os.getpid())), "w").close()
            deadline = time.monotonic() + 120
            while len(os.listdir(folder)) < 2 and time.monotonic() < deadline:
                time.sleep(0.05)
            return CheckResult(name="barrier", status=Status.PASSED, message="both arrived")

    class Waiter:
        # Says it started, then waits for the test to release it (a server is killed meanwhile).
        def run(self, context):
            open(os.environ["WAITER_STARTED"], "w").close()
            deadline = time.monotonic() + 120
            while not os.path.exists(os.environ["WAITER_RELEASE"]) and time.monotonic() < deadline:
                time.sleep(0.05)
            return CheckResult(name="waiter", status=Status.PASSED, message="released")

    class Stubborn:
        # Swallows Ctrl-C like a check stuck in native code; only a second Ctrl-C ends the run.
        def run(self, context):
            started = os.environ["STUBBORN_STARTED"]
            open(started, "w").close()
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                try:
                    time.sleep(0.05)
                except KeyboardInterrupt:
                    open(started + ".ignored", "w").close()
            return CheckResult(name="stubborn", status=Status.PASSED)

    class Sleepy:
        def run(self, context):
            open(os.environ["SLEEPY_MARKER"], "w").close()
            time.sleep(60)
            return CheckResult(name="sleepy", status=Status.PASSED)
"""


@pytest.fixture
def plugin_env(tmp_path: Path) -> dict[str, str]:
    """PYTHONPATH with an installed distribution offering the ``raising`` and ``sleepy`` checks."""
    site = tmp_path / "site"
    install_fake_distribution(
        site,
        "test_checks",
        {
            "raising": "test_checks_mod:Raising",
            "sleepy": "test_checks_mod:Sleepy",
            "skipper": "test_checks_mod:Skipper",
            "barrier": "test_checks_mod:Barrier",
            "waiter": "test_checks_mod:Waiter",
            "stubborn": "test_checks_mod:Stubborn",
        },
        {"test_checks_mod": TEST_CHECKS},
    )
    return {
        "PYTHONPATH": str(site),
        "SLEEPY_MARKER": str(tmp_path / "sleepy.started"),
        "WAITER_STARTED": str(tmp_path / "waiter.started"),
        "WAITER_RELEASE": str(tmp_path / "waiter.release"),
        "STUBBORN_STARTED": str(tmp_path / "stubborn.started"),
    }
