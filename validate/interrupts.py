"""Signals that end a run: Ctrl-C (SIGINT), a CI runner's or Kubernetes' cancel (SIGTERM),
a closed terminal (SIGHUP). All three stop the run the same way: workers ended, the MLflow
run marked KILLED, exit 128 + the signal number.

A model or plug-in that raises ``KeyboardInterrupt`` itself is not a signal: the check that
ran it becomes ``error`` and the run goes on (see :func:`is_real_interrupt`).
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator
from typing import Any

HANDLED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
SIGNAL_NAMES = {signal.SIGINT: "Ctrl-C", signal.SIGTERM: "SIGTERM", signal.SIGHUP: "SIGHUP"}


class Interrupted(KeyboardInterrupt):
    """A handled signal arrived; ``signum`` says which."""

    def __init__(self, signum: int) -> None:
        super().__init__(SIGNAL_NAMES.get(signal.Signals(signum), f"signal {signum}"))
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum

    @property
    def reason(self) -> str:
        return f"interrupted ({self.args[0]})"


_received: list[int] = []
_deferring: list[bool] = [False]


def received_signal() -> int | None:
    """The first handled signal this process received, if any."""
    return _received[0] if _received else None


def is_real_interrupt(exc: BaseException) -> bool:
    """Whether ``exc`` comes from a signal (stop the run) rather than from model code."""
    return isinstance(exc, Interrupted) or bool(_received)


def install_handlers() -> None:
    """First signal: raise :class:`Interrupted` in the main thread for a clean stop; a second
    one during that clean-up kills the workers and exits at once."""
    if threading.current_thread() is not threading.main_thread():
        return
    for signum in HANDLED_SIGNALS:
        signal.signal(signum, _interrupt_once)


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """While promoting: a first signal does not interrupt (an alias moved without its tags
    and reports would be a promotion nobody can account for); the block completes and the
    run ends with its decided outcome. A second signal still exits at once."""
    _deferring[0] = True
    try:
        yield
    finally:
        _deferring[0] = False


def _interrupt_once(signum: int, frame: Any) -> None:
    _received.append(signum)
    for other in HANDLED_SIGNALS:
        signal.signal(other, _exit_at_once)
    if _deferring[0]:
        name = SIGNAL_NAMES.get(signal.Signals(signum), str(signum))
        os.write(2, f"validate: {name} while promoting; finishing the promotion first\n".encode())
        return
    raise Interrupted(signum)


def _exit_at_once(signum: int, frame: Any) -> None:
    kill_workers()
    os.write(2, b"validate: interrupted again; exiting now\n")
    os._exit(128 + (_received[0] if _received else signum))


def kill_workers() -> None:
    """Kill this process's worker processes (no orphan keeps computing)."""
    import sys

    if "multiprocessing" not in sys.modules:
        return
    import multiprocessing

    for child in multiprocessing.active_children():
        child.kill()
