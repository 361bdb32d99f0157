"""The ``engine:`` key of validation.yaml: where the statistics are computed.

``engine: local`` (the default) loads the data into this process, as every run did
before engines existed. ``engine: {kind: spark, master: ..., conf: {...}}`` computes the
statistics as mergeable per-partition counts on a Spark cluster
(:mod:`validate.engines.spark`); this module only describes the setting and imports
nothing from Spark, so the local path never pays for it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

# The Spark engine computes with the RDD API and ships model files with
# SparkContext.addFile, neither of which a Spark Connect session has.
CONNECT_UNSUPPORTED = (
    "the Spark engine needs a classic Spark session (it uses the RDD API, which Spark "
    "Connect lacks)"
)
CLASSIC_MASTERS = "local[N], spark://host:7077, k8s://https://host or yarn"


class SparkEngine(BaseModel):
    """A Spark engine: a master URL and extra Spark properties, both passed to Spark as they
    are (``spark://host:7077``, ``local[4]``, ``k8s://https://…``, ``yarn``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["spark"] = Field(description="The engine: spark.")
    master: str = Field(min_length=1, description="Spark master URL, e.g. spark://host:7077.")
    conf: dict[str, str] = Field(
        default_factory=dict,
        description="Spark properties, e.g. spark.executor.memory: 1g (values as strings).",
    )
    partitions: int | None = Field(
        default=None, ge=1, description="Repartition the data into this many partitions."
    )

    @field_validator("master")
    @classmethod
    def _classic_master(cls, value: str) -> str:
        if value.strip().lower().startswith("sc://"):
            raise ValueError(
                f"{value} is a Spark Connect URL; {CONNECT_UNSUPPORTED}: give a master "
                f"({CLASSIC_MASTERS})"
            )
        return value

    @field_validator("conf")
    @classmethod
    def _classic_session(cls, value: dict[str, str]) -> dict[str, str]:
        if "spark.remote" in value:
            raise ValueError(
                f"spark.remote asks for Spark Connect; {CONNECT_UNSUPPORTED}: remove it and "
                f"give engine.master ({CLASSIC_MASTERS})"
            )
        if value.get("spark.api.mode", "").strip().lower() == "connect":
            raise ValueError(
                f"spark.api.mode: connect asks for Spark Connect; {CONNECT_UNSUPPORTED}: "
                "remove it or set it to classic"
            )
        return value

    @field_validator("conf", mode="before")
    @classmethod
    def _properties(cls, value: object) -> object:
        # Spark properties are strings; YAML reads `1g` as a string but `4` and `true` not.
        if isinstance(value, dict):
            bad = [str(k) for k in value if not str(k).startswith("spark.")]
            if bad:
                raise ValueError(
                    f"not Spark properties: {', '.join(bad)} (Spark property names start "
                    "with 'spark.')"
                )
            return {
                str(k): str(v).lower() if isinstance(v, bool) else str(v) for k, v in value.items()
            }
        return value


Engine = Literal["local"] | SparkEngine
