"""Timing loops: warm-up, then interleaved timed calls until a count or a time budget."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Budget:
    """How long to measure one batch size.

    ``iterations`` timed rounds, unless ``max_seconds`` run out first; never fewer than
    ``min_iterations`` rounds (or ``iterations``, when that is lower), so a slow model
    still gets percentiles worth reading.
    """

    warmup: int
    iterations: int
    max_seconds: float
    min_iterations: int = 10


class TimedCallFailed(Exception):
    """A timed call raised; ``name`` says whose call it was."""

    def __init__(self, name: str, error: BaseException) -> None:
        super().__init__(f"{name}: {type(error).__name__}: {error}")
        self.name = name
        self.error = error


def measure_interleaved(
    calls: Mapping[str, Callable[[], Any]],
    budget: Budget,
    clock: Callable[[], int] = time.perf_counter_ns,
) -> dict[str, np.ndarray]:
    """Time every call once per round, in the mapping's order (A B A B …).

    Interleaving puts each model's i-th call next to the other's, so slow machine
    drift (thermal throttling, a noisy neighbour) hits both alike and cancels in
    their ratio. Warm-up rounds (compilation, caches, lazy allocation) are run the
    same way and discarded. Returns each name's timings in nanoseconds, all the same
    length; the clock reads bracket the call alone.

    Raises
    ------
    TimedCallFailed
        When a call raises, in warm-up or while timed.
    """
    for _ in range(budget.warmup):
        for name, call in calls.items():
            _invoke(name, call)
    timings: dict[str, list[int]] = {name: [] for name in calls}
    floor = min(budget.min_iterations, budget.iterations)
    deadline = clock() + int(budget.max_seconds * 1e9)
    for done in range(1, budget.iterations + 1):
        for name, call in calls.items():
            started = clock()
            _invoke(name, call)
            timings[name].append(clock() - started)
        if done >= floor and clock() >= deadline:
            break
    return {name: np.asarray(values, dtype=np.int64) for name, values in timings.items()}


def _invoke(name: str, call: Callable[[], Any]) -> None:
    try:
        call()
    except Exception as exc:  # noqa: BLE001 - reported as the model's failure
        raise TimedCallFailed(name, exc) from exc
