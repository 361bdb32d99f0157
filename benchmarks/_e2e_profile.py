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


def main() -> None:
    """Run one validation in this process under cProfile; the stats go to argv[2]."""
    import cProfile

    from validate.runner import RunRequest, run_validation

    config, stats_path = sys.argv[1], sys.argv[2]
    profiler = cProfile.Profile()
    profiler.enable()
    outcome = run_validation(RunRequest(config_path=config, json_path="report.json"))
    profiler.disable()
    profiler.dump_stats(stats_path)
    print(f"exit_code {outcome.exit_code}")


if __name__ == "__main__":
    main()
