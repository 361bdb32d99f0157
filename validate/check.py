"""The check protocol: what a check receives and what it must return."""

from __future__ import annotations

import enum
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

import numpy as np
from pydantic import BaseModel, ConfigDict, ValidationError

from validate.errors import ConfigError
from validate.results import Assertion, CheckResult, Status

if TYPE_CHECKING:
    import pandas as pd

    from validate.models.adapter import ModelRef


class Input(str, enum.Enum):
    """An input a check can need. The runner asks the user only for the union of what the
    selected checks need, and a missing one is a usage error naming the checks that need it."""

    FEATURES = "feature columns"  # the model's input columns of data.eval
    CANDIDATE_SCORES = "candidate scores"  # model.candidate, or data.prediction
    CANDIDATE_MODEL = "candidate model"  # a model to call (latency); not a score column
    BASELINE_SCORES = "champion scores"  # model.baseline, or data.baseline_prediction
    REFERENCE = "reference data"  # data.reference
    TRAIN = "training data"  # data.train

    def __str__(self) -> str:
        return self.value


# What a check that does not say gets: what every check was given before checks declared.
DEFAULT_NEEDS = frozenset({Input.FEATURES, Input.CANDIDATE_SCORES})


class CheckSettings(BaseModel):
    """Base of every check's settings model: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class CheckContext:
    """Read-only inputs of one check.

    The scores are computed once per model and dataset and shared by every
    check; a check that must run a model itself (latency) uses ``candidate``.
    """

    task: str
    target: str
    features: tuple[str, ...]
    eval_data: pd.DataFrame
    y_true: np.ndarray
    candidate_scores: np.ndarray | None  # None only when no selected check needs them
    baseline_scores: np.ndarray | None = None
    reference_data: pd.DataFrame | None = None
    train_data: pd.DataFrame | None = None
    candidate: ModelRef | None = None
    baseline: ModelRef | None = None
    threshold: float = 0.5
    seed: int = 0
    artifact_dir: str | None = None  # this check's own folder for files (plots) to record
    extras: Mapping[str, Any] = field(default_factory=dict)


@runtime_checkable
class Check(Protocol):
    """A check: constructed from validated keyword-only settings, does its work in ``run``.

    Third-party checks register a class under the ``validate.checks`` entry-point
    group; the entry-point name is the check's id.
    """

    def run(self, context: CheckContext) -> CheckResult: ...


class BaseCheck:
    """Convenience base: settings validation from a YAML section, with YAML-path errors.

    Subclasses set ``Settings`` (a :class:`CheckSettings` subclass) and implement
    ``run``. The constructor only stores the settings.
    """

    Settings: ClassVar[type[CheckSettings]] = CheckSettings

    def __init__(self, *, name: str, settings: CheckSettings) -> None:
        self.name = name
        self.settings = settings

    @classmethod
    def from_config(cls, name: str, section: Mapping[str, Any], *, task: str) -> BaseCheck:
        """Validate ``section`` (the check's YAML mapping) and build the check.

        Raises
        ------
        ConfigError
            Naming ``checks.<name>.<field>`` and what is allowed there.
        """
        from validate.config import describe_validation_error

        try:
            settings = cls.Settings.model_validate(dict(section))
        except ValidationError as exc:
            raise ConfigError(
                describe_validation_error(exc, cls.Settings, f"checks.{name}")
            ) from exc
        cls.validate_for_task(name, settings, task)
        return cls(name=name, settings=settings)

    def needs(self) -> frozenset[Input]:
        """The inputs this check cannot run without (override to ask for less, or more).

        The default is what every check was given before checks declared their needs:
        feature columns and the candidate's scores."""
        return DEFAULT_NEEDS

    def required_columns(self) -> tuple[str, ...]:
        """Eval columns this check reads beyond the features and target (checked before any
        check runs, so a missing one is a usage error, not a check error)."""
        return ()

    def validate_data(self, eval_data: pd.DataFrame) -> None:
        """Reject eval data this check cannot use (override; raise ConfigError or DataError).

        Runs before any check does, so such a problem is a usage error (exit 2)."""

    @classmethod
    def validate_for_task(cls, name: str, settings: CheckSettings, task: str) -> None:
        """Reject settings that make no sense for ``task`` (override; raise ConfigError)."""

    def run(self, context: CheckContext) -> CheckResult:  # pragma: no cover - abstract
        raise NotImplementedError

    def conclude(
        self,
        *,
        started: float,
        assertions: Sequence[Assertion],
        metrics: Mapping[str, float],
        details: Mapping[str, Any],
        fallback: str,
        note: str = "",
    ) -> CheckResult:
        """The judged result: ``failed`` when any assertion failed. The message is the failing
        sentences (else every sentence) followed by ``note``, or ``fallback`` when nothing was
        judged."""
        failed = [a.sentence for a in assertions if not a.passed]
        sentences = "; ".join(failed or [a.sentence for a in assertions])
        return CheckResult(
            name=self.name,
            status=Status.FAILED if failed else Status.PASSED,
            metrics=metrics,
            assertions=tuple(assertions),
            message=sentences + note if sentences else fallback,
            duration_s=time.perf_counter() - started,
            details=details,
        )

    def early_result(
        self,
        started: float,
        message: str,
        *,
        status: Status = Status.ERROR,
        metrics: Mapping[str, float] | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> CheckResult:
        """A result before any judgement: ``error`` (could not compute) or ``skipped``."""
        return CheckResult(
            name=self.name,
            status=status,
            message=message,
            metrics=metrics or {},
            duration_s=time.perf_counter() - started,
            details=details or {},
        )


def require_known_metrics(
    name: str,
    settings: CheckSettings,
    valid: tuple[str, ...],
    task: str,
    sections: tuple[str, ...] = ("thresholds", "vs_baseline"),
) -> None:
    """Every metric named under ``sections`` of a check's settings must be one it computes."""
    for section in sections:
        for metric in getattr(settings, section, {}) or {}:
            if metric not in valid:
                raise ConfigError(
                    f"checks.{name}.{section}.{metric}: unknown metric for task '{task}'; "
                    f"valid: {', '.join(valid)}"
                )
