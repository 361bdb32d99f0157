"""Model code runs guarded: it cannot end the run, and it cannot hang it forever.

Loading and scoring run in a daemon thread with a deadline. ``sys.exit`` or a
``KeyboardInterrupt`` raised by model code becomes a one-line :class:`ModelError`; a call
past its deadline is abandoned (the supervised run process ends with ``os._exit``, which
takes the thread with it) and is a :class:`ModelError` too. A real signal still stops
the run. ``os._exit`` cannot be caught in-process: the supervising parent turns it into
exit 3 (supervisor.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from validate import control
from validate.deadlines import Overdue, call_with_deadline
from validate.errors import ModelError
from validate.interrupts import is_real_interrupt

T = TypeVar("T")


def call_model_code(action: Callable[[], T], *, what: str, timeout_s: float) -> T:
    """``action()``, guarded as described above; ordinary exceptions propagate unchanged."""
    control.send("deadline", name=what, timeout_s=timeout_s)
    try:
        return call_with_deadline(action, timeout_s=timeout_s, name="model-code")
    except Overdue:
        raise ModelError(
            f"{what} did not finish within {timeout_s:g} s (model.scoring_timeout_seconds); "
            "fix the model or raise the limit"
        ) from None
    except SystemExit as exc:
        raise ModelError(
            f"{what}: model code called sys.exit({exc.code!r}); a model must return scores, "
            "not end the process"
        ) from None
    except KeyboardInterrupt as exc:
        if is_real_interrupt(exc):
            raise
        raise ModelError(f"{what}: model code raised KeyboardInterrupt") from None
    finally:
        control.send("deadline_done", name=what)
