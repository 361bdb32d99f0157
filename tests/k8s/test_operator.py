"""The operator on the real control plane, with a real MLflow server, running as its own
ServiceAccount (a token from the TokenRequest API, bound only by the RBAC in ci/operator):
the credit sample's good model is validated and promoted, the biased one is refused with
its failing sentences; killing the operator mid-validation and starting it again yields one
runner Job, one MLflow run and one promotion per resource; deleting a resource leaves no
Job behind. The operator's admission webhook (HTTPS on 127.0.0.1, called by the API server)
denies a Deployment that declares the biased version and admits the promoted one, and a
real Prometheus server scrapes the operator's /metrics."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from control_plane import free_port
from kubernetes import client, config
from prometheus_server import PrometheusServer, prometheus_binary

from validate.operator.admission import MODEL_URI_ANNOTATION
from validate.operator.resource import OWNER_LABEL, RUN_UID_TAG

REPO = Path(__file__).resolve().parents[2]
VALIDATE = str(Path(sys.executable).parent / "validate")
NAMESPACE = "ml-validation"
GROUP, VERSION, PLURAL = "validate.dev", "v1alpha1", "modelvalidations"
FINAL = ("Promoted", "Passed", "Failed", "Error", "Invalid")
# Register a Keras candidate as a version of 'credit', wrapped as validate promotes one.
REGISTER = """
import sys
from dataclasses import replace
import mlflow
from mlflow.tracking import MlflowClient
from validate.models.adapter import resolve_model
from validate.promotion import CANDIDATE_ARTIFACT, _log_candidate
client = MlflowClient()
experiment = client.get_experiment_by_name("training") or client.get_experiment(
    client.create_experiment("training"))
for argument in sys.argv[1:]:
    path, names = argument.split("|")
    features = tuple(names.split(","))
    run = client.create_run(experiment.experiment_id)
    ref = replace(resolve_model(path, role="candidate", task="binary"), features=features)
    _log_candidate(client, ref, run.info.run_id)
    client.set_terminated(run.info.run_id)
    version = mlflow.register_model(f"runs:/{run.info.run_id}/{CANDIDATE_ARTIFACT}", "credit")
    print("REGISTERED", version.version)
"""


# What Prometheus must hold once the operator test is done (the restarted process's counts:
# both decisions, the promotion and both admission reviews come after the kill).
METRICS = {
    'validate_operator_admission_reviews_total{decision="denied",reason="ValidationFailed"}': 1,
    'validate_operator_admission_reviews_total{decision="allowed",reason="Validated"}': 1,
    'validate_operator_promotions_total{outcome="promoted"}': 1,
    'validate_operator_promotions_total{outcome="none"}': 1,
    "validate_operator_registration_to_decision_seconds_count": 2,
    "validate_operator_validations_in_flight": 0,
}
SCRAPED: dict[str, float] = {}


def kubectl(cluster, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [shutil.which("kubectl") or "kubectl", f"--kubeconfig={cluster.kubeconfig}", *args],
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.fixture(scope="module")
def installed(cluster):
    """ci/operator, server-side dry-run first, then applied as an administrator would."""
    if shutil.which("kubectl") is None:
        pytest.fail("kubectl (with kustomize) is needed to apply ci/operator")
    # A server-side dry run of namespaced objects needs their namespace to exist.
    namespace = kubectl(cluster, "apply", "-f", str(REPO / "ci/k8s/namespace.yaml"))
    assert namespace.returncode == 0, namespace.stderr
    dry = kubectl(cluster, "apply", "-k", str(REPO / "ci/operator"), "--dry-run=server")
    assert dry.returncode == 0, dry.stderr
    assert "customresourcedefinition.apiextensions.k8s.io/modelvalidations.validate.dev" in (
        dry.stdout
    )
    applied = kubectl(cluster, "apply", "-k", str(REPO / "ci/operator"))
    assert applied.returncode == 0, applied.stderr
    waited = kubectl(
        cluster,
        "wait",
        "--for=condition=Established",
        "crd/modelvalidations.validate.dev",
        "--timeout=60s",
    )
    assert waited.returncode == 0, waited.stderr
    config.load_kube_config(str(cluster.kubeconfig))
    return client.CustomObjectsApi(), client.BatchV1Api()


@pytest.fixture(scope="module")
def operator_kubeconfig(cluster, installed, tmp_path_factory):
    """A kubeconfig holding the operator ServiceAccount's token, not the admin's."""
    core = client.CoreV1Api()
    token = core.create_namespaced_service_account_token(
        "validate-operator",
        NAMESPACE,
        {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {"expirationSeconds": 3600},
        },
    ).status.token
    path = tmp_path_factory.mktemp("operator") / "kubeconfig.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "operator",
                "clusters": [
                    {
                        "name": "c",
                        "cluster": {"server": cluster.server, "insecure-skip-tls-verify": True},
                    }
                ],
                "users": [{"name": "validate-operator", "user": {"token": token}}],
                "contexts": [
                    {
                        "name": "operator",
                        "context": {
                            "cluster": "c",
                            "user": "validate-operator",
                            "namespace": NAMESPACE,
                        },
                    }
                ],
            }
        )
    )
    # The token really is the ServiceAccount's: it may create Jobs, but not read Secrets.
    can = kubectl(
        cluster,
        f"--token={token}",
        "--kubeconfig=/dev/null",
        f"--server={cluster.server}",
        "--insecure-skip-tls-verify",
        "auth",
        "can-i",
        "list",
        "secrets",
        "-n",
        NAMESPACE,
    )
    assert can.stdout.strip() == "no", can.stdout + can.stderr
    return path


class Operator:
    def __init__(
        self,
        kubeconfig: Path,
        mlflow_url: str,
        log: Path,
        webhook_port: int,
        metrics_port: int,
        args: tuple[str, ...] = (),
        env: dict[str, str] | None = None,
    ) -> None:
        self.kubeconfig, self.mlflow_url, self.log = kubeconfig, mlflow_url, log
        self.webhook_port, self.metrics_port = webhook_port, metrics_port
        self.args, self.env = args, env or {}
        self.process: subprocess.Popen[bytes] | None = None

    def again(self) -> Operator:
        """Another operator process on the same ports (after a kill)."""
        return Operator(
            self.kubeconfig,
            self.mlflow_url,
            self.log,
            self.webhook_port,
            self.metrics_port,
            self.args,
            self.env,
        )

    def start(self) -> Operator:
        env = {
            **os.environ,
            "KUBECONFIG": str(self.kubeconfig),
            "MLFLOW_TRACKING_URI": self.mlflow_url,
            "MLFLOW_REGISTRY_URI": self.mlflow_url,
            **self.env,
        }
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(
                [
                    VALIDATE,
                    "operator",
                    "--namespace",
                    NAMESPACE,
                    # The API server reaches the webhook at https://127.0.0.1:PORT.
                    f"--admission-port={self.webhook_port}",
                    "--admission-address=127.0.0.1",
                    "--admission-host=127.0.0.1",
                    "--admission-url",
                    f"--metrics-port={self.metrics_port}",
                    "--metrics-address=127.0.0.1",
                    *self.args,
                ],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        return self

    def kill(self) -> None:
        """SIGKILL: no clean-up of any kind, as when a node dies."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()


def register(sample: Path, mlflow_url: str, *configs: str) -> list[str]:
    """Register each config's Keras candidate as the next version of 'credit', with the
    model inputs that config names (one process: one TensorFlow import)."""
    arguments = []
    for name in configs:
        data = yaml.safe_load((REPO / "sample_models/credit" / name).read_text())
        model = Path(data["model"]["candidate"]).name
        arguments.append(f"{sample / 'artifacts' / model}|{','.join(data['data']['features'])}")
    done = subprocess.run(
        [sys.executable, "-c", REGISTER, *arguments],
        env={
            **os.environ,
            "MLFLOW_TRACKING_URI": mlflow_url,
            # The suite's autouse fixture points the registry at a per-test sqlite file.
            "MLFLOW_REGISTRY_URI": mlflow_url,
            "TF_CPP_MIN_LOG_LEVEL": "2",
        },
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return [line.split()[1] for line in done.stdout.splitlines() if line.startswith("REGISTERED ")]


def validation_config(sample: Path) -> dict:
    """good.yaml with absolute data paths (the runner pod's folder is not the sample's),
    accuracy, bias and drift only (the sample's slowest checks are left out for time)."""
    data = yaml.safe_load((REPO / "sample_models/credit/good.yaml").read_text())
    for key in ("eval", "reference", "train"):
        data["data"][key] = str(sample / data["data"][key])
    # Every column either candidate reads; each takes the inputs recorded at registration.
    biased = yaml.safe_load((REPO / "sample_models/credit/biased.yaml").read_text())
    data["data"]["features"] = biased["data"]["features"]
    data["checks"] = {name: data["checks"][name] for name in ("accuracy", "bias", "drift")}
    data["mlflow"] = {"experiment": "operator"}
    data["kubernetes"] = {
        "image": "ignored",  # the ModelValidation's runner image wins
        "max_parallel": 3,
        "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}},
    }
    return data


def policy(config_data: dict) -> dict:
    """Watch 'credit'; validate each new version with the config, promote on a pass."""
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "ModelValidationPolicy",
        "metadata": {"name": "credit", "namespace": NAMESPACE},
        "spec": {
            "model": "credit",
            "pollSeconds": 5,
            "template": {
                "config": {"inline": config_data},
                "promotion": {"policy": "auto", "alias": "champion"},
                "runner": {
                    "image": "ghcr.io/acme/validate:test",
                    "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}},
                },
            },
        },
    }


def where_the_time_went(batch, mlflow, mv: dict, registered_at: float) -> str:
    """When each step of one validation happened, in seconds after the version was
    registered (the API server's timestamps are whole seconds): for the closing note's
    "what dominates the time to Promoted"; nothing is asserted on it."""
    from datetime import datetime

    def since(stamp) -> str:
        if stamp is None:
            return "-"
        when = stamp if isinstance(stamp, datetime) else datetime.fromisoformat(stamp)
        return f"{when.timestamp() - registered_at:6.1f}"

    lines = [f"  {since(mv['metadata']['creationTimestamp'])}  ModelValidation created"]
    uid = mv["metadata"]["uid"]
    jobs = batch.list_namespaced_job(NAMESPACE, label_selector=f"{OWNER_LABEL}={uid}").items
    for job in sorted(jobs, key=lambda j: j.metadata.creation_timestamp):
        lines.append(
            f"  {since(job.metadata.creation_timestamp)}  {job.metadata.name}: created, "
            f"started {since(job.status.start_time)}, done {since(job.status.completion_time)}"
        )
    run = mlflow.get_run(mv["status"]["mlflowRunId"]).info
    lines.append(
        f"  {run.start_time / 1000 - registered_at:6.1f}  MLflow run started, ended "
        f"{(run.end_time or 0) / 1000 - registered_at:6.1f}"
    )
    for entry in mv["status"]["conditions"]:
        lines.append(f"  {since(entry['lastTransitionTime'])}  {entry['type']} {entry['status']}")
    return "operator timeline (s after registration):\n" + "\n".join(lines)


def wait_status(
    custom, name: str, done, timeout_s: float, operator: Operator, plural: str = PLURAL
) -> dict:
    deadline = time.monotonic() + timeout_s
    body: dict = {}
    while time.monotonic() < deadline:
        try:
            body = custom.get_namespaced_custom_object(GROUP, VERSION, NAMESPACE, plural, name)
        except client.exceptions.ApiException as exc:  # not created yet
            assert exc.status == 404, exc
        else:
            if done(body.get("status") or {}):
                return body
        assert operator.process is not None and operator.process.poll() is None, (
            operator.log.read_text()[-3000:]
        )
        time.sleep(1)
    raise AssertionError(
        f"{name}: {json.dumps(body.get('status'), indent=1)}\n{operator.log.read_text()[-3000:]}"
    )


def condition(status: dict, kind: str) -> dict:
    return next(c for c in status["conditions"] if c["type"] == kind)


def test_the_operator_validates_promotes_refuses_survives_a_kill_and_cleans_up(
    sample, mlflow_url, cluster, installed, operator_kubeconfig, tmp_path
):
    custom, batch = installed
    from mlflow.tracking import MlflowClient

    mlflow = MlflowClient(tracking_uri=mlflow_url, registry_uri=mlflow_url)
    champion = mlflow.get_model_version_by_alias("credit", "champion").version
    log = tmp_path / "operator.log"
    binary = prometheus_binary()
    operator = Operator(operator_kubeconfig, mlflow_url, log, free_port(), free_port()).start()
    prometheus = None
    if binary is not None:  # without it, the test below says so loudly
        target = f"127.0.0.1:{operator.metrics_port}"
        prometheus = PrometheusServer(tmp_path / "prometheus", [target], binary).start()
    try:
        custom.create_namespaced_custom_object(
            GROUP, VERSION, NAMESPACE, "modelvalidationpolicies", policy(validation_config(sample))
        )
        watching = wait_status(
            custom,
            "credit",
            lambda s: "baselineVersion" in s,
            120,
            operator,
            plural="modelvalidationpolicies",
        )
        assert watching["status"]["baselineVersion"] == int(champion)  # history is left alone
        # Registering versions is all it takes: the policy creates one ModelValidation each.
        good, biased = register(sample, mlflow_url, "good.yaml", "biased.yaml")
        registered = time.monotonic()
        versions_before = len(mlflow.search_model_versions("name='credit'"))
        good_name, biased_name = f"credit-v{good}", f"credit-v{biased}"
        # Kill the operator once both runner Jobs exist, mid-validation, and start another.
        for name in (good_name, biased_name):
            wait_status(custom, name, lambda s: s.get("phase") == "Running", 120, operator)
        operator.kill()
        operator = operator.again().start()

        good_mv = wait_status(custom, good_name, lambda s: s.get("phase") in FINAL, 420, operator)
        to_promoted = time.monotonic() - registered
        biased_mv = wait_status(
            custom, biased_name, lambda s: s.get("phase") in FINAL, 300, operator
        )
        status = good_mv["status"]
        assert status["phase"] == "Promoted", json.dumps(status, indent=1)
        assert condition(status, "Accepted")["status"] == "True"
        assert condition(status, "ChecksRunning")["status"] == "False"
        assert condition(status, "Passed")["status"] == "True"
        assert condition(status, "Promoted")["status"] == "True"
        assert status["promotedVersion"] == good and status["decision"] == "pass"
        assert {c["name"] for c in status["checks"]} == {"accuracy", "bias", "drift"}
        assert all(c["observedGeneration"] == 1 for c in status["conditions"])
        holder = mlflow.get_model_version_by_alias("credit", "champion")
        assert holder.version == good != champion
        assert holder.tags["validate.validation_run_id"] == status["mlflowRunId"]

        status = biased_mv["status"]
        assert status["phase"] == "Failed", json.dumps(status, indent=1)
        passed = condition(status, "Passed")
        assert passed["status"] == "False" and passed["reason"] == "ChecksFailed"
        assert "bias: demographic_parity_difference" in passed["message"]
        assert "> max 0.1" in passed["message"]
        assert condition(status, "Promoted")["status"] == "False"
        assert mlflow.get_model_version_by_alias("credit", "champion").version == good

        # Admission: in an opted-in namespace, the biased version is denied with its reason
        # and run, the promoted one is admitted, and so is a Deployment declaring no model.
        denied, admitted = admission(cluster, operator, biased, good)
        assert denied.status == 403, denied
        assert "ValidationFailed" in denied.body, denied.body
        assert f"models:/credit/{biased}" in denied.body
        assert biased_mv["status"]["mlflowRunId"] in denied.body
        assert admitted == ["promoted", "plain"]
        # The operator's metrics, as a real Prometheus server scraped them.
        for expression, expected in METRICS.items() if prometheus is not None else ():
            seen = prometheus.wait_for(expression, expected)
            assert seen == expected, f"{expression} = {seen}\n{prometheus.log()}"
            SCRAPED[expression] = seen

        # One runner Job, one run, one set of check results, one promotion per resource,
        # the kill notwithstanding.
        for mv in (good_mv, biased_mv):
            uid = mv["metadata"]["uid"]
            jobs = batch.list_namespaced_job(NAMESPACE, label_selector=f"{OWNER_LABEL}={uid}")
            components = sorted(
                j.metadata.labels["app.kubernetes.io/component"] for j in jobs.items
            )
            assert components == ["check", "check", "check", "runner"], components
            experiment = mlflow.get_experiment_by_name("operator").experiment_id
            runs = mlflow.search_runs(
                [experiment],
                f"tags.`{RUN_UID_TAG}` = '{uid}' and tags.`validate.kind` = 'validation'",
            )
            assert [r.info.run_id for r in runs] == [mv["status"]["mlflowRunId"]]
            nested = mlflow.search_runs(
                [experiment],
                f"tags.mlflow.parentRunId = '{runs[0].info.run_id}' and "
                "tags.`validate.kind` = 'check'",
            )
            assert len(nested) == 3
        assert len(mlflow.search_model_versions("name='credit'")) == versions_before

        # Deleting a resource deletes its Jobs (the finalizer; owner references too).
        uid = biased_mv["metadata"]["uid"]
        custom.delete_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL, biased_name)
        deadline = time.monotonic() + 60
        left = ["?"]
        while time.monotonic() < deadline and left:
            left = [
                j.metadata.name
                for j in batch.list_namespaced_job(
                    NAMESPACE, label_selector=f"{OWNER_LABEL}={uid}"
                ).items
            ]
            time.sleep(1)
        assert left == []
        # One ModelValidation per version, and the deleted one is not created again.
        time.sleep(6)  # more than one poll period
        gone = custom.list_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL)
        assert sorted(i["metadata"]["name"] for i in gone["items"]) == [good_name]
        print(f"\noperator: version registered to Promoted {to_promoted:.1f} s (a kill included)")
        registered_at = mlflow.get_model_version("credit", good).creation_timestamp / 1000
        print(where_the_time_went(batch, mlflow, good_mv, registered_at))
    finally:
        operator.stop()
        if prometheus is not None:
            prometheus.stop()


def test_a_real_prometheus_scraped_the_operator_metrics():
    """The operator test above queried these through Prometheus's HTTP API."""
    if prometheus_binary() is None:
        pytest.skip(
            "PROMETHEUS NOT INSTALLED: the operator's /metrics were not scraped; nox -s k8s "
            "installs Debian's prometheus package (apt-get install prometheus, as root)"
        )
    assert SCRAPED == METRICS


def admission(cluster, operator: Operator, biased: str, good: str):
    """Create Deployments declaring each version in a namespace opted in to admission;
    returns the denial of the biased one and the names of those admitted."""
    core, apps = client.CoreV1Api(), client.AppsV1Api()
    serving = "serving"
    core.create_namespace(
        {"metadata": {"name": serving, "labels": {"validate.dev/admission": "enforce"}}}
    )
    # The operator points the install's webhook configuration at itself when it starts.
    admissionregistration = client.AdmissionregistrationV1Api()
    url = f"https://127.0.0.1:{operator.webhook_port}/validate-workloads"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        hook = admissionregistration.read_validating_webhook_configuration("validate-admission")
        if hook.webhooks[0].client_config.url == url:
            break
        time.sleep(1)
    assert hook.webhooks[0].client_config.url == url, operator.log.read_text()[-3000:]
    assert hook.webhooks[0].client_config.ca_bundle

    def deployment(name: str, version: str | None) -> dict:
        annotations = {MODEL_URI_ANNOTATION: f"models:/credit/{version}"} if version else {}
        return {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name, "annotations": annotations},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app": name}},
                "template": {
                    "metadata": {"labels": {"app": name}},
                    "spec": {"containers": [{"name": "serve", "image": "ghcr.io/acme/s:1"}]},
                },
            },
        }

    with pytest.raises(client.exceptions.ApiException) as denied:
        apps.create_namespaced_deployment(serving, deployment("biased", biased))
    admitted = []
    for name, version in (("promoted", good), ("plain", None)):
        apps.create_namespaced_deployment(serving, deployment(name, version))
        admitted.append(name)
    return denied.value, admitted


def test_the_operator_writes_its_ca_into_the_installs_service_webhook(installed):
    """In a cluster the API server calls the webhook through the install's Service: the
    operator adds its certificate's CA and leaves the rest of the configuration as shipped.
    (A copy of ci/operator/webhook.yaml, selecting no namespace, patched as an admin.)"""
    import base64

    from validate.operator.webhook import AdmissionServer, self_signed

    shipped = yaml.safe_load((REPO / "ci/operator/webhook.yaml").read_text())
    shipped["metadata"]["name"] = "validate-admission-copy"
    shipped["webhooks"][0]["namespaceSelector"] = {"matchLabels": {"validate.dev/none": "x"}}
    api = client.AdmissionregistrationV1Api()
    api.create_validating_webhook_configuration(shipped)
    try:
        cert, _ = self_signed(["validate-operator.ml-validation.svc"])
        bundle = base64.b64encode(cert).decode()
        server = AdmissionServer(
            configuration="validate-admission-copy", by_url=False, admissionregistration=api
        )
        server.write_client_config({"url": "https://ignored:9443", "caBundle": bundle})
        (hook,) = api.read_validating_webhook_configuration("validate-admission-copy").webhooks
        assert hook.client_config.ca_bundle == bundle
        assert hook.client_config.url is None
        service = hook.client_config.service
        assert (service.namespace, service.name, service.port, service.path) == (
            "ml-validation",
            "validate-operator",
            443,
            "/validate-workloads",
        )
        assert hook.failure_policy == "Fail"
        # A second replica behind the same Service adds its CA; the first one's stays.
        other, _ = self_signed(["validate-operator.ml-validation.svc"], replica="op-b")
        server.write_client_config({"caBundle": base64.b64encode(other).decode()})
        (hook,) = api.read_validating_webhook_configuration("validate-admission-copy").webhooks
        assert base64.b64decode(hook.client_config.ca_bundle) == other + cert
    finally:
        api.delete_validating_webhook_configuration("validate-admission-copy")


SECRET = "registry-webhook-secret-for-the-test"


def scrape_reconciles(operator: Operator) -> float:
    """The reconciliations this operator process made (its /metrics, every resource)."""
    import urllib.request

    url = f"http://127.0.0.1:{operator.metrics_port}/metrics"
    with urllib.request.urlopen(url, timeout=10) as response:
        text = response.read().decode()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("validate_operator_reconciles_total{")
    )


def post_version_created(port: int, model: str, version: str) -> tuple[int, str]:
    """What MLflow posts when a version is registered, signed with MLflow's own function."""
    import urllib.error
    import urllib.request
    import uuid

    from mlflow.webhooks.delivery import _generate_hmac_signature

    from validate.operator import registry_webhook as hook

    body = json.dumps(
        {
            "entity": "model_version",
            "action": "created",
            "timestamp": "2026-01-01T00:00:00+00:00",
            "data": {"name": model, "version": version, "source": "x", "tags": {}},
        }
    )
    delivery, stamp = str(uuid.uuid4()), str(int(time.time()))
    headers = {
        hook.DELIVERY_HEADER: delivery,
        hook.TIMESTAMP_HEADER: stamp,
        hook.SIGNATURE_HEADER: _generate_hmac_signature(SECRET, delivery, stamp, body),
    }
    url = f"http://127.0.0.1:{port}{hook.PATH}"
    request = urllib.request.Request(url, data=body.encode(), headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def review_directly(operator: Operator, model_uri: str) -> dict:
    """An AdmissionReview posted straight to one replica's webhook (not via the API server)."""
    import ssl
    import urllib.request

    review = {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "review-1",
            "kind": {"group": "apps", "version": "v1", "kind": "Deployment"},
            "resource": {"group": "apps", "version": "v1", "resource": "deployments"},
            "operation": "CREATE",
            "namespace": "serving",
            "name": "direct",
            "userInfo": {"username": "test"},
            "dryRun": True,
            "object": {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": "direct", "annotations": {MODEL_URI_ANNOTATION: model_uri}},
                "spec": {},
            },
        },
    }
    url = f"https://127.0.0.1:{operator.webhook_port}/validate-workloads"
    unverified = ssl.create_default_context()
    unverified.check_hostname, unverified.verify_mode = False, ssl.CERT_NONE  # serving, not TLS
    request = urllib.request.Request(
        url,
        data=json.dumps(review).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30, context=unverified) as response:
        return json.loads(response.read())["response"]


def test_two_peered_replicas_act_once_either_takes_webhooks_and_the_survivor_takes_over(
    mlflow_url, cluster, installed, operator_kubeconfig, tmp_path
):
    """Two operator processes on the shipped KopfPeering: the older reconciles, the younger
    stays paused (no reconciliation at all) yet serves admission and the registry webhook;
    a signed "version created" posted to the paused one makes the active one poll at once
    (the policy polls hourly otherwise) and create that version's ModelValidation, once; the
    active one killed, the survivor takes over and does the same for the next version."""
    custom, _ = installed
    from mlflow.tracking import MlflowClient

    established = kubectl(
        cluster, "wait", "--for=condition=Established", "crd/kopfpeerings.kopf.dev", "--timeout=60s"
    )
    assert established.returncode == 0, established.stderr
    peering_tree = str(REPO / "ci/operator/peering")
    dry = kubectl(cluster, "apply", "-k", peering_tree, "--dry-run=server")
    assert dry.returncode == 0, dry.stderr
    applied = kubectl(cluster, "apply", "-k", peering_tree)
    assert applied.returncode == 0, applied.stderr

    mlflow = MlflowClient(tracking_uri=mlflow_url, registry_uri=mlflow_url)
    model = "peered"
    mlflow.create_registered_model(model)
    run = mlflow.create_run(mlflow.create_experiment("peered"))

    def register() -> str:
        source = f"runs:/{run.info.run_id}/model"
        return mlflow.create_model_version(model, source, run_id=run.info.run_id).version

    register()

    def peers() -> set[str]:
        body = custom.get_namespaced_custom_object(
            "kopf.dev", "v1", NAMESPACE, "kopfpeerings", "validate-operator"
        )
        return set(body.get("status") or {})

    def replica(name: str, *extra: str) -> Operator:
        return Operator(
            operator_kubeconfig,
            mlflow_url,
            tmp_path / f"{name}.log",
            free_port(),
            free_port(),
            args=(
                "--peering=validate-operator",
                "--peering-lifetime=10",
                f"--registry-webhook-port={free_port()}",
                "--registry-webhook-address=127.0.0.1",
                *extra,
            ),
            env={"POD_ID": name, "VALIDATE_REGISTRY_WEBHOOK_SECRET": SECRET},
        )

    def hook_port(operator: Operator) -> int:
        (flag,) = [a for a in operator.args if a.startswith("--registry-webhook-port=")]
        return int(flag.split("=")[1])

    def wait_for(what, timeout_s: float, *operators: Operator):
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            found = what()
            if found:
                return found
            for operator in operators:
                assert operator.process is not None and operator.process.poll() is None, (
                    operator.log.read_text()[-3000:]
                )
            time.sleep(1)
        logs = "\n".join(o.log.read_text()[-2000:] for o in operators)
        raise AssertionError(f"timed out waiting for {what.__doc__ or what}\n{logs}")

    def validations() -> list[str]:
        items = custom.list_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL)["items"]
        return sorted(i["metadata"]["name"] for i in items)

    older = replica("replica-a").start()
    # The younger must not write the shared webhook configuration (the older points it at
    # itself by URL); in a cluster both add their CA to it behind the Service.
    younger = replica("replica-b", "--admission-config=")
    try:
        wait_for(lambda: "replica-a" in peers(), 60, older)
        younger.start()
        wait_for(lambda: {"replica-a", "replica-b"} <= peers(), 60, older, younger)
        custom.create_namespaced_custom_object(
            GROUP,
            VERSION,
            NAMESPACE,
            "modelvalidationpolicies",
            {
                "apiVersion": f"{GROUP}/{VERSION}",
                "kind": "ModelValidationPolicy",
                "metadata": {"name": model, "namespace": NAMESPACE},
                "spec": {
                    "model": model,
                    "pollSeconds": 3600,  # only a webhook can make it poll again in this test
                    "template": {
                        "config": {"configMapRef": {"name": "unused"}},
                        "runner": {"image": "ghcr.io/acme/validate:test"},
                        "suspend": True,  # no runner Job: this test is about who acts
                    },
                },
            },
        )
        watching = wait_status(
            custom, model, lambda s: "baselineVersion" in s, 60, older, "modelvalidationpolicies"
        )
        assert watching["status"]["baselineVersion"] == 1
        assert scrape_reconciles(older) > 0
        assert scrape_reconciles(younger) == 0, younger.log.read_text()[-3000:]

        # The paused replica answers admission (from MLflow: this version was never
        # validated) and takes the registry webhook, which only asks for a poll.
        verdict = review_directly(younger, f"models:/{model}/1")
        assert verdict["allowed"] is False and "NotValidated" in verdict["status"]["message"]
        second = register()
        status, said = post_version_created(hook_port(younger), model, second)
        assert status == 202 and f"poll requested for {model}" in said, said
        first_name = f"{model}-v{second}"
        suspended = wait_status(
            custom, first_name, lambda s: s.get("phase") == "Suspended", 60, older
        )
        assert suspended["metadata"]["labels"]["validate.dev/policy"] == watching["metadata"]["uid"]
        assert scrape_reconciles(younger) == 0, younger.log.read_text()[-3000:]

        # The active replica dies without a word; the survivor takes over once its
        # record expires, and answers the next version's webhook itself.
        older.kill()
        third = register()
        second_name = f"{model}-v{third}"
        status, said = post_version_created(hook_port(younger), model, third)
        assert status == 202, said
        wait_status(custom, second_name, lambda s: s.get("phase") == "Suspended", 90, younger)
        assert scrape_reconciles(younger) > 0
        # One ModelValidation per version, whoever created it.
        mine = [n for n in validations() if n.startswith(f"{model}-v")]
        assert mine == sorted([first_name, second_name])
    finally:
        # While a replica lives to run the finalizers of what the policy owns.
        with contextlib.suppress(client.exceptions.ApiException):
            custom.delete_namespaced_custom_object(
                GROUP, VERSION, NAMESPACE, "modelvalidationpolicies", model
            )
        for operator in (older, younger):
            operator.stop()
