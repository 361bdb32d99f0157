"""The bad-input corpus: every file in tests/bad_inputs/ is one bad config, data set, model
or environment. Each must give exit 2 and one line that names the place and the fix, with
no traceback, no MLflow run recorded as passed and no alias moved.

A case file holds ``what`` (one sentence), ``expect`` (fragments of the error line) and
any of: ``config`` (dotted overrides of the base config), ``config_text`` (the whole file),
``setup`` (steps that write bad data or models), ``args`` (extra CLI arguments),
``block_imports`` (modules made unimportable: run in a subprocess) and ``tensorflow``
(needs the tf extra). ``{data}``, ``{models}`` and ``{tmp}`` expand to the test's folders.
"""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path
from typing import Any

import mlflow.pyfunc
import numpy as np
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner
from conftest import base_config, run_cli

from validate.cli import cli

CORPUS = Path(__file__).parent / "bad_inputs"
CASES = sorted(CORPUS.glob("*.yaml"))


class RaisingModel(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):
        raise ValueError("feature store timed out")


class ThreeColumns(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):
        return np.full((len(model_input), 3), 1 / 3)


class Short(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):
        return np.full(len(model_input) // 2, 0.5)


MODELS = {"raising": RaisingModel, "three_columns": ThreeColumns, "short": Short}

BLOCKER = """
import importlib.abc, sys
BLOCKED = {blocked!r}
class Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named '{{name}}'", name=name)
        return None
sys.meta_path.insert(0, Blocker())
"""


def test_the_corpus_is_large_enough():
    assert len(CASES) >= 30


@pytest.mark.parametrize("case_file", CASES, ids=[c.stem for c in CASES])
def test_bad_input(case_file, tmp_path, data_dir, models_dir):
    case = yaml.safe_load(case_file.read_text())
    if case.get("tensorflow"):
        pytest.importorskip("tf_keras")
    places = {"{data}": str(data_dir), "{models}": str(models_dir), "{tmp}": str(tmp_path)}
    expand = _expander(places)
    for step in case.get("setup", []):
        _apply(expand(step), data_dir, models_dir)
    config_path = tmp_path / "validation.yaml"
    if "config_text" in case:
        config_path.write_text(case["config_text"])
    else:
        config = base_config(data_dir, models_dir, **expand(case.get("config", {})))
        config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    args = ["run", "-c", str(config_path), *expand(case.get("args", []))]

    if case.get("block_imports"):
        shim = tmp_path / "shim"
        shim.mkdir()
        blocker = BLOCKER.format(blocked=tuple(case["block_imports"]))
        (shim / "sitecustomize.py").write_text(textwrap.dedent(blocker))
        done = run_cli(*args, env={"PYTHONPATH": str(shim)})
        code, stderr, stdout = done.returncode, done.stderr, done.stdout
    else:
        result = CliRunner().invoke(cli, args, catch_exceptions=False)
        code, stderr, stdout = result.exit_code, result.stderr, result.stdout

    assert code == 2, (stdout, stderr)
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("validate: error: ")
    assert "Traceback" not in stderr + stdout
    for fragment in case["expect"]:
        assert fragment in lines[0], f"{fragment!r} not in {lines[0]!r}"
    _assert_nothing_passed()


def _expander(places: dict[str, str]):
    def expand(value: Any) -> Any:
        if isinstance(value, str):
            for token, replacement in places.items():
                value = value.replace(token, replacement)
            return value
        if isinstance(value, list):
            return [expand(v) for v in value]
        if isinstance(value, dict):
            return {k: expand(v) for k, v in value.items()}
        return value

    return expand


def _apply(step: dict[str, Any], data_dir: Path, models_dir: Path) -> None:
    ((kind, spec),) = step.items()
    if kind == "write":
        path = Path(spec["path"])
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(spec["text"])
    elif kind == "mkdir":
        Path(spec).mkdir(parents=True)
    elif kind == "table":
        _write_table(spec, data_dir)
    elif kind == "model":
        if spec["kind"] == "copy":
            shutil.copytree(models_dir / spec.get("from", "good"), spec["to"])
        else:
            mlflow.pyfunc.save_model(path=spec["to"], python_model=MODELS[spec["kind"]]())
    else:
        raise AssertionError(f"unknown setup step {kind}")


def _write_table(spec: dict[str, Any], data_dir: Path) -> None:
    """A copy of a fixture table with columns dropped, set, renamed or rows removed."""
    frame = pd.read_parquet(data_dir / spec.get("from", "eval.parquet"))
    frame = frame.drop(columns=spec.get("drop", []))
    for column, value in spec.get("set", {}).items():
        frame[column] = np.nan if value is None else value
    for column, rows in spec.get("set_rows", {}).items():
        # [3, 4] blanks those rows; [[row, value], ...] sets values.
        frame[column] = frame[column].astype(object)
        for row in rows:
            index, value = (row, None) if isinstance(row, int) else row
            frame.loc[index, column] = value
    if "rows" in spec:
        frame = frame.head(spec["rows"])
    target = data_dir / spec["to"]
    if target.suffix == ".csv":
        header = [spec.get("rename", {}).get(c, c) for c in frame.columns]
        frame.to_csv(target, index=False, header=header)
    else:
        frame.rename(columns=spec.get("rename", {})).to_parquet(target, index=False)


def _assert_nothing_passed() -> None:
    from mlflow import MlflowClient

    runs = mlflow.search_runs(search_all_experiments=True, output_format="list")
    assert not [r for r in runs if r.data.tags.get("validate.decision") == "pass"]
    for model in MlflowClient().search_registered_models():
        assert not model.aliases
