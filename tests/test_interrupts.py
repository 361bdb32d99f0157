"""Ctrl-C leaves no orphan worker behind, and a second Ctrl-C exits at once even while
something ignores the first."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from conftest import base_config


def start_run(config_path: Path, env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    exe = Path(sys.executable).parent / "validate"
    return subprocess.Popen(
        [str(exe), "run", "-c", str(config_path), *args],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(*paths: Path, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 180
    while not all(p.exists() for p in paths):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the checks never started"
        time.sleep(0.1)


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


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_ctrl_c_with_workers_leaves_no_orphans(write_config, data_dir, models_dir, plugin_env):
    config = base_config(data_dir, models_dir, checks={"sleepy": {}, "waiter": {}})
    process = start_run(write_config(config), plugin_env, "--jobs", "2")
    wait_for(Path(plugin_env["SLEEPY_MARKER"]), Path(plugin_env["WAITER_STARTED"]), process=process)
    workers = children_of(process.pid)
    assert len(workers) >= 2  # two spawned workers (plus multiprocessing's helper)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert "interrupted" in stderr and "Traceback" not in stderr
    deadline = time.monotonic() + 30
    while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in workers if alive(pid)]


def test_second_ctrl_c_exits_at_once(write_config, data_dir, models_dir, plugin_env):
    config = base_config(data_dir, models_dir, checks={"stubborn": {}})
    process = start_run(write_config(config), plugin_env)
    started = Path(plugin_env["STUBBORN_STARTED"])
    wait_for(started, process=process)
    process.send_signal(signal.SIGINT)
    wait_for(Path(str(started) + ".ignored"), process=process)  # the first one was swallowed
    assert process.poll() is None
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130
    assert stderr.strip().splitlines() == ["validate: interrupted again; exiting now"]
