"""Frozen, JSON-round-trippable results: what a check hands back, even across processes."""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

SCHEMA_VERSION = 1


class Status(str, enum.Enum):
    """Outcome of one check.

    ``failed`` means computed and bad; ``error`` means it could not be computed.
    """

    PASSED = "passed"
    FAILED = "failed"
    ERROR = "error"
    SKIPPED = "skipped"

    def __str__(self) -> str:
        return self.value


def _plain_number(value: Any) -> Any:
    """NumPy scalars become Python floats/ints so results serialise as plain JSON."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, float)):
        return value
    try:
        return float(value)
    except (TypeError, ValueError):
        return value


@dataclass(frozen=True)
class Assertion:
    """One threshold judged against one value, with the sentence users read."""

    metric: str
    op: str
    threshold: float
    value: float
    passed: bool
    ci: tuple[float, float] | None = None
    sentence: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "op": self.op,
            "threshold": _plain_number(self.threshold),
            "value": _json_float(self.value),
            "ci": None if self.ci is None else [_json_float(v) for v in self.ci],
            "passed": bool(self.passed),
            "sentence": self.sentence,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Assertion:
        ci = data.get("ci")
        return cls(
            metric=data["metric"],
            op=data["op"],
            threshold=data["threshold"],
            value=_from_json_float(data["value"]),
            passed=bool(data["passed"]),
            ci=None if ci is None else (float(ci[0]), float(ci[1])),
            sentence=data.get("sentence", ""),
        )


def _json_float(value: Any) -> Any:
    """JSON has no NaN or infinity; write them as null rather than invalid JSON."""
    value = _plain_number(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _from_json_float(value: Any) -> float:
    return math.nan if value is None else float(value)


@dataclass(frozen=True)
class CheckResult:
    """What one check returns. Frozen and plain, so a worker process or a Job can hand it back."""

    name: str
    status: Status
    metrics: Mapping[str, float] = field(default_factory=dict)
    assertions: Sequence[Assertion] = ()
    message: str = ""
    duration_s: float = 0.0
    details: Mapping[str, Any] = field(default_factory=dict)
    blocking: bool = True
    warnings: Sequence[str] = ()

    def __post_init__(self) -> None:
        # Accept "passed" as well as Status.PASSED; keep assertions immutable.
        object.__setattr__(self, "status", Status(self.status))
        object.__setattr__(self, "assertions", tuple(self.assertions))
        warnings = self.warnings
        if not warnings:
            # Checks written before warnings were a field put them in details; a sentence
            # that lives only there is one nobody reads, so lift it.
            listed = self.details.get("warnings") if isinstance(self.details, Mapping) else None
            if isinstance(listed, (list, tuple)):
                warnings = listed
        object.__setattr__(self, "warnings", tuple(str(w) for w in warnings))

    @property
    def failed_assertions(self) -> tuple[Assertion, ...]:
        return tuple(a for a in self.assertions if not a.passed)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "name": self.name,
            "status": self.status.value,
            "blocking": self.blocking,
            "duration_s": round(float(self.duration_s), 4),
            "message": self.message,
            "metrics": {k: _json_float(v) for k, v in self.metrics.items()},
            "assertions": [a.to_dict() for a in self.assertions],
            "details": dict(self.details),
            "warnings": list(self.warnings),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CheckResult:
        return cls(
            name=data["name"],
            status=Status(data["status"]),
            metrics={k: _from_json_float(v) for k, v in data.get("metrics", {}).items()},
            assertions=tuple(Assertion.from_dict(a) for a in data.get("assertions", ())),
            message=data.get("message", ""),
            duration_s=float(data.get("duration_s", 0.0)),
            details=dict(data.get("details", {})),
            blocking=bool(data.get("blocking", True)),
            warnings=tuple(data.get("warnings", ())),
        )

    def with_updates(self, **changes: Any) -> CheckResult:
        """A copy with some fields replaced (results are immutable)."""
        from dataclasses import replace

        return replace(self, **changes)
