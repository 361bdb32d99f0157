"""pytest plugin (entry point ``pytest11``). Inert unless ``--validate-config`` is given.

Collecting one test item per check arrives with the CI-integration work; until
then the option is accepted and a run with it says so instead of silently passing.
"""

from __future__ import annotations

from typing import Any


def pytest_addoption(parser: Any) -> None:
    group = parser.getgroup("validate", "model validation")
    group.addoption(
        "--validate-config",
        action="store",
        default=None,
        metavar="PATH",
        help="validation.yaml to run as test items (one per check).",
    )


def pytest_configure(config: Any) -> None:
    if config.getoption("--validate-config", default=None):
        import pytest

        raise pytest.UsageError(
            "--validate-config: the pytest integration is not available in this version; "
            "run `validate run -c PATH` instead"
        )
