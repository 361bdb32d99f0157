"""Text from checks and data, made safe to print on one terminal line.

Check messages and warnings carry values from the eval data (group labels, column
names). Printed raw, a newline there starts a line of our output that a CI runner
reads as its own command (GitHub's ``::error``/``::stop-commands``), and an escape
sequence rewrites the terminal. Every such sentence goes through :func:`one_line`.
"""

from __future__ import annotations

import re

# C0 controls but tab, DEL, and C1 controls; tab, CR and LF become a space.
_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_LINE_BREAKS = re.compile(r"[\t\r\n\u2028\u2029\x85]+")


def one_line(text: object) -> str:
    """``text`` on one line: line breaks become spaces, other control characters are
    shown escaped (``\\x1b``), so nothing in it can start a line or drive a terminal."""
    flat = _LINE_BREAKS.sub(" ", str(text))
    return _CONTROLS.sub(lambda match: f"\\x{ord(match.group()):02x}", flat)
