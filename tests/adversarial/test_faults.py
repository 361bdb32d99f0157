"""Issue 13, items 12 and 13, and signed evidence: faults never lose the report or promote,
and with a signing key a forged pass does not verify."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import base_config, run_cli
from gate_support import alias_version, no_pass_recorded, one_error_line
from mlflow import MlflowClient
from mlflow_server import free_port

ACCURACY = {"thresholds": {"roc_auc": {"min": 0.7}}}


def write(tmp_path: Path, config: dict) -> Path:
    path = tmp_path / "v.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def test_item12_unwritable_sqlite_folder_is_exit_2_at_once(tmp_path, data_dir, models_dir):
    """/proc refuses new files even to root: the sqlite store cannot be created there."""
    config = write(tmp_path, base_config(data_dir, models_dir, checks={"accuracy": ACCURACY}))
    done = run_cli("run", "-c", str(config), cwd=Path("/proc"), env={"MLFLOW_TRACKING_URI": ""})
    assert done.returncode == 2, done.stderr
    one_error_line(done, "mlflow.tracking_uri sqlite:///mlflow.db: cannot write /proc/mlflow.db")


def test_item12_outage_from_an_unwritable_folder_keeps_the_report(tmp_path, data_dir, models_dir):
    settings = base_config(data_dir, models_dir, checks={"accuracy": ACCURACY})
    settings["mlflow"]["tracking_uri"] = f"http://127.0.0.1:{free_port()}"  # nothing listens
    done = run_cli("run", "-c", str(write(tmp_path, settings)), cwd=Path("/proc"))
    assert done.returncode == 3, done.stderr
    line = one_error_line(done, "nothing was promoted", "validate sync")
    kept = Path(line.split("are in ")[1].split(":")[0])
    assert kept.parent != Path("/proc") and kept.is_file()
    report = json.loads(kept.read_text())
    assert report["decision"] == "pass" and report["exit_code"] == 3
    assert report["mlflow"]["pending"]["experiment"] == "tests"


def test_item13_constant_predictions_write_a_valid_report(tmp_path, models_dir):
    """One class, one score: undefined statistics are null in the report, never NaN, and the
    report is whole."""
    rows = 200
    frame = pd.DataFrame(
        {
            "x1": np.linspace(-1, 1, rows),
            "label": np.zeros(rows, dtype=int),
            "score": np.full(rows, 0.5),
        }
    )
    frame.to_parquet(tmp_path / "eval.parquet", index=False)
    frame.to_parquet(tmp_path / "ref.parquet", index=False)
    settings = {
        "version": 1,
        "data": {
            "eval": str(tmp_path / "eval.parquet"),
            "reference": str(tmp_path / "ref.parquet"),
            "target": "label",
            "prediction": "score",
        },
        "checks": {"drift": {}},
        "mlflow": {"experiment": "tests"},
    }
    report = tmp_path / "r.json"
    done = run_cli("run", "-c", str(write(tmp_path, settings)), "--json", str(report))
    assert done.returncode in (0, 1), done.stderr
    text = report.read_text()
    assert text.strip(), "the report is empty"
    parsed = json.loads(text, parse_constant=lambda name: pytest.fail(f"{name} in the report"))
    assert parsed["decision"] in ("pass", "fail")

    def finite(value):
        if isinstance(value, float):
            assert math.isfinite(value)
        elif isinstance(value, dict):
            for item in value.values():
                finite(item)
        elif isinstance(value, list):
            for item in value:
                finite(item)

    finite(parsed)
    run = MlflowClient().get_run(parsed["mlflow"]["run_id"])
    assert run.info.status in ("FINISHED", "FAILED")
    no_pass_recorded()


@pytest.fixture
def key_pair(tmp_path: Path) -> dict[str, str]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    private = Ed25519PrivateKey.generate()
    signing = tmp_path / "signing.pem"
    signing.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    verify = tmp_path / "verify.pem"
    verify.write_bytes(
        private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return {"signing": str(signing), "verify": str(verify)}


def _recorded_pass(tmp_path, data_dir, models_dir, env) -> tuple[Path, str]:
    settings = base_config(data_dir, models_dir, checks={"accuracy": ACCURACY})
    settings["promote"] = {"model": "credit", "alias": "champion", "enabled": False}
    config = write(tmp_path, settings)
    report = tmp_path / "r.json"
    done = run_cli("run", "-c", str(config), "--json", str(report), env=env)
    assert done.returncode == 0, done.stderr
    return config, json.loads(report.read_text())["mlflow"]["run_id"]


def test_signed_decision_record_verifies_and_promotes(tmp_path, data_dir, models_dir, key_pair):
    config, run_id = _recorded_pass(
        tmp_path, data_dir, models_dir, {"VALIDATE_SIGNING_KEY": key_pair["signing"]}
    )
    done = run_cli(
        "promote",
        run_id,
        "--require-signature",
        env={"VALIDATE_VERIFY_KEY": key_pair["verify"]},
    )
    assert done.returncode == 0, done.stderr
    assert alias_version("credit", "champion") == "1"


def test_forged_decision_record_does_not_verify(tmp_path, data_dir, models_dir, key_pair):
    """With MLflow write access one can rewrite every tag; not the signature."""
    config, run_id = _recorded_pass(
        tmp_path, data_dir, models_dir, {"VALIDATE_SIGNING_KEY": key_pair["signing"]}
    )
    client = MlflowClient()
    record = json.loads(client.get_run(run_id).data.tags["validate.decision_record"])
    record["candidate_digest"] = "sha256:" + "0" * 64
    client.set_tag(run_id, "validate.decision_record", json.dumps(record))
    env = {"VALIDATE_VERIFY_KEY": key_pair["verify"]}
    done = run_cli("promote", run_id, "--require-signature", env=env)
    assert done.returncode == 1
    one_error_line(done, "signature", "does not verify")
    assert alias_version("credit", "champion") is None


def test_unsigned_run_is_refused_when_a_signature_is_required(
    tmp_path, data_dir, models_dir, key_pair
):
    config, run_id = _recorded_pass(tmp_path, data_dir, models_dir, {})
    env = {"VALIDATE_VERIFY_KEY": key_pair["verify"]}
    done = run_cli("promote", run_id, "--require-signature", env=env)
    assert done.returncode == 1
    one_error_line(done, "carries no signed decision record")
    required = run_cli("run", "-c", str(_require_signature(config)), "--promote")
    assert required.returncode == 2
    one_error_line(required, "promote.require_signature is true but VALIDATE_SIGNING_KEY")
    assert alias_version("credit", "champion") is None


def _require_signature(config: Path) -> Path:
    settings = yaml.safe_load(config.read_text())
    settings["promote"]["require_signature"] = True
    config.write_text(yaml.safe_dump(settings))
    return config


def test_signed_promotion_ignores_forged_tags_and_digest_labels(
    tmp_path, data_dir, models_dir, key_pair
):
    """With a key, only the signed record counts: a forged promotion-target tag, a forged
    digest tag on an attacker's version, and a different --config change nothing."""
    from conftest import register_champion

    from validate.digest import materialised, tree_digest

    weak = register_champion(models_dir / "weak")  # credit/1, @champion
    client = MlflowClient()
    client.set_registered_model_alias("credit", "prod", weak)
    config, run_id = _recorded_pass(
        tmp_path, data_dir, models_dir, {"VALIDATE_SIGNING_KEY": key_pair["signing"]}
    )
    tags = client.get_run(run_id).data.tags
    digest = tags["validate.candidate_digest"]
    target = json.loads(tags["validate.promotion_target"])
    client.set_tag(run_id, "validate.promotion_target", json.dumps({**target, "alias": "prod"}))
    forged = register_champion(models_dir / "weak", alias="decoy")  # credit/2: other bytes
    client.set_model_version_tag("credit", forged, "validate.candidate_digest", digest)
    env = {"VALIDATE_VERIFY_KEY": key_pair["verify"]}

    stricter = yaml.safe_load(config.read_text())
    stricter["checks"]["accuracy"]["thresholds"]["roc_auc"]["min"] = 0.99
    other = tmp_path / "strict.yaml"
    other.write_text(yaml.safe_dump(stricter))
    refused = run_cli("promote", run_id, "--config", str(other), "--require-signature", env=env)
    assert refused.returncode == 1
    one_error_line(refused, "validated a different config")

    done = run_cli("promote", run_id, "--config", str(config), "--require-signature", env=env)
    assert done.returncode == 0, done.stderr
    assert alias_version("credit", "prod") == weak  # the forged target was not used
    promoted = alias_version("credit", "champion")
    assert promoted not in (weak, forged)  # the forged digest label was not trusted
    with materialised(f"models:/credit/{promoted}", client.tracking_uri) as local:
        assert tree_digest(local) == digest
