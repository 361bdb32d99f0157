"""Ctrl-C leaves no orphan worker behind, and ends the run even while a check ignores it."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

from conftest import base_config
from processes import start_validate, wait_for


def children_of(pid: int) -> list[int]:
    """Live child processes of ``pid``, from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(entry.name))
    return found


def descendants_of(pid: int) -> list[int]:
    """Every live process below ``pid`` (the supervised run process and its workers)."""
    found, frontier = [], [pid]
    while frontier:
        children = children_of(frontier.pop())
        found.extend(children)
        frontier.extend(children)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_ctrl_c_with_workers_leaves_no_orphans(write_config, data_dir, models_dir, plugin_env):
    config = base_config(data_dir, models_dir, checks={"sleepy": {}, "waiter": {}})
    process = start_validate("run", "-c", str(write_config(config)), "--jobs", "2", env=plugin_env)
    wait_for(Path(plugin_env["SLEEPY_MARKER"]), Path(plugin_env["WAITER_STARTED"]), process=process)
    workers = descendants_of(process.pid)
    assert len(workers) >= 3  # the run process, two spawned workers (and multiprocessing's helper)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert "interrupted" in stderr and "Traceback" not in stderr
    deadline = time.monotonic() + 30
    while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in workers if alive(pid)]


def test_ctrl_c_ends_the_run_even_while_a_check_swallows_it(
    write_config, data_dir, models_dir, plugin_env
):
    """Checks run in their own thread: a check that catches KeyboardInterrupt (as native code
    may) cannot keep the run alive; the run stops at the first Ctrl-C."""
    config = base_config(data_dir, models_dir, checks={"stubborn": {}})
    process = start_validate("run", "-c", str(write_config(config)), env=plugin_env)
    started = Path(plugin_env["STUBBORN_STARTED"])
    wait_for(started, process=process)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130
    assert stderr.strip().splitlines() == ["validate: interrupted (SIGINT); nothing was promoted"]


def test_an_interrupted_run_leaves_no_earlier_pass_report(
    write_config, data_dir, models_dir, plugin_env, tmp_path
):
    """A report a previous run wrote at the --json path must not stand for a run that was
    interrupted: the report there says fail, interrupted."""
    report = tmp_path / "report.json"
    report.write_text(json.dumps({"decision": "pass", "exit_code": 0}))
    config = base_config(data_dir, models_dir, checks={"stubborn": {}})
    process = start_validate(
        "run", "-c", str(write_config(config)), "--json", str(report), env=plugin_env
    )
    wait_for(Path(plugin_env["STUBBORN_STARTED"]), process=process)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 128 + signal.SIGTERM, stderr
    written = json.loads(report.read_text())
    assert written["decision"] == "fail" and written["exit_code"] == 128 + signal.SIGTERM
    assert written["reasons"] == ["interrupted (SIGTERM); nothing was promoted"]
    assert [c["status"] for c in written["checks"]] == ["error"]
