"""Latency statistics from recorded timings: percentiles, spread, throughput, and their
bootstrap confidence intervals, single and paired (candidate/champion ratio).

Timings are integer nanoseconds (``time.perf_counter_ns``), one per timed call of
one batch. Percentiles use NumPy's default (linear interpolation, type 7), so
every figure can be recomputed from the recorded timings with ``np.percentile``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from validate.stats.intervals import percentile

PERCENTILES = (50.0, 95.0, 99.0)
STATISTICS = ("p50_ms", "p95_ms", "p99_ms", "mean_ms", "throughput_rps")
# Resamples are drawn in blocks so memory stays bounded for long runs (block × n floats).
_BLOCK_ELEMENTS = 4_000_000


@dataclass(frozen=True)
class LatencySummary:
    """What one model did at one batch size."""

    batch_size: int
    iterations: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    mean_ms: float
    std_ms: float
    cv: float  # coefficient of variation: std / mean
    throughput_rps: float  # rows per second: batch size / mean call time

    def metrics(self) -> dict[str, float]:
        return {
            "p50_ms": self.p50_ms,
            "p95_ms": self.p95_ms,
            "p99_ms": self.p99_ms,
            "mean_ms": self.mean_ms,
            "std_ms": self.std_ms,
            "cv": self.cv,
            "throughput_rps": self.throughput_rps,
        }


def summarize(timings_ns: np.ndarray, batch_size: int) -> LatencySummary:
    """Percentiles, mean, spread and throughput of one series of timed calls."""
    ms = _as_ms(timings_ns)
    if ms.size == 0:
        raise ValueError("no timed iterations to summarise")
    p50, p95, p99 = np.percentile(ms, PERCENTILES)
    mean = float(ms.mean())
    std = float(ms.std(ddof=1)) if ms.size > 1 else 0.0
    return LatencySummary(
        batch_size=batch_size,
        iterations=int(ms.size),
        p50_ms=float(p50),
        p95_ms=float(p95),
        p99_ms=float(p99),
        mean_ms=mean,
        std_ms=std,
        cv=std / mean if mean > 0 else float("nan"),
        throughput_rps=batch_size / (mean / 1000.0) if mean > 0 else float("nan"),
    )


def bootstrap_intervals(
    timings_ns: np.ndarray,
    batch_size: int,
    *,
    n_resamples: int,
    confidence: float,
    seed: int,
) -> dict[str, tuple[float, float]]:
    """Percentile-bootstrap CIs of p50, p95, p99, the mean and throughput (resampling the
    timed calls, which are exchangeable once warm-up is excluded)."""
    ms = _as_ms(timings_ns)
    stats = _resampled(ms[None, :], n_resamples, seed)  # (resamples, 4): p50 p95 p99 mean
    throughput = batch_size / (stats[:, 3] / 1000.0)
    columns = {
        "p50_ms": stats[:, 0],
        "p95_ms": stats[:, 1],
        "p99_ms": stats[:, 2],
        "mean_ms": stats[:, 3],
        "throughput_rps": throughput,
    }
    return {name: percentile(values, confidence) for name, values in columns.items()}


def paired_ratio(
    candidate_ns: np.ndarray,
    champion_ns: np.ndarray,
    *,
    q: float = 95.0,
    n_resamples: int,
    confidence: float,
    seed: int,
) -> tuple[float, tuple[float, float]]:
    """Candidate/champion ratio of the ``q``-th percentile, with a paired bootstrap CI.

    The two series were timed interleaved (A B A B …), so call i of each saw the same
    machine state; resampling whole pairs keeps that pairing, and so the drift that
    interleaving cancels does not widen the interval.
    """
    candidate, champion = _as_ms(candidate_ns), _as_ms(champion_ns)
    if candidate.size != champion.size:
        raise ValueError("paired timings must have the same length")
    ratio = float(np.percentile(candidate, q) / np.percentile(champion, q))
    both = np.stack([candidate, champion])
    stats = _resampled(both, n_resamples, seed, q=q)  # (resamples, 2)
    return ratio, percentile(stats[:, 0] / stats[:, 1], confidence)


def _resampled(series: np.ndarray, n_resamples: int, seed: int, q: float | None = None):
    """For each resample of call indices (shared by every row of ``series``): the p50, p95,
    p99 and mean of the single series, or the ``q``-th percentile of each paired series."""
    rows, n = series.shape
    rng = np.random.default_rng(seed)
    block = max(1, _BLOCK_ELEMENTS // max(n * rows, 1))
    parts = []
    for start in range(0, n_resamples, block):
        count = min(block, n_resamples - start)
        drawn = series[:, rng.integers(0, n, size=(count, n))]  # (rows, count, n)
        if q is None:
            pct = np.percentile(drawn[0], PERCENTILES, axis=1).T  # (count, 3)
            parts.append(np.column_stack([pct, drawn[0].mean(axis=1)]))
        else:
            parts.append(np.percentile(drawn, q, axis=2).T)  # (count, rows)
    return np.concatenate(parts) if parts else np.empty((0, 4 if q is None else rows))


def _as_ms(timings_ns: np.ndarray) -> np.ndarray:
    return np.asarray(timings_ns, dtype=np.float64) / 1e6
