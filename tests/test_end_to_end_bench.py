"""The pure helpers of benchmarks/end_to_end.py: the fixed + per-row fit, the importtime
parser, and the process measurement on a tiny process (fast, no data, no MLflow)."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

import _e2e_measure as measure  # noqa: E402
import _e2e_profile as profile  # noqa: E402


def test_fit_recovers_a_line():
    rows = [100_000.0, 1_000_000.0, 10_000_000.0]
    fixed, per_row = measure.fit_fixed_per_row(rows, [2.5 + 3e-7 * r for r in rows])
    assert fixed == pytest.approx(2.5)
    assert per_row == pytest.approx(3e-7)


def test_fit_is_least_squares_over_noisy_points():
    fixed, per_row = measure.fit_fixed_per_row([0.0, 1.0, 2.0], [1.0, 2.0, 4.0])
    assert (fixed, per_row) == pytest.approx((5 / 6, 1.5))  # numpy.polyfit's answer


def test_fit_needs_two_sizes():
    assert all(math.isnan(v) for v in measure.fit_fixed_per_row([5.0, 5.0], [1.0, 2.0]))
    with pytest.raises(ValueError):
        measure.fit_fixed_per_row([1.0, 2.0], [1.0])


IMPORTTIME = """\
import time: self [us] | cumulative | imported package
import time:       289 |        289 |   _io
import time:      6342 |       7351 | _frozen_importlib_external
some other stderr line
import time:       100 |        100 |     mlflow.store.db
import time:       400 |        500 |   mlflow.store
import time:      1000 |       1500 | mlflow
import time: self [us] | cumulative | imported package
import time:        50 |         50 | json
"""


def test_importtime_is_split_per_process_with_depths():
    first, second = profile.parse_importtime(IMPORTTIME)
    assert [(e.name, e.depth) for e in first] == [
        ("_io", 1),
        ("_frozen_importlib_external", 0),
        ("mlflow.store.db", 2),
        ("mlflow.store", 1),
        ("mlflow", 0),
    ]
    assert [e.name for e in second] == ["json"]
    assert [e.name for e in profile.top_level(first, 1)] == ["_frozen_importlib_external"]
    assert profile.total_us(first) == 7351 + 1500
    assert profile.self_time_by_package(first, 2) == [
        ("_frozen_importlib_external", 6342),
        ("mlflow", 1500),
    ]


def test_run_process_measures_wall_memory_and_exit_code(tmp_path):
    code = "import sys; b = bytearray(64 * 2**20); print('ok'); sys.exit(3)"
    sample = measure.run_process([sys.executable, "-c", code], cwd=tmp_path)
    assert sample.exit_code == 3
    assert sample.stdout.strip() == "ok"
    assert sample.seconds > 0
    assert sample.peak_mb >= 64  # the 64 MiB buffer, seen by wait4's ru_maxrss at least
    assert "exit 3" in measure.describe_failure(sample)


def test_top_functions_leave_out_the_import_machinery():
    import cProfile
    import pstats

    def busy() -> int:
        return sum(i * i for i in range(20_000))

    profiler = cProfile.Profile()
    profiler.enable()
    exec("busy()", {"busy": busy})
    profiler.disable()
    rows = profile.top_functions(pstats.Stats(profiler), 50)
    names = [where for *_, where in rows]
    assert any(where.endswith("(busy)") for where in names)
    assert not any("builtins.exec" in where or where.startswith("<frozen") for where in names)
    assert [row[0] for row in rows] == sorted((row[0] for row in rows), reverse=True)


def test_round_order_puts_each_of_ours_after_the_anchor_equally_often():
    import end_to_end

    # Ours: fresh store (0) and store kept (1); anchors 2 and 3.
    rounds = [end_to_end.round_order(index, 2, 4) for index in range(6)]
    assert rounds[0] == [0, 1, 2, 3] and rounds[1] == [1, 0, 2, 3]
    sequence = [index for order in rounds for index in order]
    before: dict[int, list[int]] = {0: [], 1: []}
    for position in range(4, len(sequence) - 4):  # rounds 1 to 4, after a warm-up round
        if sequence[position] in before:
            before[sequence[position]].append(sequence[position - 1])
    # Over any two rounds, each of ours comes once right after the last anchor and once
    # right after the other of ours.
    assert sorted(before[0]) == [1, 1, 3, 3] and sorted(before[1]) == [0, 0, 3, 3]


def test_measure_keeps_each_runners_samples_in_its_own_slot_whatever_the_order():
    import end_to_end

    ran: list[str] = []

    def runner(label: str, seconds: float) -> end_to_end.Runner:
        def once() -> measure.Sample:
            ran.append(label)
            return measure.Sample(seconds, seconds, seconds * 100, 0, "", "")

        return end_to_end.Runner(label, once)

    runners = [runner("a", 1.0), runner("b", 2.0), runner("c", 3.0)]
    runners[:2] = [end_to_end.Runner("validate run " + r.label, r.once) for r in runners[:2]]
    results = end_to_end.measure(runners, runs=3, warmup=1)
    assert ran == ["a", "b", "c", "b", "a", "c", "a", "b", "c", "b", "a", "c"]
    for timing, seconds in zip(results, (1.0, 2.0, 3.0), strict=True):
        assert isinstance(timing, end_to_end.Timing)
        assert timing.seconds == [seconds] * 3 and timing.peaks_mb == [seconds * 100] * 3
