"""pytest plugin (entry point ``pytest11``). Inert unless ``--validate-config`` (or the
``validate_config`` ini option) is given; then each configured check becomes a test item.

The validation runs once per session (once per machine under pytest-xdist: the first
worker runs it under a file lock, the others read its results), records to MLflow as
usual, and never promotes: promotion belongs to the deployment step.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import pytest

_STASH: dict[str, Any] = {}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("validate", "model validation")
    group.addoption(
        "--validate-config",
        action="store",
        default=None,
        metavar="PATH",
        help="validation.yaml to run as test items (one per check).",
    )
    parser.addini("validate_config", "validation.yaml to run as test items", default="")


def _config_path(config: pytest.Config) -> str | None:
    value = config.getoption("--validate-config", default=None) or config.getini("validate_config")
    return str(value) if value else None


def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    path = _config_path(config)
    if not path:
        return
    from validate.config import load_config
    from validate.errors import ValidateError

    try:
        loaded = load_config(path)
    except ValidateError as exc:
        raise pytest.UsageError(f"--validate-config: {exc}") from exc
    for name in loaded.config.checks:
        items.append(CheckItem.from_parent(session, name=name, config_path=path))


class CheckFailed(Exception):
    """A check computed its metrics and they missed a threshold."""


class CheckErrored(Exception):
    """A check could not be computed."""


class CheckItem(pytest.Item):
    """One configured check; its outcome follows the check's status."""

    def __init__(self, *, config_path: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.config_path = config_path

    def setup(self) -> None:
        result = self._result()
        if result["status"] == "skipped":
            pytest.skip(result["message"] or "skipped by the check")
        if result["status"] == "error":
            raise CheckErrored(result["message"])

    def runtest(self) -> None:
        result = self._result()
        if result["status"] == "failed":
            sentences = [a["sentence"] for a in result["assertions"] if not a["passed"]]
            raise CheckFailed("\n".join(sentences) or result["message"])

    def _result(self) -> dict[str, Any]:
        report = session_report(self.config_path)
        for check in report["checks"]:
            if check["name"] == self.name:
                return check
        raise CheckErrored(f"check {self.name} produced no result")

    def repr_failure(self, excinfo: Any, style: Any = None) -> Any:
        if isinstance(excinfo.value, (CheckFailed, CheckErrored)):
            return f"{self.name}: {excinfo.value}"
        return super().repr_failure(excinfo)

    def _repr_failure_py(self, excinfo: Any, style: Any = None) -> Any:
        # pytest formats setup errors here, not in repr_failure: keep the check's sentence
        # instead of a traceback through this plugin.
        if isinstance(excinfo.value, CheckErrored):
            return f"{self.name}: {excinfo.value}"
        return super()._repr_failure_py(excinfo, style=style)

    def reportinfo(self) -> tuple[Any, int | None, str]:
        return self.config_path, None, f"validate check {self.name}"


def session_report(config_path: str) -> dict[str, Any]:
    """The validation's JSON report, computed once per session (and per machine under xdist)."""
    key = str(Path(config_path).resolve())
    if key in _STASH:
        return _STASH[key]
    run_id = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    if run_id is None:
        _STASH[key] = _run(config_path)
        return _STASH[key]
    digest = hashlib.sha256(f"{run_id}:{key}".encode()).hexdigest()[:16]
    shared = Path(tempfile.gettempdir()) / f"validate-pytest-{digest}.json"
    with open(shared.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # the first worker runs it; the others wait and read
        if shared.exists():
            report = json.loads(shared.read_text())
        else:
            report = _run(config_path)
            shared.write_text(json.dumps(report))
    _STASH[key] = report
    return report


def _run(config_path: str) -> dict[str, Any]:
    from validate.errors import ValidateError
    from validate.runner import RunRequest, run_validation

    try:
        outcome = run_validation(RunRequest(config_path=config_path, allow_promotion=False))
    except ValidateError as exc:
        raise pytest.UsageError(f"--validate-config {config_path}: {exc}") from exc
    return outcome.report


def _require_config(request: pytest.FixtureRequest) -> str:
    path = _config_path(request.config)
    if not path:
        pytest.fail(
            "the validate fixtures need --validate-config PATH (or validate_config in "
            "the pytest ini file)",
            pytrace=False,
        )
    return path


@pytest.fixture(scope="session")
def validation(request: pytest.FixtureRequest) -> dict[str, Any]:
    """The validation's JSON report (decision, checks, metrics, MLflow run id)."""
    return session_report(_require_config(request))


@pytest.fixture(scope="session")
def eval_data(request: pytest.FixtureRequest) -> Any:
    """The eval set as a pandas DataFrame, as the config reads it."""
    from validate.config import load_config
    from validate.data import load_datasets

    return load_datasets(load_config(_require_config(request))).eval


@pytest.fixture(scope="session")
def candidate_model(request: pytest.FixtureRequest) -> Any:
    """The candidate as the validation resolved it: ``.predict(frame, features)`` gives scores."""
    from validate.config import load_config
    from validate.inputs import resolve_models
    from validate.tracking import tracking_uri_for, use_tracking_uri

    loaded = load_config(_require_config(request))
    use_tracking_uri(tracking_uri_for(loaded.config.mlflow.tracking_uri))
    candidate, _ = resolve_models(loaded)
    return candidate
