"""Starting ``validate`` as a background process and waiting until its checks are under way
(for tests that interrupt it, or kill something beside it, mid-run)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path


def start_validate(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """The real ``validate`` console script, in the background, output captured."""
    exe = Path(sys.executable).parent / "validate"
    return subprocess.Popen(
        [str(exe), *args],
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(*paths: Path, process: subprocess.Popen[str], timeout_s: float = 240) -> None:
    """Until every marker file exists; fails at once if ``process`` ended first."""
    deadline = time.monotonic() + timeout_s
    while not all(p.exists() for p in paths):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, f"never appeared: {[str(p) for p in paths]}"
        time.sleep(0.1)
