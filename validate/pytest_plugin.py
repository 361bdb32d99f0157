"""pytest plugin (entry point ``pytest11``). Inert unless ``--validate-config`` (or the
``validate_config`` ini option) is given; then the config file is collected like a test
file and each configured check becomes a test item (``validation.yaml::accuracy``).

The verdict is the gate's, as ``validate run`` gives it for the same config: a blocking
check that failed fails its item (errored: an error), an advisory (``blocking: false``)
check that failed or errored is an xfail whose reason is its sentence, a skipped check
is a skip. The session exits 0 exactly when ``validate run`` would; the terminal summary
repeats the decision, every warning and the MLflow run the validation was recorded in.

The validation runs once per session (once per machine under pytest-xdist: the first
worker runs it under a file lock, the others read its results), records to MLflow as
``validate run`` does, and never promotes: promotion belongs to the deployment step.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import tempfile
import warnings
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

from validate.reporting.text import one_line

OPTION = "--validate-config"
INI = "validate_config"
# What to do when the config is missing, said with this plugin's option: inside pytest,
# ``-c`` is pytest's own ini-file option.
HINT = f"give {OPTION} PATH (or {INI} in the pytest ini file) naming a validation.yaml file"
ADVISORY = "advisory {status} (blocking: false; validate run still passes): {sentence}"

# Per session (on the pytest config, not in module globals: pytester runs many sessions
# in one process): resolved config path -> {"report", "problem", "error"}, and the
# loaded configs.
_OUTCOMES = pytest.StashKey[dict[str, dict[str, Any]]]()
_LOADED = pytest.StashKey[dict[str, Any]]()


def _outcomes(config: pytest.Config) -> dict[str, dict[str, Any]]:
    return config.stash.setdefault(_OUTCOMES, {})


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("validate", "model validation")
    group.addoption(
        OPTION,
        action="store",
        default=None,
        metavar="PATH",
        help="validation.yaml to run as test items (one per check).",
    )
    parser.addini(
        INI, "validation.yaml to run as test items (relative to the ini file)", default=""
    )


def _config_path(config: pytest.Config) -> str | None:
    """The config, absolute: the option is relative to where pytest was started, the ini
    value to the ini file's folder (tests may change the working folder meanwhile)."""
    value = config.getoption(OPTION, default=None)
    base = config.invocation_params.dir
    if not value:
        value = config.getini(INI)
        if config.inipath is not None:
            base = config.inipath.parent
    return str(base / str(value)) if value else None


def _source(config: pytest.Config) -> str:
    """How the user named the config, for error messages."""
    if config.getoption(OPTION, default=None):
        return OPTION
    return f"{INI} in {config.inipath.name if config.inipath else 'the pytest ini file'}"


def _in_pytest_words(message: str) -> str:
    from validate.config_file import CONFIG_HINT as CLI_HINT

    return message.replace(CLI_HINT, HINT)


def _load(config: pytest.Config, path: str) -> Any:
    """The loaded config (once), or a usage error naming this plugin's option."""
    loaded = config.stash.setdefault(_LOADED, {})
    if path not in loaded:
        from validate.config import load_config
        from validate.errors import ValidateError

        try:
            loaded[path] = load_config(path)
        except ValidateError as exc:
            raise pytest.UsageError(f"{_source(config)}: {_in_pytest_words(str(exc))}") from exc
    return loaded[path]


# --------------------------------------------------------------------------- collection


def _named_on_command_line(config: pytest.Config, path: str) -> bool:
    """Whether the config file itself is a pytest argument (``pytest validation.yaml::bias``)."""
    target = Path(path).resolve()
    base = config.invocation_params.dir
    return any((base / arg.split("::")[0]).resolve() == target for arg in config.args)


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(
    collector: pytest.Collector,
) -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
    """Add the config file to the session's top-level collectors, so its items are
    collected (and counted, selected with ``-k``, listed by ``--collect-only``) like any
    test file's, wherever the file lies."""
    report = yield
    if not isinstance(collector, pytest.Session):
        return report
    path = _config_path(collector.config)
    if path is None:
        return report
    _load(collector.config, path)  # a bad config is a usage error, before any test runs
    if report.passed and not _named_on_command_line(collector.config, path):
        report.result.append(ValidationFile.from_session(collector, Path(path)))
    return report


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> ValidationFile | None:
    """The config file, when it is named as an argument (else the session adds it)."""
    path = _config_path(parent.config)
    if path is None or file_path.resolve() != Path(path).resolve():
        return None
    if not _named_on_command_line(parent.config, path):
        return None  # a folder being walked: the session adds it once
    return ValidationFile.from_parent(parent, path=file_path)


class ValidationFile(pytest.File):
    """The validation.yaml: one item per configured check, in config order."""

    @classmethod
    def from_session(cls, session: pytest.Session, path: Path) -> ValidationFile:
        root = session.config.rootpath
        # Outside the rootdir pytest has no relative id for it: name it from the rootdir.
        nodeid = None if path.is_relative_to(root) else _shown(session.config, str(path))
        return cls.from_parent(session, path=path, nodeid=nodeid)

    def collect(self) -> Iterator[CheckItem]:
        loaded = _load(self.config, _config_path(self.config) or str(self.path))
        lines = _check_lines(self.path)
        for name in loaded.config.checks:
            yield CheckItem.from_parent(self, name=name, line=lines.get(name))


def _check_lines(path: Path) -> dict[str, int]:
    """Each check's line in the config (0-based), for report locations; no aliases are
    expanded (the node graph only) and the file already passed load_config's limits."""
    import yaml

    try:
        root = yaml.compose(path.read_text(encoding="utf-8"), Loader=yaml.SafeLoader)
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return {}
    for key, value in root.value if isinstance(root, yaml.MappingNode) else ():
        if key.value == "checks" and isinstance(value, yaml.MappingNode):
            return {str(k.value): k.start_mark.line for k, _ in value.value}
    return {}


# --------------------------------------------------------------------------- items


class CheckFailed(Exception):
    """A blocking check computed its metrics and they missed a threshold."""


class CheckErrored(Exception):
    """A blocking check could not be computed, or the validation could not run."""


class CheckItem(pytest.Item):
    """One configured check; its outcome is the gate's verdict on it."""

    def __init__(self, *, line: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.line = line

    def setup(self) -> None:
        check = self._check()
        if check["status"] == "skipped":
            pytest.skip(one_line(check["message"] or "skipped by the check"))
        if check["status"] == "error" and _blocks(check):
            raise CheckErrored(one_line(check["message"] or "the check errored"))

    def runtest(self) -> None:
        check = self._check()
        if check["status"] not in ("failed", "error"):
            return
        if not _blocks(check):
            # An xfail, not a failure: the gate passes with it, so pytest must too.
            pytest.xfail(ADVISORY.format(status=check["status"], sentence=_sentence(check)))
        raise CheckFailed(_sentence(check))

    def _check(self) -> dict[str, Any]:
        outcome = session_outcome(self.config, str(self.path))
        if outcome["error"]:
            raise CheckErrored(f"the validation could not run: {outcome['error']}")
        for check in outcome["report"]["checks"]:
            if check["name"] == self.name:
                return dict(check)
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
        return self.path, self.line, f"validate check {self.name}"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A skipped check is reported at its line in the config, not inside this plugin."""
    report = yield
    skip = report.skipped and not hasattr(report, "wasxfail")
    if isinstance(item, CheckItem) and skip and isinstance(report.longrepr, tuple):
        report.longrepr = (str(item.path), (item.line or 0) + 1, report.longrepr[2])
    return report


def _blocks(check: dict[str, Any]) -> bool:
    """Whether the gate fails on this check: asked of :func:`validate.gate.decide` itself,
    so an item's outcome cannot drift from ``validate run``'s exit code."""
    from validate.gate import decide
    from validate.results import CheckResult

    return not decide([CheckResult.from_dict(check)]).passed


def _sentence(check: dict[str, Any]) -> str:
    failed = [a["sentence"] for a in check.get("assertions", ()) if not a.get("passed", True)]
    return one_line("; ".join(s for s in failed if s) or check.get("message") or check["status"])


# --------------------------------------------------------------------------- the run


def session_outcome(config: pytest.Config, config_path: str) -> dict[str, Any]:
    """``{"report", "problem", "error"}`` of the validation, run once per session (and per
    machine under xdist). ``error``: it could not run (``validate run`` exits 2 or 3)."""
    outcomes = _outcomes(config)
    key = str(Path(config_path).resolve())
    if key in outcomes:
        return outcomes[key]
    run_id = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    if run_id is None:
        outcomes[key] = _run(config_path)
        return outcomes[key]
    digest = hashlib.sha256(f"{run_id}:{key}".encode()).hexdigest()[:16]
    shared = Path(tempfile.gettempdir()) / f"validate-pytest-{digest}.json"
    with open(shared.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # the first worker runs it; the others wait and read
        if shared.exists():
            outcome = json.loads(shared.read_text())
        else:
            outcome = _run(config_path)
            shared.write_text(json.dumps(outcome))
    outcomes[key] = outcome
    return outcome


def session_report(config: pytest.Config, config_path: str) -> dict[str, Any]:
    """The validation's JSON report (what ``validate run --json`` writes)."""
    outcome = session_outcome(config, config_path)
    if outcome["error"]:
        pytest.fail(f"the validation could not run: {outcome['error']}", pytrace=False)
    return dict(outcome["report"])


def _run(config_path: str) -> dict[str, Any]:
    from validate.errors import ValidateError
    from validate.runner import RunRequest, run_validation

    try:
        # Warnings raised inside the run are the libraries' (MLflow, TensorFlow), silenced
        # as `validate run` silences them; a project's `filterwarnings = error` must not
        # turn them into a different verdict.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            outcome = run_validation(RunRequest(config_path=config_path, allow_promotion=False))
    except ValidateError as exc:
        return {"report": None, "problem": None, "error": _in_pytest_words(str(exc))}
    return {"report": outcome.report, "problem": outcome.problem, "error": None}


# --------------------------------------------------------------------------- the verdict


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Hand the outcome to the xdist controller; fail a session whose checks all passed
    when ``validate run`` would still not exit 0 (MLflow could not record it)."""
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput["validate"] = json.dumps(_outcomes(session.config))
    if session.exitstatus == pytest.ExitCode.OK and any(
        _run_level_failure(outcome) for outcome in _outcomes(session.config).values()
    ):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    """xdist controller: keep what a worker's validation said, for the summary."""
    shared = getattr(node, "workeroutput", {}).get("validate")
    if shared:
        _outcomes(node.config).update(json.loads(shared))


def _run_level_failure(outcome: dict[str, Any]) -> bool:
    report = outcome["report"]
    return bool(report and report["decision"] == "pass" and report.get("exit_code", 0) != 0)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """What ``validate run`` would have printed last: decision, warnings, MLflow run."""
    for key, outcome in _outcomes(config).items():
        terminalreporter.section(f"validate {_shown(config, key)}", sep="-")
        write = terminalreporter.write_line
        report = outcome["report"]
        if report is None:
            write(f"the validation could not run: {outcome['error']}", red=True)
            continue
        code = report.get("exit_code", 0)
        write(f"decision: {report['decision']} (validate run exits {code} on this config)")
        for line in _warnings(report):
            write(f"warning: {one_line(line)}")
        if outcome["problem"]:
            write(f"error: {outcome['problem']}", red=True)
        mlflow = report.get("mlflow") or {}
        if mlflow.get("run_id"):
            write(
                f"recorded in MLflow: run {mlflow['run_id']} at {mlflow['tracking_uri']} "
                "(every run with a validation config is recorded, as by validate run; "
                "none promotes)"
            )


def _warnings(report: dict[str, Any]) -> list[str]:
    """The gate's warnings (skips, advisory failures, the checks' own warnings), and any
    check warning the gate did not already name."""
    lines = [str(line) for line in report.get("warnings", ())]
    for check in report.get("checks", ()):
        for sentence in check.get("warnings", ()):
            line = f"{check['name']}: {sentence}"
            if line not in lines:
                lines.append(line)
    return lines


def _shown(config: pytest.Config, path: str) -> str:
    return os.path.relpath(path, config.rootpath)


# --------------------------------------------------------------------------- fixtures


def _require_config(request: pytest.FixtureRequest) -> str:
    path = _config_path(request.config)
    if not path:
        pytest.fail(
            f"the validate fixtures need {OPTION} PATH (or {INI} in the pytest ini file)",
            pytrace=False,
        )
    return path


@pytest.fixture(scope="session")
def validation(request: pytest.FixtureRequest) -> dict[str, Any]:
    """The validation's JSON report (decision, checks, metrics, MLflow run id)."""
    return session_report(request.config, _require_config(request))


@pytest.fixture(scope="session")
def eval_data(request: pytest.FixtureRequest) -> Any:
    """The eval set as a pandas DataFrame, as the config reads it."""
    from validate.data import load_datasets

    return load_datasets(_load(request.config, _require_config(request))).eval


@pytest.fixture(scope="session")
def candidate_model(request: pytest.FixtureRequest) -> Any:
    """The candidate as the validation resolved it: ``.predict(frame, features)`` gives scores."""
    from validate.inputs import resolve_models
    from validate.tracking import tracking_uri_for, use_tracking_uri

    loaded = _load(request.config, _require_config(request))
    use_tracking_uri(tracking_uri_for(loaded.config.mlflow.tracking_uri))
    candidate, _ = resolve_models(loaded)
    return candidate
