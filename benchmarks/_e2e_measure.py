"""Measuring whole processes for benchmarks/end_to_end.py: wall time and the peak memory
of the process tree, plus the small pure helpers (median, fixed + per-row fit).

Peak memory is the larger of two readings: the sum of the resident set sizes of the
process and all its descendants, sampled from /proc every ``interval`` seconds (catches
a supervisor and its run process being large together), and the largest single process's
``ru_maxrss`` from ``wait4`` (exact, catches a spike between samples).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


@dataclass(frozen=True)
class Sample:
    """One finished process."""

    seconds: float
    cpu_seconds: float  # user + system of the process and every descendant it reaped
    peak_mb: float
    exit_code: int
    stdout: str
    stderr: str


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def fit_fixed_per_row(rows: Sequence[float], seconds: Sequence[float]) -> tuple[float, float]:
    """Least-squares ``seconds = fixed + per_row * rows``; returns (fixed s, per-row s).

    With one size there is nothing to separate: all of it is reported as per-row cost
    over a zero fixed cost would be a guess, so (nan, nan) comes back instead.
    """
    if len(rows) != len(seconds):
        raise ValueError("rows and seconds differ in length")
    if len(set(rows)) < 2:
        return float("nan"), float("nan")
    n = len(rows)
    mean_x, mean_y = sum(rows) / n, sum(seconds) / n
    sxx = sum((x - mean_x) ** 2 for x in rows)
    sxy = sum((x - mean_x) * (y - mean_y) for x, y in zip(rows, seconds, strict=True))
    per_row = sxy / sxx
    return mean_y - per_row * mean_x, per_row


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as handle:
                stat = handle.read()
        except OSError:
            continue
        # the name may hold spaces and parentheses: fields start after the last ')'
        fields = stat[stat.rfind(b")") + 2 :].split()
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    return children


def _descendants(root: int) -> list[int]:
    children, found, stack = _children_map(), [root], [root]
    while stack:
        for child in children.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return found


def _rss_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm", "rb") as handle:
            return int(handle.read().split()[1]) * _PAGE
    except (OSError, IndexError, ValueError):
        return 0


class _TreeSampler(threading.Thread):
    """Peak of the summed RSS of a process tree; the tree is re-listed every
    ``rescan`` seconds, the known members' RSS read every ``interval``."""

    def __init__(self, root: int, interval: float = 0.05, rescan: float = 0.25) -> None:
        super().__init__(daemon=True)
        self.root, self.interval, self.rescan = root, interval, rescan
        self.peak = 0
        self.done = threading.Event()

    def run(self) -> None:
        members, listed = [self.root], 0.0
        while not self.done.is_set():
            now = time.monotonic()
            if now - listed >= self.rescan:
                members, listed = _descendants(self.root), now
            self.peak = max(self.peak, sum(_rss_bytes(pid) for pid in members))
            self.done.wait(self.interval)


def run_process(
    command: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str] | None = None,
    timeout: float = 3600,
    log_dir: Path | None = None,
) -> Sample:
    """Run ``command`` to its end; wall time from start to reaped, peak memory of its tree."""
    log_dir = log_dir or cwd
    out_path, err_path = log_dir / "bench.stdout", log_dir / "bench.stderr"
    with out_path.open("wb") as out, err_path.open("wb") as err:
        started = time.perf_counter()
        process = subprocess.Popen(
            list(command),
            cwd=cwd,
            env=dict(env) if env is not None else None,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
        )
        sampler = _TreeSampler(process.pid)
        sampler.start()
        timer = threading.Timer(timeout, process.kill)
        timer.start()
        try:
            _, status, usage = os.wait4(process.pid, 0)
        finally:
            timer.cancel()
        seconds = time.perf_counter() - started
        sampler.done.set()
        sampler.join()
    process.returncode = os.waitstatus_to_exitcode(status)
    peak = max(sampler.peak, usage.ru_maxrss * 1024)  # ru_maxrss is in KiB on Linux
    return Sample(
        seconds=seconds,
        cpu_seconds=usage.ru_utime + usage.ru_stime,
        peak_mb=peak / 2**20,
        exit_code=process.returncode,
        stdout=out_path.read_text(errors="replace"),
        stderr=err_path.read_text(errors="replace"),
    )


def describe_failure(sample: Sample) -> str:
    """The last lines of a failed process's output, for an error message."""
    tail = (sample.stderr.strip() or sample.stdout.strip()).splitlines()[-5:]
    return f"exit {sample.exit_code}: " + " | ".join(tail)
