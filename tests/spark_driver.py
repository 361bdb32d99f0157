"""Run the Spark engine against a master URL and print its results as JSON (a separate
driver process, so a test can use a standalone cluster beside its own local session).

    python tests/spark_driver.py MASTER EVAL REFERENCE
"""

from __future__ import annotations

import json
import os
import sys

from validate.engine_settings import SparkEngine
from validate.engines import partials as pt
from validate.engines import results as er
from validate.engines import spark as es

GROUPINGS = (("sex",), ("age_group",), ("sex", "age_group"))
DRIFT_COLUMNS = ("x00", "x01", "x02", "x03", "region")


def main() -> None:
    master, eval_location, reference_location = sys.argv[1:4]
    conf = json.loads(os.environ.get("VALIDATE_TEST_SPARK_CONF", "{}"))
    spark = es.session(SparkEngine(kind="spark", master=master, conf=conf))
    try:
        spec = pt.ScoreSpec("default", "score", "champion_score", 0.5, GROUPINGS)
        summary = es.summarize(
            spark,
            eval_location,
            scores=spec,
            reference_location=reference_location,
            drift_columns=DRIFT_COLUMNS,
        )
        executors = spark.sparkContext._jsc.sc().getExecutorMemoryStatus().size() - 1
    finally:
        spark.stop()
    assert summary.scores is not None and summary.reference and summary.eval
    accuracy = er.accuracy(summary.scores, confidence=0.95, n_resamples=1000, seed=0)
    bias = {
        " x ".join(g): er.bias(
            summary.scores,
            " x ".join(g),
            min_group_size=30,
            method="between_groups",
            agg="worst_case",
            n_resamples=1000,
            seed=0,
            confidence=0.95,
        )["judged"]
        for g in GROUPINGS
    }
    drift = er.drift(summary.reference, summary.eval)
    print(
        json.dumps(
            {
                "executors": executors,
                "accuracy": accuracy["metrics"],
                "accuracy_ci": {k: [v.low, v.high] for k, v in accuracy["intervals"].items()},
                "bias": {k: v.point for k, v in bias.items()},
                "bias_ci": {k: v.ci for k, v in bias.items()},
                "drift": [
                    {k: d.get(k) for k in ("column", "value", "bound", "drifted", "decided")}
                    for d in drift
                ],
            }
        )
    )


if __name__ == "__main__":
    main()
