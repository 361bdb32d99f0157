"""The distribution is validate-gate: installed metadata, the repository's text, the action.

PyPI's validate-models is an unrelated project; installing it by that name gave users
someone else's package (issue 14, item 1).
"""

import json
import os
import shutil
import subprocess
import sys

import pytest
import yaml
from conftest import REPO

DIST = "validate-gate"
OLD = "validate" + "-models"  # spelt in two pieces so this file does not match its own search
BUILTIN_CHECKS = {"accuracy", "bias", "mindiff", "drift", "latency"}


def test_pyproject_names_the_distribution_validate_gate():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert project["name"] == DIST
    assert project["scripts"] == {"validate": "validate.launch:main"}
    assert project["optional-dependencies"]["all"] == [f"{DIST}[tf,k8s,otel,onnx,operator,spark]"]


def test_installed_metadata_provides_the_command_and_the_checks():
    """A fresh interpreter started in the repository root (so a stale *.egg-info left
    there by an old build would be found too) sees one distribution offering our entry
    points: the same check registered by two distributions breaks plugin loading."""
    probe = """
import json
from importlib import metadata

dist = metadata.distribution("validate-gate")
points = [(ep.group, ep.name, ep.value) for ep in dist.entry_points]
owners = {}
for d in metadata.distributions():
    for ep in d.entry_points:
        if ep.group == "validate.checks":
            owners.setdefault(ep.name, []).append(d.metadata["Name"])
print(json.dumps({"points": points, "owners": owners}))
"""
    done = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, (
        f"{DIST} is not installed in this environment; reinstall it: "
        f"pip uninstall -y {OLD}; pip install -e . ({done.stderr.strip().splitlines()[-1:]})"
    )
    found = json.loads(done.stdout)
    points = {tuple(p) for p in found["points"]}
    assert ("console_scripts", "validate", "validate.launch:main") in points
    assert ("pytest11", "validate", "validate.pytest_plugin") in points
    ours = {name for group, name, _ in points if group == "validate.checks"}
    assert ours == BUILTIN_CHECKS
    for name in BUILTIN_CHECKS:
        # An editable install leaves its own metadata twice (site-packages and the
        # project's *.egg-info, seen from the repository root): one project, not two.
        assert set(found["owners"][name]) == {DIST}, (
            f"check '{name}' is offered by {found['owners'][name]}; remove the stale "
            f"distribution (pip uninstall -y {OLD}, delete *.egg-info in the repository)"
        )


def _repository_text_files() -> list[str]:
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("not a git checkout: cannot tell the repository's files from build output")
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout.decode()
    return [name for name in listed.split("\0") if name and (REPO / name).is_file()]


def test_no_file_installs_or_names_the_unrelated_project():
    stale = []
    for name in _repository_text_files():
        try:
            text = (REPO / name).read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue  # binary: nothing a user would copy
        for number, line in enumerate(text.splitlines(), 1):
            lowered = line.lower()
            if OLD in lowered or OLD.replace("-", "_") in lowered:
                # The old name may appear only where a line says it is someone else's.
                if "unrelated" in lowered:
                    continue
                stale.append(f"{name}:{number}: {line.strip()}")
    assert not stale, "the old distribution name is still used:\n" + "\n".join(stale)


ACTION = yaml.safe_load((REPO / "ci" / "action.yml").read_text())


def _install(package_input: str | None, tmp_path) -> list[str]:
    """Run the action's install step with a recording stand-in for python; return what
    it was asked to pip install."""
    step = next(s for s in ACTION["runs"]["steps"] if s.get("name") == "Install validate")
    inputs = {name: str(spec.get("default", "")) for name, spec in ACTION["inputs"].items()}
    if package_input is not None:
        inputs["package"] = package_input
    env_values = {
        key: value.replace("${{ inputs.package }}", inputs["package"]).replace(
            "${{ inputs.extras }}", inputs["extras"]
        )
        for key, value in step["env"].items()
    }
    assert "${{" not in step["run"], "inputs reach the script through env, never spliced in"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    log = tmp_path / "pip.log"
    fake = bin_dir / "python"
    fake.write_text(f'#!/bin/sh\nprintf "%s\\n" "$*" >> "{log}"\n')
    fake.chmod(0o755)
    script = tmp_path / "step.sh"
    script.write_text(step["run"])
    subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
        env={
            **os.environ,
            **env_values,
            "GITHUB_ACTION_PATH": str(REPO / "ci"),
            "PATH": f"{bin_dir}:{os.environ['PATH']}",
        },
        cwd=tmp_path,
        check=True,
    )
    return log.read_text().splitlines()


def test_action_installs_validate_gate_from_its_own_checkout_by_default(tmp_path):
    assert ACTION["inputs"]["package"]["default"] == DIST
    calls = _install(None, tmp_path)
    assert calls[-1] == f"-m pip install {REPO}[tf]"


@pytest.mark.parametrize(
    ("package", "installed"),
    [
        (f"{DIST}==0.2", f"{DIST}[tf]==0.2"),
        (f"{DIST}>=0.2,<1", f"{DIST}[tf]>=0.2,<1"),
        (DIST + "-fork", DIST + "-fork[tf]"),
        (str(REPO), f"{REPO}[tf]"),
    ],
)
def test_action_adds_the_extras_to_the_package_it_is_given(tmp_path, package, installed):
    assert _install(package, tmp_path)[-1] == f"-m pip install {installed}"
