"""Executors run the selected checks and hand back one CheckResult per check."""

from validate.executors.local import execute_local, run_one

__all__ = ["execute_local", "run_one"]
