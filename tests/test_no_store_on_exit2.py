"""A run refused with exit 2 creates and migrates no tracking store, whatever the URI's
spelling (MLflow is imported on a background thread while the run prepares)."""

from __future__ import annotations

import subprocess
import sys

import pytest

CONFIG = """\
version: 1
model:
  candidate: emptymodel
data:
  eval: eval.csv
  target: y
  features: [x]
checks:
  accuracy:
    thresholds:
      roc_auc: {{min: 0.5}}
mlflow:
  tracking_uri: {uri}
  experiment: e
"""


@pytest.mark.parametrize(
    ("uri", "store"),
    [
        ("sqlite:///fresh.db", "fresh.db"),
        ("sqlite+pysqlite:///fresh.db", "fresh.db"),
        ("SQLITE:///fresh.db", "fresh.db"),
        ("sqlite:///empty.db", "empty.db"),  # an empty file is not a store yet
    ],
)
def test_a_model_error_leaves_no_store(tmp_path, uri, store):
    (tmp_path / "emptymodel").mkdir()  # a model folder with nothing in it: exit 2
    (tmp_path / "eval.csv").write_text("x,y\n0.1,0\n0.9,1\n0.4,0\n0.8,1\n", encoding="utf-8")
    (tmp_path / "validation.yaml").write_text(CONFIG.format(uri=uri), encoding="utf-8")
    if store == "empty.db":
        (tmp_path / store).touch()
    done = subprocess.run(
        [sys.executable, "-m", "validate", "run", "-c", "validation.yaml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "emptymodel" in done.stderr
    path = tmp_path / store
    assert not path.exists() if store == "fresh.db" else path.stat().st_size == 0
