"""Reporters: the JSON report (the contract other tools read) and the console table."""

from validate.reporting.console import render_console
from validate.reporting.json_report import build_report, write_report

__all__ = ["build_report", "render_console", "write_report"]
