"""Hostile review of issue 14's changes: optional candidate (checks' needs), re-use of an
existing registry version (Keras wrapper match), and check warnings in reports.

Each test shows a defence that holds; two were holes the review found, now closed.
Real sqlite MLflow, the real CLI as a subprocess."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from conftest import base_config, install_fake_distribution, make_frame, register_champion, run_cli
from gate_support import alias_version, no_pass_recorded, version_count

PROMOTE = {"model": "credit", "alias": "champion"}


def write(tmp_path: Path, config: dict, name: str = "v.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


@pytest.fixture
def champion(models_dir: Path) -> str:
    return register_champion(models_dir / "weak")


def broken_model(tmp_path: Path) -> Path:
    """An MLflow model folder that no loader can load: MLmodel says sklearn, the pickle is
    garbage. resolve_model only looks for the MLmodel file, so it is 'a model'."""
    folder = tmp_path / "broken_model"
    folder.mkdir()
    (folder / "MLmodel").write_text(
        "flavors:\n  sklearn:\n    pickled_model: model.pkl\n    serialization_format: "
        "cloudpickle\n  python_function:\n    loader_module: mlflow.sklearn\n"
        "    model_path: model.pkl\n"
    )
    (folder / "model.pkl").write_bytes(b"this is not a model, nothing ever loads it")
    return folder


def drift_only(data_dir: Path, models_dir: Path, **extra: object) -> dict:
    config = base_config(data_dir, models_dir, checks={"drift": {}}, **extra)
    config["data"]["reference"] = str(data_dir / "train.parquet")
    return config


def run_id_of(report: Path) -> str:
    return json.loads(report.read_text())["mlflow"]["run_id"]


# -- 1. optional candidate ---------------------------------------------------------------


def test_drift_only_run_with_an_unloadable_candidate_promotes_nothing(
    tmp_path, data_dir, models_dir, champion
):
    # Attack: model.candidate set, but the only check (drift) needs no model, so maybe the
    # candidate is never loaded and an unloadable one gets promoted. Holds: a configured
    # candidate is always loaded and scored (build_context), so it is exit 2 here.
    config = drift_only(data_dir, models_dir, promote=PROMOTE)
    config["model"]["candidate"] = str(broken_model(tmp_path))
    done = run_cli("run", "-c", str(write(tmp_path, config)), "--promote")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "cannot load the MLflow model" in done.stderr
    assert alias_version("credit", "champion") == champion
    assert version_count("credit") == 1


def test_drift_only_run_without_candidate_is_never_promotable(
    tmp_path, data_dir, models_dir, champion, delete
):
    config = drift_only(data_dir, models_dir, **{"model.candidate": delete})
    config["promote"] = {**PROMOTE, "enabled": True}  # promote.enabled, no --promote
    done = run_cli("run", "-c", str(write(tmp_path, config)))
    assert done.returncode == 2
    assert "model.candidate is missing: promotion moves the alias" in done.stderr
    # Recorded without promotion, then asked to promote by run id: refused.
    config["promote"]["enabled"] = False
    report = tmp_path / "r.json"
    done = run_cli("run", "-c", str(write(tmp_path, config)), "--json", str(report))
    assert done.returncode == 0, done.stderr
    record = json.loads(report.read_text())
    assert record["candidate"] is None and record["candidate_digest"] is None
    done = run_cli("promote", run_id_of(report))
    assert done.returncode == 1, done.stdout + done.stderr
    assert "it validated no model" in done.stderr
    assert alias_version("credit", "champion") == champion
    assert version_count("credit") == 1
    no_pass_recorded()


def test_a_scores_only_run_is_refused_as_not_a_model(
    tmp_path, data_dir, models_dir, champion, delete
):
    config = base_config(
        data_dir,
        models_dir,
        **{"model.candidate": delete, "data.prediction": "score"},
        promote={**PROMOTE, "enabled": False},
    )
    report = tmp_path / "r.json"
    done = run_cli("run", "-c", str(write(tmp_path, config)), "--json", str(report))
    assert done.returncode == 0, done.stderr
    run_id = run_id_of(report)
    done = run_cli("promote", run_id)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "it validated precomputed scores (data.prediction 'score'), not a model" in (done.stderr)
    assert alias_version("credit", "champion") == champion
    # Found by review: --model-uri crashed (exit 3, TypeError on the null digest) before
    # the refusal. --model-uri naming real bytes is refused in one sentence, no traceback.
    done = run_cli("promote", run_id, "--model-uri", str(models_dir / "good"))
    assert done.returncode in (1, 2), done.stdout + done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    assert "internal" not in done.stderr.lower(), done.stderr
    assert alias_version("credit", "champion") == champion
    assert version_count("credit") == 1


NEEDS_CHECKS = """
from validate import CheckResult, Status

class NeedsRaises:
    def needs(self):
        raise RuntimeError("needs exploded")
    def run(self, context):
        return CheckResult(name="needs_raises", status=Status.PASSED)

class NeedsGarbage:
    def needs(self):
        return None  # not iterable
    def run(self, context):
        return CheckResult(name="needs_garbage", status=Status.PASSED)
"""


@pytest.mark.parametrize("check", ["needs_raises", "needs_garbage"])
def test_a_check_whose_needs_misbehaves_promotes_nothing(
    tmp_path, data_dir, models_dir, champion, check
):
    site = tmp_path / "site"
    install_fake_distribution(
        site,
        "needs_checks",
        {
            "needs_raises": "needs_checks_mod:NeedsRaises",
            "needs_garbage": "needs_checks_mod:NeedsGarbage",
        },
        {"needs_checks_mod": NEEDS_CHECKS},
    )
    config = base_config(data_dir, models_dir, checks={check: {}}, promote=PROMOTE)
    done = run_cli(
        "run", "-c", str(write(tmp_path, config)), "--promote", env={"PYTHONPATH": str(site)}
    )
    assert done.returncode in (2, 3), done.stdout + done.stderr
    assert alias_version("credit", "champion") == champion
    assert version_count("credit") == 1
    no_pass_recorded()


# -- 2. re-using a registry version: the Keras wrapper match -----------------------------


def test_wrapper_match_ignores_only_per_registration_mlmodel_keys(tmp_path, monkeypatch):
    """A version is 'our wrapper' only if nothing that loading reads differs: code paths,
    loader, flavours, metadata, environment files and the artifact path all count."""
    from validate import promotion
    from validate.digest import tree_digest
    from validate.models.adapter import ModelRef
    from validate.promotion import _is_our_wrapper_of, _save_wrapper

    # Each comparison rebuilds the real wrapper (MLflow infers its requirements in a
    # subprocess, ~10 s): build it once per source file's bytes and copy it after that.
    built: dict[bytes, Path] = {}
    real_save = promotion._save_wrapper

    def save_once(candidate, target):
        key = Path(candidate.location).read_bytes()
        if key not in built:
            built[key] = tmp_path / f"built{len(built)}"
            real_save(candidate, built[key])
        shutil.copytree(built[key], target)  # its MLmodel's source uri is ignored anyway

    monkeypatch.setattr(promotion, "_save_wrapper", save_once)

    keras_file = tmp_path / "model.keras"
    keras_file.write_bytes(b"validated keras bytes")  # the wrapper never opens it
    candidate = ModelRef(
        uri=str(keras_file),
        location=str(keras_file),
        kind="keras",
        role="candidate",
        task="binary",
        features=("x1", "x2", "x3"),
    )
    digest = tree_digest(keras_file)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    stored = tmp_path / "stored"
    _save_wrapper(candidate, stored)
    assert _is_our_wrapper_of(stored, candidate, digest, uri)

    def variant(name: str, edit) -> Path:
        folder = tmp_path / name
        shutil.copytree(stored, folder)
        mlmodel = yaml.safe_load((folder / "MLmodel").read_text())
        edit(folder, mlmodel)
        (folder / "MLmodel").write_text(yaml.safe_dump(mlmodel))
        return folder

    def volatile(folder, m):
        m.update(run_id="x" * 32, model_uuid="y" * 32, utc_time_created="2000-01-01")

    assert _is_our_wrapper_of(variant("volatile", volatile), candidate, digest, uri)

    def pyfunc(m):
        return m["flavors"]["python_function"]

    attacks = {
        "code": lambda f, m: pyfunc(m).update(code="evil"),
        "loader": lambda f, m: pyfunc(m).update(loader_module="evil_loader"),
        "flavor": lambda f, m: m["flavors"].update(evil={"loader_module": "evil"}),
        "metadata": lambda f, m: m.update(metadata={"validate_features": ["x3", "x2", "x1"]}),
        "artifact_path": lambda f, m: pyfunc(m)["artifacts"]["model"].update(path="../x"),
        "python_model": lambda f, m: pyfunc(m).update(python_model="other.pkl"),
        "requirements": lambda f, m: (f / "requirements.txt").write_text("evil==1\n"),
        "extra_file": lambda f, m: (f / "evil.py").write_text("import os\n"),
    }
    accepted = [
        name
        for name, edit in attacks.items()
        if _is_our_wrapper_of(variant(name, edit), candidate, digest, uri)
    ]
    assert accepted == []
    # A wrapper of other bytes is not the candidate either.
    other = tmp_path / "other.keras"
    other.write_bytes(b"other keras bytes")
    other_stored = tmp_path / "other_stored"
    _save_wrapper(
        ModelRef(
            uri=str(other),
            location=str(other),
            kind="keras",
            role="candidate",
            task="binary",
            features=("x1", "x2", "x3"),
        ),
        other_stored,
    )
    assert not _is_our_wrapper_of(other_stored, candidate, digest, uri)


# -- 3. warnings in reports --------------------------------------------------------------

EVIL = "b\n::error title=validate gate::forged PASS\x1b[2J"


def test_warning_text_cannot_inject_github_annotations_or_html():
    from validate.reporting.github import annotation_commands, step_summary
    from validate.reporting.html import render_html

    report = {
        "schema_version": 1,
        "decision": "pass",
        "candidate": "c",
        "baseline": None,
        "mlflow": {"tracking_uri": "sqlite:///x.db", "run_id": "r"},
        "warnings": [f"bias: {EVIL}<script>alert(1)</script>"],
        "checks": [
            {
                "name": "bias",
                "status": "passed",
                "blocking": True,
                "duration_s": 0.1,
                "message": "ok",
                "metrics": {},
                "assertions": [],
                "details": {},
                "warnings": [f"{EVIL}<script>alert(1)</script>"],
            }
        ],
    }
    for command in annotation_commands(report, "v.yaml"):
        assert "\n" not in command and "\r" not in command
        assert command.startswith("::warning ")
    summary = step_summary(report)
    assert not any(line.startswith("::") for line in summary.splitlines())
    page = render_html(report)
    assert "<script>alert(1)</script>" not in page


def test_data_values_in_a_warning_cannot_start_a_console_line(
    tmp_path, data_dir, models_dir, delete
):
    # Found by review: bias puts group labels (values from data.eval) into its warnings,
    # and the console printed them verbatim. In GitHub Actions stdout is parsed for
    # workflow commands, so a crafted value emitted a forged `::error` annotation (or
    # `::stop-commands::`), and an ANSI escape cleared the terminal.
    frame = make_frame(800, seed=0)
    frame.loc[:2, "group"] = EVIL  # three rows: below min_group_size, so named in a warning
    frame.to_parquet(data_dir / "evil.parquet", index=False)
    config = base_config(
        data_dir,
        models_dir,
        **{
            "model.candidate": delete,
            "data.eval": str(data_dir / "evil.parquet"),
            "data.prediction": "score",
        },
        checks={"bias": {"sensitive_features": ["group"]}},
    )
    done = run_cli("run", "-c", str(write(tmp_path, config)))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "forged PASS" in done.stdout  # the warning is shown ...
    lines = (done.stdout + done.stderr).splitlines()
    assert not [line for line in lines if line.lstrip().startswith("::")], done.stdout
    assert "\x1b" not in done.stdout
