"""The admission verdicts that need no recorded validation (the full deny/admit flow runs
on the real control plane in tests/k8s/test_operator.py), and the webhook's certificate."""

from __future__ import annotations

import socket
import ssl
import threading

import pytest

pytest.importorskip("kopf")

from validate.operator import admission  # noqa: E402
from validate.operator.webhook import self_signed  # noqa: E402


def workload(uri: str | None = None, template_uri: str | None = None) -> dict:
    def annotated(value: str | None) -> dict:
        return {"annotations": {admission.MODEL_URI_ANNOTATION: value}} if value else {}

    return {
        "metadata": {"name": "serve", **annotated(uri)},
        "spec": {"template": {"metadata": annotated(template_uri)}},
    }


class Unasked:
    """Stands where the MLflow client would: these verdicts must never ask it."""

    def __getattr__(self, name: str):
        raise AssertionError(f"MLflow was asked ({name}) for a verdict that needs no MLflow")


def test_a_workload_declaring_no_model_is_admitted_without_asking_mlflow():
    verdict = admission.review(workload(), None, Unasked())
    assert verdict == admission.Verdict(True, admission.UNDECLARED, "no model declared")


def test_an_update_that_keeps_the_declared_model_is_admitted_without_asking_mlflow():
    old = workload("models:/credit/7")
    verdict = admission.review(workload("models:/credit/7"), old, Unasked())
    assert verdict.allowed and verdict.reason == admission.UNCHANGED


def test_both_places_are_read_and_an_alias_is_refused():
    assert admission.declared_models(workload("models:/a/1", "models:/b/2")) == {
        "models:/a/1",
        "models:/b/2",
    }
    verdict = admission.review(workload(template_uri="models:/credit@champion"), None, Unasked())
    assert not verdict.allowed and verdict.reason == admission.BAD_URI
    assert "is not models:/NAME/VERSION" in verdict.message


def test_mlflow_unreachable_is_a_denial_with_its_reason(monkeypatch):
    from mlflow.tracking import MlflowClient

    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    client = MlflowClient(tracking_uri=url, registry_uri=url)
    verdict = admission.review(workload("models:/credit/7"), None, client)
    assert not verdict.allowed and verdict.reason == admission.MLFLOW_DOWN
    assert verdict.message.startswith("cannot establish that models:/credit/7 was validated")


def test_the_self_signed_certificate_names_the_hosts_and_serves_tls(tmp_path):
    from cryptography import x509

    cert, key = self_signed(["validate-operator.ml-validation.svc", "127.0.0.1", "0.0.0.0"])
    names = x509.load_pem_x509_certificate(cert).extensions.get_extension_for_class(
        x509.SubjectAlternativeName
    )
    assert names.value.get_values_for_type(x509.DNSName) == ["validate-operator.ml-validation.svc"]
    assert [str(a) for a in names.value.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    (tmp_path / "c.pem").write_bytes(cert)
    (tmp_path / "k.pem").write_bytes(key)
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(tmp_path / "c.pem", tmp_path / "k.pem")
    client = ssl.create_default_context(cadata=cert.decode())
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]

        def accept() -> None:
            conn, _ = listener.accept()
            with server.wrap_socket(conn, server_side=True) as tls:
                tls.recv(1)

        thread = threading.Thread(target=accept, daemon=True)
        thread.start()
        with (
            socket.create_connection(("127.0.0.1", port)) as raw,
            client.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
        ):
            assert tls.version() is not None  # the handshake verified against the CA
            tls.send(b"x")
        thread.join(timeout=30)


def registered_version(client, name: str = "credit") -> str:
    """A registered version of ``name`` (its artifacts are irrelevant to admission)."""
    client.create_registered_model(name)
    experiment = client.create_experiment("training")
    run = client.create_run(experiment)
    client.set_terminated(run.info.run_id)
    return str(
        client.create_model_version(name, f"runs:/{run.info.run_id}/m", run.info.run_id).version
    )


def validation_run(client, name: str, version: str, **tags: str) -> str:
    """A validation run recorded for ``models:/name/version``, finished, with ``tags``."""
    from validate.models.adapter import ModelRef, RegistryVersion
    from validate.promotion import ref_to_json

    experiment = client.get_experiment_by_name("checks") or client.get_experiment(
        client.create_experiment("checks")
    )
    ref = ModelRef(
        uri=f"models:/{name}/{version}",
        location=f"models:/{name}/{version}",
        kind="mlflow",
        role="candidate",
        task="binary",
        registry=RegistryVersion(name, version),
    )
    run = client.create_run(
        experiment.experiment_id,
        tags={"validate.kind": "validation", "validate.candidate_ref": ref_to_json(ref), **tags},
    )
    client.set_terminated(run.info.run_id)
    return run.info.run_id


def test_verdicts_from_what_mlflow_records():
    """Against a real (sqlite) MLflow: no validation, a failed one, one that is not
    promotable (no sealed decision record), each with its reason and run."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    version = registered_version(client)
    uri = f"models:/credit/{version}"
    verdict = admission.model_verdict(uri, client)
    assert (verdict.allowed, verdict.reason) == (False, admission.NOT_VALIDATED), verdict

    unsealed = validation_run(client, "credit", version, **{"validate.decision": "pass"})
    verdict = admission.model_verdict(uri, client)
    assert (verdict.allowed, verdict.reason) == (False, admission.NOT_PROMOTABLE), verdict
    assert unsealed in verdict.message and "no decision record sealed live" in verdict.message

    failed = validation_run(client, "credit", version, **{"validate.decision": "fail"})
    verdict = admission.model_verdict(uri, client)
    assert (verdict.allowed, verdict.reason) == (False, admission.FAILED), verdict
    assert failed in verdict.message

    # Another version's runs never speak for this one (the LIKE search only narrows).
    other = str(client.create_model_version("credit", "runs:/x/m").version)
    verdict = admission.model_verdict(f"models:/credit/{other}", client)
    assert verdict.reason == admission.NOT_VALIDATED, verdict


def test_the_ca_bundle_holds_every_live_replicas_ca():
    """Replicas behind one Service each self-sign: the bundle keeps this replica's CA first,
    the other live replicas' after it, and drops the expired and the gone."""
    import base64
    import datetime

    from cryptography import x509

    from validate.operator.webhook import merge_ca_bundle

    def subjects(bundle: str) -> list[str]:
        found = x509.load_pem_x509_certificates(base64.b64decode(bundle))
        return [c.subject.rfc4514_string() for c in found]

    host = ["validate-operator.ml-validation.svc"]
    now = datetime.datetime.now(datetime.timezone.utc)
    a, b, c = (self_signed(host, replica=name)[0] for name in ("op-a", "op-b", "op-c"))
    bundle = merge_ca_bundle(None, a, now=now)
    assert subjects(bundle) == ["CN=validate-operator op-a"]
    bundle = merge_ca_bundle(bundle, b, now=now, live=lambda: ["op-a", "op-b"])
    assert subjects(bundle) == ["CN=validate-operator op-b", "CN=validate-operator op-a"]
    assert merge_ca_bundle(bundle, b, now=now) == bundle  # writing again changes nothing
    # op-a's pod is gone: its CA leaves when the next replica writes.
    bundle = merge_ca_bundle(bundle, c, now=now, live=lambda: ["op-b", "op-c"])
    assert subjects(bundle) == ["CN=validate-operator op-c", "CN=validate-operator op-b"]
    # Who lives cannot be told: nothing but the expired leaves.
    kept = merge_ca_bundle(bundle, a, now=now, live=lambda: 1 / 0)
    assert len(subjects(kept)) == 3
    later = now + datetime.timedelta(days=366)
    assert subjects(merge_ca_bundle(bundle, a, now=later)) == ["CN=validate-operator op-a"]
