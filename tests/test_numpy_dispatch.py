"""NumPy's AVX-512 targets are switched off in the run process on Zen 4 only, with names the
installed NumPy accepts, and never over the user's own choice."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest
from conftest import base_config, run_cli

from validate import numpy_dispatch as nd
from validate.supervisor import child_environment

ZEN4 = """processor\t: 0
vendor_id\t: AuthenticAMD
cpu family\t: 25
model\t\t: 17
model name\t: AMD EPYC 9654 96-Core Processor
flags\t\t: fpu vme sse2 avx avx2 avx512f avx512dq avx512cd avx512bw avx512vl
"""
ZEN3 = ZEN4.replace(" avx512f avx512dq avx512cd avx512bw avx512vl", "").replace(
    "model\t\t: 17", "model\t\t: 1"
)
ZEN5 = ZEN4.replace("cpu family\t: 25", "cpu family\t: 26")
INTEL = ZEN4.replace("AuthenticAMD", "GenuineIntel").replace("cpu family\t: 25", "cpu family\t: 6")


@pytest.mark.parametrize(
    ("cpuinfo", "expected"),
    [(ZEN4, True), (ZEN3, False), (ZEN5, False), (INTEL, False), ("", False)],
)
def test_only_zen4_is_recognised(cpuinfo, expected):
    assert nd.is_zen4(cpuinfo) is expected


@pytest.mark.parametrize(
    ("version", "targets"),
    [
        ("2.4.6", nd.AVX512_TARGETS_2_4),
        ("2.4.0rc1", nd.AVX512_TARGETS_2_4),
        ("2.5.0", None),
        ("2.3.5", nd.AVX512_TARGETS_2_0),
        ("2.2.6", nd.AVX512_TARGETS_2_0),
        ("2.0.0", nd.AVX512_TARGETS_2_0),
        ("1.26.4", None),
        ("3.0.0", None),
        ("", None),
        ("dev", None),
    ],
)
def test_target_names_follow_the_numpy_version(version, targets):
    assert nd.avx512_targets(version) == targets


def test_zen4_with_a_known_numpy_gets_the_targets_disabled():
    tuning = nd.numpy_dispatch_tuning({}, cpuinfo=ZEN4, numpy_version="2.4.6")
    assert tuning == {nd.DISABLE_ENV: nd.AVX512_TARGETS_2_4, nd.CHOSEN_ENV: "1"}
    assert nd.numpy_dispatch_tuning({}, cpuinfo=INTEL, numpy_version="2.4.6") == {}
    assert nd.numpy_dispatch_tuning({}, cpuinfo=ZEN4, numpy_version="1.26.4") == {}


@pytest.mark.parametrize("variable", [nd.DISABLE_ENV, nd.ENABLE_ENV])
@pytest.mark.parametrize("value", ["", "AVX2"])
def test_the_users_own_numpy_settings_win(variable, value):
    # NumPy refuses to import with both variables set, so either one, even empty, stops us.
    environ = {variable: value}
    assert nd.numpy_dispatch_tuning(environ, cpuinfo=ZEN4, numpy_version="2.4.6") == {}
    env = child_environment(environ, control_fd=3, request_fd=4)
    assert env[variable] == value
    assert (nd.ENABLE_ENV in env) + (nd.DISABLE_ENV in env) == 1


def test_the_child_environment_follows_this_machine():
    env = child_environment({}, control_fd=3, request_fd=4)
    expected = nd.numpy_dispatch_tuning({})
    assert {k: env[k] for k in expected} == expected
    if not nd.is_zen4(nd.first_processor()):
        assert nd.DISABLE_ENV not in env


def test_the_installed_numpy_version_is_read_without_importing_it():
    assert nd.installed_numpy_version() == np.__version__


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b'version = "2.3.5"\n', "2.3.5"),
        (b'version: str = "2.4.6"\n', "2.4.6"),
        (b"\xff\xfe not utf-8\nversion = '2.2.6'\n", "2.2.6"),
        (b"nothing here\n", ""),
    ],
)
def test_an_odd_numpy_version_file_never_fails_the_run(tmp_path, monkeypatch, content, expected):
    package = tmp_path / "numpy"
    package.mkdir()
    (package / "version.py").write_bytes(content)
    spec = SimpleNamespace(submodule_search_locations=[str(package)])
    monkeypatch.setattr(nd.importlib.util, "find_spec", lambda name: spec)
    assert nd.installed_numpy_version() == expected


def test_first_processor_reads_one_block(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(ZEN4 + "\n" + ZEN4.replace("processor\t: 0", "processor\t: 1"))
    assert nd.first_processor(str(cpuinfo)) == ZEN4.rstrip("\n")
    assert nd.first_processor(str(tmp_path / "missing")) == ""


def test_the_names_for_this_numpy_import_cleanly_and_sort_the_same():
    """The installed NumPy accepts every name (no ImportWarning, here an error), reports the
    targets off, and sorts, argsorts and uniques exactly as with its default dispatch."""
    targets = nd.avx512_targets(np.__version__)
    if targets is None:
        pytest.skip(f"NumPy {np.__version__}: no target names known, nothing is disabled")
    script = (
        "import json, sys, numpy as np\n"
        "from numpy._core._multiarray_umath import __cpu_features__ as features\n"
        "rng = np.random.default_rng(0)\n"
        "x = rng.normal(size=300_000)\n"
        "x[::7] = np.round(x[::7], 1)\n"  # ties, for argsort's order among equal values
        "out = {\n"
        "    'sort': np.sort(x).tolist()[::997],\n"
        "    'argsorted': x[np.argsort(x)].tolist()[::997],\n"
        "    'stable': np.argsort(x, kind='stable').tolist()[::997],\n"
        "    'unique': np.unique(x).tolist()[::997],\n"
        "    'off': [name for name in sys.argv[1].split() if features.get(name)],\n"
        "}\n"
        "print(json.dumps(out))\n"
    )
    results = {}
    for label, disabled in (("default", None), ("tuned", targets)):
        env = {k: v for k, v in os.environ.items() if k not in (nd.DISABLE_ENV, nd.ENABLE_ENV)}
        if disabled:
            env[nd.DISABLE_ENV] = disabled
        done = subprocess.run(
            [sys.executable, "-W", "error::ImportWarning", "-c", script, targets],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        results[label] = json.loads(done.stdout)
    assert results["tuned"]["off"] == []  # every listed target is switched off
    for key in ("sort", "stable", "unique"):
        assert results["tuned"][key] == results["default"][key]
    # The default argsort is not stable (equal values may come in another order): the
    # values it orders must agree.
    assert results["tuned"]["argsorted"] == results["default"]["argsorted"]


def test_a_numpy_that_refuses_the_chosen_targets_runs_without_them(
    write_config, data_dir, models_dir, tmp_path
):
    """A NumPy built otherwise than its version's wheels refuses the names chosen for its
    version (here an unknown name, an ImportWarning made an error): the run process starts
    again without them and the run completes, instead of every run crashing."""
    config = write_config(base_config(data_dir, models_dir))
    refused = {nd.DISABLE_ENV: "NOT_A_NUMPY_TARGET", "PYTHONWARNINGS": "error::ImportWarning"}
    done = run_cli("run", "-c", str(config), env={**refused, nd.CHOSEN_ENV: "1"}, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "decision: PASS" in done.stdout


def test_a_users_own_refused_setting_is_not_dropped(write_config, data_dir, models_dir, tmp_path):
    config = write_config(base_config(data_dir, models_dir))
    refused = {nd.DISABLE_ENV: "NOT_A_NUMPY_TARGET", "PYTHONWARNINGS": "error::ImportWarning"}
    done = run_cli("run", "-c", str(config), env=refused, cwd=tmp_path)
    assert done.returncode == 3, done.stdout + done.stderr
    assert nd.DISABLE_ENV in done.stderr
