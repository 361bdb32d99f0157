"""``validate sync REPORT.json``: record a validation that ran while MLflow was down.

A run that could not reach MLflow keeps its JSON report (with a ``mlflow.pending``
block: experiment, run name, params, tags) and its check files in the folder beside it
(``REPORT.artifacts``), and exits 3. Sync writes it to MLflow later, once:

* the parent run is found by the report's ``report_id`` tag; if MLflow created it
  before the outage it is completed, not duplicated, and a second sync finds the
  finished run and does nothing;
* nested runs are written only for checks not already recorded under it;
* the report file is rewritten without the pending block, with the run id.

Sync trusts nothing in the report that decides where data or credentials go: the
tracking URI comes from ``--tracking-uri``, the config (``--config``) or
``MLFLOW_TRACKING_URI``, never from the report; files come only from the
``REPORT.artifacts`` folder, as plain files inside it; the decision is recomputed from
the check statuses; only descriptive tags are copied, and the run is tagged
``validate.recorded_by=sync``. A report is validated whole before any MLflow run is
created, so a malformed one is exit 2 and leaves nothing behind.

Sync never promotes, and a synced run is not promotable: the report is a file anyone
could have edited. Validate again with MLflow up to promote.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from validate.errors import ConfigError, RecorderError
from validate.gate import decide
from validate.recorder import MlflowRecorder
from validate.reporting.json_report import write_report
from validate.results import CheckResult
from validate.tracking import (
    DEFAULT_TRACKING_URI,
    is_unreachable,
    redact_uri,
    scrub_credentials,
    use_tracking_uri,
)

# Tags a pending report may carry over: they describe the run and nothing else. Anything
# else could make a forged run look decided, sealed or promotable, so it is dropped: the
# seal tags (validate.decision, validate.live, validate.signature, ...) and also
# validate.promotion_target, whose alias_read flag is a promotion precondition.
COPIED_TAGS = frozenset(
    {
        "validate.config_hash",
        "validate.candidate_ref",
        "validate.git_commit",
        "validate.report_id",
    }
)
RECORDED_BY = "sync"
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")
_CHECK_ERRORS = (KeyError, TypeError, ValueError, AttributeError, IndexError)


@dataclass(frozen=True)
class SyncOutcome:
    run_id: str
    recorded_checks: tuple[str, ...]  # written by this sync
    already_synced: bool
    tracking_uri: str = ""
    report_uri: str = ""  # what the report named (never used), for the console line
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class PendingRun:
    """The ``mlflow.pending`` block, checked: what to create the parent run with."""

    experiment: str
    run_name: str
    params: Mapping[str, str]
    tags: Mapping[str, str]


@dataclass(frozen=True)
class SyncReport:
    """A report of ``validate run``, checked field by field before anything is written."""

    raw: dict[str, Any]
    report_id: str | None
    run_id: str | None
    report_uri: str
    claimed_decision: str
    results: tuple[CheckResult, ...]
    pending: PendingRun | None


def sync_report(
    path: str | Path, tracking_uri: str | None = None, config_path: str | None = None
) -> SyncOutcome:
    """Upload the pending validation in ``path`` to MLflow (idempotent).

    Parameters
    ----------
    path
        The JSON report ``validate run`` kept during an outage.
    tracking_uri
        ``--tracking-uri``; else the config's ``mlflow.tracking_uri`` (``config_path``),
        else ``MLFLOW_TRACKING_URI``. The report's own URI is never used.

    Raises
    ------
    ConfigError
        The file is not a well-formed report of ``validate run``, no tracking URI was
        given, its run does not exist, or its check files are not plain files.
    RecorderError
        MLflow is still unreachable; nothing is lost, run sync again later.
    """
    report_path = Path(path)
    report = parse_report(_read_report(report_path), report_path)
    uri = resolve_tracking_uri(tracking_uri, config_path, report, report_path)
    if report.pending is None:
        return _already_recorded(report, report_path, uri)
    verdict = decide(report.results).verdict
    with tempfile.TemporaryDirectory(prefix="validate-sync-") as staging:
        # Before anything reaches MLflow: a refused file leaves no run behind.
        files = stage_check_files(
            report_path.with_suffix(".artifacts"), [r.name for r in report.results], Path(staging)
        )
        use_tracking_uri(uri)
        recorder = MlflowRecorder(
            tracking_uri=uri, experiment=report.pending.experiment, strict=True
        )
        assert report.report_id is not None  # parse_report: pending needs a report_id
        existing = recorder.find_validation(report.report_id)
        if existing is not None and "validate.decision" in existing.data.tags:
            _mark_synced(report, report_path, existing.info.run_id, uri)
            return SyncOutcome(existing.info.run_id, (), already_synced=True, tracking_uri=uri)
        written = _record(recorder, existing, report, report_path, verdict, files)
    assert recorder.run_id is not None
    return SyncOutcome(
        recorder.run_id,
        written,
        already_synced=False,
        tracking_uri=uri,
        report_uri=report.report_uri,
        warnings=_decision_warnings(report, verdict),
    )


def describe(outcome: SyncOutcome) -> str:
    """One line for the console, then one line per warning."""
    where = redact_uri(outcome.tracking_uri)
    if outcome.already_synced:
        line = f"already recorded: MLflow run {outcome.run_id} at {where}; nothing to do"
    else:
        checks = ", ".join(outcome.recorded_checks) or "none (all were recorded before the outage)"
        line = f"recorded MLflow run {outcome.run_id} at {where}; checks written: {checks}"
    if outcome.report_uri and outcome.report_uri != where:
        line += f" (the report named {outcome.report_uri}, which sync never uses)"
    return "\n".join([line, *(f"warning: {w}" for w in outcome.warnings)])


def resolve_tracking_uri(
    flag: str | None, config_path: str | None, report: SyncReport, path: Path
) -> str:
    """``--tracking-uri``, the config's URI, ``MLFLOW_TRACKING_URI``; the sqlite default
    only when the report itself ran against it. Never the report's URI."""
    if flag:
        return flag
    if config_path:
        from validate.config import load_config

        configured = load_config(config_path).config.mlflow.tracking_uri
        if configured:
            return configured
    if os.environ.get("MLFLOW_TRACKING_URI"):
        return os.environ["MLFLOW_TRACKING_URI"]
    if report.report_uri in ("", DEFAULT_TRACKING_URI):
        return DEFAULT_TRACKING_URI
    raise ConfigError(
        f"{path}: which MLflow? pass --tracking-uri URI or set MLFLOW_TRACKING_URI (sync "
        f"never sends data to the server a report names; this one names {report.report_uri})"
    )


def parse_report(raw: Any, path: Path) -> SyncReport:
    """Check every field sync uses; one ``ConfigError`` line for the first bad one."""
    if not isinstance(raw, dict) or not isinstance(raw.get("checks"), list):
        raise ConfigError(f"{path}: not a report written by validate run (no checks list)")
    claimed = _field(raw, "decision", str, path, required=True)
    _field(raw, "exit_code", int, path)
    block = _field(raw, "mlflow", dict, path) or {}
    report_id = _identifier(raw.get("report_id"), "report_id", path)
    run_id = _identifier(block.get("run_id"), "mlflow.run_id", path)
    report_uri = _field(block, "tracking_uri", str, path, where="mlflow.") or ""
    pending = _pending(block.get("pending"), path)
    if pending is not None and report_id is None:
        raise ConfigError(f"{path}: the report has no report_id; re-run the validation")
    if pending is None and run_id is None:
        raise ConfigError(f"{path}: no MLflow run and nothing pending; nothing to sync")
    return SyncReport(
        raw=raw,
        report_id=report_id,
        run_id=run_id,
        report_uri=_printable(redact_uri(report_uri)),
        claimed_decision=_printable(claimed),
        results=_results(raw["checks"], path),
        pending=pending,
    )


def stage_check_files(folder: Path, names: list[str], into: Path) -> dict[str, Path]:
    """Copy each check's files from ``folder/<check>`` into ``into/<check>``.

    Only plain files that lie inside ``folder`` are copied; a symbolic link, a special
    file or a path resolving outside it refuses the whole sync (a crafted report must
    not upload files from elsewhere). A missing folder means no files.
    """
    if not os.path.lexists(folder):
        return {}
    if folder.is_symlink() or not folder.is_dir():
        raise ConfigError(f"{folder}: not a plain folder; {_ONLY_PLAIN}")
    root = folder.resolve()
    staged = {}
    for name in names:
        source = folder / name
        if not os.path.lexists(source):
            continue
        _require_plain(source, root, is_dir=True)
        _copy_plain_tree(source, root, into / name)
        staged[name] = into / name
    return staged


_ONLY_PLAIN = "sync uploads only plain files inside the .artifacts folder beside the report"


def _copy_plain_tree(source: Path, root: Path, target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    for here, folders, files in os.walk(source, followlinks=False):
        for name in folders:
            _require_plain(Path(here) / name, root, is_dir=True)
        for name in files:
            file = Path(here) / name
            _require_plain(file, root, is_dir=False)
            copy = target / file.relative_to(source)
            copy.parent.mkdir(parents=True, exist_ok=True)
            _copy_without_following(file, copy)


def _require_plain(path: Path, root: Path, *, is_dir: bool) -> None:
    mode = os.lstat(path).st_mode
    plain = stat.S_ISDIR(mode) if is_dir else stat.S_ISREG(mode)
    if stat.S_ISLNK(mode) or not plain or not path.resolve().is_relative_to(root):
        raise ConfigError(f"{path}: a link or special file among the check files; {_ONLY_PLAIN}")


def _copy_without_following(source: Path, target: Path) -> None:
    # O_NOFOLLOW: a file swapped for a link after the check above is refused, not followed.
    try:
        handle = os.open(source, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        raise ConfigError(f"{source}: cannot read ({exc.strerror}); {_ONLY_PLAIN}") from exc
    with os.fdopen(handle, "rb") as reader:
        if not stat.S_ISREG(os.fstat(reader.fileno()).st_mode):
            raise ConfigError(f"{source}: not a plain file; {_ONLY_PLAIN}")
        with target.open("wb") as writer:
            shutil.copyfileobj(reader, writer)


def _record(
    recorder: MlflowRecorder,
    existing: Any,
    report: SyncReport,
    path: Path,
    verdict: str,
    files: Mapping[str, Path],
) -> tuple[str, ...]:
    """Create (or complete) the parent run, write the missing checks, close it."""
    assert report.pending is not None
    marks = {"validate.synced_from": path.name, "validate.recorded_by": RECORDED_BY}
    if existing is not None:
        recorder.resume(existing.info.run_id)
        recorder.set_tags(marks)
    else:
        recorder.start(
            run_name=report.pending.run_name,
            params=report.pending.params,
            tags={**_copied_tags(report), **marks},
        )
    done = recorder.recorded_checks()
    written = []
    for result in report.results:
        if result.name not in done:
            folder = files.get(result.name)
            recorder.record_check(result, str(folder) if folder else None)
            written.append(result.name)
    assert recorder.run_id is not None
    final = _without_pending(report, recorder.run_id, recorder.tracking_uri, verdict)
    recorder.set_tags({"validate.exit_code_at_run": str(report.raw.get("exit_code"))})
    recorder.finish(final, decision=verdict)
    write_report(final, path)
    return tuple(written)


def _copied_tags(report: SyncReport) -> dict[str, str]:
    assert report.pending is not None and report.report_id is not None
    tags = {k: v for k, v in report.pending.tags.items() if k in COPIED_TAGS}
    tags["validate.report_id"] = report.report_id  # what find_validation looks for
    return tags


def _decision_warnings(report: SyncReport, verdict: str) -> tuple[str, ...]:
    if report.claimed_decision == verdict:
        return ()
    return (
        f"the report says decision '{report.claimed_decision}' but its check statuses give "
        f"'{verdict}'; recorded '{verdict}'",
    )


def _already_recorded(report: SyncReport, path: Path, uri: str) -> SyncOutcome:
    """No pending block: the run must exist, and be this report's, to say so."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    run_id = report.run_id
    assert run_id is not None
    where = redact_uri(uri)
    use_tracking_uri(uri)
    try:
        run = MlflowClient(tracking_uri=uri).get_run(run_id)
    except MlflowException as exc:
        if is_unreachable(exc) or exc.error_code not in _NOT_FOUND:
            raise RecorderError(
                f"MLflow at {where} failed while reading run {run_id}: {_first_line(exc)}"
            ) from exc
        raise ConfigError(
            f"{path}: MLflow run {run_id} does not exist at {where}; pass the --tracking-uri "
            "it was recorded in, or validate again"
        ) from None
    recorded_for = run.data.tags.get("validate.report_id")
    if report.report_id is not None and recorded_for != report.report_id:
        raise ConfigError(
            f"{path}: MLflow run {run_id} at {where} is not this report's run (its report_id "
            "differs); validate again"
        )
    return SyncOutcome(
        run_id=run_id,
        recorded_checks=(),
        already_synced=True,
        tracking_uri=uri,
        report_uri=report.report_uri,
    )


_NOT_FOUND = ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND")


def _read_report(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: no such report; pass the JSON file validate run wrote"
        ) from None
    except RecursionError:
        raise ConfigError(f"{path}: not a JSON report (nested too deeply)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: not a JSON report ({exc})") from exc


def _field(
    data: Mapping[str, Any],
    key: str,
    kind: type,
    path: Path,
    *,
    required: bool = False,
    where: str = "",
) -> Any:
    value = data.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ConfigError(
            f"{path}: {where}{key} must be {_KINDS[kind]}, not {_kind_of(value)}; not a "
            "report written by validate run"
        )
    return value


_KINDS = {str: "a string", int: "an integer", dict: "an object", list: "a list"}


def _kind_of(value: Any) -> str:
    return "missing" if value is None else type(value).__name__


def _identifier(value: Any, key: str, path: Path) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise ConfigError(
            f"{path}: {key} must be letters, digits, '-' or '_'; not a report written by "
            "validate run"
        )
    return value


def _pending(value: Any, path: Path) -> PendingRun | None:
    if value is None or value == {}:
        return None
    if not isinstance(value, dict):
        return _bad_pending(path, f"must be an object, not {_kind_of(value)}")
    experiment, run_name = value.get("experiment"), value.get("run_name")
    if not isinstance(experiment, str) or not experiment.strip():
        return _bad_pending(path, "has no experiment name")
    if not isinstance(run_name, str):
        return _bad_pending(path, "has no run_name")
    return PendingRun(
        experiment=experiment,
        run_name=run_name,
        params=_strings(value.get("params", {}), "params", path),
        tags=_strings(value.get("tags", {}), "tags", path),
    )


def _bad_pending(path: Path, problem: str) -> PendingRun:
    raise ConfigError(f"{path}: mlflow.pending {problem}; not a report written by validate run")


def _strings(value: Any, key: str, path: Path) -> dict[str, str]:
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        _bad_pending(path, f"{key} must map names to strings")
    return dict(value)


def _results(entries: list[Any], path: Path) -> tuple[CheckResult, ...]:
    results = []
    for index, entry in enumerate(entries):
        where = f"{path}: checks[{index}]"
        if not isinstance(entry, dict):
            raise ConfigError(f"{where} must be an object, not {_kind_of(entry)}")
        name = entry.get("name")
        if not isinstance(name, str) or not _SAFE_NAME.fullmatch(name):
            raise ConfigError(f"{where}: name must be a check id (letters, digits, '_.-')")
        if not isinstance(entry.get("message", ""), str):
            raise ConfigError(f"{where} ({name}): message must be a string")
        try:
            result = CheckResult.from_dict(entry)
            json.dumps(result.to_dict(), allow_nan=True)
        except _CHECK_ERRORS as exc:
            raise ConfigError(
                f"{where} ({name}): not a check result ({type(exc).__name__}: "
                f"{_printable(str(exc))})"
            ) from None
        results.append(result)
    names = [r.name for r in results]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ConfigError(f"{path}: check(s) {', '.join(twice[:5])} listed more than once")
    return tuple(results)


def _printable(text: str, limit: int = 120) -> str:
    """Report text shown on the console: no control characters, bounded length."""
    clean = "".join(c if c.isprintable() else "?" for c in text)
    return clean if len(clean) <= limit else clean[: limit - 1] + "…"


def _first_line(exc: BaseException) -> str:
    text = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return scrub_credentials(" ".join(str(text).split()))[:300]


def _without_pending(report: SyncReport, run_id: str, uri: str, verdict: str) -> dict[str, Any]:
    final = json.loads(json.dumps(report.raw))
    final.setdefault("mlflow", {})
    final["mlflow"].pop("pending", None)
    final["mlflow"].update(run_id=run_id, synced=True, tracking_uri=redact_uri(uri))
    final["decision"] = verdict
    return final


def _mark_synced(report: SyncReport, path: Path, run_id: str, uri: str) -> None:
    # A read-only copy of the report is fine: MLflow already holds the run.
    with contextlib.suppress(OSError):
        write_report(_without_pending(report, run_id, uri, decide(report.results).verdict), path)
