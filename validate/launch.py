"""The ``validate`` command's entry point.

For ``validate run`` the supervised run process (validate/supervisor.py) is started first,
before click is imported and the command line parsed: the run process's interpreter
starts and imports while this one does, instead of after it (about 40 ms of a one-second
run, issue 16). The run process does nothing until the parsed request reaches it through
a pipe; where no run follows (a usage error), it is ended unused.
"""

from __future__ import annotations

import sys
from typing import Any


def main() -> Any:
    """Console-script entry point (``validate``)."""
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
