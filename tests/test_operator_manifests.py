"""The operator's install tree (ci/operator, rendered as kustomize would) and every runner
Job it builds are valid against the Kubernetes 1.30 and 1.37 schemas (strict), hardened,
least-privilege, and keep the spec from choosing where verdicts are read."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from validate.errors import ConfigError
from validate.executors.k8s_manifests import JobRequest, build_job
from validate.kubernetes_settings import KubernetesSection
from validate.operator import conditions as cond
from validate.operator.resource import (
    OWNER_LABEL,
    RUN_UID_TAG,
    ModelValidationSpec,
    check_runner_config,
    parse_spec,
    runner_config,
    runner_job,
    runner_job_name,
)

kubernetes_validate = pytest.importorskip("kubernetes_validate")

REPO = Path(__file__).resolve().parent.parent
VERSIONS = ("1.30.0", "1.37.0")
UID = "0f1e2d3c-4b5a-6978-8695-a4b3c2d1e0f9"
CONFIG = yaml.safe_load((REPO / "sample_models/credit/good.yaml").read_text())


def render(folder: Path) -> list[dict]:
    """What ``kubectl kustomize`` renders for a tree of plain resources and bases."""
    kustomization = yaml.safe_load((folder / "kustomization.yaml").read_text())
    documents: list[dict] = []
    for entry in kustomization["resources"]:
        path = (folder / entry).resolve()
        if path.is_dir():
            documents.extend(render(path))
        else:
            documents.extend(d for d in yaml.safe_load_all(path.read_text()) if d)
    return documents


RENDERED = render(REPO / "ci" / "operator")


def model_validation(**spec) -> dict:
    body = {
        "model": {"name": "credit", "version": "7"},
        "config": {"inline": CONFIG},
        "promotion": {"policy": "auto"},
        "runner": {"image": "ghcr.io/acme/validate:1.0"},
        **spec,
    }
    return {
        "apiVersion": "validate.dev/v1alpha1",
        "kind": "ModelValidation",
        "metadata": {
            "name": "credit-v7",
            "namespace": "ml-validation",
            "uid": UID,
            "generation": 3,
        },
        "spec": body,
    }


def built(mv: dict, tracking_uri: str = "http://mlflow.mlflow.svc:5000") -> tuple[dict, dict]:
    spec = parse_spec(mv["spec"])
    config = runner_config(
        mv, spec, mv["spec"]["config"]["inline"], version="7", tracking_uri=tracking_uri
    )
    kubernetes = check_runner_config(config)
    return config, runner_job(mv, spec, config, version="7", kubernetes=kubernetes)


@pytest.mark.parametrize("version", VERSIONS)
def test_every_rendered_manifest_is_valid_and_strict(version):
    kinds = sorted(d["kind"] for d in RENDERED)
    assert kinds == sorted(
        [
            "Namespace",
            "ServiceAccount",
            "Role",
            "RoleBinding",  # ci/k8s: the runner's
            "CustomResourceDefinition",
            "CustomResourceDefinition",
            "CustomResourceDefinition",  # kopf's KopfPeering
            "ServiceAccount",
            "Role",
            "RoleBinding",
            "Deployment",
            "Service",
            "ClusterRole",
            "ClusterRoleBinding",
            "ValidatingWebhookConfiguration",
        ]
    )
    for document in RENDERED:
        kubernetes_validate.validate(document, version, strict=True)


@pytest.mark.parametrize("version", VERSIONS)
def test_runner_jobs_and_owned_check_jobs_are_valid_and_strict(version):
    _, job = built(model_validation())
    kubernetes_validate.validate(job, version, strict=True)
    config, job = built(
        model_validation(
            runner={
                "image": "ghcr.io/acme/validate:1.0",
                "resources": {"requests": {"cpu": "1"}, "limits": {"memory": "2Gi"}},
                "checkResources": {"requests": {"cpu": "250m"}},
            },
            ttlSecondsAfterFinished=60,
        )
    )
    kubernetes_validate.validate(job, version, strict=True)
    settings = KubernetesSection.model_validate(config["kubernetes"])
    check = build_job(
        settings,
        JobRequest(
            check="bias", run_id="r" * 32, inputs_uri="runs:/x/m.json", tracking_uri="http://mlflow"
        ),
    )
    kubernetes_validate.validate(check, version, strict=True)
    assert check["metadata"]["labels"][OWNER_LABEL] == UID
    assert check["metadata"]["ownerReferences"][0]["uid"] == UID
    assert check["spec"]["template"]["spec"]["containers"][0]["resources"] == {
        "requests": {"cpu": "250m"}
    }


def test_the_runner_job_is_hardened_owned_and_never_retried():
    _, job = built(model_validation())
    spec = job["spec"]
    pod = spec["template"]["spec"]
    (container,) = pod["containers"]
    assert spec["backoffLimit"] == 0  # a retry would be a second validation
    assert job["metadata"]["ownerReferences"] == [
        {
            "apiVersion": "validate.dev/v1alpha1",
            "kind": "ModelValidation",
            "name": "credit-v7",
            "uid": UID,
            "controller": True,
        }
    ]
    assert job["metadata"]["name"] == runner_job_name("credit-v7", UID, 3)
    assert len(job["metadata"]["name"]) <= 63
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert pod["serviceAccountName"] == "validate-runner"
    assert job["metadata"]["labels"][OWNER_LABEL] == UID


def test_the_spec_cannot_choose_the_tracking_server_or_the_candidate():
    mv = model_validation()
    hostile = dict(CONFIG)
    hostile["mlflow"] = {
        "tracking_uri": "http://evil.example.com",
        "experiment": "x",
        "tags": {RUN_UID_TAG: "someone-else"},
    }
    hostile["model"] = {**CONFIG["model"], "candidate": "models:/other/1"}
    hostile["kubernetes"] = {
        "image": "x",
        "namespace": "kube-system",
        "kubeconfig": "/etc/admin.conf",
    }
    mv["spec"]["config"]["inline"] = hostile
    config, job = built(mv, tracking_uri="https://user:s3cret@mlflow.internal")
    assert config["mlflow"]["tracking_uri"] == "https://mlflow.internal"
    assert config["mlflow"]["tags"][RUN_UID_TAG] == UID
    assert config["model"]["candidate"] == "models:/credit/7"
    assert config["kubernetes"]["namespace"] == "ml-validation"
    assert "kubeconfig" not in config["kubernetes"]
    assert config["promote"] == {"model": "credit", "alias": "champion", "enabled": True}
    assert "s3cret" not in json.dumps(job) and "evil" not in json.dumps(job)
    manual = model_validation(promotion={"policy": "manual", "alias": "prod"})
    config, _ = built(manual)
    assert config["promote"]["enabled"] is False and config["promote"]["alias"] == "prod"


def test_bad_specs_and_configs_are_one_line():
    with pytest.raises(ConfigError, match="exactly one of spec.model.version and spec.model"):
        parse_spec(model_validation(model={"name": "credit"})["spec"])
    with pytest.raises(ConfigError, match=r"^spec\.runner"):
        parse_spec({**model_validation()["spec"], "runner": {}})
    # The runner's service account is the operator's choice, not the spec's.
    with pytest.raises(ConfigError, match=r"^spec\.runner\.serviceAccountName: Extra inputs"):
        parse_spec(model_validation(runner={"image": "i", "serviceAccountName": "admin"})["spec"])
    mv = model_validation()
    mv["spec"]["config"]["inline"] = {**CONFIG, "checks": {}}
    with pytest.raises(ConfigError, match="checks is empty"):
        built(mv)
    mv["spec"]["config"]["inline"] = {**CONFIG, "mlflow": {"tags": {"validate.live": "true"}}}
    with pytest.raises(ConfigError, match="reserved"):
        built(mv)


def test_the_crd_schema_and_the_spec_model_agree():
    (crd,) = [d for d in RENDERED if d["metadata"]["name"] == "modelvalidations.validate.dev"]
    (version,) = crd["spec"]["versions"]
    schema = version["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
    fields = {f.alias or name for name, f in ModelValidationSpec.model_fields.items()}
    assert set(schema) == fields
    assert version["subresources"] == {"status": {}}
    columns = {c["name"] for c in version["additionalPrinterColumns"]}
    assert {"Phase", "Decision", "Promoted"} <= columns


def test_the_operator_role_is_least_privilege():
    (role,) = [
        d for d in RENDERED if d["kind"] == "Role" and d["metadata"]["name"] == "validate-operator"
    ]
    rules = {
        (tuple(r["apiGroups"]), tuple(r["resources"])): set(r["verbs"])
        for r in role["rules"]
        if not r.get("resourceNames")
    }
    assert rules == {
        (("validate.dev",), ("modelvalidations",)): {"get", "list", "watch", "patch", "create"},
        (("validate.dev",), ("modelvalidations/status",)): {"get", "patch"},
        (("validate.dev",), ("modelvalidationpolicies",)): {"get", "list", "watch", "patch"},
        (("validate.dev",), ("modelvalidationpolicies/status",)): {"get", "patch"},
        (("batch",), ("jobs",)): {"create", "get", "list", "delete"},
        (("",), ("pods",)): {"list"},
        (("",), ("configmaps",)): {"get"},
        (("",), ("events",)): {"create"},
        (("kopf.dev",), ("kopfpeerings",)): {"list", "watch"},
    }
    # Keep-alives go into the one peering object the replicas share, nothing else.
    (patching,) = [r for r in role["rules"] if r.get("resourceNames")]
    assert patching == {
        "apiGroups": ["kopf.dev"],
        "resources": ["kopfpeerings"],
        "resourceNames": ["validate-operator"],
        "verbs": ["patch"],
    }
    # Cluster-wide: only its own webhook configuration's CA bundle, nothing to list or create.
    (cluster_role,) = [d for d in RENDERED if d["kind"] == "ClusterRole"]
    assert cluster_role["rules"] == [
        {
            "apiGroups": ["admissionregistration.k8s.io"],
            "resources": ["validatingwebhookconfigurations"],
            "resourceNames": ["validate-admission"],
            "verbs": ["get", "patch"],
        }
    ]


def test_admission_fails_closed_for_opted_in_namespaces_only():
    (webhook,) = [d for d in RENDERED if d["kind"] == "ValidatingWebhookConfiguration"]
    assert webhook["metadata"]["name"] == "validate-admission"
    (hook,) = webhook["webhooks"]
    assert hook["failurePolicy"] == "Fail"
    assert hook["namespaceSelector"] == {"matchLabels": {"validate.dev/admission": "enforce"}}
    served = {(r["apiGroups"][0], res) for r in hook["rules"] for res in r["resources"]}
    assert served == {
        ("apps", "deployments"),
        ("apps", "statefulsets"),
        ("batch", "jobs"),
        ("serving.kserve.io", "inferenceservices"),
    }
    assert hook["clientConfig"]["service"]["path"] == "/validate-workloads"
    (namespace,) = [d for d in RENDERED if d["kind"] == "Namespace"]
    assert "validate.dev/admission" not in (namespace["metadata"].get("labels") or {})
    (deployment,) = [d for d in RENDERED if d["kind"] == "Deployment"]
    command = deployment["spec"]["template"]["spec"]["containers"][0]["command"]
    assert "--admission-port=9443" in command and "--admission-config=validate-admission" in command


def test_conditions_move_their_transition_time_only_on_change():
    first = cond.set_condition([], cond.PASSED, None, "Running", "a", 1)
    first[0]["lastTransitionTime"] = "2020-01-01T00:00:00Z"
    same = cond.set_condition(first, cond.PASSED, None, "StillRunning", "b", 2)
    assert same[0]["lastTransitionTime"] == "2020-01-01T00:00:00Z"
    assert same[0]["observedGeneration"] == 2 and same[0]["reason"] == "StillRunning"
    changed = cond.set_condition(same, cond.PASSED, True, "ChecksPassed", "c", 2)
    assert changed[0]["lastTransitionTime"] != "2020-01-01T00:00:00Z"
    both = cond.set_condition(changed, cond.ACCEPTED, True, "Valid", "d", 2)
    assert [c["type"] for c in both] == [cond.ACCEPTED, cond.PASSED]


def test_the_operator_command_refuses_a_bad_tracking_uri_in_one_line():
    from click.testing import CliRunner

    from validate.cli import cli

    done = CliRunner().invoke(
        cli, ["operator", "--namespace", "ml", "--tracking-uri", "nope://x"], env={}
    )
    assert done.exit_code == 2
    assert "--tracking-uri: scheme 'nope' is not one MLflow can track to" in done.output
    assert "Traceback" not in done.output


def test_policy_names_are_one_per_version_and_valid():
    from validate.operator.policy import validation_name

    assert validation_name("credit", 7) == "credit-v7"
    long = validation_name("x" * 80, 12345)
    assert len(long) <= 63 and long.endswith("-v12345")
    assert validation_name("credit", 7) != validation_name("credit", 8)


def test_the_replicas_are_peered_through_the_shipped_peering_object():
    """Two replicas, one acting: the Deployment runs kopf peering (never standalone) on the
    KopfPeering the install ships, whose CRD is the namespaced kopf.dev/v1 kopf looks for."""
    references = pytest.importorskip("kopf._cogs.structs.references")
    kopfs = references.NAMESPACED_PEERINGS_K  # what kopf looks for

    (peering,) = render(REPO / "ci" / "operator" / "peering")
    (deployment,) = [d for d in RENDERED if d["kind"] == "Deployment"]
    (role,) = [
        d for d in RENDERED if d["kind"] == "Role" and d["metadata"]["name"] == "validate-operator"
    ]
    assert deployment["spec"]["replicas"] == 2
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert "--peering=validate-operator" in container["command"]
    assert not any("standalone" in argument for argument in container["command"])
    pod_id = next(e for e in container["env"] if e["name"] == "POD_ID")
    assert pod_id["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    assert (peering["apiVersion"], peering["kind"]) == ("kopf.dev/v1", "KopfPeering")
    assert peering["metadata"] == {
        **peering["metadata"],
        "name": "validate-operator",
        "namespace": deployment["metadata"]["namespace"],
    }
    (patching,) = [r for r in role["rules"] if r.get("resourceNames")]
    assert patching["resourceNames"] == [peering["metadata"]["name"]]
    (crd,) = [d for d in RENDERED if d["metadata"]["name"] == "kopfpeerings.kopf.dev"]
    (version,) = crd["spec"]["versions"]
    assert crd["spec"]["scope"] == "Namespaced"
    found = (crd["spec"]["group"], version["name"], crd["spec"]["names"]["plural"])
    assert (
        found == ("kopf.dev", "v1", "kopfpeerings") == (kopfs.group, kopfs.version, kopfs.any_name)
    )


def test_the_priority_makes_the_oldest_replica_act_and_no_two_equal():
    """kopf pauses every replica that shares a priority, and the highest acts: distinct
    priorities, higher for an earlier start."""
    pytest.importorskip("kopf")
    from validate.operator.handlers import start_priority

    earlier, later = start_priority(1_000_000_000_000), start_priority(1_000_001_000_000)
    assert earlier > later
    same_start = {start_priority(5_000_000_000) for _ in range(50)}
    assert len(same_start) > 1  # the random tie-break
