"""Parquet files decoded on a background thread while the run imports its checks (issue 16).

A run's first half second is importing pandas and the checks' libraries, which holds the
GIL; decoding parquet is Arrow's C++ code, which does not. Started as soon as the config
is read, the decoding overlaps the imports; the main thread then turns each Arrow table
into the DataFrame ``pandas.read_parquet`` would have built from it.

Nothing here reports a problem: a file that cannot be read in the background is simply
read again on the main thread, whose reader says what is wrong with it.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from validate.background import Background

if TYPE_CHECKING:
    import pandas as pd

PARQUET_SUFFIXES = (".parquet", ".pq")


class ParquetPrefetch:
    """The Arrow tables of ``paths`` (those that are parquet files), read in the background."""

    def __init__(self, paths: Iterable[str]) -> None:
        wanted = [
            path
            for path in dict.fromkeys(paths)
            if Path(path).suffix.lower() in PARQUET_SUFFIXES and Path(path).is_file()
        ]
        self._work = Background(lambda: _read_all(wanted), name="validate-read-parquet")

    def table(self, path: str) -> Any:
        """The Arrow table read from ``path`` (waiting for the reading), or None; it stays
        here for :meth:`frame` (validate.data.load_plain_datasets reads it without pandas)."""
        return (self._work.wait() or {}).get(path)

    def frame(self, path: str) -> pd.DataFrame | None:
        """``pandas.read_parquet(path)``, from the table read in the background; None when
        there is none (not parquet, unreadable, or a pandas that converts differently):
        the caller then reads the file itself."""
        tables = self._work.wait() or {}
        table = tables.pop(path, None)  # each table is converted once, then let go
        return None if table is None else frame_from_arrow(table)


def _read_all(paths: list[str]) -> dict[str, Any]:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        return {}
    tables = {}
    for path in paths:
        try:
            # One file, read directly: pq.read_table would import pyarrow.dataset (a tenth of
            # a second) to read the same columns. use_pandas_metadata, as pandas asks: the
            # index columns pandas stored come back.
            tables[path] = pq.ParquetFile(path).read(use_pandas_metadata=True)
        except Exception:  # noqa: BLE001, S112 - the main thread reads it again and reports
            continue
    return tables


def frame_from_arrow(table: Any) -> pd.DataFrame | None:
    """What ``pandas.read_parquet`` (pyarrow engine, default dtypes) builds from the table it
    read: pandas' own conversion, and the ``attrs`` it stores in the schema; None when this
    pandas has no such conversion (tests/test_prefetch.py compares the two on every dtype)."""
    try:
        from pandas.io._util import arrow_table_to_pandas
    except ImportError:
        return None
    with warnings.catch_warnings():
        # pandas silences this one itself around the same call.
        warnings.filterwarnings("ignore", "make_block is deprecated")
        frame = arrow_table_to_pandas(table)
    metadata = table.schema.metadata or {}
    if b"PANDAS_ATTRS" in metadata:
        frame.attrs = json.loads(metadata[b"PANDAS_ATTRS"])
    return frame
