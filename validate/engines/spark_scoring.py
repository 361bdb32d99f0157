"""Scoring MLflow models on the cluster, for ``engine: spark`` without precomputed scores.

The model's files are fetched once on the driver (``mlflow.artifacts``) and shipped to
every executor with ``SparkContext.addFile``, as ``mlflow.pyfunc.spark_udf`` ships them;
each executor then loads the model with validate's own loader
(:func:`validate.models.adapter.resolve_model`: scikit-learn's ``predict_proba``, else
pyfunc) and appends a score column with ``mapInArrow``. Not ``spark_udf`` itself: its
pyfunc ``predict`` returns class labels for a scikit-learn classifier, where the local
engine scores with probabilities, and the two engines must score alike. No model object
and no row reaches the driver; the scores stay on the cluster for the partials.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from validate.errors import ModelError

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from validate.models.adapter import ModelRef

SCORE_COLUMNS = {"candidate": "__validate_candidate_score", "baseline": "__validate_baseline_score"}
_LOADED: dict[str, Any] = {}  # per Python worker (Spark reuses them): each model loads once


@dataclass(frozen=True)
class Shipped:
    """A model shipped to the executors: its role, SparkFiles name, output column, and the
    reference users gave (errors name it, not the executor's copy)."""

    role: str
    name: str
    column: str
    uri: str


@dataclass(frozen=True)
class ScoringSpec:
    """What each partition scores: the shipped models, the task, the model inputs."""

    models: tuple[Shipped, ...]
    task: str
    features: tuple[str, ...]


def ship(spark: SparkSession, ref: ModelRef, folder: str) -> Shipped:
    """Fetch ``ref``'s MLflow model files on the driver into ``folder`` and add them to
    the Spark job's files, under a name unique to its role."""
    if ref.kind != "mlflow":
        raise ModelError(
            f"model.{ref.role}: engine: spark scores MLflow models only, and {ref.uri} is a "
            f"{ref.kind} model; write its scores into a column (data.prediction / "
            "data.baseline_prediction) or use engine: local"
        )
    target = Path(folder) / f"validate-{ref.role}-model"
    try:
        if Path(ref.location).is_dir():
            shutil.copytree(ref.location, target)
        else:
            import mlflow.artifacts

            target.mkdir()
            fetched = mlflow.artifacts.download_artifacts(
                artifact_uri=ref.location, dst_path=str(target)
            )
            # download_artifacts puts the model in a sub-folder; ship the folder with MLmodel.
            target = Path(fetched)
    except Exception as exc:  # noqa: BLE001 - any fetch failure means an unusable model
        raise ModelError(f"model.{ref.role} ({ref.uri}): cannot fetch its files: {exc}") from exc
    spark.sparkContext.addFile(str(target), recursive=True)
    return Shipped(role=ref.role, name=target.name, column=SCORE_COLUMNS[ref.role], uri=ref.uri)


def score(
    spark: SparkSession,
    frame: DataFrame,
    models: Iterable[ModelRef],
    *,
    task: str,
    features: tuple[str, ...],
) -> DataFrame:
    """``frame`` with one score column per model (:data:`SCORE_COLUMNS`), computed on the
    executors. Lazy: the scores are computed by the passes that read them."""
    from pyspark.sql.types import DoubleType, StructField, StructType

    folder = tempfile.mkdtemp(prefix="validate-spark-models-")
    shipped = tuple(ship(spark, ref, folder) for ref in models)
    spec = ScoringSpec(models=shipped, task=task, features=features)
    schema = StructType(
        [*frame.schema.fields, *(StructField(s.column, DoubleType(), False) for s in shipped)]
    )
    import functools

    return frame.mapInArrow(functools.partial(score_partition, spec), schema)


def score_partition(spec: ScoringSpec, batches: Iterable[Any]) -> Iterator[Any]:
    """On an executor: each Arrow batch with the models' scores appended (normalised and
    checked as the local engine does, :func:`validate.models.scores.normalize_scores`)."""
    import pyarrow as pa
    from pyspark import SparkFiles

    from validate.models.adapter import resolve_model

    refs = []
    for shipped in spec.models:
        path = SparkFiles.get(shipped.name)
        if path not in _LOADED:
            ref = replace(resolve_model(path, role=shipped.role, task=spec.task), uri=shipped.uri)
            ref.scorer()  # load now, once per worker
            _LOADED[path] = ref
        refs.append(_LOADED[path])
    for batch in batches:
        frame = batch.to_pandas()
        added = [
            pa.array(ref.predict(frame, spec.features), type=pa.float64())
            if batch.num_rows
            else pa.array([], type=pa.float64())
            for ref in refs
        ]
        yield pa.RecordBatch.from_arrays(
            [*batch.columns, *added], names=[*batch.schema.names, *(s.column for s in spec.models)]
        )


def model_failure(exc: BaseException) -> str | None:
    """The one-line :class:`ModelError` an executor raised, from Spark's wrapped error."""
    text = str(exc)
    marker = "validate.errors.ModelError: "
    if marker not in text:
        return None
    return text.split(marker, 1)[1].splitlines()[0].strip()
