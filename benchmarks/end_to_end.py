"""Whole ``validate run`` processes side by side with what users would otherwise run.

    python benchmarks/end_to_end.py [--runs 3] [--warmup 1] [--max-rows 10000000]
        [--compare bias drift adult] [--skip-compare] [--skip-growth]
        [--skip-anchor tfma] [--no-install] [--retry-anchors]
        [--scratch /tmp/validate-e2e] [--venvs ~/.cache/validate-bench/venvs] [--source DIR]
    python benchmarks/end_to_end.py --profile bias drift   # -X importtime + cProfile only

``--source DIR`` runs validate from a source tree (first on PYTHONPATH), e.g. a fixed
commit while the checkout changes: ``git archive HEAD | tar -x -C DIR``. Without it, the
``validate`` beside this interpreter runs: run this file with the python of a venv where
validate is pip-installed (as users install it) to leave out the development venv's
editable-install hook, which every Python process of ours would otherwise load.

Every measurement is a whole process (interpreter start, imports, reading the files, the
MLflow store), timed from start to reaped, the median of ``--runs`` after ``--warmup``
untimed runs; ours and the anchors alternate (A B A B), our two runs in an order that
flips each round so that each follows the anchor, whose libraries and data then fill the
caches, equally often. CPU time (user + system of the process tree) is printed beside
wall time: on a loaded machine it is the steadier of the two. Ours runs twice per round:
with a fresh sqlite store each run (an ephemeral CI runner) and with the store kept from
the warm-up run (a developer's machine); either way the results are written without
importing MLflow. Peak memory is that of the process tree (see _e2e_measure.py). Our
exit code and every check's status are asserted: a benchmark of an error path measures
nothing.

The comparisons (goals from issue 16):
  bias only, 2M rows, 4 groups, precomputed scores: fairlearn's demographic_parity_difference
      + equalized_odds_difference, in their own process (same python, imports counted)
  drift only, 200k x 20 numeric, reference file: Evidently 0.7 DataDriftPreset, in its
      own venv (pandas<3)
  accuracy vs champion + bias + drift, Adult size (15k rows), precomputed scores: a whole
      mlflow.models.evaluate process (static dataset, classifier), and TFMA's
      analyze_raw_data in its own venv where it installs
Then the growth of the full suite (accuracy vs champion, bias, drift) at 100k, 1M and 10M
eval rows (reference: 100k rows at every size), with wall = fixed + per_row x rows fitted
by least squares.

Venvs the anchors need are created under --venvs when missing (minutes, once); one that
cannot be installed is reported as such and skipped (remembered; --retry-anchors).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import _e2e_anchors as anchors
import _e2e_data as data
import _e2e_profile as profile
from _e2e_measure import Sample, describe_failure, fit_fixed_per_row, median, run_process

REPO = Path(__file__).resolve().parent.parent
GROWTH_ROWS = (100_000, 1_000_000, 10_000_000)
ANCHOR_NAMES = ("fairlearn", "evidently", "mlflow", "tfma")


@dataclass(frozen=True)
class Runner:
    """One side of a comparison: a label and a function that runs it once."""

    label: str
    once: Callable[[], Sample]


@dataclass(frozen=True)
class Timing:
    seconds: list[float]
    cpu_seconds: list[float]
    peaks_mb: list[float]

    @property
    def wall(self) -> float:
        return median(self.seconds)

    @property
    def cpu(self) -> float:
        return median(self.cpu_seconds)

    @property
    def peak(self) -> float:
        return max(self.peaks_mb)


class BenchmarkError(RuntimeError):
    """Our run did not end the way its config must (wrong exit code or statuses)."""


def validate_bin() -> str:
    return shutil.which("validate", path=str(Path(sys.executable).parent)) or "validate"


def ours(
    case: data.Case, timeout: float, env: dict[str, str], *, fresh_store: bool = True
) -> Runner:
    """Our side. ``fresh_store``: every run creates its MLflow store, as on an ephemeral CI
    runner; else the store is created once (by the first, warm-up, run) and then kept, as
    on a developer's machine or a CI runner whose workspace persists. The kept-store runs
    use their own folder (the data linked, not copied), so the two sides can alternate."""
    command = [validate_bin(), "run", "-c", "validation.yaml", "--json", "report.json"]
    if not fresh_store:
        case = kept_store_case(case)
    created = []

    def once() -> Sample:
        if fresh_store or not created:
            case.reset_tracking()
            created.append(True)
        sample = run_process(command, cwd=case.folder, timeout=timeout, env=env)
        check_verdict(case, sample)
        return sample

    store = "fresh store" if fresh_store else "store kept"
    return Runner(f"validate run ({case.name}, {store})", once)


def kept_store_case(case: data.Case) -> data.Case:
    """``case`` in a sibling folder: its config copied, its data files linked."""
    folder = case.folder.with_name(case.folder.name + "-kept-store")
    folder.mkdir(exist_ok=True)
    for source in case.folder.iterdir():
        target = folder / source.name
        if source.name == "validation.yaml":
            shutil.copyfile(source, target)
        elif source.suffix == ".parquet" and not target.exists():
            target.symlink_to(source)
    files = {name: folder / path.name for name, path in case.files.items()}
    return dataclasses.replace(case, folder=folder, files=files)


def check_verdict(case: data.Case, sample: Sample) -> None:
    import json

    if sample.exit_code != case.expected_exit:
        raise BenchmarkError(
            f"{case.name}: validate run exited {sample.exit_code}, expected "
            f"{case.expected_exit} ({case.folder}): {describe_failure(sample)}"
        )
    report = json.loads((case.folder / "report.json").read_text())
    statuses = {check["name"]: check["status"] for check in report["checks"]}
    if statuses != case.expected_statuses:
        raise BenchmarkError(
            f"{case.name}: check statuses {statuses}, expected {case.expected_statuses}"
        )


def anchor(
    label: str, python: str, name: str, args: list[str], cwd: Path, timeout: float
) -> Runner:
    command = anchors.command(python, name, *args)

    def once() -> Sample:
        if cwd.exists():
            shutil.rmtree(cwd)
        cwd.mkdir(parents=True)
        sample = run_process(command, cwd=cwd, timeout=timeout, env=_quiet_env())
        if sample.exit_code != 0:
            raise BenchmarkError(f"{label}: {describe_failure(sample)}")
        return sample

    return Runner(label, once)


def _quiet_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("MLFLOW_TRACKING_URI", None)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    return env


def ours_env(source: str | None) -> dict[str, str]:
    """Our runs' environment; ``source`` (a source tree, e.g. ``git archive`` of a commit)
    comes first on PYTHONPATH, ahead of the editable install, in the supervisor and in the
    run process alike."""
    env = _quiet_env()
    if source:
        env["PYTHONPATH"] = os.pathsep.join(
            [str(Path(source).resolve())] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])
        )
    return env


def compile_bytecode(source: str | None) -> str:
    """Compile our modules' bytecode once, as ``pip install`` does for the anchors' packages.

    Without it, a source tree run under PYTHONDONTWRITEBYTECODE (or from a read-only
    folder) recompiles every validate module in both processes of every run: about a
    tenth of a second that no installed copy pays."""
    root = Path(source).resolve() if source else REPO
    folders = [str(root / name) for name in ("validate", "checks") if (root / name).is_dir()]
    subprocess.run([sys.executable, "-m", "compileall", "-q", *folders], check=True)
    return f"bytecode compiled: {', '.join(folders)}"


def source_line(source: str | None) -> str:
    code = "import validate, checks; print(validate.__file__); print(checks.__file__)"
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd="/",  # with -c the current folder comes first on sys.path
        env=ours_env(source),
        capture_output=True,
        text=True,
        check=False,
    )
    files = done.stdout.split()
    return "ours from: " + (" and ".join(str(Path(f).parent) for f in files) or done.stderr)


def round_order(round_index: int, ours: int, count: int) -> list[int]:
    """The runners' order in one round: our ``ours`` runners first, in an order reversed
    every other round, then the anchors.

    In a fixed order the runner after a half-minute anchor always starts on caches the
    anchor has just filled with its own libraries and data: a position effect that would
    read as a cost of whichever of ours stands there (until now, the fresh-store runs).
    Reversed every other round, each of ours follows the anchor, and each other, equally
    often.
    """
    first = list(range(ours))
    return (first if round_index % 2 == 0 else first[::-1]) + list(range(ours, count))


def is_ours(runner: Runner) -> bool:
    return runner.label.startswith("validate run")


def measure(runners: list[Runner], runs: int, warmup: int) -> list[Timing | str]:
    """Alternate the runners ``warmup`` + ``runs`` times, ours in an order that flips
    each round (``round_order``); an anchor that fails becomes its error text (ours
    failing raises: the whole comparison is void)."""
    results: list[Timing | str] = [Timing([], [], []) for _ in runners]
    ours = sum(map(is_ours, runners))
    assert all(map(is_ours, runners[:ours])), "ours must come first"
    for round_index in range(warmup + runs):
        for index in round_order(round_index, ours, len(runners)):
            runner = runners[index]
            if isinstance(results[index], str):
                continue
            try:
                sample = runner.once()
            except BenchmarkError as exc:
                if is_ours(runner):
                    raise
                results[index] = str(exc)
                continue
            timing = results[index]
            assert isinstance(timing, Timing)
            if round_index >= warmup:
                timing.seconds.append(sample.seconds)
                timing.cpu_seconds.append(sample.cpu_seconds)
                timing.peaks_mb.append(sample.peak_mb)
            print(
                f"  {'warm-up' if round_index < warmup else f'run {round_index - warmup + 1}'}"
                f" {runner.label}: {sample.seconds:.2f} s, cpu {sample.cpu_seconds:.2f} s,"
                f" {sample.peak_mb:.0f} MB",
                flush=True,
            )
    return results


# ------------------------------------------------------------------ environment report


def versions_line() -> str:
    import importlib.metadata as metadata

    names = ["validate-gate", "mlflow", "fairlearn", "pandas", "numpy", "scikit-learn", "scipy"]
    found = []
    for name in names:
        try:
            found.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            found.append(f"{name} -")
    commit = subprocess.run(
        ["git", "-C", str(REPO), "describe", "--always", "--dirty"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return f"python {platform.python_version()}; " + ", ".join(found) + f"; git {commit or '?'}"


def machine_line() -> str:
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    return f"{os.cpu_count()} CPUs, load average {load}"


# --------------------------------------------------------------------------- sections


@dataclass(frozen=True)
class Row:
    work: str
    ours: Timing
    anchor: str
    theirs: Timing | str
    goal: float


COMPARISONS = ("bias", "drift", "adult")
_ADULT_WORK = "accuracy vs champion + bias + drift, Adult size (15k), precomputed scores"


@dataclass(frozen=True)
class Side:
    """One anchor of a comparison: what it is, its goal, and how to run it (or why not)."""

    work: str
    name: str
    goal: float
    runner: Runner | str


def compare(args: argparse.Namespace) -> list[Row]:
    root, timeout = Path(args.scratch), args.timeout
    skip = set(args.skip_anchor or [])
    venv_root = Path(args.venvs).expanduser()
    pythons: dict[str, tuple[str | None, str]] = {}
    for name in ("evidently", "tfma"):
        if name in skip:
            pythons[name] = (None, "skipped (--skip-anchor)")
            continue
        pythons[name] = anchors.ensure_venv(
            anchors.VENVS[name], venv_root, install=not args.no_install, retry=args.retry_anchors
        )
    here = {
        name: anchors.installed_version(sys.executable, name) for name in ("fairlearn", "mlflow")
    }
    print("anchors:")
    print(
        f"  fairlearn {here['fairlearn']}: in its own process, this python "
        "(interpreter start, imports and the parquet read count, as for ours)"
    )
    print(
        f"  mlflow {here['mlflow']}: mlflow.models.evaluate in its own process, this "
        "python, a fresh sqlite store per run"
    )
    for name, (python, version) in pythons.items():
        state = f"{version} in {python}" if python else f"not installed ({version})"
        print(f"  {name}: {state}")
    print(flush=True)

    def side(
        work: str,
        name: str,
        goal: float,
        python: str | None,
        reason: str,
        case: data.Case,
        paths: list[str],
    ) -> Side:
        anchor_name = name.split()[0].lower()
        if anchor_name in skip:
            return Side(work, name, goal, "skipped (--skip-anchor)")
        if python is None:
            return Side(work, name, goal, f"not installed: {reason}")
        folder = case.folder / f"anchor-{anchor_name}"
        paths = [p.replace("{folder}", str(folder)) for p in paths]
        return Side(work, name, goal, anchor(name, python, anchor_name, paths, folder, timeout))

    rows: list[Row] = []
    chosen = args.compare or COMPARISONS
    if "bias" in chosen:
        case = data.bias_case(root, args.seed)
        work = "bias only, 2M rows, 4 groups, precomputed scores"
        rows += pair(
            case,
            [
                side(
                    work,
                    f"fairlearn {here['fairlearn']} DP + EO functions",
                    30,
                    sys.executable,
                    "",
                    case,
                    [str(case.files["eval"])],
                )
            ],
            args,
        )
    if "drift" in chosen:
        case = data.drift_case(root, args.seed)
        work = "drift only, 200k x 20 numeric, reference file"
        python, version = pythons["evidently"]
        paths = [str(case.files["eval"]), str(case.files["reference"])]
        rows += pair(
            case,
            [
                side(
                    work,
                    f"evidently{_version(python, version)} DataDriftPreset",
                    20,
                    python,
                    version,
                    case,
                    paths,
                )
            ],
            args,
        )
    if "adult" in chosen:
        case = data.adult_case(root, args.seed)
        python, version = pythons["tfma"]
        paths = [str(case.files["eval"]), "{folder}"]
        sides = [
            side(
                _ADULT_WORK,
                f"mlflow {here['mlflow']} models.evaluate",
                5,
                sys.executable,
                "",
                case,
                paths,
            ),
            side(
                _ADULT_WORK,
                f"tfma{_version(python, version)} analyze_raw_data",
                15,
                python,
                version,
                case,
                paths,
            ),
        ]
        rows += pair(case, sides, args)
    return rows


def _version(python: str | None, version: str) -> str:
    """The version as a label shows it (" 0.7.23"); nothing when the anchor is not there."""
    return f" {version}" if python else ""


def pair(case: data.Case, sides: list[Side], args: argparse.Namespace) -> list[Row]:
    """Ours and every runnable anchor of one case, alternating."""
    print(f"{case.name}: {case.folder}", flush=True)
    runnable = [s.runner for s in sides if isinstance(s.runner, Runner)]
    env = ours_env(args.source)
    results = measure(
        [
            ours(case, args.timeout, env),
            ours(case, args.timeout, env, fresh_store=False),
            *runnable,
        ],
        args.runs,
        args.warmup,
    )
    fresh, kept = results[0], results[1]
    assert isinstance(fresh, Timing) and isinstance(kept, Timing)
    theirs = iter(results[2:])
    rows = []
    for s in sides:
        timing = next(theirs) if isinstance(s.runner, Runner) else s.runner
        rows.append(Row(f"{s.work} [fresh store]", fresh, s.name, timing, s.goal))
        rows.append(Row(f"{s.work} [store kept]", kept, s.name, timing, s.goal))
    return rows


def print_ratios(rows: list[Row]) -> None:
    print()
    print(
        f"{'work':<74} {'ours s':>7} {'cpu s':>7} {'MB':>6}  {'anchor':<40} {'anchor s':>8} "
        f"{'cpu s':>7} {'MB':>6} {'ratio':>7} {'cpu ratio':>9} {'goal':>5}  met"
    )
    for row in rows:
        head = f"{row.work:<74} {row.ours.wall:7.2f} {row.ours.cpu:7.2f} {row.ours.peak:6.0f}  "
        if isinstance(row.theirs, str):
            print(
                head + f"{row.anchor:<40} {'-':>8} {'-':>7} {'-':>6} {'-':>7} {'-':>9} "
                f"{row.goal:4.0f}x  -   ({row.theirs})"
            )
            continue
        ratio, cpu_ratio = row.theirs.wall / row.ours.wall, row.theirs.cpu / row.ours.cpu
        print(
            head + f"{row.anchor:<40} {row.theirs.wall:8.2f} {row.theirs.cpu:7.2f} "
            f"{row.theirs.peak:6.0f} {ratio:6.2f}x {cpu_ratio:8.2f}x {row.goal:4.0f}x  "
            f"{'yes' if ratio >= row.goal else 'no'}"
        )
    print(
        "(wall and cpu (user + system, the whole process tree): medians of the timed runs; "
        "MB: the largest peak of the process tree; met: the wall ratio against the goal)"
    )
    for row in rows:
        theirs = row.theirs.seconds if isinstance(row.theirs, Timing) else []
        print(f"  runs s: ours {_list(row.ours.seconds)}; {row.anchor} {_list(theirs) or '-'}")


def _list(values: list[float]) -> str:
    return " ".join(f"{value:.2f}" for value in values)


def growth(args: argparse.Namespace) -> None:
    sizes = [rows for rows in GROWTH_ROWS if rows <= args.max_rows]
    print(
        f"growth: accuracy vs champion + bias + drift, reference "
        f"{data.GROWTH_REFERENCE_ROWS:,} rows at every size",
        flush=True,
    )
    measured: dict[str, list[tuple[int, Timing]]] = {"fresh store": [], "store kept": []}
    env = ours_env(args.source)
    for rows in sizes:
        case = data.growth_case(Path(args.scratch), args.seed, rows)
        print(f"{case.name} {rows:,}: {case.folder}", flush=True)
        runners = [
            ours(case, args.timeout, env),
            ours(case, args.timeout, env, fresh_store=False),
        ]
        fresh, kept = measure(runners, args.runs, args.warmup)
        assert isinstance(fresh, Timing) and isinstance(kept, Timing)
        measured["fresh store"].append((rows, fresh))
        measured["store kept"].append((rows, kept))
    for store, timings in measured.items():
        print(f"\n{store}:")
        print_growth(timings)


def print_growth(measured: list[tuple[int, Timing]]) -> None:
    sizes_rows = [float(r) for r, _ in measured]
    fixed, per_row = fit_fixed_per_row(sizes_rows, [t.wall for _, t in measured])
    cpu_fixed, cpu_per_row = fit_fixed_per_row(sizes_rows, [t.cpu for _, t in measured])
    mem_fixed, mem_per_row = fit_fixed_per_row(sizes_rows, [t.peak for _, t in measured])
    print(
        f"{'eval rows':>11} {'wall s':>8} {'fit s':>8} {'cpu s':>8} {'fit s':>8} "
        f"{'peak MB':>8}   wall runs s"
    )
    for rows, timing in measured:
        print(
            f"{rows:>11,} {timing.wall:8.2f} {fixed + per_row * rows:8.2f} {timing.cpu:8.2f} "
            f"{cpu_fixed + cpu_per_row * rows:8.2f} {timing.peak:8.0f}   {_list(timing.seconds)}"
        )
    if len(measured) < 2:
        print("(fixed and per-row costs need two sizes or more: raise --max-rows)")
        return
    print(
        f"wall = {fixed:.2f} s fixed + {per_row * 1e6:.3f} us per eval row; "
        f"cpu = {cpu_fixed:.2f} s fixed + {cpu_per_row * 1e6:.3f} us per eval row "
        f"(least squares over {len(measured)} sizes)"
    )
    print(f"peak = {mem_fixed:.0f} MB fixed + {mem_per_row * 2**20:.0f} bytes per eval row")


def run_profiles(args: argparse.Namespace) -> None:
    root = Path(args.scratch)
    makers = {
        "bias": lambda: data.bias_case(root, args.seed),
        "drift": lambda: data.drift_case(root, args.seed),
        "adult": lambda: data.adult_case(root, args.seed),
        "growth": lambda: data.growth_case(root, args.seed, min(1_000_000, args.max_rows)),
    }
    for name in args.profile:
        case = makers[name]()
        print(f"=== profile: {name} ({case.folder}) ===")
        case.reset_tracking()
        env = {**ours_env(args.source), "PYTHONPROFILEIMPORTTIME": "1"}
        command = [validate_bin(), "run", "-c", "validation.yaml", "--json", "report.json"]
        sample = run_process(command, cwd=case.folder, env=env, timeout=args.timeout)
        check_verdict(case, sample)
        print(f"whole CLI with -X importtime: {sample.seconds:.2f} s (importtime slows imports)")
        for title, imports in zip(
            ("supervisor (validate run)", "run process (validate._run_child)", "other"),
            profile.parse_importtime(sample.stderr),
            strict=False,
        ):
            print(f"-- imports, {title}: {profile.total_us(imports) / 1e6:.2f} s in all")
            print("   top-level imports by cumulative time:")
            for entry in profile.top_level(imports, args.profile_top):
                print(f"   {entry.cumulative_us / 1e6:7.3f} s  {entry.name}")
            print("   self time by package:")
            for package, self_us in profile.self_time_by_package(imports, args.profile_top):
                print(f"   {self_us / 1e6:7.3f} s  {package}")
        case.reset_tracking()
        stats = case.folder / "profile.stats"
        command = [
            sys.executable,
            str(Path(profile.__file__).resolve()),
            "validation.yaml",
            str(stats),
        ]
        sample = run_process(
            command, cwd=case.folder, env=ours_env(args.source), timeout=args.timeout
        )
        if sample.exit_code != 0 or f"exit_code {case.expected_exit} " not in sample.stdout:
            raise BenchmarkError(f"profile {name}: {describe_failure(sample)} {sample.stdout}")
        print(
            f"-- cProfile of run_validation in one process: {sample.seconds:.2f} s whole "
            f"process (profiling overhead included; {sample.stdout.split()[-1]} threads merged "
            "into the main thread's)"
        )
        _print_stats(stats, args.profile_top, args.source)
        print()


def _print_stats(path: Path, top: int, source: str | None) -> None:
    import pstats

    stats = pstats.Stats(str(path))
    prefixes = [str(Path(sys.executable).parent.parent) + "/lib/python3.11/", str(REPO) + "/"]
    if source:
        prefixes.append(str(Path(source).resolve()) + "/")
    for order in ("cumulative", "own"):
        print(f"   top {top} by {order} time (import machinery frames left out):")
        print(f"   {'cum s':>8} {'own s':>8} {'calls':>8}  function")
        for cumulative, own, calls, where in profile.top_functions(stats, top, order):
            for prefix in prefixes:
                where = where.replace(prefix, "")
            print(f"   {cumulative:8.3f} {own:8.3f} {calls:8d}  {where}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="timed runs per side (median)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed runs first")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--scratch", default="/tmp/validate-e2e", help="data and stores")
    parser.add_argument(
        "--venvs",
        default=os.environ.get("VALIDATE_BENCH_VENVS", "~/.cache/validate-bench/venvs"),
        help="where the anchors' venvs live (default $VALIDATE_BENCH_VENVS)",
    )
    parser.add_argument("--max-rows", type=int, default=GROWTH_ROWS[-1])
    parser.add_argument("--skip-anchor", action="append", choices=ANCHOR_NAMES)
    parser.add_argument("--no-install", action="store_true", help="never create anchor venvs")
    parser.add_argument("--retry-anchors", action="store_true", help="retry failed installs")
    parser.add_argument("--skip-compare", action="store_true")
    parser.add_argument(
        "--compare", nargs="+", choices=COMPARISONS, help="only these comparisons (default: all)"
    )
    parser.add_argument("--skip-growth", action="store_true")
    parser.add_argument("--timeout", type=float, default=3600, help="per process, seconds")
    parser.add_argument("--profile", nargs="+", choices=("bias", "drift", "adult", "growth"))
    parser.add_argument("--profile-top", type=int, default=20)
    parser.add_argument(
        "--source",
        help="run validate from this source tree (put first on PYTHONPATH), e.g. "
        "`git archive HEAD | tar -x -C DIR`: a fixed commit while the checkout changes",
    )
    args = parser.parse_args()
    print(versions_line())
    print(source_line(args.source))
    print(compile_bytecode(args.source))
    print(machine_line(), flush=True)
    try:
        if args.profile:
            run_profiles(args)
            return
        if not args.skip_compare:
            print_ratios(compare(args))
            print()
        if not args.skip_growth:
            growth(args)
    except BenchmarkError as exc:
        sys.exit(f"end_to_end: {exc}")
    print(machine_line())


if __name__ == "__main__":
    main()
