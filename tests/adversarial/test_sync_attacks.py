"""Issue 13, items 3, 8, 14 (sync) and 18 (sync): ``validate sync`` trusts nothing in the
report that decides where data or credentials go, records the decision it recomputes, and
checks a report whole before any MLflow run exists.

One real offline report (MLflow unreachable at run time, exit 3) is made per module; each
test edits a copy of it, syncs it into its own sqlite store and inspects that store."""

from __future__ import annotations

import http.server
import json
import os
import shutil
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import base_config, make_frame, run_cli
from mlflow import MlflowClient
from mlflow_server import free_port

SECRET = "SECRET-KEY-7c1f0e9a"
TOKEN = "tok-sync-5d2e8b"


@pytest.fixture(scope="module")
def offline_report(tmp_path_factory: pytest.TempPathFactory, models_dir: Path) -> Path:
    """accuracy passes, bias (blocking) fails; MLflow was down: decision fail, exit 3."""
    folder = tmp_path_factory.mktemp("offline")
    make_frame().to_parquet(folder / "eval.parquet", index=False)
    config = base_config(
        folder,
        models_dir,
        checks={
            "accuracy": {"thresholds": {"roc_auc": {"min": 0.7}}},
            "bias": {
                "sensitive_features": ["group"],
                "thresholds": {"demographic_parity_difference": {"max": 0.001}},
            },
        },
    )
    config["mlflow"]["tracking_uri"] = f"http://127.0.0.1:{free_port()}"  # nothing listens
    (folder / "validation.yaml").write_text(yaml.safe_dump(config))
    report = folder / "report.json"
    done = run_cli(
        "run",
        "-c",
        str(folder / "validation.yaml"),
        "--json",
        str(report),
        cwd=folder,
        env={"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"},
    )
    assert done.returncode == 3, done.stdout + done.stderr
    data = json.loads(report.read_text())
    assert data["decision"] == "fail" and "pending" in data["mlflow"]
    assert [c["status"] for c in data["checks"]] == ["passed", "failed"]
    return report


@pytest.fixture
def report_copy(offline_report: Path, tmp_path: Path) -> Path:
    """This test's own copy of the report and its .artifacts folder."""
    folder = tmp_path / "reports"
    folder.mkdir()
    shutil.copy(offline_report, folder / "report.json")
    shutil.copytree(offline_report.with_suffix(".artifacts"), folder / "report.artifacts")
    return folder / "report.json"


@pytest.fixture
def store(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'synced.db'}"


def edit(path: Path, change: Callable[[dict[str, Any]], Any]) -> None:
    report = json.loads(path.read_text())
    change(report)
    path.write_text(json.dumps(report))


def all_runs(uri: str) -> list:
    client = MlflowClient(tracking_uri=uri)
    experiments = [e.experiment_id for e in client.search_experiments()]
    return client.search_runs(experiments) if experiments else []


def validation_run(uri: str) -> Any:
    (run,) = [r for r in all_runs(uri) if r.data.tags.get("validate.kind") == "validation"]
    return run


def artifact_texts(uri: str, downloads: Path) -> str:
    client = MlflowClient(tracking_uri=uri)
    texts = []
    for run in all_runs(uri):
        local = Path(
            client.download_artifacts(run.info.run_id, "", str(downloads / run.info.run_id))
        )
        texts += [p.read_text(errors="replace") for p in local.rglob("*") if p.is_file()]
    return "\n".join(texts)


def one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    return lines[0]


class Trap:
    """An HTTP server on 127.0.0.1 that answers nothing useful and remembers every request."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        trap = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _any(self) -> None:
                trap.requests.append(f"{self.command} {self.path} {dict(self.headers)}")
                self.send_response(500)
                self.end_headers()

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _any

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def trap() -> Iterator[Trap]:
    server = Trap()
    yield server
    server.close()


def test_item8_sync_ignores_report_tracking_uri(report_copy, store, trap, monkeypatch):
    def point_at_trap(report: dict[str, Any]) -> None:
        report["mlflow"]["tracking_uri"] = trap.url

    edit(report_copy, point_at_trap)
    env = {"MLFLOW_TRACKING_TOKEN": TOKEN, "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"}

    # No URI given anywhere but the report: refused, and the report's server never hears.
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    refused = run_cli("sync", str(report_copy), env=env)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    line = one_line(refused.stderr)
    assert "--tracking-uri" in line and "MLFLOW_TRACKING_URI" in line
    assert "pending" in json.loads(report_copy.read_text())["mlflow"]  # untouched

    # The flag decides; the console says the report named another server.
    done = run_cli("sync", str(report_copy), "--tracking-uri", store, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("recorded MLflow run ")
    assert f"the report named {trap.url}, which sync never uses" in done.stdout
    assert validation_run(store).data.tags["validate.recorded_by"] == "sync"
    assert trap.requests == []
    assert TOKEN not in done.stdout + done.stderr


def test_item8_sync_uses_mlflow_tracking_uri_from_the_environment(report_copy, store, trap):
    edit(report_copy, lambda r: r["mlflow"].update(tracking_uri=trap.url))
    done = run_cli("sync", str(report_copy), env={"MLFLOW_TRACKING_URI": store})
    assert done.returncode == 0, done.stdout + done.stderr
    assert validation_run(store).info.status == "FAILED"
    assert trap.requests == []


def _plant_secret(tmp_path: Path) -> Path:
    """A private key outside the report's folder, laid out as if it were check files."""
    home = tmp_path / "home"
    (home / "accuracy").mkdir(parents=True)
    key = home / "accuracy" / "id_rsa"
    key.write_text(f"-----BEGIN OPENSSH PRIVATE KEY-----\n{SECRET}\n")
    return key


def test_item8_sync_uploads_nothing_outside_artifacts_folder_named_by_pending(
    report_copy, store, tmp_path
):
    key = _plant_secret(tmp_path)
    edit(report_copy, lambda r: r["mlflow"]["pending"].update(artifacts=str(key.parent.parent)))
    done = run_cli("sync", str(report_copy), "--tracking-uri", store)
    assert done.returncode == 0, done.stdout + done.stderr
    texts = artifact_texts(store, tmp_path / "downloads")
    assert "check_result.json" not in texts  # sanity: the texts are contents, not names
    assert '"name": "bias"' in texts  # the real check files were uploaded
    assert SECRET not in texts


@pytest.mark.parametrize("planted", ["file link", "folder link", "artifacts folder link"])
def test_item8_sync_uploads_nothing_outside_artifacts_folder(report_copy, store, tmp_path, planted):
    key = _plant_secret(tmp_path)
    artifacts = report_copy.with_suffix(".artifacts")
    edit(report_copy, lambda r: r["mlflow"]["pending"].update(artifacts=str(key.parent.parent)))
    if planted == "file link":
        (artifacts / "accuracy").mkdir(exist_ok=True)
        os.symlink(key, artifacts / "accuracy" / "notes.txt")
    elif planted == "folder link":
        shutil.rmtree(artifacts / "accuracy", ignore_errors=True)
        os.symlink(key.parent, artifacts / "accuracy")
    else:
        shutil.rmtree(artifacts)
        os.symlink(key.parent.parent, artifacts)

    done = run_cli("sync", str(report_copy), "--tracking-uri", store)

    assert done.returncode == 2, done.stdout + done.stderr
    assert "plain files inside the .artifacts folder" in one_line(done.stderr)
    assert all_runs(store) == []  # refused before any run was created
    assert SECRET not in artifact_texts(store, tmp_path / "downloads")
    assert SECRET not in done.stdout + done.stderr


def test_item3_edited_report_is_recorded_as_failed_and_tagged_sync(report_copy, store, tmp_path):
    def forge(report: dict[str, Any]) -> None:
        report["decision"] = "pass"
        tags = report["mlflow"]["pending"]["tags"]
        tags.update(
            {
                "validate.decision": "pass",
                "validate.live": "true",
                "validate.signature": "forged",
                "validate.decision_record": "{}",
                "validate.candidate_digest": "sha256:forged",
                "validate.checks_configured": '["accuracy", "bias"]',
                "validate.checks_ran": '["accuracy", "bias"]',
                "validate.promotion_target": json.dumps(
                    {"model": "credit", "alias": "champion", "alias_read": True}
                ),
                "mlflow.user": "someone-else",
                "anything.else": "x",
            }
        )

    edit(report_copy, forge)
    done = run_cli("sync", str(report_copy), "--tracking-uri", store)

    assert done.returncode == 0, done.stdout + done.stderr
    (first,) = done.stdout.strip().splitlines()
    (warning,) = done.stderr.strip().splitlines()  # warnings go to stderr
    assert first.startswith("recorded MLflow run ")
    assert warning == (
        "warning: the report says decision 'pass' but its check statuses give 'fail'; "
        "recorded 'fail'"
    )
    run = validation_run(store)
    tags = run.data.tags
    assert run.info.status == "FAILED" and tags["validate.decision"] == "fail"
    assert tags["validate.recorded_by"] == "sync"
    assert tags["validate.synced_from"] == "report.json"
    for forged in (
        "validate.live",
        "validate.signature",
        "validate.decision_record",
        "validate.candidate_digest",
        "validate.checks_configured",
        "validate.checks_ran",
        "validate.promotion_target",
        "anything.else",
    ):
        assert forged not in tags, forged
    assert tags.get("mlflow.user") != "someone-else"
    assert json.loads(report_copy.read_text())["decision"] == "fail"

    # Nothing can be promoted from it.
    promote = run_cli("promote", run.info.run_id, "--tracking-uri", store)
    assert promote.returncode in (1, 2), promote.stdout + promote.stderr
    one_line(promote.stderr)
    assert MlflowClient(tracking_uri=store).search_model_versions() == []


def test_item3_forged_statuses_are_tagged_sync_and_carry_no_promotion_target(report_copy, store):
    def forge(report: dict[str, Any]) -> None:
        report["decision"] = "pass"
        for check in report["checks"]:
            check["status"] = "passed"
        report["mlflow"]["pending"]["tags"]["validate.promotion_target"] = json.dumps(
            {"model": "credit", "alias": "champion", "alias_read": True}
        )

    edit(report_copy, forge)
    done = run_cli("sync", str(report_copy), "--tracking-uri", store)
    assert done.returncode == 0, done.stdout + done.stderr
    tags = validation_run(store).data.tags
    assert tags["validate.recorded_by"] == "sync" and "validate.synced_from" in tags
    assert "validate.promotion_target" not in tags
    promote = run_cli("promote", validation_run(store).info.run_id, "--tracking-uri", store)
    assert promote.returncode in (1, 2), promote.stdout + promote.stderr
    assert MlflowClient(tracking_uri=store).search_model_versions() == []


def _set(*keys: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(report: dict[str, Any]) -> None:
        node = report
        for key in keys[:-1]:
            node = node[key]
        node[keys[-1]] = value

    return change


def _delete(*keys: str) -> Callable[[dict[str, Any]], None]:
    def change(report: dict[str, Any]) -> None:
        node = report
        for key in keys[:-1]:
            node = node[key]
        del node[keys[-1]]

    return change


def _duplicate_check(report: dict[str, Any]) -> None:
    report["checks"].append(dict(report["checks"][0], status="failed"))


MALFORMED = {
    "checks not a list": _set("checks", value={"accuracy": "passed"}),
    "check not an object": _set("checks", 0, value="accuracy"),
    "check without status": _delete("checks", 0, "status"),
    "unknown status": _set("checks", 0, "status", value="great"),
    "metrics a list": _set("checks", 0, "metrics", value=[1, 2]),
    "assertion without metric": _set("checks", 0, "assertions", value=[{"op": ">="}]),
    "message a number": _set("checks", 0, "message", value=7),
    "check name escapes": _set("checks", 0, "name", value="../../etc"),
    "check listed twice": _duplicate_check,
    "decision a number": _set("decision", value=1),
    "mlflow a string": _set("mlflow", value="down"),
    "pending a list": _set("mlflow", "pending", value=["experiment"]),
    "pending without experiment": _delete("mlflow", "pending", "experiment"),
    "params not strings": _set("mlflow", "pending", "params", value={"seed": 1}),
    "tags a list": _set("mlflow", "pending", "tags", value=["validate.decision"]),
    "report_id injection": _set("report_id", value="x' or tags.a = 'b"),
    "no report_id": _delete("report_id"),
    "exit_code a string": _set("exit_code", value="3"),
}


def sync_in_process(*args: str) -> Any:
    """``validate sync`` through click's runner: the many malformed cases stay fast; one
    case also runs as a real subprocess below."""
    from click.testing import CliRunner

    from validate.cli import cli

    return CliRunner().invoke(cli, ["sync", *args])


@pytest.mark.parametrize("malformation", list(MALFORMED))
def test_item14_malformed_reports_exit_2_and_leave_no_running_run(report_copy, store, malformation):
    edit(report_copy, MALFORMED[malformation])
    before = report_copy.read_text()
    done = sync_in_process(str(report_copy), "--tracking-uri", store)
    assert done.exit_code == 2, done.output
    assert str(report_copy) in one_line(done.stderr)
    assert all_runs(store) == []
    assert report_copy.read_text() == before


def test_item14_malformed_report_as_a_subprocess(report_copy, store):
    edit(report_copy, MALFORMED["pending without experiment"])
    done = run_cli("sync", str(report_copy), "--tracking-uri", store)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "mlflow.pending has no experiment name" in one_line(done.stderr)
    assert all_runs(store) == []


@pytest.mark.parametrize(
    "text", ["[" * 50_000, '"just a string"', "[]", "{}", "not json", '{"checks": []}']
)
def test_item14_files_that_are_not_reports_exit_2(tmp_path, store, text):
    path = tmp_path / "report.json"
    path.write_text(text)
    done = sync_in_process(str(path), "--tracking-uri", store)
    assert done.exit_code == 2, done.output
    one_line(done.stderr)
    assert all_runs(store) == []


def test_item18_sync_of_unknown_run_is_not_already_recorded(report_copy, store, tmp_path):
    def recorded_elsewhere(report: dict[str, Any]) -> None:
        del report["mlflow"]["pending"]
        report["mlflow"]["run_id"] = "0123456789abcdef0123456789abcdef"

    edit(report_copy, recorded_elsewhere)
    done = run_cli("sync", str(report_copy), "--tracking-uri", store)
    assert done.returncode == 2, done.stdout + done.stderr
    line = one_line(done.stderr)
    assert "0123456789abcdef0123456789abcdef does not exist" in line
    assert "already recorded" not in done.stdout + line

    # A run that exists but belongs to another report is not this one either.
    fresh = tmp_path / "fresh" / "report.json"
    fresh.parent.mkdir()
    shutil.copy(report_copy, fresh)
    edit(fresh, _set("report_id", value="another"))
    real = MlflowClient(tracking_uri=store)
    experiment = real.create_experiment("tests")
    run_id = real.create_run(experiment, tags={"validate.report_id": "someone"}).info.run_id
    real.set_terminated(run_id)
    edit(fresh, _set("mlflow", "run_id", value=run_id))
    mismatch = run_cli("sync", str(fresh), "--tracking-uri", store)
    assert mismatch.returncode == 2, mismatch.stdout + mismatch.stderr
    assert "is not this report's run" in one_line(mismatch.stderr)


def test_item18_sync_twice_says_already_recorded(report_copy, store):
    first = run_cli("sync", str(report_copy), "--tracking-uri", store)
    assert first.returncode == 0, first.stdout + first.stderr
    again = run_cli("sync", str(report_copy), "--tracking-uri", store)
    assert again.returncode == 0, again.stdout + again.stderr
    assert again.stdout.startswith("already recorded: MLflow run ")
    assert len([r for r in all_runs(store) if r.info.status == "RUNNING"]) == 0
