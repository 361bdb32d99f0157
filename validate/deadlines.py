"""Calls with a deadline: the one way model and check code runs in a thread we can abandon."""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class Overdue(Exception):
    """The call was still running at its deadline; its daemon thread was abandoned (the
    supervised run process ends with ``os._exit``, which takes the thread with it)."""


def call_with_deadline(action: Callable[[], T], *, timeout_s: float, name: str) -> T:
    """``action()`` in a daemon thread. Whatever it raises (``SystemExit`` and
    ``KeyboardInterrupt`` included) is raised here, in the calling thread; past
    ``timeout_s`` :class:`Overdue` is."""
    box: list[T] = []
    failure: list[BaseException] = []
    # The caller's context variables (its current trace span) hold in the thread too.
    context = contextvars.copy_context()

    def target() -> None:
        try:
            box.append(context.run(action))
        except BaseException as exc:  # noqa: BLE001 - handed to the calling thread
            failure.append(exc)

    thread = threading.Thread(target=target, name=name, daemon=True)
    thread.start()
    thread.join(timeout_s)
    if thread.is_alive():
        raise Overdue(name)
    if failure:
        raise failure[0]
    return box[0]
