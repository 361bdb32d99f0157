"""Same config, same verdict: ``validate run`` and ``pytest --validate-config``, each run as a
real subprocess on one config (issue 14 item 3)."""

import re
import subprocess
import sys

from conftest import base_config, run_cli

ADVISORY_BIAS = {
    "blocking": False,
    "sensitive_features": ["group"],
    "n_resamples": 0,
    "thresholds": {"demographic_parity_difference": {"max": 0.0001}},
}
SENTENCE = re.compile(r"demographic_parity_difference \d\.\d+ > max 0\.0001")


def run_pytest(config_path, cwd):
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "--validate-config",
            str(config_path),
        ],
        capture_output=True,
        text=True,
        cwd=cwd,
        check=False,
    )


def test_an_advisory_failure_passes_in_both(data_dir, models_dir, write_config, tmp_path):
    config = base_config(data_dir, models_dir, checks={"accuracy": {}, "bias": ADVISORY_BIAS})
    path = write_config(config)
    cli = run_cli("run", "-c", str(path), cwd=tmp_path)
    tests = run_pytest(path, tmp_path)
    assert cli.returncode == 0, cli.stdout + cli.stderr
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "1 passed, 1 xfailed" in tests.stdout
    # The advisory sentence, as `validate run` states it, is in pytest's output.
    (sentence,) = set(SENTENCE.findall(cli.stdout))
    assert f"warning: advisory failed: bias: {sentence}" in tests.stdout


def test_a_blocking_failure_fails_in_both(data_dir, models_dir, write_config, tmp_path):
    config = base_config(
        data_dir,
        models_dir,
        checks={"accuracy": {"thresholds": {"roc_auc": {"min": 0.99}}}, "bias": ADVISORY_BIAS},
    )
    path = write_config(config)
    cli = run_cli("run", "-c", str(path), cwd=tmp_path)
    tests = run_pytest(path, tmp_path)
    assert cli.returncode == 1, cli.stdout + cli.stderr
    assert tests.returncode == 1, tests.stdout + tests.stderr
    assert "1 failed, 1 xfailed" in tests.stdout
    assert "decision: fail (validate run exits 1 on this config)" in tests.stdout
