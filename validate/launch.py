"""The ``validate`` command's entry point.

For ``validate run`` the supervised run process (validate/supervisor.py) is started first,
before click is imported and the command line parsed: the run process's interpreter
starts and imports while this one does, instead of after it (about 40 ms of a one-second
run, issue 16). The run process does nothing until the parsed request reaches it through
a pipe; where no run follows (a usage error), it is ended unused.

Once ``validate run`` has its exit code, the supervising process ends at once
(:func:`main`): tearing its interpreter down, module by module, took about 10 ms of a
run that lasts well under a second, and decides nothing.
"""

from __future__ import annotations

import os
import sys
from typing import Any, NoReturn


def main() -> NoReturn:
    """Console-script entry point (``validate``): :func:`parse_and_run`, then exit with its
    code; ``validate run`` skips the interpreter's teardown where nothing waits for it."""
    try:
        code = parse_and_run()  # click exits (raises SystemExit) rather than return
    except SystemExit as exc:
        code = exc.code
    if sys.argv[1:2] == ["run"] and _nothing_waits_for_the_end():
        status = _exit_status(code)
        if status is not None and _flushed():
            os._exit(status)
    sys.exit(code)


def parse_and_run() -> Any:
    """Parse the command line and run the command (raises ``SystemExit`` with its code)."""
    arguments = sys.argv[1:]
    prestarted = arguments[:1] == ["run"] and not {"-h", "--help"} & set(arguments)
    if prestarted:
        from validate.supervisor import prestart

        prestart()
    try:
        from validate.cli import main as cli_main

        return cli_main()
    finally:
        if prestarted:
            from validate.supervisor import discard_prestarted

            discard_prestarted()


def _nothing_waits_for_the_end() -> bool:
    """No ``atexit`` function is registered and no other thread runs: the interpreter's end
    would only free memory. (Where the count cannot be read, assume something waits.)"""
    import atexit
    import threading

    count = getattr(atexit, "_ncallbacks", None)
    return count is not None and count() == 0 and threading.active_count() == 1


def _exit_status(code: Any) -> int | None:
    """The status Python exits with for ``SystemExit(code)``: None is 0 and an exit status
    (0–255) is itself; None for anything else, which Python's own exit then handles (it
    prints a message and exits 1, or truncates a larger number)."""
    if code is None:
        return 0
    if isinstance(code, int) and not isinstance(code, bool) and 0 <= code <= 255:
        return code
    return None


def _flushed() -> bool:
    """Flush stdout and stderr; False if either fails (Python's own exit then reports it
    and exits 120, as it always did)."""
    try:
        for stream in (sys.stdout, sys.stderr):
            if stream is not None:
                stream.flush()
    except (OSError, ValueError):
        return False
    return True
