"""Plain numeric parquet tables as the run's frames, without importing pandas (issue 16).

A drift-only run (no model, no score columns) on tables of plain numbers reads nothing
pandas adds: per column, its values, which are missing, and its dtype. Importing pandas
was a third of such a run. :class:`ArrowFrame` holds each column as the NumPy array
``pandas.read_parquet`` would have given it, and offers the few DataFrame and Series
operations the column checks (validate.data) and the drift check read, with pandas'
results (tests/test_arrow_frame.py runs both on the same files).

Only the plain case is taken (:func:`plain_frame`): integer and float columns without
Arrow nulls, names pandas keeps as they are, no index stored in the file. Anything
else returns None and the run reads the file with pandas as always, so every problem
is reported by the same reader in the same words.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np


class ArrowSeries:
    """One column's values, with the pandas Series operations the checks use."""

    def __init__(self, values: np.ndarray) -> None:
        self._values = values

    @property
    def dtype(self) -> np.dtype:
        return self._values.dtype

    @property
    def empty(self) -> bool:
        return len(self._values) == 0

    def __len__(self) -> int:
        return len(self._values)

    def isna(self) -> np.ndarray:
        """Which values are missing (NaN; integers never are), as ``Series.isna``."""
        if self._values.dtype.kind == "f":
            return np.isnan(self._values)
        return np.zeros(len(self._values), dtype=bool)

    def dropna(self) -> ArrowSeries:
        missing = self.isna()
        return ArrowSeries(self._values[~missing]) if missing.any() else self

    def to_numpy(self, dtype: Any = None) -> np.ndarray:
        return self._values if dtype is None else self._values.astype(dtype, copy=False)


class ArrowFrame:
    """Columns by name, each the array pandas would hold; ``len`` is the row count."""

    def __init__(self, columns: dict[str, np.ndarray], rows: int) -> None:
        self._columns = columns
        self._rows = rows

    @property
    def columns(self) -> list[str]:
        return list(self._columns)

    def __len__(self) -> int:
        return self._rows

    def __getitem__(self, name: str) -> ArrowSeries:
        return ArrowSeries(self._columns[name])


def plain_frame(table: Any) -> ArrowFrame | None:
    """The table as an :class:`ArrowFrame` when pandas would read it as plain NumPy number
    columns under the same names; None otherwise (the caller reads it with pandas)."""
    import pyarrow as pa

    names = list(table.column_names)
    stored = _pandas_dtypes(table, names)
    if len(set(names)) != len(names) or stored is None:
        return None
    dtypes = {
        kind: np.dtype(name)
        for kind, name in (
            (pa.int8(), "int8"),
            (pa.int16(), "int16"),
            (pa.int32(), "int32"),
            (pa.int64(), "int64"),
            (pa.uint8(), "uint8"),
            (pa.uint16(), "uint16"),
            (pa.uint32(), "uint32"),
            (pa.uint64(), "uint64"),
            (pa.float32(), "float32"),
            (pa.float64(), "float64"),
        )
    }
    columns = {}
    for name in names:
        column = table.column(name)
        dtype = dtypes.get(column.type)
        if dtype is None or stored.get(name, dtype.name) != dtype.name:
            return None  # not a plain number, or pandas restores another dtype (Int64, say)
        if column.null_count and dtype.kind != "f":
            return None  # pandas turns integers with missing values into floats
        columns[name] = _values(column, dtype)
    return ArrowFrame(columns, table.num_rows)


def _values(column: Any, dtype: np.dtype) -> np.ndarray:
    """The column's values as one NumPy array, read from its Arrow data buffers (without
    copying when there is one chunk and nothing missing): ``to_numpy`` would import pandas
    to do the same. Missing floats are NaN, as pandas reads them (pandas writes NaN as a
    missing value)."""
    parts = []
    for chunk in column.chunks:
        if not len(chunk):
            continue
        validity, data = chunk.buffers()[:2]
        window = slice(chunk.offset, chunk.offset + len(chunk))
        values = np.frombuffer(data, dtype=dtype)[window]
        if chunk.null_count:
            bits = np.unpackbits(np.frombuffer(validity, dtype=np.uint8), bitorder="little")
            values = np.where(bits[window].astype(bool), values, np.nan).astype(dtype)
        parts.append(values)
    if len(parts) == 1:
        return parts[0]
    return np.concatenate(parts) if parts else np.empty(0, dtype=dtype)


def _pandas_dtypes(table: Any, names: list[str]) -> dict[str, str] | None:
    """The NumPy dtype pandas' metadata gives each column ({} without metadata), where the
    metadata is exactly what pandas writes for a frame of plain number columns under
    text names and a range index; None for anything else, which pandas may read
    otherwise or refuse (an index stored as a column, integer names, several levels,
    keys missing or of the wrong type), so that pandas reads it and says so."""
    raw = (table.schema.metadata or {}).get(b"pandas")
    if raw is None:
        return {}
    try:
        metadata = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(metadata, dict) or not isinstance(metadata.get("attributes", {}), dict):
        return None
    index, levels, columns = (
        metadata.get(k) for k in ("index_columns", "column_indexes", "columns")
    )
    if not (isinstance(index, list) and isinstance(levels, list) and isinstance(columns, list)):
        return None
    if not all(_is_range_index(entry) for entry in index):
        return None
    if len(levels) > 1 or not all(_is_text_level(level) for level in levels):
        return None
    dtypes: dict[str, str] = {}
    for column in columns:
        if not isinstance(column, dict) or "metadata" in column and column["metadata"] is not None:
            return None
        name, kind = column.get("name"), column.get("numpy_type")
        if not (isinstance(name, str) and column.get("field_name") == name and name in names):
            return None
        if not (isinstance(kind, str) and column.get("pandas_type") == kind):
            return None
        dtypes[name] = kind
    return dtypes if set(dtypes) == set(names) else None


def _is_range_index(entry: Any) -> bool:
    """A RangeIndex as pandas records it (not stored as a column)."""
    integers = [entry.get(k) for k in ("start", "stop", "step")] if isinstance(entry, dict) else []
    return (
        isinstance(entry, dict)
        and entry.get("kind") == "range"
        and "name" in entry
        and (entry["name"] is None or isinstance(entry["name"], str))
        and all(isinstance(i, int) and not isinstance(i, bool) for i in integers)
        and len(integers) == 3
        and entry["step"] != 0
    )


def _is_text_level(level: Any) -> bool:
    """The one level of column names, as text (pandas turns names into integers where the
    level says int64, whatever the names are)."""
    return (
        isinstance(level, dict)
        and {"name", "field_name", "pandas_type", "numpy_type"} <= set(level)
        and level["pandas_type"] in ("unicode", "string")
        and level["numpy_type"] in ("object", "str")
    )
