"""``end_to_end.py --profile``: where one of our commands spends its time.

Two views of the same config: ``python -X importtime`` of the whole CLI (supervisor and
run process, each its own table), and cProfile of the run's work in one process
(``validate.runner.run_validation``, what the supervised child executes), run as
``python benchmarks/_e2e_profile.py CONFIG STATS_FILE``.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

_HEADER = "import time: self [us] | cumulative | imported package"


@dataclass(frozen=True)
class Import:
    """One line of ``-X importtime``: microseconds, nesting depth (0: top level), module."""

    self_us: int
    cumulative_us: int
    depth: int
    name: str


def parse_importtime(stderr: str) -> list[list[Import]]:
    """Split ``-X importtime`` output into one list per process (each prints the header
    once, before its first import); lines that are not importtime lines are skipped."""
    processes: list[list[Import]] = []
    for line in stderr.splitlines():
        if line.startswith(_HEADER):
            processes.append([])
            continue
        if not line.startswith("import time:") or not processes:
            continue
        try:
            self_us, cumulative_us, name = line[len("import time:") :].split("|", 2)
            indent = len(name) - len(name.lstrip(" "))
            processes[-1].append(
                Import(int(self_us), int(cumulative_us), max(indent - 1, 0) // 2, name.strip())
            )
        except ValueError:
            continue
    return processes


def top_level(imports: list[Import], n: int) -> list[Import]:
    """The ``n`` most expensive top-level imports (cumulative)."""
    roots = [entry for entry in imports if entry.depth == 0]
    return sorted(roots, key=lambda entry: entry.cumulative_us, reverse=True)[:n]


def self_time_by_package(imports: list[Import], n: int) -> list[tuple[str, int]]:
    """Self time summed by top-level package (``mlflow.store.x`` counts for ``mlflow``)."""
    totals: dict[str, int] = {}
    for entry in imports:
        root = entry.name.split(".")[0]
        totals[root] = totals.get(root, 0) + entry.self_us
    return sorted(totals.items(), key=lambda item: item[1], reverse=True)[:n]


def total_us(imports: list[Import]) -> int:
    return sum(entry.cumulative_us for entry in imports if entry.depth == 0)


def top_functions(
    stats: object, n: int, key: str = "cumulative"
) -> list[tuple[float, float, int, str]]:
    """(cumulative s, own s, calls, "file:line(function)") of the top ``n`` functions of a
    ``pstats.Stats``, leaving out the import machinery's frames (``<frozen importlib…>``,
    ``exec``): an import then shows as the module body that did the work."""
    rows = []
    for (file, line, function), (_, calls, own, cumulative, _) in stats.stats.items():  # type: ignore[attr-defined]
        if file.startswith("<frozen") or function in _MACHINERY:
            continue
        rows.append((cumulative, own, calls, f"{file}:{line}({function})"))
    index = 0 if key == "cumulative" else 1
    return sorted(rows, key=lambda row: row[index], reverse=True)[:n]


_MACHINERY = {"<built-in method builtins.exec>", "<built-in method builtins.__build_class__>"}


def main() -> None:
    """Run one validation in this process under cProfile, every thread included (checks
    run in a thread of their own); the merged stats go to argv[2]."""
    import cProfile
    import pstats
    import threading

    from validate.runner import RunRequest, run_validation

    config, stats_path = sys.argv[1], sys.argv[2]
    thread_profiles: list[cProfile.Profile] = []
    original_run = threading.Thread.run

    def profiled_run(self: threading.Thread) -> None:
        profiler = cProfile.Profile()
        thread_profiles.append(profiler)
        profiler.enable()
        try:
            original_run(self)
        finally:
            profiler.disable()

    threading.Thread.run = profiled_run  # type: ignore[method-assign]
    profiler = cProfile.Profile()
    profiler.enable()
    outcome = run_validation(RunRequest(config_path=config, json_path="report.json"))
    profiler.disable()
    merged = pstats.Stats(profiler)
    for other in thread_profiles:
        other.create_stats()
        merged.add(other)
    merged.dump_stats(stats_path)
    print(f"exit_code {outcome.exit_code} threads_profiled {len(thread_profiles)}")


if __name__ == "__main__":
    main()
