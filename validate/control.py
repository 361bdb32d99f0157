"""The supervised run's side of its channel to the supervising parent (see supervisor.py).

The run process tells its parent, one JSON line at a time, which MLflow run it opened,
which check is running, each finished check's result, and finally the exit code it
decided. The parent trusts an exit code only when that last message came and the
process then exited with the same code; anything else (a model calling ``os._exit``, a
crash, a hang killed by a signal) is exit 3 with one line naming what was running.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from typing import Any, NoReturn

CONTROL_FD_ENV = "VALIDATE_CONTROL_FD"

_fd: list[int] = []


def open_channel() -> bool:
    """Adopt the channel the parent passed (environment variable), if any."""
    value = os.environ.pop(CONTROL_FD_ENV, None)
    if value is None or not value.isdigit():
        return False
    fd = int(value)
    os.set_inheritable(fd, False)  # worker processes and model subprocesses do not get it
    _fd.append(fd)
    return True


def supervised() -> bool:
    """Whether this process runs under a supervising parent."""
    return bool(_fd)


def send(event: str, **fields: Any) -> None:
    """One message to the parent (a no-op when not supervised)."""
    if not _fd:
        return
    line = json.dumps({"event": event, **fields}, default=str, allow_nan=False) + "\n"
    # The parent may be gone: it can no longer be told, and nothing else is to be done.
    with contextlib.suppress(OSError, ValueError):
        os.write(_fd[0], line.encode())


def finish(code: int) -> NoReturn:
    """Report the decided exit code and exit with it.

    Supervised, the process ends with ``os._exit`` after flushing: a check thread abandoned
    after its timeout must not keep the interpreter alive, and nothing left running may
    change the code.
    """
    if not _fd:
        sys.exit(code)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    send("exit", code=code)
    os._exit(code)
