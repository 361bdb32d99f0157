"""Parquet files decoded on a background thread while the run imports its checks (issue 16).

A run's first half second is importing pandas and the checks' libraries, which holds the
GIL; decoding parquet is Arrow's C++ code, which does not. Started as soon as the config
is read, the decoding overlaps the imports; the main thread then turns each Arrow table
into the DataFrame ``pandas.read_parquet`` would have built from it.

A supervised run process starts earlier still (:func:`start_early`): with the config's
path, before it imports pydantic and the rest of the run, it reads the YAML alone and
starts decoding the files it names; :func:`validate.data.prefetch_datasets` takes that
reading over once the validated config names the same files (a drift run on 200k rows
waited about 60 ms for its data after the imports).

Nothing here reports a problem: a file that cannot be read in the background is simply
read again on the main thread, whose reader says what is wrong with it, and a config that
cannot be read early is read, and reported on, by :func:`validate.config.load_config`.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from validate.background import Background

if TYPE_CHECKING:
    import pandas as pd

PARQUET_SUFFIXES = (".parquet", ".pq")
# A validation.yaml is a few kilobytes. One up to the 1 MiB cap is parsed in seconds, and
# early it would be parsed twice (here and by load_config): not worth a head start.
EARLY_CONFIG_MAX_CHARS = 64 * 1024


class ParquetPrefetch:
    """The Arrow tables of ``paths`` (those that are parquet files), read in the background."""

    def __init__(self, paths: Iterable[str]) -> None:
        from validate.config_file import URI_PREFIXES

        # A URI (s3://…) is read by whoever reads it for the run; as a local path it would
        # name something else (a folder "s3:" in the working directory).
        wanted = [
            path
            for path in dict.fromkeys(paths)
            if not path.startswith(URI_PREFIXES)
            and Path(path).suffix.lower() in PARQUET_SUFFIXES
            and Path(path).is_file()
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


_early: Background[tuple[tuple[str, ...], ParquetPrefetch] | None] | None = None


def start_early(config_path: str) -> None:
    """Start decoding the parquet files the config at ``config_path`` names, before the
    config is validated: the supervised run process calls this as soon as its request
    arrives, and :func:`claim_early` hands the reading over.

    Only the YAML is read, with :func:`validate.config.load_config`'s limits, and only
    ``data.eval``, ``data.reference`` and ``data.train`` are looked at, resolved as the
    validated config resolves them. A run on ``engine: spark`` (whose data stays on the
    cluster, so nothing may be read here), a config of unexpected shape or one over
    ``EARLY_CONFIG_MAX_CHARS`` starts nothing; nor does a thread that cannot be started
    (this is a head start only)."""
    global _early
    try:
        _early = Background(lambda: _start(Path(config_path)), name="validate-read-config")
    except RuntimeError:  # no thread to be had: the run reads its data itself, later
        _early = None


def claim_early(paths: Sequence[str]) -> ParquetPrefetch | None:
    """The reading :func:`start_early` began, if it is of exactly ``paths`` (the validated
    config's resolved data files); None otherwise, and it is let go either way."""
    global _early
    early, _early = _early, None
    if early is None:
        return None
    try:
        started = early.wait()
    except Exception:  # noqa: BLE001 - the caller reads the files itself and reports
        return None
    if started is None or started[0] != tuple(paths):
        return None
    return started[1]


def _start(config_path: Path) -> tuple[tuple[str, ...], ParquetPrefetch] | None:
    from validate import yaml_loader
    from validate.config_file import DATA_FILE_FIELDS, read_config_text, resolve_location

    try:
        text = read_config_text(config_path)
        if len(text) > EARLY_CONFIG_MAX_CHARS:
            return None
        raw = yaml_loader.load(text)
    except Exception:  # noqa: BLE001 - load_config reads it again and says what is wrong
        return None
    if not isinstance(raw, dict) or raw.get("engine", "local") != "local":
        return None
    data = raw.get("data")
    if not isinstance(data, dict):
        return None
    named = [data.get(field) for field in DATA_FILE_FIELDS]
    if not all(value is None or isinstance(value, str) for value in named):
        return None
    folder = config_path.resolve().parent
    paths = tuple(resolve_location(folder, value) for value in named if value)
    return paths, ParquetPrefetch(paths)


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
