"""The gate: a pure function from check results to a decision. No I/O."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from validate.results import CheckResult, Status

EXIT_PASS = 0
EXIT_GATE_FAILED = 1
EXIT_USAGE = 2
EXIT_ERROR = 3
EXIT_INTERRUPTED = 130


@dataclass(frozen=True)
class Policy:
    """Which checks block promotion. A check not named here blocks (fail closed)."""

    blocking: Mapping[str, bool] = field(default_factory=dict)

    def is_blocking(self, result: CheckResult) -> bool:
        return self.blocking.get(result.name, result.blocking)


@dataclass(frozen=True)
class Decision:
    """The verdict, and the reasons a person reads when it is ``fail``."""

    passed: bool
    reasons: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    errored: bool = False

    @property
    def verdict(self) -> str:
        return "pass" if self.passed else "fail"

    @property
    def exit_code(self) -> int:
        if self.passed:
            return EXIT_PASS
        return EXIT_ERROR if self.errored else EXIT_GATE_FAILED


def decide(results: Sequence[CheckResult], policy: Policy | None = None) -> Decision:
    """Pass only when every blocking check passed.

    A blocking check that errored blocks (fail closed) and makes the exit code 3;
    advisory (``blocking: false``) checks only add warnings; skipped checks
    never block but are named in the warnings, as is every sentence a check
    returned in its ``warnings`` ("<check>: <sentence>"). No results at all is a failure.
    """
    policy = policy or Policy()
    if not results:
        return Decision(passed=False, reasons=("no checks ran",))
    reasons: list[str] = []
    warnings: list[str] = []
    errored = False
    for result in results:
        blocking = policy.is_blocking(result)
        warnings.extend(f"{result.name}: {warning}" for warning in result.warnings)
        if result.status is Status.PASSED:
            continue
        line = f"{result.name}: {result.message}" if result.message else result.name
        if result.status is Status.SKIPPED:
            warnings.append(f"{result.name} skipped: {result.message}")
        elif not blocking:
            warnings.append(f"advisory {result.status.value}: {line}")
        else:
            reasons.append(f"{result.status.value}: {line}")
            errored = errored or result.status is Status.ERROR
    return Decision(
        passed=not reasons, reasons=tuple(reasons), warnings=tuple(warnings), errored=errored
    )
