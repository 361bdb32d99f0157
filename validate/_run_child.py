"""Entry point of the supervised ``validate run`` process (started by supervisor.py)."""

from __future__ import annotations

import json
import os
import sys


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


def main() -> None:
    from validate.numpy_dispatch import import_numpy_or_restart

    import_numpy_or_restart()  # before the channel is adopted: a restart keeps it open
    from validate.control import open_channel
    from validate.supervisor import REQUEST_ENV

    if not open_channel():
        sys.exit("validate: internal entry point; run `validate run` instead")
    _die_with_parent()
    request = json.loads(os.environ.pop(REQUEST_ENV))
    from validate.cli import run_supervised

    run_supervised(request)


if __name__ == "__main__":
    main()
