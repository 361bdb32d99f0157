"""Issue 13, items 1–5: a failed, partial, edited or swapped candidate is never promoted, and
promotion is the last side effect. Real sqlite MLflow, the real CLI as a subprocess."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from conftest import base_config, install_fake_distribution, register_champion, run_cli
from gate_support import alias_version, no_pass_recorded, one_error_line, version_count
from mlflow import MlflowClient

BIAS_FAILS = {
    "sensitive_features": ["group"],
    "thresholds": {"demographic_parity_difference": {"max": 0.0001}},
}
ACCURACY_PASSES = {"thresholds": {"roc_auc": {"min": 0.7}}}


def write(tmp_path: Path, config: dict, name: str = "v.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


@pytest.fixture
def champion(models_dir: Path) -> str:
    return register_champion(models_dir / "weak")


def gated_config(data_dir: Path, candidate: Path, **extra: object) -> dict:
    config = base_config(
        data_dir,
        candidate.parent,
        checks={"accuracy": ACCURACY_PASSES, "bias": BIAS_FAILS},
        **extra,
    )
    config["model"]["candidate"] = str(candidate)
    config["promote"] = {"model": "credit", "alias": "champion"}
    return config


def test_item1_repeated_check_flag_is_not_a_complete_run(tmp_path, data_dir, models_dir, champion):
    config = write(tmp_path, gated_config(data_dir, models_dir / "good"))
    done = run_cli("run", "-c", str(config), "--check", "accuracy", "--check", "accuracy")
    assert done.returncode == 1, done.stderr
    one_error_line(
        done, "only some checks ran (accuracy of accuracy, bias)", "nothing was promoted"
    )
    assert alias_version("credit", "champion") == champion
    assert version_count("credit") == 1
    no_pass_recorded()


def test_item2_promote_refuses_a_partial_run(tmp_path, data_dir, models_dir, champion):
    settings = gated_config(data_dir, models_dir / "good")
    settings["promote"]["enabled"] = False
    config = write(tmp_path, settings)
    report = tmp_path / "r.json"
    done = run_cli("run", "-c", str(config), "--check", "accuracy", "--json", str(report))
    assert done.returncode == 0, done.stderr  # no promotion asked: a partial pass is a pass
    run_id = json.loads(report.read_text())["mlflow"]["run_id"]
    assert json.loads(report.read_text())["complete"] is False

    refused = run_cli("promote", run_id, "--config", str(config))
    assert refused.returncode == 1
    one_error_line(refused, "it is partial", "missing: bias")
    assert alias_version("credit", "champion") == champion
    assert version_count("credit") == 1


def _passing_run(tmp_path: Path, data_dir: Path, candidate: Path) -> tuple[Path, str]:
    settings = gated_config(data_dir, candidate)
    settings["checks"] = {"accuracy": ACCURACY_PASSES}
    settings["promote"]["enabled"] = False
    config = write(tmp_path, settings)
    report = tmp_path / "r.json"
    done = run_cli("run", "-c", str(config), "--json", str(report))
    assert done.returncode == 0, done.stderr
    return config, json.loads(report.read_text())["mlflow"]["run_id"]


def test_item3_edited_tags_on_a_failed_run_are_not_trusted(
    tmp_path, data_dir, models_dir, champion
):
    """The decision is recomputed from the nested check runs, not read from one tag."""
    config = write(
        tmp_path, gated_config(data_dir, models_dir / "good", **{"promote.enabled": False})
    )
    report = tmp_path / "r.json"
    done = run_cli("run", "-c", str(config), "--json", str(report))
    assert done.returncode == 1
    run_id = json.loads(report.read_text())["mlflow"]["run_id"]
    client = MlflowClient()
    client.set_tag(run_id, "validate.decision", "pass")
    client.set_terminated(run_id, status="FINISHED")
    record = json.loads(client.get_run(run_id).data.tags["validate.decision_record"])
    record["decision"] = "pass"
    record["checks"]["bias"]["status"] = "passed"
    client.set_tag(run_id, "validate.decision_record", json.dumps(record))

    refused = run_cli("promote", run_id)
    assert refused.returncode == 1
    one_error_line(refused, "check bias is recorded as failed but sealed as passed")
    assert alias_version("credit", "champion") == champion


def test_item3_synced_runs_are_never_promotable(tmp_path, data_dir, models_dir, champion):
    config, run_id = _passing_run(tmp_path, data_dir, models_dir / "good")
    MlflowClient().set_tag(run_id, "validate.synced_from", "edited.json")
    refused = run_cli("promote", run_id, "--config", str(config))
    assert refused.returncode == 1
    one_error_line(refused, "recorded by `validate sync`", "validate the candidate again")
    assert alias_version("credit", "champion") == champion


def test_item4_swapped_local_model_is_refused(tmp_path, data_dir, models_dir, champion):
    candidate = tmp_path / "cand"
    shutil.copytree(models_dir / "good", candidate)
    config, run_id = _passing_run(tmp_path, data_dir, candidate)
    shutil.rmtree(candidate)
    shutil.copytree(models_dir / "weak", candidate)

    by_uri = run_cli("promote", run_id, "--model-uri", str(candidate))
    assert by_uri.returncode == 1
    one_error_line(by_uri, "validate that model before promoting it")
    plain = run_cli("promote", run_id)
    assert plain.returncode == 1
    one_error_line(plain, "changed since it was validated")
    assert alias_version("credit", "champion") == champion
    assert version_count("credit") == 1


def test_item4_promoted_bytes_are_the_validated_bytes_once(
    tmp_path, data_dir, models_dir, champion
):
    candidate = tmp_path / "cand"
    shutil.copytree(models_dir / "good", candidate)
    config, run_id = _passing_run(tmp_path, data_dir, candidate)

    first = run_cli("promote", run_id, "--model-uri", str(candidate))
    assert first.returncode == 0, first.stderr
    version = alias_version("credit", "champion")
    assert version != champion
    from validate.digest import materialised, tree_digest

    recorded = MlflowClient().get_run(run_id).data.tags["validate.candidate_digest"]
    with materialised(f"models:/credit/{version}", MlflowClient().tracking_uri) as local:
        # The registered version holds the validated folder, byte for byte.
        assert tree_digest(local) == recorded

    again = run_cli("promote", run_id)
    assert again.returncode == 0, again.stderr
    assert "already promoted: version" in again.stdout and "holds alias" in again.stdout
    assert version_count("credit") == 2  # the champion and the candidate, no duplicate


REMOVER = """
    import os, shutil
    from validate import CheckResult, Status

    class Remover:
        # Passes, after removing the folder the JSON report is to be written in.
        def run(self, context):
            shutil.rmtree(os.environ["REMOVE_BEFORE_REPORT"])
            return CheckResult(name="remover", status=Status.PASSED, message="removed")
"""


def test_item5_a_report_that_cannot_be_written_means_no_promotion(
    tmp_path, data_dir, models_dir, champion
):
    """A device is refused up front; a folder that vanishes mid-run stops the promotion."""
    settings = gated_config(data_dir, models_dir / "good")
    settings["checks"] = {"accuracy": ACCURACY_PASSES}
    full = run_cli("run", "-c", str(write(tmp_path, settings)), "--json", "/dev/full")
    assert full.returncode == 2
    one_error_line(full, "--json /dev/full: is not a regular file")

    site = tmp_path / "site"
    install_fake_distribution(
        site, "remover", {"remover": "remover_mod:Remover"}, {"remover_mod": REMOVER}
    )
    settings["checks"]["remover"] = {}
    out = tmp_path / "out"
    out.mkdir()
    gone = run_cli(
        "run",
        "-c",
        str(write(tmp_path, settings)),
        "--json",
        str(out / "r.json"),
        env={"PYTHONPATH": str(site), "REMOVE_BEFORE_REPORT": str(out)},
    )
    assert gone.returncode == 3, gone.stderr
    one_error_line(gone, "nothing was promoted: a report could not be written")
    assert alias_version("credit", "champion") == champion
    assert version_count("credit") == 1
    no_pass_recorded()


TAMPERER = """
    import os
    from validate import CheckResult, Status

    class Tamperer:
        # Passes, after appending a byte to a file of the candidate model.
        def run(self, context):
            with open(os.path.join(os.environ["TAMPER_MODEL"], "MLmodel"), "a") as handle:
                handle.write("\\n")
            return CheckResult(name="tamperer", status=Status.PASSED, message="tampered")
"""


def test_item4_model_changed_during_the_run_is_not_validated(
    tmp_path, data_dir, models_dir, champion
):
    candidate = tmp_path / "cand"
    shutil.copytree(models_dir / "good", candidate)
    site = tmp_path / "site"
    install_fake_distribution(
        site, "tamperer", {"tamperer": "tamperer_mod:Tamperer"}, {"tamperer_mod": TAMPERER}
    )
    settings = gated_config(data_dir, candidate)
    settings["checks"] = {"accuracy": ACCURACY_PASSES, "tamperer": {}}
    done = run_cli(
        "run",
        "-c",
        str(write(tmp_path, settings)),
        env={"PYTHONPATH": str(site), "TAMPER_MODEL": str(candidate)},
    )
    assert done.returncode == 2, done.stderr
    one_error_line(done, "its files changed while it was being validated")
    assert alias_version("credit", "champion") == champion
    assert version_count("credit") == 1
    no_pass_recorded()
