"""``validate run`` starts its run process before parsing the command line (validate/launch.py,
issue 16): the request follows through a pipe, a usage error ends the process unused, and
a command line that changed the environment gets a freshly started one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import yaml
from conftest import FEATURES, base_config, run_cli

from validate import supervisor

# Runs a command in a fresh interpreter and counts how many run processes the supervisor
# started and how many it ended unused, printed as JSON on the last line of stderr.
COUNTING = """
import json, os, sys
from validate import supervisor
counts = {"started": 0, "ended_unused": 0}
start, end = supervisor._start, supervisor._end_unused
def counted_start():
    counts["started"] += 1
    return start()
def counted_end(started):
    counts["ended_unused"] += 1
    end(started)
supervisor._start, supervisor._end_unused = counted_start, counted_end
try:
%s
finally:
    print(json.dumps(counts), file=sys.stderr)
"""


def write_settings(tmp_path: Path, settings: dict) -> Path:
    path = tmp_path / "validation.yaml"
    path.write_text(yaml.safe_dump(settings), encoding="utf-8")
    return path


def drift_config(tmp_path: Path, data_dir: Path) -> Path:
    """A drift-only run (no model): quick, and it reads the parquet files."""
    reference = {"data.reference": str(data_dir / "train.parquet")}
    return write_settings(
        tmp_path, base_config(data_dir, tmp_path, model={}, checks={"drift": {}}, **reference)
    )


def run_counting(body: str, *args: str) -> tuple[subprocess.CompletedProcess[str], dict]:
    script = COUNTING % textwrap.indent(textwrap.dedent(body), "    ")
    done = subprocess.run(
        [sys.executable, "-c", script, *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return done, json.loads(done.stderr.strip().splitlines()[-1])


def test_a_run_hands_its_request_to_the_process_started_before_parsing(tmp_path, data_dir):
    config = drift_config(tmp_path, data_dir)
    done, counts = run_counting(
        """
        sys.argv = ["validate", *sys.argv[1:]]
        from validate.launch import parse_and_run
        parse_and_run()
        """,
        "run",
        "-c",
        str(config),
        "--json",
        "report.json",
    )
    assert done.returncode == 0, done.stderr
    assert counts == {"started": 1, "ended_unused": 0}
    assert json.loads(Path("report.json").read_text())["decision"] == "pass"


def test_an_environment_changed_after_the_start_gets_a_fresh_run_process(tmp_path, data_dir):
    config = drift_config(tmp_path, data_dir)
    done, counts = run_counting(
        """
        supervisor.prestart()
        os.environ["VALIDATE_TEST_CHANGED"] = "after the run process started"
        from validate.cli import main
        main(["run", *sys.argv[1:]])
        """,
        "-c",
        str(config),
    )
    assert done.returncode == 0, done.stderr
    assert counts == {"started": 2, "ended_unused": 1}


def processes_with(marker: str) -> list[int]:
    """Live processes whose environment holds ``marker`` (this test's own mark)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            state = (entry / "stat").read_bytes().rsplit(b")", 1)[1].split()[0]
        except OSError:
            continue
        if marker.encode() in environ and state != b"Z":
            found.append(int(entry.name))
    return found


def test_a_usage_error_ends_the_prestarted_run_process(tmp_path, data_dir):
    config = drift_config(tmp_path, data_dir)
    marker = f"VALIDATE_PRESTART_TEST={os.getpid()}-{time.monotonic_ns()}"
    name, value = marker.split("=")
    for bad in (["--jobs", "x"], ["--jobs", "0"], ["--no-such-option"]):
        done = run_cli("run", "-c", str(config), *bad, env={name: value})
        assert done.returncode == 2, done.stderr
        assert done.stdout == ""
        assert processes_with(marker) == [], f"{bad}: a run process outlived its parent"
    assert not Path("mlflow.db").exists()  # nothing was recorded


def run_process_alone(
    request: bytes, parent_pid: int
) -> tuple[subprocess.CompletedProcess[str], bytes]:
    """A run process started as the supervisor starts one, given ``request`` (then the
    pipe closed) and told ``parent_pid`` is its supervisor; its result and all it said on
    the control channel."""
    control_read, control_write = os.pipe()
    request_read, request_write = os.pipe()
    os.write(request_write, request)
    os.close(request_write)
    env = {
        **os.environ,
        "VALIDATE_CONTROL_FD": str(control_write),
        "VALIDATE_REQUEST_FD": str(request_read),
        "VALIDATE_PARENT_PID": str(parent_pid),
    }
    child = subprocess.run(
        [sys.executable, "-c", supervisor.RUN_PROCESS_BOOTSTRAP],
        env=env,
        pass_fds=(control_write, request_read),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    os.close(control_write)
    os.close(request_read)
    with os.fdopen(control_read, "rb") as channel:
        return child, channel.read()


def test_a_run_process_whose_request_never_comes_exits_quietly():
    """The parent ended (or had no run to do) before writing the request: the closed pipe
    ends the run process, with no output and no word on the control channel."""
    child, said = run_process_alone(b"", parent_pid=os.getpid())
    assert (child.returncode, child.stdout, child.stderr, said) == (0, "", "", b"")


def test_a_run_process_whose_supervisor_is_gone_does_nothing(tmp_path, data_dir):
    """The supervisor was killed after writing the request but before the run process armed
    its parent-death signal: the run must not go on alone (record, decide, promote)."""
    config = drift_config(tmp_path, data_dir)
    request = {
        "config_path": str(config),
        "only_checks": [],
        "jobs": 1,
        "json_path": str(tmp_path / "report.json"),
        "junit_path": None,
        "html_path": None,
        "promote": False,
        "executor": None,
        "debug": False,
        "log_format": "text",
        "colour": False,
        "progress": False,
    }
    # Its parent is this test; pid 1 stands for whoever adopts an orphan.
    child, said = run_process_alone(json.dumps(request).encode(), parent_pid=1)
    assert (child.returncode, child.stdout, child.stderr, said) == (0, "", "", b"")
    assert not (tmp_path / "report.json").exists()
    assert not (tmp_path / "mlflow.db").exists()


def test_a_checkouts_own_validate_package_does_not_replace_ours(tmp_path, data_dir):
    """Run from a repository that has its own top-level ``validate`` package (a common
    name): the run process imports the installed one, as the supervisor does."""
    repo = tmp_path / "repo"
    (repo / "validate").mkdir(parents=True)
    (repo / "validate" / "__init__.py").write_text("")
    (repo / "validate" / "_run_child.py").write_text(
        "import pathlib\npathlib.Path(__file__).with_name('RAN').write_text('x')\n"
    )
    config = drift_config(tmp_path, data_dir)
    done = run_cli("run", "-c", str(config), "--json", "report.json", cwd=repo)
    assert done.returncode == 0, done.stderr
    assert not (repo / "validate" / "RAN").exists()
    assert json.loads((repo / "report.json").read_text())["decision"] == "pass"


def test_a_failed_start_leaves_no_descriptor_open(monkeypatch):
    def broken(*args, **kwargs):
        raise TypeError("an environment that cannot be built")

    monkeypatch.setattr(supervisor, "child_environment", broken)
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(3):
        with pytest.raises(TypeError):
            supervisor._start()
    assert len(os.listdir("/proc/self/fd")) == before


def test_a_model_pickled_by_reference_to_a_module_in_the_working_directory_loads(
    tmp_path, data_dir, monkeypatch
):
    """The working directory stays importable in the run process (at the end of its path):
    a model whose pickle names a module of the repository it is run from still loads."""
    import mlflow.sklearn
    from conftest import make_frame
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "repo_features.py").write_text("def doubled(x):\n    return x * 2\n")
    monkeypatch.syspath_prepend(str(repo))
    import repo_features

    frame = make_frame()
    model = make_pipeline(FunctionTransformer(repo_features.doubled), LogisticRegression())
    model.fit(frame[FEATURES], frame["label"])
    mlflow.sklearn.save_model(
        model, str(tmp_path / "model"), skops_trusted_types=["repo_features.doubled"]
    )
    candidate = {"model.candidate": str(tmp_path / "model")}
    config = write_settings(tmp_path, base_config(data_dir, tmp_path, **candidate))
    done = run_cli("run", "-c", str(config), cwd=repo)
    assert done.returncode == 0, done.stderr
    assert "decision: PASS" in done.stdout


# ------------------------------------------------- the supervisor's end (validate/launch.py)

# Runs validate.launch.main as the console script does, with ``sys.argv[1:]`` as its
# arguments; ``%s`` is code run first (an atexit function, say).
CONSOLE = """
import sys
%s
sys.argv = ["validate", *sys.argv[1:]]
from validate.launch import main
sys.exit(main())
"""


def run_console(first: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", CONSOLE % first, *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=cwd,
    )


def test_a_run_ends_with_its_code_and_all_its_output(tmp_path, data_dir):
    """The supervising process of ``validate run`` ends without tearing its interpreter
    down: every line still arrives, and the code is the run's."""
    config = drift_config(tmp_path, data_dir)
    # os._exit announces itself (after the flush: its line is the last one out).
    announced = (
        "import os; real_exit = os._exit\n"
        "os._exit = lambda code: (print('ends at once', code, flush=True), real_exit(code))"
    )
    passed = run_console(announced, "run", "-c", str(config), "--json", "report.json", cwd=tmp_path)
    assert passed.returncode == 0, passed.stderr
    assert "PASS" in passed.stdout and passed.stdout.endswith("ends at once 0\n")
    assert json.loads((tmp_path / "report.json").read_text())["decision"] == "pass"
    failing = yaml.safe_load(config.read_text())
    failing["checks"]["drift"] = {"thresholds": {"share_drifted_features": {"max": -1}}}
    failed = run_console("", "run", "-c", str(write_settings(tmp_path, failing)), cwd=tmp_path)
    assert failed.returncode == 1, failed.stderr  # a bound no share meets
    assert "decision: FAIL" in failed.stdout and failed.stdout.endswith("\n")
    refused = run_console("", "run", "-c", str(tmp_path / "absent.yaml"), cwd=tmp_path)
    assert refused.returncode == 2
    assert "config file not found" in refused.stderr and "Traceback" not in refused.stderr


def test_a_run_still_runs_what_waits_for_the_interpreters_end(tmp_path, data_dir):
    """An atexit function (a plug-in's flush, say) or another thread: Python's own exit."""
    config = drift_config(tmp_path, data_dir)
    registered = "import atexit; atexit.register(lambda: print('atexit ran', flush=True))"
    done = run_console(registered, "run", "-c", str(config), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.rstrip().endswith("atexit ran")
    worker = (
        "import threading, time\n"
        "threading.Thread(target=lambda: (time.sleep(1), print('thread ended', flush=True)))"
        ".start()"
    )
    done = run_console(worker, "run", "-c", str(config), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "thread ended" in done.stdout


@pytest.mark.parametrize(
    ("code", "status"),
    [
        (None, 0),
        (0, 0),
        (1, 1),
        (3, 3),
        (255, 255),
        (256, None),
        (-1, None),
        (True, None),
        ("message", None),
    ],
)
def test_only_plain_exit_statuses_end_the_process_at_once(code, status):
    from validate.launch import _exit_status

    assert _exit_status(code) == status


def test_a_message_exit_is_left_to_python(tmp_path):
    """``SystemExit("...")`` prints its message and exits 1 (Python's own exit)."""
    done = run_console(
        "import validate.cli as cli\n"
        "def say(*a, **k): raise SystemExit('validate: stopped')\n"
        "cli.main = say",
        "run",
        "-c",
        "absent.yaml",
        cwd=tmp_path,
    )
    assert (done.returncode, done.stderr.strip()) == (1, "validate: stopped")
