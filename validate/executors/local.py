"""The local executor: checks run in this process, or in spawned worker processes (``--jobs N``).

Check code (ours, a plug-in's, the model's) never decides how the run ends:

* in this process each check runs in its own thread, where ``sys.exit``, a
  ``KeyboardInterrupt`` it raises itself, or any crash becomes that check's ``error``;
  a check that outlives ``timeout_seconds`` becomes ``error`` and is abandoned (the
  supervised run process ends with ``os._exit``, taking the thread with it);
* in a worker process (``--jobs N``) each check has a process of its own, killed at its
  timeout; a worker that exits without a result (``os._exit``, out of memory) is that
  check's ``error``.

A real signal (Ctrl-C, SIGTERM, SIGHUP) is different: it stops the whole run, killing
every worker.
"""

from __future__ import annotations

import multiprocessing
import os
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from validate import control, telemetry_checks
from validate.check import CheckContext
from validate.deadlines import Overdue, call_with_deadline
from validate.interrupts import is_real_interrupt, kill_workers
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


def _error(selected: SelectedCheck, message: str, started: float, **details: Any) -> CheckResult:
    return CheckResult(
        name=selected.name,
        status=Status.ERROR,
        message=message[:500],
        duration_s=time.perf_counter() - started,
        details=details,
        blocking=selected.blocking,
    )


def run_one(selected: SelectedCheck, context: CheckContext) -> CheckResult:
    """Run one check; anything it raises becomes an ``error`` result (fail closed).

    Only a real signal (:func:`validate.interrupts.is_real_interrupt`) propagates.
    """
    started = time.perf_counter()
    context = replace(context, artifact_dir=artifact_folder(context.artifact_dir, selected.name))
    try:
        result = selected.check.run(context)
        if not isinstance(result, CheckResult):
            raise TypeError(f"run() returned {type(result).__name__}, not CheckResult")
    except BaseException as exc:  # noqa: BLE001 - a crashing check must not end the run
        if is_real_interrupt(exc):
            raise
        return _error(
            selected,
            _raised(exc),
            started,
            traceback=traceback.format_exc(limit=20),
        )
    return result.with_updates(
        name=selected.name,
        blocking=selected.blocking,
        duration_s=result.duration_s or time.perf_counter() - started,
    )


def _raised(exc: BaseException) -> str:
    if isinstance(exc, SystemExit):
        return f"check code called sys.exit({exc.code!r}); a check must return a result"
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"check raised {type(exc).__name__}: {first}"


def timed_out(selected: SelectedCheck, started: float, where: str) -> CheckResult:
    return _error(
        selected,
        f"did not finish within {selected.timeout_s:g} s (checks.{selected.name}."
        f"timeout_seconds); {where}",
        started,
    )


def run_in_thread(selected: SelectedCheck, context: CheckContext) -> CheckResult:
    """:func:`run_one` in a daemon thread, abandoned after the check's timeout."""
    started = time.perf_counter()
    try:
        return call_with_deadline(
            lambda: run_one(selected, context),
            timeout_s=selected.timeout_s,
            name=f"check-{selected.name}",
        )
    except Overdue:
        return timed_out(selected, started, "it was abandoned and ends with the run")


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
            control.send("check_started", name=item.name, timeout_s=item.timeout_s)
            telemetry_checks.check_started(item.name)
            result = run_in_thread(item, context)
            if on_result:
                on_result(result)
            results.append(result)
        return results
    return _execute_in_workers(selected, context, jobs=jobs, on_result=on_result)


def _worker_main(selected: SelectedCheck, context: CheckContext, sender: Any) -> None:
    """In a spawned worker: run the check, send its result back, exit."""
    result = run_one(selected, context)
    try:
        sender.send(result.to_dict())
    except Exception as exc:  # noqa: BLE001 - e.g. a result that cannot be pickled
        sender.send(
            _error(selected, f"result could not be sent: {exc}", time.perf_counter()).to_dict()
        )
    sender.close()


class _Worker:
    """One check in one spawned process."""

    def __init__(self, item: SelectedCheck, context: CheckContext, mp: Any) -> None:
        self.item = item
        self.started = time.perf_counter()
        self.receiver, sender = mp.Pipe(duplex=False)
        self.process = mp.Process(
            target=_worker_main, args=(item, context, sender), name=f"check-{item.name}"
        )
        self.process.start()
        sender.close()
        control.send("check_started", name=item.name, timeout_s=item.timeout_s)
        telemetry_checks.check_started(item.name)

    def poll(self) -> CheckResult | None:
        """The check's result once it is known (finished, died, or timed out)."""
        if self.receiver.poll():
            try:
                return CheckResult.from_dict(self.receiver.recv())
            except (EOFError, OSError):
                pass  # the worker died before sending: handled below
            except Exception as exc:  # noqa: BLE001 - a garbled result is the check's error
                return _error(self.item, f"worker sent an unreadable result: {exc}", self.started)
        if not self.process.is_alive():
            self.process.join()
            code = self.process.exitcode
            how = f"exit status {code}" if code is None or code >= 0 else f"signal {-code}"
            return _error(self.item, f"{WORKER_DIED} ({how})", self.started)
        if time.perf_counter() - self.started > self.item.timeout_s:
            self.process.kill()
            self.process.join()
            return timed_out(self.item, self.started, "its worker process was killed")
        return None

    def stop(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join()
        self.receiver.close()


def _execute_in_workers(
    selected: Sequence[SelectedCheck],
    context: CheckContext,
    *,
    jobs: int,
    on_result: ProgressCallback | None,
) -> list[CheckResult]:
    # spawn, not fork: forking a process that has TensorFlow or MLflow threads can deadlock.
    mp = multiprocessing.get_context("spawn")
    waiting = list(selected)
    running: list[_Worker] = []
    by_name: dict[str, CheckResult] = {}
    try:
        while waiting or running:
            while waiting and len(running) < jobs:
                running.append(_Worker(waiting.pop(0), context, mp))
            for worker in list(running):
                result = worker.poll()
                if result is None:
                    continue
                running.remove(worker)
                worker.stop()
                result = result.with_updates(name=worker.item.name, blocking=worker.item.blocking)
                by_name[worker.item.name] = result
                if on_result:
                    on_result(result)
            if running:
                _wait_any(running)
    except BaseException:
        for worker in running:
            worker.stop()
        kill_workers()
        raise
    return [by_name[item.name] for item in selected]


def _wait_any(running: list[_Worker], timeout_s: float = 0.2) -> None:
    """Sleep until a worker sends, exits, or ``timeout_s`` passes (timeouts are polled)."""
    from multiprocessing.connection import wait

    handles: list[Any] = [w.receiver for w in running] + [w.process.sentinel for w in running]
    wait(handles, timeout=timeout_s)
