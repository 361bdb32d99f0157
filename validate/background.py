"""Work started now and collected later: MLflow's import and store opening cost seconds
that a run can spend loading data and running checks instead (issue 16)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Background(Generic[T]):
    """``function()`` on a daemon thread; :meth:`wait` returns its result or raises what it
    raised, in the waiting thread, as if it had been called there."""

    def __init__(self, function: Callable[[], T], *, name: str) -> None:
        self._result: T | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(function,), name=name, daemon=True)
        self._thread.start()

    def _run(self, function: Callable[[], T]) -> None:
        try:
            self._result = function()
        except BaseException as exc:  # noqa: BLE001 - handed to the waiter, who decides
            self._error = exc

    @property
    def done(self) -> bool:
        return not self._thread.is_alive()

    def wait(self, timeout: float | None = None) -> T | None:
        """The result, once the work is done (None if ``timeout`` passed first)."""
        self._thread.join(timeout)
        if self._thread.is_alive():
            return None
        if self._error is not None:
            raise self._error
        return self._result
