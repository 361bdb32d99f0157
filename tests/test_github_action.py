"""ci/action.yml's validation step, run as GitHub runs it, with the env files GitHub sets."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import REPO, base_config

ACTION = yaml.safe_load((REPO / "ci" / "action.yml").read_text())


def run_step(
    step_id: str, inputs: dict[str, str], workspace: Path
) -> tuple[subprocess.CompletedProcess, dict]:
    """Substitute ${{ inputs.* }}, set GitHub's variables and env files, run as GitHub does."""
    step = next(s for s in ACTION["runs"]["steps"] if s.get("id") == step_id)
    defaults = {name: str(spec.get("default", "")) for name, spec in ACTION["inputs"].items()}
    values = {**defaults, **inputs}

    def expand(text: str) -> str:
        return re.sub(r"\$\{\{\s*inputs\.([\w-]+)\s*\}\}", lambda m: values[m.group(1)], text)

    files = {name: workspace / f"{name}.txt" for name in ("GITHUB_STEP_SUMMARY", "GITHUB_OUTPUT")}
    for file in files.values():
        file.write_text("")
    env = {
        **os.environ,
        **{k: expand(v) for k, v in step.get("env", {}).items()},
        **{k: str(v) for k, v in files.items()},
        "GITHUB_ACTIONS": "true",
        "CI": "true",
        "GITHUB_WORKSPACE": str(workspace),
        "RUNNER_TEMP": str(workspace),
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
    }
    script = workspace / "step.sh"
    script.write_text(expand(step["run"]))
    completed = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
        cwd=workspace,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    outputs = dict(line.split("=", 1) for line in files["GITHUB_OUTPUT"].read_text().splitlines())
    return completed, {"summary": files["GITHUB_STEP_SUMMARY"].read_text(), "outputs": outputs}


def test_action_declares_inputs_and_outputs():
    assert {
        "config",
        "executor",
        "promote",
        "python-version",
        "extras",
        "json-path",
        "junit-path",
        "html-path",
    } <= set(ACTION["inputs"])
    assert {"decision", "mlflow-run-id", "json-path", "junit-path", "html-path"} <= set(
        ACTION["outputs"]
    )
    for output in ACTION["outputs"].values():
        assert output["value"].startswith("${{ steps.run.outputs.")


@pytest.mark.parametrize("passing", [True, False])
def test_validation_step_writes_summary_annotations_and_outputs(
    passing, tmp_path, write_config, data_dir, models_dir
):
    threshold = 0.7 if passing else 0.99
    config = base_config(
        data_dir,
        models_dir,
        checks={
            "accuracy": {"thresholds": {"roc_auc": {"min": threshold}}},
            "bias": {
                "sensitive_features": ["group"],
                "blocking": False,
                "thresholds": {"demographic_parity_difference": {"max": 0.0001}},
            },
        },
    )
    path = write_config(config)
    completed, files = run_step("run", {"config": str(path)}, tmp_path)
    assert completed.returncode == (0 if passing else 1), completed.stderr
    summary, outputs = files["summary"], files["outputs"]
    assert summary.startswith(f"## validate: {'✅ PASS' if passing else '❌ FAIL'}")
    assert "| check | status | blocking | key metrics | details |" in summary
    assert "| accuracy | " in summary and "| bias | " in summary
    assert outputs["decision"] == ("pass" if passing else "fail")
    assert len(outputs["mlflow-run-id"]) == 32
    assert (
        outputs["json-path"] == "validate-report.json"
        and (tmp_path / "validate-report.json").is_file()
    )
    assert (
        outputs["junit-path"] == "validate-junit.xml"
        and (tmp_path / "validate-junit.xml").is_file()
    )
    lines = completed.stdout.splitlines()
    warnings = [line for line in lines if line.startswith("::warning ")]
    errors = [line for line in lines if line.startswith("::error ")]
    assert warnings == [
        f"::warning file={path},title=validate bias failed::"
        + next(line for line in warnings if "bias" in line).split("::", 2)[2]
    ]
    if passing:
        assert not errors
    else:
        (error,) = errors
        assert error.startswith(f"::error file={path},title=validate accuracy failed::roc_auc")
        assert "< min 0.99" in summary
