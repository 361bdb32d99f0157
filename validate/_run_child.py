"""Entry point of the supervised ``validate run`` process (started by supervisor.py)."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from typing import Any


def _die_with_parent() -> None:
    """Linux: SIGTERM this process when the supervising parent dies (it then marks its MLflow
    run KILLED like any cancelled run)."""
    try:
        import ctypes
        import signal

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


def receive_request() -> dict[str, Any] | None:
    """The request the parent writes once it has parsed the command line (it may start
    this process before: validate/launch.py); None when the pipe closes without one (the
    parent ended, or found no run to do)."""
    from validate.supervisor import REQUEST_FD_ENV

    value = os.environ.pop(REQUEST_FD_ENV, "")
    if not value.isdigit():
        return None
    fd = int(value)
    chunks = []
    try:
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
    except OSError:
        return None
    finally:
        with contextlib.suppress(OSError):
            os.close(fd)
    try:
        request = json.loads(b"".join(chunks))
    except ValueError:
        return None
    return request if isinstance(request, dict) else None


def _parent_is_the_supervisor() -> bool:
    """Whether the process that started this one is still its parent. A supervisor killed
    before :func:`_die_with_parent` armed the signal sends none: without this check the run
    would go on alone, record a decision and perhaps promote, with no one to report to."""
    from validate.supervisor import PARENT_PID_ENV

    expected = os.environ.pop(PARENT_PID_ENV, "")
    return expected.isdigit() and os.getppid() == int(expected)


def main() -> None:
    from validate.numpy_dispatch import import_numpy_or_restart

    import_numpy_or_restart()  # before the pipes are adopted: a restart keeps them open
    from validate.control import open_channel

    if not open_channel():
        sys.exit("validate: internal entry point; run `validate run` instead")
    _die_with_parent()
    if not _parent_is_the_supervisor():
        sys.exit(0)  # the parent is gone (or this process was not started by one)
    from validate.cli import run_supervised  # imported while the parent parses its arguments

    request = receive_request()
    if request is None:
        sys.exit(0)  # nothing to run; the parent reports whatever went wrong on its side
    run_supervised(request)


if __name__ == "__main__":
    main()
