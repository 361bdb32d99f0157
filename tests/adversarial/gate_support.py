"""What every gate-integrity test asserts afterwards: one line, nothing promoted or passed,
no RUNNING run, no process left behind."""

from __future__ import annotations

import os
import textwrap
import time
import uuid
from pathlib import Path
from typing import Any

from mlflow import MlflowClient


def one_error_line(done: Any, *phrases: str) -> str:
    """stderr is exactly one ``validate: error:`` line holding every phrase, no traceback."""
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("validate: error:"), lines[0]
    assert "Traceback" not in done.stderr + done.stdout
    for phrase in phrases:
        assert phrase in lines[0], lines[0]
    return lines[0]


def no_pass_recorded(tracking_uri: str | None = None) -> None:
    """No validation run is left RUNNING; none recorded as a pass unless it really passed."""
    client = MlflowClient(tracking_uri=tracking_uri or os.environ["MLFLOW_TRACKING_URI"])
    for experiment in client.search_experiments():
        for run in client.search_runs([experiment.experiment_id]):
            assert run.info.status != "RUNNING", run.info.run_id


def alias_version(name: str, alias: str) -> str | None:
    from mlflow.exceptions import MlflowException

    try:
        return str(MlflowClient().get_model_version_by_alias(name, alias).version)
    except MlflowException:
        return None


def version_count(name: str) -> int:
    from mlflow.exceptions import MlflowException

    try:
        return len(MlflowClient().search_model_versions(f"name = '{name}'"))
    except MlflowException:
        return 0


def marker_env() -> dict[str, str]:
    """An environment variable every descendant process inherits, to find orphans by."""
    return {"VALIDATE_TEST_MARKER": uuid.uuid4().hex}


def no_orphans(env: dict[str, str], grace_s: float = 10.0) -> None:
    """No process carrying ``env``'s marker is alive (read from /proc/*/environ)."""
    needle = f"VALIDATE_TEST_MARKER={env['VALIDATE_TEST_MARKER']}".encode()
    deadline = time.monotonic() + grace_s
    while True:
        alive = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            try:
                if needle in (entry / "environ").read_bytes():
                    state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
                    if state != "Z":
                        alive.append(int(entry.name))
            except OSError:
                continue
        if not alive or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert not alive, f"orphan processes: {alive}"


MODEL_CODE = """
import os, sys, time
import mlflow.pyfunc
from mlflow.models import set_model

MODE = {mode!r}
WHERE = {where!r}


def act():
    if MODE == "sys_exit":
        sys.exit(0)
    if MODE == "os_exit":
        os._exit(0)
    if MODE == "hang":
        while True:
            time.sleep(0.05)
    if MODE == "keyboard":
        raise KeyboardInterrupt


class Hostile(mlflow.pyfunc.PythonModel):
    def load_context(self, context):
        if WHERE == "load_context":
            act()

    def predict(self, context, model_input, params=None):
        if WHERE == "predict":
            act()
        return (model_input.iloc[:, 0] > 0).astype(float).to_numpy()


set_model(Hostile())
"""


def hostile_model(folder: Path, mode: str, where: str = "predict") -> Path:
    """An MLflow pyfunc model (models from code) whose ``where`` does ``mode``."""
    import mlflow.pyfunc

    code = folder / f"hostile_{mode}_{where}.py"
    code.write_text(textwrap.dedent(MODEL_CODE.format(mode=mode, where=where)))
    target = folder / f"hostile_{mode}_{where}"
    mlflow.pyfunc.save_model(str(target), python_model=str(code))
    return target
