"""Parquet decoded in the background gives exactly the frame ``pandas.read_parquet`` gives,
and a file it cannot read is reported by the main reader as before; the reading a run
process starts before its config is validated is used only for exactly the files the
validated config names."""

from __future__ import annotations

import datetime as dt
import os

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from conftest import base_config, run_cli

from validate import prefetch as prefetch_module
from validate.config import load_config
from validate.data import prefetch_datasets, read_table
from validate.errors import DataError
from validate.prefetch import ParquetPrefetch, claim_early, frame_from_arrow, start_early


def _every_dtype(rows: int = 50) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "f64": rng.normal(size=rows),
            "f32": rng.normal(size=rows).astype(np.float32),
            "i8": rng.integers(0, 2, rows).astype(np.int8),
            "u32": rng.integers(0, 9, rows).astype(np.uint32),
            "nullable": pd.array([None if i % 7 == 0 else i for i in range(rows)], dtype="Int64"),
            "flag": rng.integers(0, 2, rows).astype(bool),
            "text": [None if i % 5 == 0 else f"g{i % 3}" for i in range(rows)],
            "category": pd.Categorical([f"c{i % 4}" for i in range(rows)]),
            "when": pd.date_range("2026-01-01", periods=rows, freq="h", tz="Europe/Berlin"),
            "day": [dt.date(2026, 1, 1 + i % 28) for i in range(rows)],
        },
        index=pd.RangeIndex(100, 100 + rows, name="row"),
    )
    frame.attrs = {"source": "test"}
    return frame


@pytest.mark.parametrize("index", [True, False])
def test_background_frame_equals_read_parquet(tmp_path, index):
    path = tmp_path / "data.parquet"
    _every_dtype().to_parquet(path, index=index)
    prefetch = ParquetPrefetch([str(path)])
    frame = prefetch.frame(str(path))
    assert frame is not None, "this pandas must convert in the background, or the speed-up is gone"
    expected = pd.read_parquet(path)
    pd.testing.assert_frame_equal(frame, expected, check_exact=True)
    assert frame.attrs == expected.attrs == {"source": "test"}
    assert list(frame.dtypes) == list(expected.dtypes)


def test_table_written_by_arrow_alone(tmp_path):
    # No pandas metadata at all: dictionary columns and large strings, as Spark or DuckDB write.
    path = tmp_path / "arrow.parquet"
    table = pa.table(
        {
            "group": pa.array(["a", "b", None, "a"]).dictionary_encode(),
            "text": pa.array(["x", "y", "z", None], type=pa.large_string()),
            "score": pa.array([0.1, 0.2, None, 0.4]),
        }
    )
    pq.write_table(table, path)
    frame = ParquetPrefetch([str(path)]).frame(str(path))
    pd.testing.assert_frame_equal(frame, pd.read_parquet(path), check_exact=True)
    direct = frame_from_arrow(pq.read_table(path, use_pandas_metadata=True))
    pd.testing.assert_frame_equal(direct, frame, check_exact=True)


def test_many_row_groups(tmp_path):
    path = tmp_path / "groups.parquet"
    frame = _every_dtype(rows=1000)
    frame.to_parquet(path, row_group_size=64)
    got = ParquetPrefetch([str(path)]).frame(str(path))
    pd.testing.assert_frame_equal(got, pd.read_parquet(path), check_exact=True)


def test_each_table_is_handed_over_once(tmp_path):
    path = tmp_path / "data.parquet"
    _every_dtype().to_parquet(path)
    prefetch = ParquetPrefetch([str(path), str(path)])
    assert prefetch.frame(str(path)) is not None
    assert prefetch.frame(str(path)) is None  # the reader then reads the file itself


def test_unreadable_file_is_reported_by_the_reader(tmp_path):
    path = tmp_path / "broken.parquet"
    path.write_bytes(b"PAR1 not really parquet")
    prefetch = ParquetPrefetch([str(path)])
    with pytest.raises(DataError, match=r"data\.eval: .*broken\.parquet: cannot read as parquet"):
        read_table(str(path), field="data.eval", prefetch=prefetch)


def test_csv_and_missing_files_are_left_to_the_reader(tmp_path):
    csv = tmp_path / "data.csv"
    csv.write_text("a,b\n1,2\n")
    missing = tmp_path / "absent.parquet"
    prefetch = ParquetPrefetch([str(csv), str(missing)])
    assert prefetch.frame(str(csv)) is None and prefetch.frame(str(missing)) is None
    assert read_table(str(csv), field="data.eval", prefetch=prefetch).to_dict("list") == {
        "a": [1],
        "b": [2],
    }
    with pytest.raises(DataError, match="file not found"):
        read_table(str(missing), field="data.eval", prefetch=prefetch)


# ----------------------------------------------------------------- before the config is valid


@pytest.fixture(autouse=True)
def _no_early_reading_left_behind():
    """A test that fails before claiming must not hand its early reading to the next."""
    yield
    prefetch_module._early = None


def _drift_config(folder, *, data: str, extra: str = "") -> str:
    config = folder / "validation.yaml"
    config.write_text(
        f"version: 1\ndata:\n{data}\n  target: y\nchecks:\n  drift: {{}}\n{extra}",
        encoding="utf-8",
    )
    return str(config)


def _two_files(folder) -> tuple[str, str]:
    for name, shift in (("eval", 0.5), ("reference", 0.0)):
        frame = pd.DataFrame({"x": np.arange(20) + shift, "y": np.arange(20) % 2})
        frame.to_parquet(folder / f"{name}.parquet", index=False)
    return str((folder / "eval.parquet").resolve()), str((folder / "reference.parquet").resolve())


def test_early_reading_is_taken_over_when_the_config_names_the_same_files(tmp_path, monkeypatch):
    data = tmp_path / "project"
    data.mkdir()
    eval_path, reference_path = _two_files(data)
    config = _drift_config(data, data="  eval: eval.parquet\n  reference: reference.parquet")
    monkeypatch.chdir(tmp_path)  # relative data paths resolve against the config's folder
    start_early("project/validation.yaml")
    early = prefetch_module._early
    assert early is not None
    taken = prefetch_datasets(load_config(config))
    assert taken is early.wait()[1]  # the same reading, not a second one
    assert prefetch_module._early is None  # let go once claimed
    for path in (eval_path, reference_path):
        pd.testing.assert_frame_equal(taken.frame(path), pd.read_parquet(path), check_exact=True)


def test_early_reading_of_other_files_is_dropped(tmp_path):
    eval_path, reference_path = _two_files(tmp_path)
    start_early(_drift_config(tmp_path, data="  eval: eval.parquet"))
    assert claim_early([eval_path, reference_path]) is None
    assert claim_early([eval_path]) is None  # once dropped, there is nothing to claim
    # Without an early start, the run reads its files itself, as before.
    fresh = prefetch_datasets(load_config(_drift_config(tmp_path, data="  eval: eval.parquet")))
    pd.testing.assert_frame_equal(fresh.frame(eval_path), pd.read_parquet(eval_path))


@pytest.mark.parametrize(
    "body",
    [
        "engine: {kind: spark, master: 'local[1]'}\n",  # the data stays on the cluster
        "engine: [local]\n",
    ],
)
def test_no_early_reading_for_spark_or_an_engine_not_plainly_local(tmp_path, body):
    eval_path, _ = _two_files(tmp_path)
    start_early(_drift_config(tmp_path, data="  eval: eval.parquet", extra=body))
    assert claim_early([eval_path]) is None


@pytest.mark.parametrize(
    "text",
    [
        "data: [eval.parquet]\n",
        "data:\n  eval: 7\n",
        "data:\n  eval: eval.parquet\n  eval: eval.parquet\n",  # a repeated key: refused
        "data: {eval: eval.parquet\n",  # not YAML
        "- just a list\n",
        'data:\n  eval: "a\\0b.parquet"\n',  # a NUL in a path: resolving it raises
        "\xff\xfe not UTF-8",
    ],
)
def test_a_config_of_unexpected_shape_starts_nothing(tmp_path, text):
    eval_path, _ = _two_files(tmp_path)
    config = tmp_path / "validation.yaml"
    config.write_bytes(b"\xff\xfe" if text.startswith("\xff") else text.encode())
    start_early(str(config))
    assert claim_early([eval_path]) is None


def test_a_missing_config_or_a_pipe_starts_nothing(tmp_path):
    eval_path, _ = _two_files(tmp_path)
    start_early(str(tmp_path / "absent.yaml"))
    assert claim_early([eval_path]) is None
    fifo = tmp_path / "validation.yaml"
    os.mkfifo(fifo)  # opened without blocking and refused, as load_config refuses it
    start_early(str(fifo))
    assert claim_early([eval_path]) is None


def test_a_config_too_large_to_parse_twice_starts_nothing(tmp_path):
    eval_path, _ = _two_files(tmp_path)
    padding = "# " + "x" * 78 + "\n"
    config = _drift_config(tmp_path, data="  eval: eval.parquet")
    with open(config, "a", encoding="utf-8") as handle:
        handle.write(padding * (prefetch_module.EARLY_CONFIG_MAX_CHARS // len(padding) + 1))
    start_early(config)
    assert claim_early([eval_path]) is None
    assert load_config(config).config.data.eval == "eval.parquet"  # still a valid config


def test_no_thread_to_be_had_is_no_early_reading(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise RuntimeError("can't start new thread")

    eval_path, _ = _two_files(tmp_path)
    monkeypatch.setattr(prefetch_module, "Background", refuse)
    start_early(_drift_config(tmp_path, data="  eval: eval.parquet"))
    assert claim_early([eval_path]) is None


def test_a_uri_is_not_read_as_a_local_path(tmp_path, monkeypatch):
    """``s3://bucket/e.parquet`` must not be read from a folder named ``s3:`` here."""
    (tmp_path / "s3:" / "bucket").mkdir(parents=True)
    pd.DataFrame({"x": [1.0]}).to_parquet(tmp_path / "s3:" / "bucket" / "e.parquet")
    monkeypatch.chdir(tmp_path)
    assert ParquetPrefetch(["s3://bucket/e.parquet"]).table("s3://bucket/e.parquet") is None


# Put first on the path of a ``validate run`` (the supervisor hands its path to the run
# process): records what the run process's claim_early returned.
CLAIM_RECORDER = """
import os
from validate import prefetch

claim = prefetch.claim_early


def recorded(paths):
    taken = claim(paths)
    with open(os.environ["VALIDATE_TEST_CLAIMS"], "a", encoding="utf-8") as log:
        log.write(("taken" if taken is not None else "none") + "\\n")
    return taken


prefetch.claim_early = recorded
"""


def test_the_supervised_run_takes_over_the_reading_it_started(tmp_path, data_dir):
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(CLAIM_RECORDER, encoding="utf-8")
    claims = tmp_path / "claims.log"
    config = tmp_path / "validation.yaml"
    settings = base_config(data_dir, tmp_path, model={}, checks={"drift": {}})
    settings["data"]["reference"] = str(data_dir / "train.parquet")
    config.write_text(yaml.safe_dump(settings), encoding="utf-8")
    path = os.pathsep.join(filter(None, [str(hooks), os.environ.get("PYTHONPATH")]))
    done = run_cli(
        "run",
        "-c",
        str(config),
        env={"PYTHONPATH": path, "VALIDATE_TEST_CLAIMS": str(claims)},
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert claims.read_text().split() == ["taken"]
