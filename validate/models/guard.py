"""Model code runs guarded: it cannot end the run, and it cannot hang it forever.

Loading and scoring run in a daemon thread with a deadline. ``sys.exit`` or a
``KeyboardInterrupt`` raised by model code becomes a one-line :class:`ModelError`; a call
past its deadline is abandoned (the supervised run process ends with ``os._exit``, which
takes the thread with it) and is a :class:`ModelError` too. A real signal still stops
the run. ``os._exit`` cannot be caught in-process: the supervising parent turns it into
exit 3 (supervisor.py).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

from validate import control
from validate.errors import ModelError
from validate.interrupts import is_real_interrupt

T = TypeVar("T")


def call_model_code(action: Callable[[], T], *, what: str, timeout_s: float) -> T:
    """``action()``, guarded as described above; ordinary exceptions propagate unchanged."""
    box: list[T] = []
    failure: list[BaseException] = []

    def target() -> None:
        try:
            box.append(action())
        except BaseException as exc:  # noqa: BLE001 - handed to the calling thread
            failure.append(exc)

    thread = threading.Thread(target=target, name="model-code", daemon=True)
    control.send("deadline", name=what, timeout_s=timeout_s)
    thread.start()
    thread.join(timeout_s)
    control.send("deadline_done", name=what)
    if thread.is_alive():
        raise ModelError(
            f"{what} did not finish within {timeout_s:g} s (model.scoring_timeout_seconds); "
            "fix the model or raise the limit"
        )
    if failure:
        exc = failure[0]
        if isinstance(exc, SystemExit):
            raise ModelError(
                f"{what}: model code called sys.exit({exc.code!r}); a model must return scores, "
                "not end the process"
            ) from None
        if isinstance(exc, KeyboardInterrupt) and not is_real_interrupt(exc):
            raise ModelError(f"{what}: model code raised KeyboardInterrupt") from None
        raise exc
    return box[0]
