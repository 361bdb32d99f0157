"""Checks are found through entry points, like any third-party check; clashes are named."""

import os

import yaml
from conftest import FEATURES, REPO, install_fake_distribution, run_cli

THIRD_PARTY = """
    from validate import BaseCheck, CheckResult, CheckSettings, Status

    class RowCountSettings(CheckSettings):
        min_rows: int = 1

    class RowCount(BaseCheck):
        '''Passes when the eval set has at least min_rows rows.'''
        Settings = RowCountSettings

        def run(self, context):
            rows = len(context.y_true)
            ok = rows >= self.settings.min_rows
            return CheckResult(name=self.name, status=Status.PASSED if ok else Status.FAILED,
                               metrics={"rows": rows}, message=f"rows {rows}")
"""


def test_third_party_check_is_listed_and_runs(tmp_path, data_dir, models_dir, write_config):
    site = tmp_path / "site"
    install_fake_distribution(
        site,
        "rowcount_plugin",
        {"row_count": "rowcount_check:RowCount"},
        {"rowcount_check": THIRD_PARTY},
    )
    env = {"PYTHONPATH": str(site)}
    listed = run_cli("checks", "list", env=env)
    assert listed.returncode == 0
    assert "row_count  rowcount_check:RowCount  (rowcount_plugin)" in listed.stdout
    assert "accuracy" in listed.stdout

    config = {
        "version": 1,
        "model": {"candidate": str(models_dir / "good")},
        "data": {"eval": str(data_dir / "eval.parquet"), "target": "label", "features": FEATURES},
        "checks": {"row_count": {"min_rows": 10_000}},
    }
    path = write_config(config)
    failed = run_cli("run", "-c", str(path), env=env)
    assert failed.returncode == 1, failed.stderr
    assert "row_count" in failed.stdout and "rows 800" in failed.stdout

    config["checks"]["row_count"] = {"min_rows": 10}
    assert run_cli("run", "-c", str(write_config(config)), env=env).returncode == 0


def test_local_checks_folder_shadowing_ours_is_named(tmp_path, data_dir, models_dir, write_config):
    # A model repo with its own top-level checks/ package, run from that repo's root.
    repo = tmp_path / "model_repo"
    (repo / "checks").mkdir(parents=True)
    (repo / "checks" / "__init__.py").write_text("")
    (repo / "checks" / "accuracy.py").write_text(
        "class AccuracyCheck:\n    def run(self, c):\n        pass\n"
    )
    config = {
        "version": 1,
        "model": {"candidate": str(models_dir / "good")},
        "data": {"eval": str(data_dir / "eval.parquet"), "target": "label", "features": FEATURES},
        "checks": {"accuracy": {}},
    }
    path = write_config(config)
    result = run_cli("run", "-c", str(path), cwd=repo, env={"PYTHONPATH": str(repo)})
    assert result.returncode == 2
    line = result.stderr.strip()
    assert "\n" not in line and "Traceback" not in line
    assert str(repo / "checks" / "accuracy.py") in line
    assert str(REPO / "checks" / "accuracy.py") in line or "site-packages" in line
    assert "shadows the installed" in line


def test_foreign_validate_package_is_detected(tmp_path):
    # configobj installs a top-level validate module; simulate one shadowing ours.
    shadow = tmp_path / "shadow"
    (shadow / "validate").mkdir(parents=True)
    (shadow / "validate" / "__init__.py").write_text(
        "from configobj_validate import *\nVdtError = 1\n"
    )
    (shadow / "configobj_validate.py").write_text("Validator = object\n")
    code = (
        f"import sys; sys.path.insert(0, {str(shadow)!r})\n"
        "from validate._install_check import foreign_validate_problem\n"
    )
    # Our helper module is loaded from the real package before the shadow takes over:
    code += (
        "import importlib, validate; importlib.reload(validate); print(foreign_validate_problem())"
    )
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ}, check=True
    )
    assert "is not this project's" in out.stdout
    assert "pip install --force-reinstall validate-gate" in out.stdout
    assert yaml  # keep the import used


def test_a_plugin_cannot_take_a_builtin_checks_id(tmp_path, monkeypatch):
    # A package registering "drift" first on sys.path would otherwise replace the drift gate.
    from validate.registry import available_checks, builtin_checks, select_checks

    site = tmp_path / "site"
    install_fake_distribution(
        site,
        "impostor_plugin",
        {"drift": "impostor_check:AlwaysPasses", "row_count": "impostor_check:AlwaysPasses"},
        {"impostor_check": "class AlwaysPasses:\n    def run(self, context): ...\n"},
    )
    monkeypatch.syspath_prepend(str(site))
    installed = available_checks()
    assert installed["drift"].value == "checks.drift:DriftCheck"
    assert installed["row_count"].value == "impostor_check:AlwaysPasses"  # plug-ins still add
    assert set(builtin_checks()) == {"accuracy", "bias", "drift", "latency", "mindiff"}
    (selected,) = select_checks({"drift": {}}, task="binary")
    assert type(selected.check).__module__ == "checks.drift"
    (selected,) = select_checks({"row_count": {}}, task="binary")
    assert type(selected.check).__name__ == "AlwaysPasses"


def test_a_distribution_calling_itself_validate_gate_cannot_take_a_builtin_id(
    tmp_path, monkeypatch
):
    # A folder first on sys.path with a fake validate_gate-*.dist-info (a hostile review's
    # attack): its "drift" pointed at its own class and replaced the drift gate.
    from validate.errors import ConfigError
    from validate.registry import available_checks, builtin_checks, select_checks

    site = tmp_path / "site"
    install_fake_distribution(
        site,
        "validate_gate",
        {"drift": "impostor_check:AlwaysPasses"},
        {"impostor_check": "class AlwaysPasses:\n    def run(self, context): ...\n"},
    )
    monkeypatch.syspath_prepend(str(site))
    assert "drift" not in builtin_checks()
    # importlib.metadata lists one distribution per name, so the fake one hides ours: the
    # id is then unknown and the run refused (exit 2), never the impostor's.
    found = available_checks().get("drift")
    assert found is None or found.value == "checks.drift:DriftCheck"
    try:
        (selected,) = select_checks({"drift": {}}, task="binary")
    except ConfigError as refused:
        assert "checks.drift: unknown check" in str(refused)
    else:
        assert type(selected.check).__module__ == "checks.drift"


def test_the_builtin_ids_are_the_checks_this_distribution_registers():
    from importlib import metadata

    from validate.registry import BUILTIN_IDS, ENTRY_POINT_GROUP

    ours = metadata.distribution("validate-gate").entry_points
    registered = {ep.name: ep.module for ep in ours if ep.group == ENTRY_POINT_GROUP}
    assert registered == {name: f"checks.{name}" for name in BUILTIN_IDS}
