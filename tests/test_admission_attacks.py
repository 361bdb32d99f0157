"""Hostile inputs to the admission verdict, against a real (sqlite) MLflow: a run of another
version re-tagged to speak for this one, a version whose files were swapped after its
validation, an unsigned record where the operator holds a verify key, and URI tricks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("kopf")

from validate import evidence  # noqa: E402
from validate.digest import tree_digest  # noqa: E402
from validate.models.adapter import ModelRef, RegistryVersion  # noqa: E402
from validate.operator import admission  # noqa: E402
from validate.promotion import ref_to_json  # noqa: E402


def client():
    from mlflow.tracking import MlflowClient

    return MlflowClient()


def version_with_files(mlflow, name: str, content: bytes) -> tuple[str, Path]:
    """A registered version of ``name`` whose model is one file; the file as stored."""
    if not mlflow.search_registered_models(f"name = '{name}'"):
        mlflow.create_registered_model(name)
    experiment = mlflow.get_experiment_by_name("training") or mlflow.get_experiment(
        mlflow.create_experiment("training")
    )
    run = mlflow.create_run(experiment.experiment_id)
    local = Path(f"model-{run.info.run_id}")
    local.mkdir()
    (local / "model.bin").write_bytes(content)
    mlflow.log_artifacts(run.info.run_id, str(local), "m")
    mlflow.set_terminated(run.info.run_id)
    version = mlflow.create_model_version(name, f"runs:/{run.info.run_id}/m", run.info.run_id)
    stored = Path(mlflow.get_run(run.info.run_id).info.artifact_uri.removeprefix("file://"))
    return str(version.version), stored / "m" / "model.bin"


def sealed_run(mlflow, name: str, version: str, digest: str, key=None) -> str:
    """A validation run of ``models:/name/version`` as ``validate run`` seals it: finished,
    live, one passing nested check, the decision record (signed with ``key``)."""
    experiment = mlflow.get_experiment_by_name("checks") or mlflow.get_experiment(
        mlflow.create_experiment("checks")
    )
    ref = ModelRef(
        uri=f"models:/{name}/{version}",
        location=f"models:/{name}/{version}",
        kind="mlflow",
        role="candidate",
        task="binary",
        registry=RegistryVersion(name, version),
    )
    run = mlflow.create_run(experiment.experiment_id)
    run_id = run.info.run_id
    child = mlflow.create_run(
        experiment.experiment_id,
        tags={
            "mlflow.parentRunId": run_id,
            "validate.kind": "check",
            "validate.check": "bias",
            "validate.status": "passed",
            "validate.blocking": "true",
        },
    )
    mlflow.set_terminated(child.info.run_id)
    record = evidence.decision_record(
        run_id=run_id,
        candidate=json.loads(ref_to_json(ref)),
        candidate_digest=digest,
        config_hash="c0ffee",
        configured=["bias"],
        checks={"bias": {"status": "passed", "blocking": True}},
        decision="pass",
        target=None,
    )
    text = evidence.canonical(record)
    tags = {
        "validate.kind": "validation",
        "validate.candidate_ref": ref_to_json(ref),
        "validate.candidate_digest": digest,
        "validate.decision": "pass",
        "validate.decision_record": text,
        "validate.live": "true",
    }
    if key is not None:
        tags["validate.signature"] = evidence.sign(text, key)
    for tag, value in tags.items():
        mlflow.set_tag(run_id, tag, value)
    mlflow.set_terminated(run_id)
    return run_id


def validated_version(mlflow, name: str = "credit", content: bytes = b"fair", key=None):
    version, stored = version_with_files(mlflow, name, content)
    run_id = sealed_run(mlflow, name, version, tree_digest(stored.parent), key=key)
    return version, run_id, stored


def test_a_sealed_passing_validation_of_the_version_is_admitted():
    mlflow = client()
    version, run_id, _ = validated_version(mlflow)
    verdict = admission.model_verdict(f"models:/credit/{version}", mlflow)
    assert (verdict.allowed, verdict.reason) == (True, admission.ADMITTED), verdict
    assert run_id in verdict.message


def test_a_retagged_run_of_another_version_does_not_speak_for_this_one():
    """Attack: MLflow write access re-points the candidate_ref tag (and the version's
    promotion tag) of version 1's passing run at version 2; the sealed record still names 1."""
    mlflow = client()
    _, run_id, _ = validated_version(mlflow)
    biased, _ = version_with_files(mlflow, "credit", b"biased")
    forged = RegistryVersion("credit", biased)
    ref = ModelRef(f"models:/credit/{biased}", f"models:/credit/{biased}", "mlflow",
                   "candidate", "binary", registry=forged)  # fmt: skip
    mlflow.set_tag(run_id, "validate.candidate_ref", ref_to_json(ref))
    mlflow.set_model_version_tag("credit", biased, "validate.validation_run_id", run_id)
    verdict = admission.model_verdict(f"models:/credit/{biased}", mlflow)
    assert not verdict.allowed, verdict


def test_a_version_whose_files_were_swapped_after_its_validation_is_denied():
    """Attack: the version passed, then its stored model file was overwritten."""
    mlflow = client()
    version, _, stored = validated_version(mlflow)
    stored.write_bytes(b"biased")
    verdict = admission.model_verdict(f"models:/credit/{version}", mlflow)
    assert (verdict.allowed, verdict.reason) == (False, admission.NOT_PROMOTABLE), verdict
    assert "changed since it was validated" in verdict.message


def test_with_a_verify_key_an_unsigned_or_forged_record_is_denied(monkeypatch, tmp_path):
    """Attack: MLflow write access forges a passing record; the operator holds the public key
    (VALIDATE_VERIFY_KEY), as `validate promote --require-signature` would."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    (tmp_path / "verify.pem").write_bytes(public)
    monkeypatch.setenv(evidence.VERIFY_KEY_ENV, str(tmp_path / "verify.pem"))
    monkeypatch.delenv(evidence.SIGNING_KEY_ENV, raising=False)
    mlflow = client()
    unsigned, _, _ = validated_version(mlflow)
    verdict = admission.model_verdict(f"models:/credit/{unsigned}", mlflow)
    assert (verdict.allowed, verdict.reason) == (False, admission.NOT_PROMOTABLE), verdict
    assert "no signed decision record" in verdict.message
    signed, _, _ = validated_version(mlflow, key=key)
    verdict = admission.model_verdict(f"models:/credit/{signed}", mlflow)
    assert verdict.allowed, verdict


@pytest.mark.parametrize(
    "uri",
    [
        "models:/credit/01",  # leading zero: the registry reads version 1
        "models:/Credit/1",  # case
        "models:/credit/1 ",  # not stripped by the verdict itself
        "models:/credit/\uff11",  # a full-width digit one
        "models:/credit/1\n",
        "models:/credit@champion",
        "models:/credit/latest",
        "models:/credit/1/extra",
        "runs:/abc/m",
        "models:/cre%64it/1",
        "models:/cre'dit/1",
    ],
)
def test_uri_tricks_never_borrow_version_1s_validation(uri):
    mlflow = client()
    version, _, _ = validated_version(mlflow)
    assert version == "1"
    verdict = admission.model_verdict(uri, mlflow)
    assert not verdict.allowed, (uri, verdict)


def test_a_version_too_large_to_digest_is_denied_before_it_is_downloaded(monkeypatch):
    """Attack: register a version larger than the operator's /tmp and declare it; digesting it
    would fill the emptyDir and get the operator evicted (every admission then denied)."""
    mlflow = client()
    version, _, _ = validated_version(mlflow, content=b"x" * 64)
    monkeypatch.setattr(admission, "MAX_MODEL_BYTES", 63)

    def no_download(*args, **kwargs):
        raise AssertionError("downloaded a model over the size limit")

    monkeypatch.setattr("mlflow.artifacts.download_artifacts", no_download)
    verdict = admission.model_verdict(f"models:/credit/{version}", mlflow)
    assert (verdict.allowed, verdict.reason) == (False, admission.NOT_PROMOTABLE), verdict
    assert "larger than the operator digests" in verdict.message


def declaring(uri: str | None = None, template_uri: str | None = None) -> dict:
    def annotated(value: str | None) -> dict:
        return {"annotations": {admission.MODEL_URI_ANNOTATION: value}} if value else {}

    return {
        "metadata": {"name": "serve", **annotated(uri)},
        "spec": {"template": {"metadata": annotated(template_uri)}},
    }


def test_object_and_pod_template_disagreeing_are_both_judged():
    mlflow = client()
    good, _, _ = validated_version(mlflow)
    biased, _ = version_with_files(mlflow, "credit", b"biased")
    for body in (
        declaring(f"models:/credit/{good}", f"models:/credit/{biased}"),
        declaring(f"models:/credit/{biased}", f"models:/credit/{good}"),
    ):
        verdict = admission.review(body, None, mlflow)
        assert (verdict.allowed, verdict.reason) == (False, admission.NOT_VALIDATED), verdict


def test_an_update_that_swaps_in_another_version_anywhere_is_judged():
    """Attack: keep the validated version where it was and add a biased one beside it, or
    move the declaration from the object to the pod template with another version."""
    mlflow = client()
    good, _, _ = validated_version(mlflow)
    biased, _ = version_with_files(mlflow, "credit", b"biased")
    old = declaring(f"models:/credit/{good}", f"models:/credit/{good}")
    for new in (
        declaring(f"models:/credit/{good}", f"models:/credit/{biased}"),
        declaring(None, f"models:/credit/{biased}"),
        declaring(f"  models:/credit/{biased} ", None),
    ):
        verdict = admission.review(new, old, mlflow)
        assert (verdict.allowed, verdict.reason) == (False, admission.NOT_VALIDATED), verdict
    verdict = admission.review(declaring(None, f" models:/credit/{good}\n"), old, mlflow)
    assert (verdict.allowed, verdict.reason) == (True, admission.UNCHANGED), verdict


def test_the_handler_judges_dry_runs_and_never_takes_a_create_for_an_update(monkeypatch):
    """Attack: a dry run to probe, or a CREATE carrying an oldObject that declares the model
    (an UPDATE's exemption must not apply)."""
    import logging
    import os

    import kopf

    from validate.operator import handlers
    from validate.operator.reconcile import Cluster

    mlflow = client()
    good, _, _ = validated_version(mlflow)
    biased, _ = version_with_files(mlflow, "credit", b"biased")
    cluster = Cluster(batch=None, core=None, tracking_uri=os.environ["MLFLOW_TRACKING_URI"])
    monkeypatch.setitem(handlers.STATE, "cluster", cluster)
    body = kopf.Body(declaring(f"models:/credit/{biased}"))
    old = kopf.Body(declaring(f"models:/credit/{biased}"))
    logger = logging.getLogger("test")
    for dryrun, operation in ((True, "CREATE"), (False, "CREATE")):
        with pytest.raises(kopf.AdmissionError, match="NotValidated"):
            handlers._review(body=body, dryrun=dryrun, logger=logger, old=old, operation=operation)
    handlers._review(
        body=kopf.Body(declaring(f"models:/credit/{good}")), dryrun=False, logger=logger,
        old=None, operation="CREATE",
    )  # fmt: skip
    # The exemption is the UPDATE's alone, read from the stored object the API server sends.
    handlers._review(body=body, dryrun=False, logger=logger, old=old, operation="UPDATE")


def test_a_deleted_validation_run_no_longer_admits_through_the_versions_promotion_tag():
    """Attack: a passing run found wanting is deleted in MLflow to revoke it, but the
    version's validate.validation_run_id tag still names it."""
    mlflow = client()
    version, run_id, _ = validated_version(mlflow)
    mlflow.set_model_version_tag("credit", version, "validate.validation_run_id", run_id)
    mlflow.delete_run(run_id)
    verdict = admission.model_verdict(f"models:/credit/{version}", mlflow)
    assert (verdict.allowed, verdict.reason) == (False, admission.NOT_VALIDATED), verdict
