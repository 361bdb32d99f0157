"""The Spark engine: the accumulators of :mod:`validate.engines.partials` computed per
partition with ``mapInArrow``, merged in a tree on the executors, and last on the driver.

Only summaries (cells, bin counts, KLL sketches) leave the executors, and the driver
receives a bounded number of them; no row is collected. Three passes: the reference is
sketched (KLL quantiles give the bin edges), then the reference and the eval set are each
counted on those edges, the eval pass also counting confusion cells and loss moments.
Imported only where ``engine: {kind: spark}`` is used: pyspark is the ``spark`` extra.

The executors import :mod:`validate.engines.partials`, so the Python on the cluster
needs this package installed (or on ``spark.executorEnv.PYTHONPATH``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from validate.engines import partials as pt
from validate.errors import ConfigError, DataError

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from validate.engine_settings import SparkEngine

EDGE_RANKS = pt.EDGE_RANKS
FAN_IN = 16  # partials merged into one on an executor, per level of the merge tree


def session(engine: SparkEngine, app_name: str = "validate") -> SparkSession:
    """A SparkSession for ``engine`` (an existing one with the same master is reused)."""
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:
        raise ConfigError(
            "engine: spark needs pyspark; install the spark extra (pip install "
            "'validate-gate[spark]')"
        ) from exc
    from validate.engine_settings import CONNECT_UNSUPPORTED
    from validate.engines.spark_driver import connect_source, quiet_driver, start_failure_reason

    # Progress bars would interleave with validate's own lines on stderr.
    conf = {"spark.ui.showConsoleProgress": "false", **engine.conf}
    connect = connect_source(conf)
    if connect is not None:
        # pyspark would start Connect, or refuse the master beside it, with an exception
        # naming neither the setting nor the fix.
        cause, fix = connect
        raise ConfigError(f"engine: spark: {cause}; {CONNECT_UNSUPPORTED}: {fix}")
    driver = None
    try:
        builder = SparkSession.builder.master(engine.master).appName(app_name)
        for key, value in conf.items():
            builder = builder.config(key, value)
        driver = quiet_driver()
        if driver is not None:
            driver.start(engine.master, app_name, conf)
        return builder.getOrCreate()
    except Exception as exc:  # noqa: BLE001 - no master, no Java, a refused property
        reason = start_failure_reason(exc, driver)
        raise ConfigError(
            f"engine.master {engine.master}: cannot start a Spark session ({reason}); check "
            "engine.master, engine.conf and that Java 17+ is installed"
        ) from exc


def read(
    spark: SparkSession, location: str, *, field: str, partitions: int | None = None
) -> DataFrame:
    """A parquet file, folder, glob or object-store URI as a DataFrame; ``field`` names it
    in errors."""
    try:
        frame = spark.read.parquet(location)
    except Exception as exc:  # noqa: BLE001 - any reader failure is a data problem for users
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"{field}: {location}: cannot read as parquet ({reason})") from exc
    return frame.repartition(partitions) if partitions else frame


def run_partials(
    frame: DataFrame,
    function: Callable[..., dict[str, Any]],
    spec: Any,
    *,
    fan_in: int = FAN_IN,
) -> dict[str, Any]:
    """``function(spec, batches)`` on every partition of ``frame``, merged on the cluster
    in a tree, ``fan_in`` partials per merge, so the driver receives at most ``fan_in``
    of them however many partitions the data has: it holds kilobytes to a few megabytes
    (a partial with its sketches and AUC bins is about 1 MiB), not one per partition."""
    rows = sorted(merge_tree(frame, function, spec, fan_in).collect(), key=lambda r: r.first)
    return pt.merge(pt.decode(row.partial) for row in rows)


def merge_tree(
    frame: DataFrame, function: Callable[..., dict[str, Any]], spec: Any, fan_in: int
) -> DataFrame:
    """The partials of ``frame``'s partitions, merged on the executors until at most
    ``fan_in`` partitions of them are left (rows ``first``, ``partial``)."""
    partials = frame.mapInArrow(functools.partial(_encoded, function, spec), PARTIAL_SCHEMA)
    count = frame.rdd.getNumPartitions()
    while count > fan_in:
        # One shuffle per level moves only the partials (one row per partition).
        count = -(-count // fan_in)
        partials = partials.repartition(count).mapInArrow(_combined, PARTIAL_SCHEMA)
    return partials


# ``first``: the lowest partition index a partial covers, so that partials are merged in
# the data's order whichever way the shuffle delivers them (floating-point sums and sketch
# merges then come out the same on every run over the same partitions).
PARTIAL_SCHEMA = "first long, partial binary"


def _encoded(function: Callable[..., dict[str, Any]], spec: Any, batches: Any) -> Any:
    from pyspark import TaskContext

    context = TaskContext.get()
    yield _partial_batch(context.partitionId() if context else 0, function(spec, batches))


def _combined(batches: Any) -> Any:
    rows = sorted(
        (first, blob)
        for batch in batches
        for first, blob in zip(
            batch.column("first").to_pylist(), batch.column("partial").to_pylist(), strict=True
        )
    )
    if rows:
        yield _partial_batch(rows[0][0], pt.combine(pt.decode(blob) for _, blob in rows))


def _partial_batch(first: int, partial: dict[str, Any]) -> Any:
    import pyarrow as pa

    return pa.RecordBatch.from_pydict(
        {"first": [first], "partial": [pt.encode(partial)]},
        schema=pa.schema([("first", pa.int64()), ("partial", pa.binary())]),
    )


@dataclass(frozen=True)
class Summary:
    """Merged partials of one validation: the eval scores and both samples' columns."""

    scores: dict[str, Any] | None
    reference: dict[str, Any] | None
    eval: dict[str, Any] | None
    drift_spec: pt.DriftSpec | None


def summarize(
    spark: SparkSession,
    eval_location: str,
    *,
    scores: pt.ScoreSpec | None = None,
    reference_location: str | None = None,
    drift_columns: Sequence[str] = (),
    partitions: int | None = None,
    scored: DataFrame | None = None,
    categorical: Sequence[str] = (),
) -> Summary:
    """Everything the accuracy, bias and drift statistics need, in three passes at most.

    ``scored``: the eval set with score columns computed on the cluster
    (:mod:`validate.engines.spark_scoring`), for the score pass only; the drift pass
    reads ``eval_location`` itself, so the models do not run for it. ``categorical``:
    drift columns counted as categories whatever their type (class labels)."""
    eval_frame = read(spark, eval_location, field="data.eval", partitions=partitions)
    score_summary = None
    if scores is not None:
        wanted = [scores.target, scores.prediction]
        if scores.baseline_prediction:
            wanted.append(scores.baseline_prediction)
        wanted += sorted({c for g in scores.groupings for c in g})
        source = eval_frame if scored is None else scored
        require_columns(source, wanted, "data.eval")
        score_summary = run_partials(source.select(*wanted), pt.score_partial, scores)
    reference = current = spec = None
    if reference_location and drift_columns:
        reference_frame = read(
            spark, reference_location, field="data.reference", partitions=partitions
        )
        require_columns(reference_frame, drift_columns, "data.reference")
        require_columns(eval_frame, drift_columns, "data.eval")
        numeric = tuple(
            c for c in drift_columns if c not in categorical and _is_numeric(reference_frame, c)
        )
        categorical = tuple(c for c in drift_columns if c not in numeric)
        first = pt.DriftSpec(numeric=numeric, categorical=())
        sketched = (
            run_partials(reference_frame.select(*numeric), pt.reference_sketch_partial, first)
            if numeric
            else {"numeric": {}}
        )
        edges = tuple(pt.edges_for(sketched["numeric"][c], EDGE_RANKS) for c in numeric)
        spec = pt.DriftSpec(numeric=numeric, categorical=categorical, edges=edges)
        columns = list(drift_columns)
        reference = run_partials(reference_frame.select(*columns), pt.binned_partial, spec)
        for column, column_edges in zip(numeric, edges, strict=True):
            # The first pass's sketch (for KS) and the edges both samples were counted on.
            reference["numeric"][column]["sketch"] = sketched["numeric"][column]["sketch"]
            reference["numeric"][column]["edges"] = column_edges
        current = run_partials(
            eval_frame.select(*columns),
            pt.binned_partial,
            pt.DriftSpec(numeric, categorical, edges, sketch=True),
        )
    return Summary(scores=score_summary, reference=reference, eval=current, drift_spec=spec)


def _is_numeric(frame: DataFrame, column: str) -> bool:
    from pyspark.sql.types import BooleanType, NumericType

    data_type = frame.schema[column].dataType
    return isinstance(data_type, NumericType) and not isinstance(data_type, BooleanType)


def require_columns(frame: DataFrame, columns: Sequence[str], field: str) -> None:
    """A :class:`DataError` naming the ``columns`` that ``frame`` (``field``) lacks."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        from validate.data import brief_list, columns_hint

        raise DataError(
            f"{field}: missing column(s) {brief_list(missing)}; "
            f"{columns_hint(missing, frame.columns, field=field)}"
        )
