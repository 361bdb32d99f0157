"""MLflow registry webhooks, verified as MLflow signs them: a real MLflow server on
127.0.0.1 delivers "model_version.created" to the operator's receiver, which hands the model
and version to its callback (in the operator: ask the watching policies to poll now); forged,
unsigned, stale, replayed and oversized deliveries are refused without calling it. A
requested poll is honoured by the policy watcher before its period is up."""

from __future__ import annotations

import json
import os
import ssl
import time
import urllib.error
import urllib.request
import uuid
from unittest import mock

import pytest
from mlflow_server import MlflowServer, free_port

from validate.operator import registry_webhook as hook
from validate.operator.policy import reconcile_policy
from validate.operator.reconcile import Cluster

delivery = pytest.importorskip("mlflow.webhooks.delivery")
SECRET = "s3cret-shared-with-mlflow-0123456789"


class Receiver:
    """The operator's receiver on 127.0.0.1 and what its callback was given."""

    def __init__(self, tls: tuple[str, str] | None = None) -> None:
        self.calls: list[tuple[str, str]] = []
        self.port = free_port()
        serving = hook.Serving(
            port=self.port,
            address="127.0.0.1",
            tls_cert=tls[0] if tls else None,
            tls_key=tls[1] if tls else None,
        )
        self.server = hook.serve(SECRET, serving, lambda m, v: self.calls.append((m, v)))
        scheme = "https" if tls else "http"
        self.url = f"{scheme}://127.0.0.1:{self.port}{hook.PATH}"

    def post(
        self, body: bytes, headers: dict[str, str], context: ssl.SSLContext | None = None
    ) -> tuple[int, str]:
        request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=30, context=context) as response:
                return response.status, json.loads(response.read())["message"]
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())["message"]


@pytest.fixture
def receiver():
    made = Receiver()
    yield made
    made.server.shutdown()


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory):
    """A real MLflow server that may deliver webhooks to 127.0.0.1 over plain HTTP (MLflow
    refuses private addresses and HTTP by default; these variables are the server's)."""
    allow = {"MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS": "true", "MLFLOW_WEBHOOK_ALLOWED_SCHEMES": "http"}
    with mock.patch.dict(os.environ, allow):
        server = MlflowServer(tmp_path_factory.mktemp("mlflow")).start()
    yield server
    server.stop()


def signed(payload: dict, secret: str = SECRET, timestamp: int | None = None):
    """A delivery signed with MLflow's own signing function, as MLflow sends it."""
    body = json.dumps(payload)
    delivery_id = str(uuid.uuid4())
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    headers = {
        "Content-Type": "application/json",
        hook.DELIVERY_HEADER: delivery_id,
        hook.TIMESTAMP_HEADER: stamp,
        hook.SIGNATURE_HEADER: delivery._generate_hmac_signature(secret, delivery_id, stamp, body),
    }
    return body.encode(), headers


def created(model: str = "credit", version: str = "8") -> dict:
    return {
        "entity": "model_version",
        "action": "created",
        "timestamp": "2026-01-01T00:00:00+00:00",
        "data": {"name": model, "version": version, "source": "models:/m-1", "tags": {}},
    }


def test_a_real_mlflow_server_delivers_a_verified_version_created(mlflow_server):
    """MLflow's own delivery, end to end: create_webhook with a secret, register a version,
    and the receiver gets exactly that model and version."""
    from mlflow.entities.webhook import WebhookEvent
    from mlflow.tracking import MlflowClient

    server = mlflow_server
    received = Receiver()
    try:
        client = MlflowClient(tracking_uri=server.url, registry_uri=server.url)
        client.create_webhook(
            name="validate-operator",
            url=received.url,
            events=[WebhookEvent("model_version", "created")],
            secret=SECRET,
        )
        client.create_registered_model("hooked")
        run = client.create_run(client.create_experiment("hooks"))
        version = client.create_model_version(
            "hooked", f"runs:/{run.info.run_id}/model", run_id=run.info.run_id
        )
        deadline = time.monotonic() + 120
        while not received.calls and time.monotonic() < deadline:
            time.sleep(0.2)
        assert received.calls == [("hooked", version.version)], (
            server.folder / "server.log"
        ).read_text()[-3000:]
        # A webhook whose secret is not the operator's is refused: MLflow's own test says so.
        wrong = client.create_webhook(
            name="wrong-secret",
            url=received.url,
            events=[WebhookEvent("model_version", "created")],
            secret="not-the-operators-secret-at-all",
        )
        result = client.test_webhook(wrong.webhook_id)
        assert not result.success and result.response_status == 401, result
        assert received.calls == [("hooked", version.version)]
    finally:
        received.server.shutdown()


def test_mlflow_signed_deliveries_are_accepted_once(receiver):
    body, headers = signed(created())
    assert receiver.post(body, headers) == (202, "poll requested for credit (version 8)")
    # MLflow's retries (and any replay in the window) reuse the delivery id: nothing more.
    assert receiver.post(body, headers) == (202, "already received")
    assert receiver.calls == [("credit", "8")]
    other = {**created(), "entity": "registered_model"}
    assert receiver.post(*signed(other)) == (202, "ignored: registered_model.created")
    assert receiver.calls == [("credit", "8")]


@pytest.mark.parametrize(
    "tamper, status, reason",
    [
        (lambda b, h: (b, {k: v for k, v in h.items() if k != hook.SIGNATURE_HEADER}), 401,
         "unsigned"),
        (lambda b, h: (b, {k: v for k, v in h.items() if k != hook.TIMESTAMP_HEADER}), 401,
         "unsigned"),
        (lambda b, h: (b.replace(b'"8"', b'"9"'), h), 401, "signature does not match"),
        (lambda b, h: (b, {**h, hook.DELIVERY_HEADER: str(uuid.uuid4())}), 401,
         "signature does not match"),
        (lambda b, h: (b, {**h, hook.SIGNATURE_HEADER: "v1,AAAA"}), 401,
         "signature does not match"),
        (lambda b, h: (b, {**h, hook.TIMESTAMP_HEADER: "soon"}), 401, "not Unix seconds"),
    ],
    ids=["no-signature", "no-timestamp", "body-changed", "id-changed", "forged", "bad-time"],
)  # fmt: skip
def test_tampered_and_unsigned_deliveries_are_refused(receiver, tamper, status, reason):
    body, headers = tamper(*signed(created()))
    code, message = receiver.post(body, headers)
    assert code == status and reason in message, message
    assert receiver.calls == []


def test_other_secrets_stale_and_future_timestamps_are_refused(receiver):
    assert receiver.post(*signed(created(), secret="someone-elses-secret-000"))[0] == 401
    stale = int(time.time()) - hook.TOLERANCE_S - 60
    code, message = receiver.post(*signed(created(), timestamp=stale))
    assert code == 401 and "from now" in message
    future = int(time.time()) + hook.TOLERANCE_S + 60
    assert receiver.post(*signed(created(), timestamp=future))[0] == 401
    assert receiver.calls == []


def test_oversized_and_unreadable_bodies_are_refused(receiver):
    # Refused on its declared length, before a byte of it is read (or its signature checked).
    import http.client

    connection = http.client.HTTPConnection("127.0.0.1", receiver.port, timeout=30)
    connection.putrequest("POST", hook.PATH)
    connection.putheader("Content-Length", str(hook.MAX_BODY_BYTES + 1))
    connection.endheaders()
    response = connection.getresponse()
    assert response.status == 413 and b"over" in response.read()
    connection.close()
    # Signed, but not an event: refused after the signature, before any callback.
    body = b"not json"
    stamp, delivery_id = str(int(time.time())), str(uuid.uuid4())
    headers = {
        hook.DELIVERY_HEADER: delivery_id,
        hook.TIMESTAMP_HEADER: stamp,
        hook.SIGNATURE_HEADER: hook.signature(SECRET, delivery_id, stamp, body),
    }
    assert receiver.post(body, headers)[0] == 400
    missing = {**created(), "data": {"name": "credit"}}
    assert receiver.post(*signed(missing))[0] == 400
    assert receiver.calls == []


def test_tls_and_short_secrets(tmp_path):
    """Over HTTPS with a given certificate; a secret under 16 characters is refused."""
    from validate.operator.webhook import self_signed

    cert, key = self_signed(["127.0.0.1"])
    (tmp_path / "c.pem").write_bytes(cert)
    (tmp_path / "k.pem").write_bytes(key)
    secure = Receiver(tls=(str(tmp_path / "c.pem"), str(tmp_path / "k.pem")))
    try:
        context = ssl.create_default_context(cafile=str(tmp_path / "c.pem"))
        assert secure.post(*signed(created()), context=context)[0] == 202
        assert secure.calls == [("credit", "8")]
    finally:
        secure.server.shutdown()
    with pytest.raises(ValueError, match="shorter than 16"):
        hook.serve("short", hook.Serving(port=free_port(), address="127.0.0.1"), print)


def test_a_requested_poll_comes_before_the_period_is_up(mlflow_server):
    """The policy watcher polls when asked (a poll requested at or after the last one),
    otherwise only every pollSeconds; the registry is still what it reads."""
    cluster = Cluster(batch=None, core=None, tracking_uri=mlflow_server.url)
    policy = {
        "metadata": {"name": "p", "namespace": "ns", "uid": "u", "generation": 1},
        "spec": {"model": "nothing-registered", "pollSeconds": 3600},
        "status": {"baselineVersion": 0, "lastPolledEpoch": 1000},
    }
    assert reconcile_policy(policy, cluster, now=1010) is None
    policy["status"]["pollRequestedEpoch"] = 999  # before the last poll: already seen
    assert reconcile_policy(policy, cluster, now=1010) is None
    policy["status"]["pollRequestedEpoch"] = 1005
    polled = reconcile_policy(policy, cluster, now=1010)
    assert polled is not None and polled["lastPolledEpoch"] == 1010
    assert polled["latestVersion"] is None
    policy["status"].update(polled)
    assert reconcile_policy(policy, cluster, now=1012) is None


def test_the_operator_command_needs_the_secret_with_the_port():
    from click.testing import CliRunner

    from validate.cli import cli

    done = CliRunner().invoke(
        cli,
        ["operator", "--namespace", "ml", "--tracking-uri", "http://127.0.0.1:1"]
        + ["--registry-webhook-port", "9444"],
        env={hook.SECRET_ENV: ""},
    )
    assert done.exit_code == 2
    assert f"{hook.SECRET_ENV} is not set" in done.output and "Traceback" not in done.output
