"""Standard Kubernetes conditions (``type``, ``status``, ``reason``, ``message``,
``lastTransitionTime``, ``observedGeneration``) for a ModelValidation's status."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

ACCEPTED = "Accepted"
CHECKS_RUNNING = "ChecksRunning"
PASSED = "Passed"
PROMOTED = "Promoted"
TYPES = (ACCEPTED, CHECKS_RUNNING, PASSED, PROMOTED)
MAX_MESSAGE = 2000  # keep the object small; the full story is in MLflow


def now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def set_condition(
    conditions: Sequence[Mapping[str, Any]],
    kind: str,
    status: bool | None,
    reason: str,
    message: str,
    generation: int,
) -> list[dict[str, Any]]:
    """``conditions`` with ``kind`` set; ``lastTransitionTime`` moves only when the status
    does (as every Kubernetes controller does it). ``None`` is ``Unknown``."""
    value = "Unknown" if status is None else ("True" if status else "False")
    out: list[dict[str, Any]] = []
    previous = None
    for condition in conditions:
        if condition.get("type") == kind:
            previous = condition
        else:
            out.append(dict(condition))
    changed = previous is None or previous.get("status") != value
    out.append(
        {
            "type": kind,
            "status": value,
            "reason": reason,
            "message": " ".join(message.split())[:MAX_MESSAGE],
            "lastTransitionTime": now() if changed else previous["lastTransitionTime"],  # type: ignore[index]
            "observedGeneration": generation,
        }
    )
    order = {name: i for i, name in enumerate(TYPES)}
    return sorted(out, key=lambda c: order.get(str(c.get("type")), len(order)))


def get_condition(status: Mapping[str, Any], kind: str) -> Mapping[str, Any] | None:
    for condition in status.get("conditions") or []:
        if condition.get("type") == kind:
            return condition
    return None
