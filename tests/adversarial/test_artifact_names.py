"""Issue 13, item 15: file names built from data (a sensitive feature, a drifted column) are
sanitised, so ``race/ethnicity`` or ``../x`` can neither break a plot nor write outside the
check's own artifact folder, and two names cannot collide into one file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import base_config, make_frame, run_cli
from mlflow import MlflowClient

from checks.drift import DriftCheck
from validate.check import CheckContext
from validate.paths import safe_filename


@pytest.mark.parametrize(
    "name", ["race/ethnicity", "../x", "..", ".hidden", "a\\b", "x\x00y", "", "é" * 300]
)
def test_item15_safe_filename_is_one_plain_component(name):
    safe = safe_filename(name)
    assert safe and len(safe) <= 120
    assert Path(safe).name == safe and safe not in (".", "..")
    assert not safe.startswith(".")
    assert all(c.isalnum() or c in "-_." for c in safe) and safe.isascii()


def test_item15_safe_filename_keeps_plain_names_and_never_merges_two():
    assert safe_filename("age_band") == "age_band"
    assert safe_filename("sex_x_region") == "sex_x_region"
    assert safe_filename("race/ethnicity") != safe_filename("race_ethnicity")
    assert safe_filename("a/b") != safe_filename("a:b")


def test_item15_sensitive_feature_with_a_slash_is_plotted(tmp_path, models_dir):
    """The reported case, end to end: bias on ``race/ethnicity`` passes and keeps its plot."""
    frame = make_frame()
    frame["race/ethnicity"] = frame.pop("group")
    data = tmp_path / "data"
    data.mkdir()
    frame.to_parquet(data / "eval.parquet", index=False)
    checks = {
        "bias": {
            "sensitive_features": ["race/ethnicity"],
            "thresholds": {"demographic_parity_difference": {"max": 0.9}},
        }
    }
    config = tmp_path / "validation.yaml"
    config.write_text(yaml.safe_dump(base_config(data, models_dir, checks=checks)))
    report = tmp_path / "out" / "report.json"
    report.parent.mkdir()

    done = run_cli("run", "-c", str(config), "--json", str(report), cwd=tmp_path)

    assert done.returncode == 0, done.stdout + done.stderr
    (bias,) = json.loads(report.read_text())["checks"]
    assert bias["status"] == "passed", bias["message"]
    (plot,) = bias["details"]["artifacts"]
    assert plot == f"bias_{safe_filename('race/ethnicity')}.svg"
    assert not list(tmp_path.rglob("ethnicity*")), "a file escaped the check's folder"
    run_id = json.loads(report.read_text())["mlflow"]["run_id"]
    client = MlflowClient()
    runs = client.search_runs([client.get_run(run_id).info.experiment_id])
    logged = [a.path for run in runs for a in _all_artifacts(client, run.info.run_id)]
    assert [path for path in logged if Path(path).name == plot], logged


def test_item15_drifted_column_names_stay_in_the_check_folder(tmp_path):
    rng = np.random.default_rng(0)
    names = ["../x", "a/b", "a_b"]
    reference = pd.DataFrame({n: rng.normal(size=500) for n in names})
    current = pd.DataFrame({n: rng.normal(loc=3.0, size=500) for n in names})
    folder = tmp_path / "checks" / "drift"
    folder.mkdir(parents=True)
    y = np.zeros(500, dtype=int)
    y[::3] = 1
    context = CheckContext(
        task="binary",
        target="label",
        features=tuple(names),
        eval_data=current,
        reference_data=reference,
        y_true=y,
        candidate_scores=np.linspace(0, 1, 500),
        artifact_dir=str(folder),
    )

    result = DriftCheck.from_config("drift", {}, task="binary").run(context)

    written = result.details["artifacts"]
    assert len(written) == len(set(written)) == 3  # a/b and a_b did not collide
    assert sorted(p.name for p in folder.iterdir()) == sorted(written)
    assert sorted(p.name for p in (tmp_path / "checks").iterdir()) == ["drift"]
    assert not (tmp_path / "x.svg").exists() and not (tmp_path / "checks" / "drift_").exists()


def _all_artifacts(client: MlflowClient, run_id: str, path: str | None = None) -> list:
    found = []
    for item in client.list_artifacts(run_id, path):
        found.extend(_all_artifacts(client, run_id, item.path) if item.is_dir else [item])
    return found
