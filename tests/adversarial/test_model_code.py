"""Issue 13, items 7, 9, 11 and 18: model and plug-in code cannot choose the exit code, hang
the run, or outlive it; signals end a run cleanly. Real processes, checked in /proc."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest
import yaml
from conftest import base_config, install_fake_distribution, run_cli
from gate_support import hostile_model, marker_env, no_orphans, no_pass_recorded, one_error_line
from mlflow import MlflowClient
from processes import start_validate, wait_for

PLUGIN = """
    import os, sys, time
    from validate import CheckResult, Status

    class Exiter:
        def run(self, context):
            os._exit(0)

    class SysExiter:
        def run(self, context):
            sys.exit(0)

    class Interrupter:
        def run(self, context):
            raise KeyboardInterrupt

    class Hanger:
        def run(self, context):
            open(os.environ["HANGER_STARTED"], "w").close()
            while True:
                time.sleep(0.05)

    class Daemon:
        # Leaves a daemon in a session of its own (setsid), then passes.
        def run(self, context):
            import subprocess
            subprocess.Popen(
                [sys.executable, "-c", "import time; time.sleep(600)"], start_new_session=True
            )
            return CheckResult(name="daemon", status=Status.PASSED, message="left a daemon")

    class GilHolder:
        # A catastrophic regex: native code that never lets the interpreter switch threads.
        def run(self, context):
            import re
            re.match(r"(a+)+$", "a" * 64 + "b")
            return CheckResult(name="gilholder", status=Status.PASSED)

    class Forker:
        # Starts a grandchild process that would outlive the run, then hangs.
        def run(self, context):
            import subprocess
            subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
            open(os.environ["HANGER_STARTED"], "w").close()
            while True:
                time.sleep(0.05)
"""


@pytest.fixture
def hostile_env(tmp_path: Path) -> dict[str, str]:
    site = tmp_path / "site"
    names = ("Exiter", "SysExiter", "Interrupter", "Hanger", "Forker", "Daemon", "GilHolder")
    install_fake_distribution(
        site,
        "hostile_checks",
        {name.lower(): f"hostile_mod:{name}" for name in names},
        {"hostile_mod": PLUGIN},
    )
    return {
        "PYTHONPATH": str(site),
        "HANGER_STARTED": str(tmp_path / "hanger.started"),
        **marker_env(),
    }


def config_with(tmp_path: Path, data_dir: Path, models_dir: Path, checks: dict, **extra) -> Path:
    config = base_config(data_dir, models_dir, checks=checks, **extra)
    config["promote"] = {"model": "credit", "alias": "champion"}
    path = tmp_path / "v.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


ACCURACY = {"thresholds": {"roc_auc": {"min": 0.7}}}


def no_alias() -> None:
    from mlflow.exceptions import MlflowException

    with pytest.raises(MlflowException):
        MlflowClient().get_model_version_by_alias("credit", "champion")


@pytest.mark.parametrize("where", ["predict", "load_context"])
def test_item7_model_calling_sys_exit_is_exit_2(tmp_path, data_dir, models_dir, where):
    model = hostile_model(tmp_path, "sys_exit", where)
    config = config_with(
        tmp_path, data_dir, models_dir, {"accuracy": ACCURACY}, **{"model.candidate": str(model)}
    )
    env = marker_env()
    done = run_cli("run", "-c", str(config), env=env)
    assert done.returncode == 2, done.stderr
    one_error_line(done, "model code called sys.exit(0)")
    no_alias()
    no_pass_recorded()
    no_orphans(env)


@pytest.mark.parametrize("where", ["predict", "load_context"])
def test_item7_model_calling_os_exit_is_exit_3(tmp_path, data_dir, models_dir, where):
    model = hostile_model(tmp_path, "os_exit", where)
    config = config_with(
        tmp_path, data_dir, models_dir, {"accuracy": ACCURACY}, **{"model.candidate": str(model)}
    )
    env = marker_env()
    report = tmp_path / "r.json"
    done = run_cli("run", "-c", str(config), "--json", str(report), env=env)
    assert done.returncode == 3, done.stderr
    one_error_line(done, "exited with status 0 without a decision", "nothing was promoted")
    assert json.loads(report.read_text())["decision"] == "fail"
    no_alias()
    no_pass_recorded()
    no_orphans(env)


def test_item7_check_calling_os_exit_in_process_is_exit_3_and_marks_the_run(
    tmp_path, data_dir, models_dir, hostile_env
):
    config = config_with(tmp_path, data_dir, models_dir, {"accuracy": ACCURACY, "exiter": {}})
    report = tmp_path / "r.json"
    done = run_cli("run", "-c", str(config), "--json", str(report), env=hostile_env)
    assert done.returncode == 3, done.stderr
    line = one_error_line(done, "while check 'exiter' was running", "marked KILLED")
    run_id = line.split("MLflow run ")[1].split()[0]
    run = MlflowClient().get_run(run_id)
    assert run.info.status == "KILLED" and run.data.tags["validate.decision"] == "killed"
    saved = json.loads(report.read_text())
    assert saved["decision"] == "fail" and saved["exit_code"] == 3
    assert {c["name"]: c["status"] for c in saved["checks"]} == {
        "accuracy": "passed",
        "exiter": "error",
    }
    no_alias()
    no_orphans(hostile_env)


@pytest.mark.parametrize("check", ["exiter", "sysexiter", "interrupter"])
def test_item7_exits_in_worker_processes_are_that_checks_error(
    tmp_path, data_dir, models_dir, hostile_env, check
):
    config = config_with(tmp_path, data_dir, models_dir, {"accuracy": ACCURACY, check: {}})
    report = tmp_path / "r.json"
    done = run_cli("run", "-c", str(config), "--jobs", "2", "--json", str(report), env=hostile_env)
    assert done.returncode == 3, done.stderr
    statuses = {c["name"]: c["status"] for c in json.loads(report.read_text())["checks"]}
    assert statuses == {"accuracy": "passed", check: "error"}
    no_alias()
    no_pass_recorded()
    no_orphans(hostile_env)


@pytest.mark.parametrize("check", ["sysexiter", "interrupter"])
def test_item7_and_18_exits_in_process_are_that_checks_error(
    tmp_path, data_dir, models_dir, hostile_env, check
):
    """sys.exit and a KeyboardInterrupt raised by check code are errors; the run goes on and
    never claims a run was KILLED."""
    config = config_with(tmp_path, data_dir, models_dir, {check: {}, "accuracy": ACCURACY})
    report = tmp_path / "r.json"
    done = run_cli("run", "-c", str(config), "--json", str(report), env=hostile_env)
    assert done.returncode == 3, done.stderr
    assert "KILLED" not in done.stderr + done.stdout
    statuses = {c["name"]: c["status"] for c in json.loads(report.read_text())["checks"]}
    assert statuses == {check: "error", "accuracy": "passed"}
    no_alias()
    no_pass_recorded()


def test_item18_model_raising_keyboard_interrupt_is_exit_2(tmp_path, data_dir, models_dir):
    model = hostile_model(tmp_path, "keyboard", "predict")
    config = config_with(
        tmp_path, data_dir, models_dir, {"accuracy": ACCURACY}, **{"model.candidate": str(model)}
    )
    done = run_cli("run", "-c", str(config))
    assert done.returncode == 2, done.stderr
    line = one_error_line(done, "model code raised KeyboardInterrupt")
    assert "KILLED" not in line
    no_pass_recorded()


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_item9_hanging_check_times_out_and_the_run_goes_on(
    tmp_path, data_dir, models_dir, hostile_env, jobs
):
    config = config_with(
        tmp_path,
        data_dir,
        models_dir,
        {"forker": {"timeout_seconds": 3}, "accuracy": ACCURACY},
    )
    report = tmp_path / "r.json"
    done = run_cli("run", "-c", str(config), "--jobs", jobs, "--json", str(report), env=hostile_env)
    assert done.returncode == 3, done.stderr
    checks = {c["name"]: c for c in json.loads(report.read_text())["checks"]}
    assert checks["forker"]["status"] == "error"
    assert (
        "did not finish within 3 s (checks.forker.timeout_seconds)" in checks["forker"]["message"]
    )
    assert checks["accuracy"]["status"] == "passed"
    no_alias()
    no_pass_recorded()
    no_orphans(hostile_env)


def test_item9_hanging_model_times_out_while_scoring(tmp_path, data_dir, models_dir):
    model = hostile_model(tmp_path, "hang", "predict")
    config = config_with(
        tmp_path,
        data_dir,
        models_dir,
        {"accuracy": ACCURACY},
        **{"model.candidate": str(model), "model.scoring_timeout_seconds": 3},
    )
    env = marker_env()
    done = run_cli("run", "-c", str(config), env=env)
    assert done.returncode == 2, done.stderr
    one_error_line(done, "did not finish within 3 s (model.scoring_timeout_seconds)")
    no_pass_recorded()
    no_orphans(env)


@pytest.mark.parametrize(
    ("signum", "jobs"),
    # Each signal once, and both executors (the suite's wall time is a budget too).
    [(signal.SIGTERM, "1"), (signal.SIGTERM, "2"), (signal.SIGHUP, "1"), (signal.SIGINT, "2")],
)
def test_item11_signals_end_the_run_cleanly(
    tmp_path, data_dir, models_dir, hostile_env, signum, jobs
):
    config = config_with(tmp_path, data_dir, models_dir, {"accuracy": ACCURACY, "forker": {}})
    report = tmp_path / "r.json"
    process = start_validate(
        "run", "-c", str(config), "--jobs", jobs, "--json", str(report), env=hostile_env
    )
    wait_for(Path(hostile_env["HANGER_STARTED"]), process=process)
    time.sleep(0.5)
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 128 + signum, stderr
    assert f"interrupted ({signal.Signals(signum).name})" in stderr
    assert "Traceback" not in stderr
    runs = MlflowClient().search_runs(
        [MlflowClient().get_experiment_by_name("tests").experiment_id],
        "tags.`validate.kind` = 'validation'",
    )
    assert [r.info.status for r in runs] == ["KILLED"]
    no_alias()
    no_orphans(hostile_env)


def test_item18_jobs_zero_is_one_line(tmp_path, data_dir, models_dir):
    config = config_with(tmp_path, data_dir, models_dir, {"accuracy": ACCURACY})
    done = run_cli("run", "-c", str(config), "--jobs", "0")
    assert done.returncode == 2
    one_error_line(done, "--jobs 0: must be 1 or more")


def test_item18_report_path_equal_to_config_is_refused(tmp_path, data_dir, models_dir):
    config = config_with(tmp_path, data_dir, models_dir, {"accuracy": ACCURACY})
    before = config.read_text()
    done = run_cli("run", "-c", str(config), "--json", str(config))
    assert done.returncode == 2
    one_error_line(done, "is the same file as -c")
    assert config.read_text() == before


def test_item11_daemons_in_their_own_session_do_not_outlive_the_run(
    tmp_path, data_dir, models_dir, hostile_env
):
    config = config_with(tmp_path, data_dir, models_dir, {"accuracy": ACCURACY, "daemon": {}})
    done = run_cli("run", "-c", str(config), env=hostile_env)
    assert done.returncode == 0, done.stderr
    no_orphans(hostile_env)


def test_item9_check_holding_the_interpreter_is_stopped_by_the_parent(
    tmp_path, data_dir, models_dir, hostile_env
):
    config = config_with(
        tmp_path, data_dir, models_dir, {"accuracy": ACCURACY, "gilholder": {"timeout_seconds": 1}}
    )
    report = tmp_path / "r.json"
    done = run_cli("run", "-c", str(config), "--json", str(report), env=hostile_env)
    assert done.returncode == 3, done.stderr
    one_error_line(done, "check 'gilholder' did not finish within its timeout", "marked KILLED")
    checks = {c["name"]: c["status"] for c in json.loads(report.read_text())["checks"]}
    assert checks == {"accuracy": "passed", "gilholder": "error"}
    no_alias()
    no_orphans(hostile_env)


def test_item11_a_signal_while_promoting_lets_the_promotion_finish():
    """Between the alias move and its tags and reports, a first signal is held, not raised;
    outside that block it interrupts as usual. (In a subprocess: handlers are process-wide.)"""
    import subprocess
    import sys

    code = """
import os, signal, time
from validate.interrupts import Interrupted, install_handlers, received_signal, signals_deferred
install_handlers()
with signals_deferred():
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(0.2)
    print("promotion finished")
print("held", received_signal())
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:2] == ["promotion finished", f"held {int(signal.SIGTERM)}"]
    assert "SIGTERM while promoting; finishing the promotion first" in done.stderr
