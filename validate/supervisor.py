"""The supervising parent of ``validate run``: the only process that chooses the exit code.

Model and plug-in code run in a child process (validate/_run_child.py, started through
``RUN_PROCESS_BOOTSTRAP``) in its own session. The parent relays the child's output,
forwards SIGINT, SIGTERM and SIGHUP once each, and exits with the child's code only when
the child reported that code as decided (control.py) and then exited with it. A child that
ends any other way (a model calling ``sys.exit``/``os._exit`` outside a guarded call, a
crash, a kill) gives exit 3, one line naming the check that was running, the MLflow run
marked KILLED and, with ``--json``, a report that says so. Whatever the outcome, every
process left in the child's session is killed: no orphan keeps computing.

It imports nothing heavy: its cost is one interpreter start (see benchmarks/startup.py).
The ``validate`` command starts the run process before it parses its command line
(:func:`prestart`, from validate/launch.py), so that the two interpreters start side by
side; the request follows through a pipe once the command line is parsed and checked.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any, BinaryIO, NamedTuple

from validate.control import CONTROL_FD_ENV
from validate.interrupts import HANDLED_SIGNALS
from validate.numpy_dispatch import numpy_dispatch_tuning

REQUEST_FD_ENV = "VALIDATE_REQUEST_FD"  # the pipe the run process reads its request from
PARENT_PID_ENV = "VALIDATE_PARENT_PID"  # the run process ends if its parent is already gone
# The run process's command. ``-m validate._run_child`` put the working directory first on
# its path, so a checkout's own ``validate/`` or ``checks/`` folder replaced ours in the run
# process alone (its supervisor, a console script, does not see them). Here our packages
# are imported before the working directory joins the path, at its end: a model pickled by
# reference to a module there still loads.
# (With PYTHONSAFEPATH set, ``-c`` adds no working directory, and the path stays as it is.)
RUN_PROCESS_BOOTSTRAP = (
    "import runpy, sys; here = sys.path[:1] == [''] and sys.path.pop(0) == ''; "
    "import validate, checks; sys.path.extend([''] if here else []); "
    "runpy.run_module('validate._run_child', run_name='__main__', alter_sys=True)"
)
GRACE_AFTER_SIGNAL_S = 30.0  # the child marks its MLflow run KILLED; MLflow may retry a while
# A check or scoring call past its own deadline is stopped inside the run process; one that
# holds the interpreter (native code, a catastrophic regex) cannot be, so past this grace
# the parent ends the run process.
GRACE_AFTER_DEADLINE_S = 15.0


class _ChildState:
    """What the child said over the control channel."""

    def __init__(self) -> None:
        self.exit_code: int | None = None
        self.run: dict[str, Any] = {}
        self.running: list[str] = []
        self.results: list[dict[str, Any]] = []
        self.config: dict[str, Any] = {}
        self.deadlines: dict[str, float] = {}  # what is running → when the parent stops it
        self.overdue: str | None = None

    def apply(self, message: dict[str, Any]) -> None:
        event = message.get("event")
        if event == "exit" and isinstance(message.get("code"), int):
            self.exit_code = message["code"]
        elif event == "run":
            self.run = message
        elif event == "config":
            self.config = message
        elif event == "check_started":
            self.running.append(str(message.get("name")))
            self._watch(f"check '{message.get('name')}'", message.get("timeout_s"))
        elif event == "check_finished":
            name = str(message.get("name"))
            if name in self.running:
                self.running.remove(name)
            self.deadlines.pop(f"check '{name}'", None)
            if isinstance(message.get("result"), dict):
                self.results.append(message["result"])
        elif event == "deadline":
            self._watch(str(message.get("name")), message.get("timeout_s"))
        elif event == "deadline_done":
            self.deadlines.pop(str(message.get("name")), None)

    def _watch(self, what: str, timeout_s: Any) -> None:
        if isinstance(timeout_s, (int, float)) and timeout_s > 0:
            self.deadlines[what] = time.monotonic() + timeout_s + GRACE_AFTER_DEADLINE_S

    def overdue_now(self) -> str | None:
        now = time.monotonic()
        return next((what for what, due in list(self.deadlines.items()) if now > due), None)


# glibc hands every freed block above its mmap threshold back to the kernel and maps a new
# one on the next allocation; a run allocates and frees column-sized arrays thousands of
# times, and those page faults were a third of a drift run's CPU (200k rows x 20 columns:
# 160k minor faults, 0.5 s of system time; 38k and 0.15 s with these). Blocks up to 64 MiB
# now come from the heap, and up to 256 MiB of freed heap is kept for reuse; larger
# arrays are mapped as before, so peak memory grows only by what the heap keeps (about
# 40 MB on the 10M-row run of tests/test_scale.py). Other C libraries ignore these; a
# user's own settings win.
MALLOC_TUNING = {
    "MALLOC_MMAP_THRESHOLD_": str(64 << 20),
    "MALLOC_TRIM_THRESHOLD_": str(256 << 20),
}


def child_environment(
    parent: Mapping[str, str], *, control_fd: int, request_fd: int
) -> dict[str, str]:
    """The supervised child's environment: the parent's, with the allocator and NumPy's
    CPU dispatch tuned (unless the user tuned them), the control channel and the pipe its
    request comes through."""
    return {
        **MALLOC_TUNING,
        **numpy_dispatch_tuning(parent),
        **parent,
        CONTROL_FD_ENV: str(control_fd),
        REQUEST_FD_ENV: str(request_fd),
        PARENT_PID_ENV: str(os.getpid()),
        "PYTHONPATH": os.pathsep.join(_run_process_path()),
        "PYTHONUNBUFFERED": "1",  # lines reach the user as they happen, not at the end
    }


class _Started(NamedTuple):
    """A run process waiting for its request."""

    process: subprocess.Popen[bytes]
    control: int  # the read end of its control channel
    request: int  # the write end of its request pipe
    environment: dict[str, str]  # what it was started with
    earlier_children: set[int]  # this process's children before it


_prestarted: list[_Started] = []


def prestart() -> None:
    """Start the run process now, before the command line is parsed: it starts its
    interpreter and imports while this one does. :func:`supervise` hands it the request,
    or, if the environment a run process would get has changed since, ends it and starts
    another; :func:`discard_prestarted` ends it where no run follows."""
    _prestarted.append(_start())


def discard_prestarted() -> None:
    """End a prestarted run process no run was handed to (a usage error, ``--help``)."""
    while _prestarted:
        _end_unused(_prestarted.pop())


def _run_process_path() -> list[str]:
    """The run process imports what this process could: a model pickled by reference to a
    module beside the caller (a test, a notebook's package) still loads."""
    return [entry for entry in map(_path_text, sys.path) if entry]


def _path_text(entry: object) -> str:
    """A ``sys.path`` entry as text ("" for what is not a path: callers can put anything)."""
    if isinstance(entry, os.PathLike):
        entry = os.fspath(entry)
    return entry if isinstance(entry, str) else ""


def _start() -> _Started:
    control_read, control_write = os.pipe()
    try:
        request_read, request_write = os.pipe()
    except BaseException:
        os.close(control_read)
        os.close(control_write)
        raise
    try:
        env = child_environment(os.environ, control_fd=control_write, request_fd=request_read)
        process = subprocess.Popen(
            [sys.executable, "-c", RUN_PROCESS_BOOTSTRAP],
            env=env,
            pass_fds=(control_write, request_read),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,  # terminal signals reach the parent only; it forwards once
        )
    except BaseException:
        for fd in (control_read, request_write):
            os.close(fd)
        raise
    finally:
        os.close(control_write)
        os.close(request_read)
    # After the start, so that the run process's interpreter starts without waiting for
    # them (a scan of /proc grows with the host's processes); before its request, so
    # before it can run anything that starts processes of its own.
    _become_subreaper()
    earlier_children = set(_process_children().get(os.getpid(), ())) - {process.pid}
    return _Started(process, control_read, request_write, env, earlier_children)


def _claim_prestarted() -> _Started | None:
    """The prestarted run process, if its environment is still exactly what a run process
    started now would get (anything the command line changed would otherwise be missed)."""
    if not _prestarted:
        return None
    started = _prestarted.pop()
    try:
        now = child_environment(
            os.environ,
            control_fd=int(started.environment[CONTROL_FD_ENV]),
            request_fd=int(started.environment[REQUEST_FD_ENV]),
        )
    except BaseException:
        _end_unused(started)
        raise
    if now == started.environment:
        return started
    _end_unused(started)
    return None


def _end_unused(started: _Started) -> None:
    """End a run process that got no request: the closed pipe tells it, the kill makes sure."""
    with contextlib.suppress(OSError):
        os.close(started.request)
    _kill_session(started.process.pid)
    started.process.wait()
    os.close(started.control)
    for stream in (started.process.stdout, started.process.stderr):
        if stream is not None:
            stream.close()


def _send_request(started: _Started, request: dict[str, Any]) -> None:
    """Write the request and close the pipe; a run process already gone is left to
    :func:`_verdict` (it exited without a decision)."""
    try:
        data = json.dumps(request).encode()
        while data:
            data = data[os.write(started.request, data) :]
    except OSError:
        pass
    finally:
        os.close(started.request)


def supervise(request: dict[str, Any]) -> int:
    """Run ``validate run`` for ``request`` in a supervised child; return the exit code."""
    started = _claim_prestarted() or _start()
    child = started.process
    state = _ChildState()
    threads = [
        _thread(_relay, child.stdout, sys.stdout),
        _thread(_relay, child.stderr, sys.stderr),
        _thread(_read_control, started.control, state),
    ]
    forwarded: list[int] = []
    previous = _forward_signals(child, forwarded)
    try:
        _send_request(started, request)
        returncode = _wait(child, forwarded, state)
    finally:
        _kill_session(child.pid)
        _kill_leftovers(started.earlier_children)
        for thread in threads:
            thread.join(timeout=5)
        _restore(previous)
    return _verdict(returncode, state, forwarded, request)


def _thread(target: Any, *args: Any) -> threading.Thread:
    thread = threading.Thread(target=target, args=args, daemon=True)
    thread.start()
    return thread


def _relay(source: BinaryIO, sink: Any) -> None:
    """Copy the child's output line by line (works under click's CliRunner too)."""
    for line in iter(source.readline, b""):
        buffer = getattr(sink, "buffer", None)
        try:
            if buffer is not None:
                buffer.write(line)
            else:
                sink.write(line.decode(errors="replace"))
            sink.flush()
        except (OSError, ValueError):
            pass
    source.close()


def _read_control(fd: int, state: _ChildState) -> None:
    with os.fdopen(fd, "rb") as channel:
        for raw in channel:
            try:
                message = json.loads(raw)
            except ValueError:
                continue
            if isinstance(message, dict):
                state.apply(message)


def _forward_signals(child: subprocess.Popen[bytes], forwarded: list[int]) -> dict[int, Any]:
    if threading.current_thread() is not threading.main_thread():
        return {}

    def forward(signum: int, frame: Any) -> None:
        forwarded.append(signum)
        with contextlib.suppress(ProcessLookupError):
            os.kill(child.pid, signum)

    return {signum: signal.signal(signum, forward) for signum in HANDLED_SIGNALS}


def _restore(previous: dict[int, Any]) -> None:
    for signum, handler in previous.items():
        signal.signal(signum, handler)


def _wait(child: subprocess.Popen[bytes], forwarded: list[int], state: _ChildState) -> int:
    """Wait for the child; after a forwarded signal give it a grace period, and stop it when
    something it runs is far past its deadline; then kill it."""
    deadline: float | None = None
    with _exit_signal(child.pid) as exited:
        while True:
            code = _wait_a_while(child, exited, timeout=0.5)
            if code is not None:
                return code
            if forwarded and deadline is None:
                deadline = time.monotonic() + GRACE_AFTER_SIGNAL_S
            overdue = state.overdue_now()
            if overdue is not None or (deadline is not None and time.monotonic() > deadline):
                state.overdue = overdue
                _kill_session(child.pid)
                return child.wait()


@contextlib.contextmanager
def _exit_signal(pid: int) -> Iterator[int | None]:
    """A descriptor that becomes readable when ``pid`` exits (a Linux pidfd), or None."""
    try:
        fd = os.pidfd_open(pid)
    except (AttributeError, OSError):  # not Linux 5.3+, or the child is already gone
        yield None
        return
    try:
        yield fd
    finally:
        os.close(fd)


def _wait_a_while(
    child: subprocess.Popen[bytes], exited: int | None, *, timeout: float
) -> int | None:
    """The child's exit status, waiting at most ``timeout`` seconds for it; None if it still
    runs. With a pidfd the wait ends the moment the child exits: ``Popen.wait(timeout)``
    polls, up to 50 ms apart, which every run paid once at its end."""
    if exited is None:
        try:
            return child.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
    # poll, not select: a pidfd numbered past 1023 (a long-lived host process) is fine.
    waiter = select.poll()
    waiter.register(exited, select.POLLIN)
    waiter.poll(timeout * 1000)
    return child.poll()


def _kill_session(pgid: int) -> None:
    """Kill whatever is left in the child's session: workers, a model's subprocesses."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def _become_subreaper() -> None:
    """Linux: processes that leave the run's session (``setsid`` daemons) are re-parented to
    this process when their parent ends, instead of to init, so they can be found and ended."""
    try:
        import ctypes

        pr_set_child_subreaper = 36
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_child_subreaper, 1)
    except (OSError, AttributeError):
        pass


def _process_children() -> dict[int, list[int]]:
    """Parent pid → child pids, from /proc (empty where there is no /proc)."""
    children: dict[int, list[int]] = {}
    with contextlib.suppress(OSError):
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                with open(f"/proc/{entry.name}/stat", "rb") as stat:
                    fields = stat.read().rsplit(b")", 1)[1].split()
            except OSError:
                continue
            if fields[0] != b"Z":
                children.setdefault(int(fields[1]), []).append(int(entry.name))
    return children


def _kill_leftovers(earlier_children: set[int]) -> None:
    """Kill every process now below this one that was not here before the run (and reap
    the ones that became this process's children)."""
    tree = _process_children()
    me = os.getpid()
    frontier = [pid for pid in tree.get(me, ()) if pid not in earlier_children]
    doomed: list[int] = []
    while frontier:
        pid = frontier.pop()
        doomed.append(pid)
        frontier.extend(tree.get(pid, ()))
    for pid in doomed:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    for pid in tree.get(me, ()):
        if pid in doomed:
            with contextlib.suppress(ChildProcessError, OSError):
                os.waitpid(pid, 0)


def _verdict(
    returncode: int, state: _ChildState, forwarded: list[int], request: dict[str, Any]
) -> int:
    # Imported here: validate.launch imports this module before the run process starts,
    # and validate.gate's imports (dataclasses, inspect) would delay that start.
    from validate.gate import EXIT_ERROR

    if state.exit_code is not None and state.exit_code == returncode:
        if returncode > 128:
            # Interrupted (128 + the signal): the run process wrote no report, and one a
            # previous run left at the --json path must not stand for this one.
            _write_crash_report(request, state, _interrupted(returncode - 128), returncode)
        return returncode
    if state.overdue is not None and not forwarded:
        line = (
            f"{state.overdue} did not finish within its timeout and could not be stopped "
            "inside the run process (it holds the interpreter), so the run was stopped; "
            "nothing was promoted"
        )
        code = EXIT_ERROR
    elif forwarded:
        line = _interrupted(forwarded[0])
        code = 128 + forwarded[0]
    else:
        line = _unexpected_end(returncode, state)
        code = EXIT_ERROR
    killed = _mark_run_killed(state, line)
    if killed:
        line += f"; MLflow run {killed} is marked KILLED"
    _write_crash_report(request, state, line, code)
    from validate.log_lines import render, set_format

    set_format(str(request.get("log_format", "text")))
    print(
        render(f"validate: error: {line}", kind="problem", level="error"),
        file=sys.stderr,
        flush=True,
    )
    return code


def _interrupted(signum: int) -> str:
    try:
        name = signal.Signals(signum).name
    except ValueError:
        name = f"signal {signum}"
    return f"interrupted ({name}); nothing was promoted"


def _unexpected_end(returncode: int, state: _ChildState) -> str:
    how = (
        f"was killed by {signal.Signals(-returncode).name}"
        if returncode < 0
        else f"exited with status {returncode}"
    )
    if state.running:
        where = f" while check {', '.join(repr(n) for n in state.running)} was running"
    else:
        where = " before the checks finished" if state.run else " before any check ran"
    return (
        f"the validation process {how} without a decision{where} (model or plug-in code "
        "ended the process, or it crashed); nothing was promoted; re-run with --debug"
    )


def _mark_run_killed(state: _ChildState, reason: str) -> str | None:
    """Mark the child's MLflow run KILLED if it is still RUNNING (only on this failure path
    does the parent import MLflow)."""
    run_id, uri = state.run.get("run_id"), state.run.get("tracking_uri")
    if not run_id or not uri:
        return None
    try:
        from mlflow import MlflowClient

        client = MlflowClient(tracking_uri=uri, registry_uri=uri)
        if client.get_run(run_id).info.status != "RUNNING":
            return None
        client.set_tag(run_id, "validate.decision", "killed")
        client.set_tag(run_id, "validate.killed_reason", reason[:5000])
        client.set_terminated(run_id, status="KILLED")
    except Exception:  # noqa: BLE001 - best effort: the run is not promotable either way
        return None
    return str(run_id)


def _write_crash_report(request: dict[str, Any], state: _ChildState, line: str, code: int) -> None:
    """With ``--json``, the report says what finished and what did not (never a pass)."""
    path = request.get("json_path")
    if not path:
        return
    from validate.reporting.json_report import write_report

    checks = list(state.results) + [
        {
            "name": name,
            "status": "error",
            "blocking": True,
            "message": line,
            "metrics": {},
            "assertions": [],
            "duration_s": 0.0,
            "details": {},
        }
        for name in state.running
    ]
    report = {
        "schema_version": 1,
        "decision": "fail",
        "candidate": state.config.get("candidate"),
        "baseline": state.config.get("baseline"),
        "mlflow": {
            "tracking_uri": state.run.get("redacted_uri"),
            "run_id": state.run.get("run_id"),
        },
        "checks": checks,
        "promotion": None,
        "reasons": [line],
        "warnings": [],
        "exit_code": code,
    }
    with contextlib.suppress(Exception):
        write_report(report, path)
