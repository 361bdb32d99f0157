"""The local executor: checks run in this process, or in spawned worker processes (``--jobs N``)."""

from __future__ import annotations

import multiprocessing
import os
import time
import traceback
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import replace

from validate.check import CheckContext
from validate.registry import SelectedCheck
from validate.results import CheckResult, Status

ProgressCallback = Callable[[CheckResult], None]
WORKER_DIED = "worker process died before the check finished (killed or out of memory)"


def artifact_folder(root: str | None, name: str) -> str | None:
    """Each check writes its files (plots) under ``root/<check id>``."""
    if root is None:
        return None
    folder = os.path.join(root, name)
    os.makedirs(folder, exist_ok=True)
    return folder


def run_one(selected: SelectedCheck, context: CheckContext) -> CheckResult:
    """Run one check; anything it raises becomes an ``error`` result (fail closed).

    ``KeyboardInterrupt`` is not caught: Ctrl-C stops the whole run.
    """
    started = time.perf_counter()
    context = replace(context, artifact_dir=artifact_folder(context.artifact_dir, selected.name))
    try:
        result = selected.check.run(context)
        if not isinstance(result, CheckResult):
            raise TypeError(f"run() returned {type(result).__name__}, not CheckResult")
    except Exception as exc:  # noqa: BLE001 - a crashing check must not crash the run
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        return CheckResult(
            name=selected.name,
            status=Status.ERROR,
            message=f"check raised {type(exc).__name__}: {first}"[:500],
            duration_s=time.perf_counter() - started,
            details={"traceback": traceback.format_exc(limit=20)},
            blocking=selected.blocking,
        )
    return result.with_updates(
        name=selected.name,
        blocking=selected.blocking,
        duration_s=result.duration_s or time.perf_counter() - started,
    )


def execute_local(
    selected: Sequence[SelectedCheck],
    context: CheckContext,
    *,
    jobs: int = 1,
    on_result: ProgressCallback | None = None,
) -> list[CheckResult]:
    """Run every selected check; results come back in config order."""
    if jobs <= 1 or len(selected) <= 1:
        results = []
        for item in selected:
            result = run_one(item, context)
            if on_result:
                on_result(result)
            results.append(result)
        return results
    return _execute_in_workers(selected, context, jobs=jobs, on_result=on_result)


def _execute_in_workers(
    selected: Sequence[SelectedCheck],
    context: CheckContext,
    *,
    jobs: int,
    on_result: ProgressCallback | None,
) -> list[CheckResult]:
    # spawn, not fork: forking a process that has TensorFlow or MLflow threads can deadlock.
    pool = ProcessPoolExecutor(
        max_workers=min(jobs, len(selected)), mp_context=multiprocessing.get_context("spawn")
    )
    by_name: dict[str, CheckResult] = {}
    try:
        futures = {pool.submit(run_one, item, context): item for item in selected}
        for future in as_completed(futures):
            item = futures[future]
            try:
                result = future.result()
            except BrokenProcessPool:
                result = CheckResult(
                    name=item.name,
                    status=Status.ERROR,
                    message=WORKER_DIED,
                    blocking=item.blocking,
                )
            except Exception as exc:  # noqa: BLE001 - e.g. a result that cannot be unpickled
                result = CheckResult(
                    name=item.name,
                    status=Status.ERROR,
                    message=f"worker failed: {type(exc).__name__}: {exc}"[:500],
                    blocking=item.blocking,
                )
            by_name[item.name] = result
            if on_result:
                on_result(result)
    except KeyboardInterrupt:
        _terminate(pool)
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return [by_name[item.name] for item in selected]


def _terminate(pool: ProcessPoolExecutor) -> None:
    """Ctrl-C: kill workers now so no orphan keeps computing."""
    processes = getattr(pool, "_processes", None) or {}
    for process in list(processes.values()):
        if process.is_alive():
            process.terminate()
    pool.shutdown(wait=False, cancel_futures=True)
