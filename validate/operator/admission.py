"""Admission: may a workload that declares the model it serves be created?

A workload (Deployment, StatefulSet, Job, KServe InferenceService) declares its model with
the annotation ``validate.dev/model-uri: models:/NAME/VERSION``, on the object or on its pod
template. It is admitted only when that exact registry version has a validation that
``validate promote`` would accept as it stands in MLflow now (``require_promotable``:
complete, recorded live, sealed, every blocking check passed; signed, when the operator
holds ``VALIDATE_VERIFY_KEY``), whose sealed record names that very version, and whose
digest the version's files still have. Everything else is denied with a reason and the run
to look at; so is every doubt (MLflow unreachable, an unreadable record, an alias instead of
a version).

Pure apart from the MLflow client it is handed: no kopf, no kubernetes client, so the
verdicts are tested without a cluster.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from validate.errors import PromotionError, ValidateError

MODEL_URI_ANNOTATION = "validate.dev/model-uri"
# Every reason a verdict can carry (a bounded label set for the operator's metrics).
ADMITTED = "Validated"
UNDECLARED = "NoModelDeclared"
UNCHANGED = "ModelUnchanged"
BAD_URI = "BadModelUri"
NOT_VALIDATED = "NotValidated"
FAILED = "ValidationFailed"
NOT_PROMOTABLE = "NotPromotable"
MLFLOW_DOWN = "MlflowUnavailable"
REASONS = (ADMITTED, UNDECLARED, UNCHANGED, BAD_URI, NOT_VALIDATED, FAILED, NOT_PROMOTABLE,
           MLFLOW_DOWN)  # fmt: skip
# The most model bytes admission downloads to digest: half the operator's /tmp (an emptyDir
# of 1 GiB, ci/operator/deployment.yaml), so a declared huge version is denied, not a cause
# for evicting the operator; one digest at a time for the same reason.
MAX_MODEL_BYTES = 512 * 1024 * 1024
_DIGESTING = threading.Lock()
# Names with quotes, wildcards or slashes cannot be searched for safely; they are refused.
_VERSION_URI = re.compile(r"models:/(?P<name>[^/'\"%\\]+)/(?P<version>[0-9]+)")


@dataclass(frozen=True)
class Verdict:
    """Allowed or not, a reason from :data:`REASONS`, and the sentence a user reads."""

    allowed: bool
    reason: str
    message: str


def declared_models(body: Mapping[str, Any]) -> set[str]:
    """The model URIs a workload declares: its own annotation and its pod template's."""
    found = set()
    metadata = body.get("metadata") or {}
    template = ((body.get("spec") or {}).get("template") or {}).get("metadata") or {}
    for held in (metadata.get("annotations"), template.get("annotations")):
        value = (held or {}).get(MODEL_URI_ANNOTATION)
        if value is not None:
            found.add(str(value).strip())
    return found


def review(new: Mapping[str, Any], old: Mapping[str, Any] | None, client: Any) -> Verdict:
    """The verdict on creating ``new`` (or updating ``old`` to ``new``).

    An update that declares no model it did not declare before is admitted without asking
    MLflow: controllers rewrite their objects' annotations and status all the time, and the
    model those objects serve was judged when it was first declared.
    """
    declared = declared_models(new)
    if not declared:
        return Verdict(True, UNDECLARED, "no model declared")
    added = sorted(declared - (declared_models(old) if old is not None else set()))
    if not added:
        return Verdict(True, UNCHANGED, "the declared model did not change")
    verdicts = [model_verdict(uri, client) for uri in added]
    refused = [v for v in verdicts if not v.allowed]
    return refused[0] if refused else verdicts[0]


def model_verdict(uri: str, client: Any) -> Verdict:
    """The verdict on serving ``uri`` (``models:/NAME/VERSION``), from MLflow as it is now."""
    matched = _VERSION_URI.fullmatch(uri)  # not match: its $ passes a trailing newline
    if matched is None:
        return Verdict(
            False,
            BAD_URI,
            f"{MODEL_URI_ANNOTATION} '{uri[:200]}' is not models:/NAME/VERSION; declare the "
            "exact registry version the workload serves (an alias can move after admission)",
        )
    name, version = matched["name"], matched["version"]
    try:
        runs = _validation_runs(client, name, version)
        return _judge(client, uri, name, version, runs)
    except ValidateError as exc:  # a verify key that cannot be read, say
        return Verdict(False, NOT_PROMOTABLE, f"cannot establish that {uri} was validated: {exc}")
    except Exception as exc:  # noqa: BLE001 - any doubt about MLflow is a denial
        return Verdict(
            False,
            MLFLOW_DOWN,
            f"cannot establish that {uri} was validated: MLflow: {type(exc).__name__}: "
            f"{' '.join(str(exc).split())[:200]}; try again when MLflow answers",
        )


def _judge(client: Any, uri: str, name: str, version: str, runs: Iterable[Any]) -> Verdict:
    from validate.evidence import verify_key
    from validate.promotion_step import require_promotable

    # With a verify key the operator's (VALIDATE_VERIFY_KEY), only a signed record counts:
    # MLflow write access alone must not forge an admission.
    signed = verify_key() is not None
    refusals: list[Verdict] = []
    for run in runs:
        run_id = run.info.run_id
        if run.data.tags.get("validate.decision") == "fail":
            refusals.append(
                Verdict(
                    False,
                    FAILED,
                    f"{uri} failed its validation: MLflow run {run_id} decided 'fail'; look "
                    "at that run's failing checks",
                )
            )
            continue
        try:
            record = require_promotable(client, run, require_signature=signed)
        except PromotionError as exc:
            refusals.append(Verdict(False, NOT_PROMOTABLE, f"{uri}: {exc} (MLflow run {run_id})"))
            continue
        if not _names_version(record.get("candidate"), name, version):
            # The candidate_ref tag found the run; the sealed record says what it validated.
            refusals.append(
                Verdict(
                    False,
                    NOT_PROMOTABLE,
                    f"{uri}: MLflow run {run_id} is tagged as its validation but its decision "
                    "record names another candidate; validate this version",
                )
            )
            continue
        try:
            _require_validated_bytes(client, name, version, record.get("candidate_digest"))
        except ValidateError as exc:
            refusals.append(Verdict(False, NOT_PROMOTABLE, f"{uri}: {exc} (MLflow run {run_id})"))
            continue
        return Verdict(True, ADMITTED, f"{uri} passed its validation (MLflow run {run_id})")
    if refusals:
        # A failure speaks louder than an incomplete record: show it first.
        return sorted(refusals, key=lambda v: v.reason != FAILED)[0]
    return Verdict(
        False,
        NOT_VALIDATED,
        f"{uri} has no recorded validation; validate it first (a ModelValidation, or "
        f"`validate run` with candidate {uri})",
    )


def _require_validated_bytes(client: Any, name: str, version: str, digest: Any) -> None:
    """The version's files as stored now must have the digest that was validated (as
    ``validate promote`` checks before it moves an alias): files swapped after the
    validation are refused."""
    from validate.digest import materialised, tree_digest

    source = f"models:/{name}/{version}"
    if not isinstance(digest, str) or not digest:
        raise PromotionError(f"{source}: the validation recorded no content digest")
    size = _stored_size(source, client.tracking_uri, MAX_MODEL_BYTES)
    if size > MAX_MODEL_BYTES:
        raise PromotionError(
            f"{source} is larger than the operator digests at admission ({MAX_MODEL_BYTES} "
            "bytes); serve it where admission is not enforced, or raise the limit with the "
            "operator's /tmp"
        )
    with _DIGESTING, materialised(source, client.tracking_uri) as local:
        found = tree_digest(local) if local.exists() else "(gone)"
    if found != digest:
        raise PromotionError(
            f"{source} changed since it was validated (digest {found[7:19]} now, "
            f"{digest[7:19]} validated); validate the version as it is, or register the "
            "validated files again"
        )


def _stored_size(source: str, tracking_uri: str, limit: int) -> int:
    """The bytes stored under ``source`` as MLflow lists them, counted up to just past
    ``limit`` (no download)."""
    import mlflow.artifacts

    total, folders = 0, [""]
    while folders and total <= limit:
        path = folders.pop()
        uri = f"{source}/{path}" if path else source
        for info in mlflow.artifacts.list_artifacts(artifact_uri=uri, tracking_uri=tracking_uri):
            relative = info.path.rsplit("/", 1)[-1]
            if info.is_dir:
                folders.append(f"{path}/{relative}" if path else relative)
            else:
                total += int(info.file_size or 0)
    return total


def _validation_runs(client: Any, name: str, version: str) -> list[Any]:
    """The validation runs whose candidate was this registry version: the one the version's
    promotion tag names, and any run recorded for it; each is re-checked by the caller, so
    a tag anyone with MLflow write access could set decides nothing by itself."""
    runs: dict[str, Any] = {}
    tags = client.get_model_version(name, version).tags or {}
    promoted_by = tags.get("validate.validation_run_id")
    if promoted_by:
        runs[promoted_by] = client.get_run(promoted_by)
    registry = json.dumps({"registry": {"name": name, "version": version}})[1:-1]
    experiments = [e.experiment_id for e in client.search_experiments()]
    if experiments:
        for run in client.search_runs(
            experiments,
            f"tags.`validate.kind` = 'validation' and tags.`validate.candidate_ref` LIKE "
            f"'%{registry}%'",
            max_results=50,
        ):
            runs.setdefault(run.info.run_id, run)
    # A deleted run is revoked evidence (search_runs skips it; get_run does not).
    return [
        run
        for run in runs.values()
        if run.info.lifecycle_stage == "active" and _validated(run, name, version)
    ]


def _validated(run: Any, name: str, version: str) -> bool:
    """Whether ``run`` recorded this registry version as its candidate (the LIKE above only
    narrows the search: ``_`` is a wildcard there)."""
    try:
        candidate = json.loads(run.data.tags.get("validate.candidate_ref", "{}"))
    except ValueError:
        return False
    return _names_version(candidate, name, version)


def _names_version(candidate: Any, name: str, version: str) -> bool:
    """Whether a serialised candidate (``ref_to_json``'s mapping) is this registry version."""
    try:
        registry = candidate["registry"]
        return (registry["name"], str(registry["version"])) == (name, version)
    except (KeyError, TypeError):
        return False
