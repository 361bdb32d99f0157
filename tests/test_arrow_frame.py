"""A drift-only run on plain numeric tables reads them without pandas (validate.arrow_frame,
issue 16): the frames hold what pandas would, the run records what the pandas run
records, and any table pandas would read differently goes to pandas."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from mlflow import MlflowClient

from validate.arrow_frame import plain_frame
from validate.stats import drift as ds


def _read(path: Path) -> pa.Table:
    return pq.ParquetFile(path).read(use_pandas_metadata=True)  # as validate.prefetch reads


def test_a_plain_frame_holds_what_pandas_reads(tmp_path):
    rng = np.random.default_rng(1)
    rows = 500
    with_nan = rng.normal(size=rows)
    with_nan[::7] = np.nan
    frame = pd.DataFrame(
        {
            "f64": rng.normal(size=rows),
            "with_nan": with_nan,
            "f32": rng.normal(size=rows).astype(np.float32),
            **{
                name: rng.integers(0, 100, rows).astype(name)
                for name in ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32")
            },
            "uint64": rng.integers(0, 2**62, rows).astype(np.uint64) * 3,
        }
    )
    frame.to_parquet(tmp_path / "t.parquet", row_group_size=128)  # several chunks
    read = pd.read_parquet(tmp_path / "t.parquet")
    table = _read(tmp_path / "t.parquet")
    sliced = pa.concat_tables([table.slice(3, 200), table.slice(203)])  # chunk offsets
    for source, expected in ((table, read), (sliced, read.iloc[3:].reset_index(drop=True))):
        plain = plain_frame(source)
        assert plain is not None
        assert plain.columns == list(expected.columns) and len(plain) == len(expected)
        for name in expected.columns:
            ours, theirs = plain[name], expected[name]
            assert ours.dtype == theirs.dtype
            assert ours.to_numpy().tobytes() == theirs.to_numpy().tobytes()
            assert np.array_equal(ours.isna(), theirs.isna().to_numpy())
            assert ours.dropna().to_numpy().tobytes() == theirs.dropna().to_numpy().tobytes()
            as_float = ours.to_numpy(dtype=float)
            assert as_float.tobytes() == theirs.to_numpy(dtype=float).tobytes()
            assert float(ours.isna().mean()) == float(theirs.isna().mean())


def _write(frame: pd.DataFrame, path: Path) -> pa.Table:
    frame.to_parquet(path)
    return _read(path)


@pytest.mark.parametrize(
    "table",
    [
        lambda p: _write(pd.DataFrame({"a": [1.0, 2.0], "s": ["x", "y"]}), p),
        lambda p: _write(pd.DataFrame({"a": [True, False]}), p),
        lambda p: _write(pd.DataFrame({"a": pd.array([1, None], dtype="Int64")}), p),
        lambda p: _write(pd.DataFrame({"a": pd.array([1, 2], dtype="Int64")}), p),
        lambda p: _write(pd.DataFrame({"a": pd.Categorical([1, 2])}), p),
        lambda p: _write(pd.DataFrame({"a": pd.to_datetime(["2026-01-01", "2026-01-02"])}), p),
        lambda p: _write(pd.DataFrame({0: [1.0, 2.0]}), p),  # pandas restores integer names
        lambda p: _write(pd.DataFrame({"a": [1.0]}, index=pd.Index([5], name="id")), p),
        lambda p: _write(pd.DataFrame({"a": [1.0]}, index=[7]), p),
        lambda p: pa.table({"a": pa.array([1, None])}),  # pandas reads it as floats
        lambda p: pa.table({"a": pa.array([1, 2], pa.float16())}),
        lambda p: pa.Table.from_arrays([pa.array([1.0]), pa.array([2.0])], names=["a", "a"]),
    ],
    ids=[
        "string",
        "bool",
        "int-with-null",
        "nullable-int",
        "category",
        "datetime",
        "integer-names",
        "named-index",
        "stored-index",
        "arrow-int-null",
        "float16",
        "duplicate-names",
    ],
)
def test_what_pandas_reads_otherwise_is_left_to_pandas(tmp_path, table):
    assert plain_frame(table(tmp_path / "t.parquet")) is None


def _metadata_of_a_plain_frame() -> dict:
    table = pa.Table.from_pandas(pd.DataFrame({"a": [1.0, 2.0], "b": [3, 4]}))
    return json.loads(table.schema.metadata[b"pandas"])


def _edited(edit) -> dict:
    metadata = _metadata_of_a_plain_frame()
    edit(metadata)
    return metadata


@pytest.mark.parametrize(
    "metadata",
    [
        {},
        {"columns": []},
        {"index_columns": []},
        _edited(lambda m: m["index_columns"][0].update(kind="bogus")),
        _edited(lambda m: m["index_columns"][0].pop("name")),
        _edited(lambda m: m["index_columns"][0].update(start="a")),
        _edited(lambda m: m["column_indexes"][0].pop("field_name")),
        _edited(lambda m: m["column_indexes"][0].update(numpy_type="int64")),
        _edited(lambda m: m["columns"].append(dict(m["columns"][0], name="q", field_name="q"))),
        _edited(lambda m: m["columns"].pop()),
        _edited(lambda m: m["columns"][0].update(pandas_type="datetimetz")),
        _edited(lambda m: m["columns"][0].update(metadata={"timezone": "UTC"})),
        _edited(lambda m: m.update(attributes=5)),
    ],
    ids=[
        "empty",
        "no-index",
        "no-columns",
        "unknown-index-kind",
        "index-without-name",
        "index-start-text",
        "level-without-key",
        "integer-names",
        "column-not-in-file",
        "column-not-described",
        "another-pandas-type",
        "column-metadata",
        "attributes-not-a-mapping",
    ],
)
def test_pandas_metadata_other_than_what_pandas_writes_is_left_to_pandas(metadata):
    """pandas refuses some of these and renames columns under others: its reader, not
    ours, decides what such a file holds (reported by a hostile review)."""
    table = pa.table({"a": [1.0, 2.0], "b": [3, 4]})
    assert plain_frame(table.replace_schema_metadata({b"pandas": json.dumps(metadata)})) is None
    assert plain_frame(table) is not None  # the same numbers without metadata are plain
    good = json.dumps(_metadata_of_a_plain_frame())
    assert plain_frame(table.replace_schema_metadata({b"pandas": good})) is not None


@pytest.mark.parametrize("seed", range(40))
def test_integer_labels_give_the_categorical_statistics_of_their_text(seed):
    """Label drift without pandas: the same floats as the categories compared as text
    (labels past 9 sort differently as text; unseen, vanished and tied categories)."""
    rng = np.random.default_rng(seed)
    k = int(rng.integers(1, 14))
    reference = rng.integers(0, k, int(rng.integers(1, 300))).astype(rng.choice(["int8", "int64"]))
    low = int(rng.integers(0, 3))
    current = rng.integers(low, low + k + int(rng.integers(0, 3)), 200)
    if seed % 5 == 0:
        reference = np.repeat(np.arange(k), 4)  # every count tied
    if seed % 7 == 0:
        reference = reference - 5  # negative labels
    expected = ds.categorical_statistics(
        pd.Series(reference).astype(str), pd.Series(current).astype(str)
    )
    # repr: every float to the last bit, and NaN (Cohen's w without counts) equal to NaN
    assert repr(ds.integer_label_statistics(reference, current)) == repr(expected)


DRIFT_ONLY = """\
data:
  eval: eval.parquet
  reference: reference.parquet
  target: label
  task: {task}
  features: [a, b, c, n]
checks:
  drift:
    thresholds: {{share_drifted_features: {{max: 0.6}}}}
mlflow:
  tracking_uri: sqlite:///mlflow.db
  experiment: plain
"""


def _tables(folder: Path, task: str, *, extra_text_column: bool) -> None:
    rng = np.random.default_rng(3)
    for name, shift, rows in (("reference", 0.0, 3000), ("eval", 0.4, 2500)):
        with_nan = rng.normal(shift, 1, rows)
        with_nan[::11] = np.nan
        label = {
            "binary": rng.integers(0, 2, rows).astype(np.int8),
            "multiclass": rng.integers(0, 12, rows),
            "regression": rng.normal(shift, 1, rows),
        }[task]
        frame = pd.DataFrame(
            {
                "a": rng.normal(shift, 1, rows),
                "b": with_nan,
                "c": rng.poisson(3, rows),
                "n": rng.normal(0, 1, rows).astype(np.float32),
                "label": label,
            }
        )
        if extra_text_column:  # not a feature: only how the table is read changes
            frame["note"] = "x"
        frame.to_parquet(folder / f"{name}.parquet", index=False)


def _run(folder: Path) -> tuple[dict, set[str]]:
    """A ``validate run`` in ``folder`` (its own store, as the config says): the report and
    every module the two processes imported."""
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    done = subprocess.run(
        [sys.executable, "-m", "validate", "run", "-c", "validation.yaml", "--json", "r.json"],
        cwd=folder,
        capture_output=True,
        text=True,
        env={**env, "PYTHONPROFILEIMPORTTIME": "1"},
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    imported = {
        line.split("|")[-1].strip()
        for line in done.stderr.splitlines()
        if line.startswith("import time:")
    }
    return json.loads((folder / "r.json").read_text()), imported


def _recorded(folder: Path, run_id: str) -> dict:
    client = MlflowClient(f"sqlite:///{folder / 'mlflow.db'}")
    experiment = client.get_run(run_id).info.experiment_id
    runs = [client.get_run(run_id), *client.search_runs([experiment], "")]
    return {
        run.data.tags.get("validate.check", "validation"): dict(sorted(run.data.metrics.items()))
        for run in runs
    }


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_a_plain_drift_run_records_what_the_pandas_run_records(tmp_path, task):
    results = {}
    for name, extra in (("plain", False), ("pandas", True)):
        folder = tmp_path / name
        folder.mkdir()
        _tables(folder, task, extra_text_column=extra)
        (folder / "validation.yaml").write_text(DRIFT_ONLY.format(task=task))
        report, imported = _run(folder)
        results[name] = (report, imported, _recorded(folder, report["mlflow"]["run_id"]))
    (plain, plain_imports, plain_metrics), (other, other_imports, other_metrics) = (
        results["plain"],
        results["pandas"],
    )
    assert "pandas" not in plain_imports and "pandas" in other_imports
    assert plain["decision"] == other["decision"]
    assert plain["checks"][0]["status"] == other["checks"][0]["status"]
    assert plain["checks"][0]["metrics"] == other["checks"][0]["metrics"]
    assert plain["checks"][0]["details"] == other["checks"][0]["details"]
    assert "label" in plain["checks"][0]["details"]
    assert plain_metrics == other_metrics
