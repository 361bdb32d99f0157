"""``validate promote RUN_ID``: the promotion gate of a deployment pipeline.

It trusts no single tag. From MLflow it re-derives that the run is promotable:

* a finished validation run, recorded live by the ``validate run`` that decided it
  (``validate sync`` writes are never promotable: validate again);
* complete: the checks it ran are the checks configured, each recorded once as a nested
  run, and the decision recomputed from those nested runs' statuses is a pass, agreeing
  with the sealed decision record;
* the candidate's content digest was recorded, and the bytes promoted still have it;
* with ``--require-signature`` (or ``promote.require_signature: true``), the decision
  record's Ed25519 signature verifies.

Then ``--config`` (compared by hash) and ``--model-uri`` (compared by digest) narrow it
further; the alias move is the same compare-and-set as ``validate run --promote``.
``--dry-run`` checks all of that and says what it would do, changing nothing.
"""

from __future__ import annotations

import json
from typing import Any

from validate import evidence
from validate.errors import ConfigError, PromotionError, ValidateError
from validate.gate import decide
from validate.promotion import PromotionTarget, promote, ref_from_json, require_alias_unmoved
from validate.results import CheckResult, Status
from validate.tracking import redact_uri, tracking_uri_for, use_tracking_uri


def promote_recorded_run(
    run_id: str,
    tracking_uri: str | None = None,
    *,
    config_path: str | None = None,
    model_uri: str | None = None,
    dry_run: bool = False,
    require_signature: bool = False,
) -> dict[str, Any]:
    """Check the recorded run, then promote its candidate (or, with ``dry_run``, say how)."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    uri = tracking_uri_for(tracking_uri)
    use_tracking_uri(uri)
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    try:
        run = client.get_run(run_id)
    except MlflowException as exc:
        raise ValidateError(
            f"run {run_id}: not found in MLflow at {redact_uri(uri)}; check the run id and "
            "--tracking-uri"
        ) from exc
    tags = run.data.tags
    if tags.get("validate.kind") != "validation":
        raise ValidateError(f"run {run_id}: not a validation run recorded by validate")
    loaded = _load_config(config_path)
    require_signature = require_signature or _config_requires_signature(loaded)
    record = require_promotable(client, run, require_signature=require_signature)
    # Everything below comes from the (possibly signed) decision record, not from tags.
    if loaded is not None and record.get("config_hash") != loaded.digest:
        raise PromotionError(
            f"run {run_id} validated a different config than {config_path} (hash "
            f"{str(record.get('config_hash'))[:12]} vs {loaded.digest[:12]}); re-run the "
            "validation"
        )
    if not record.get("promotion_target"):
        raise ConfigError(
            f"run {run_id} recorded no promotion target; add promote: (model, alias) to the config"
        )
    if record.get("candidate") is None:
        raise PromotionError(
            f"refusing to promote run {run_id}: it validated no model (its checks needed none); "
            "validate the candidate model with the checks that promotion requires"
        )
    try:
        candidate = ref_from_json(json.dumps(record["candidate"]))
        target = PromotionTarget.from_dict(record["promotion_target"])
    except (KeyError, TypeError, ValueError) as exc:
        raise PromotionError(
            f"refusing to promote run {run_id}: its decision record is unreadable"
        ) from exc
    digest = record["candidate_digest"]
    if candidate.kind == "column" and candidate.registry is None and not candidate.location:
        raise PromotionError(
            f"refusing to promote run {run_id}: it validated precomputed scores "
            f"(data.prediction '{candidate.column}'), not a model; validate with "
            "model.candidate set to the model that made them"
        )
    if model_uri is not None:
        _require_same_model(run_id, candidate, model_uri, digest, uri)
    target.require_alias_read(f"run {run_id}")
    if dry_run:
        current = require_alias_unmoved(client, target, lead="dry run: would refuse")
        source = candidate.registry.uri if candidate.registry else candidate.uri
        return {
            "model": target.model,
            "alias": target.alias,
            "version": None,
            "promoted": False,
            "message": f"dry run: would move alias '{target.alias}' of '{target.model}' "
            f"from {current or '(none)'} to {source}",
        }
    outcome = promote(
        client,
        candidate=candidate,
        target=target,
        run_id=run_id,
        digest=digest,
        tracking_uri=uri,
    ).to_dict()
    client.set_tag(run_id, "validate.promotion", json.dumps(outcome))
    return outcome


def require_promotable(client: Any, run: Any, *, require_signature: bool) -> dict[str, Any]:
    """The run's decision record, once every promotability condition holds; else
    PromotionError naming the first that does not."""
    run_id, tags = run.info.run_id, run.data.tags
    lead = f"refusing to promote run {run_id}"
    if "validate.synced_from" in tags or tags.get("validate.recorded_by") == "sync":
        raise PromotionError(
            f"{lead}: it was recorded by `validate sync` after an outage, not live by the run "
            "that decided it; validate the candidate again"
        )
    recorded = tags.get("validate.decision")
    if recorded != "pass" or run.info.status != "FINISHED":
        raise PromotionError(
            f"{lead}: recorded decision '{recorded or 'unfinished'}'; only a passing "
            f"validation can be promoted (run status {run.info.status})"
        )
    text = tags.get("validate.decision_record")
    if tags.get("validate.live") != "true" or not text:
        raise PromotionError(
            f"{lead}: it carries no decision record sealed live by validate run; validate the "
            "candidate again"
        )
    if require_signature:
        evidence.verify(text, tags.get("validate.signature"), f"run {run_id}")
    try:
        record = json.loads(text)
        configured = set(record["checks_configured"])
        sealed = record["checks"]
    except (ValueError, KeyError, TypeError) as exc:
        raise PromotionError(f"{lead}: its decision record is unreadable") from exc
    nested = nested_check_results(client, run)
    ran = set(nested)
    if ran != configured or set(sealed) != configured:
        missing = sorted(configured - ran) or sorted(set(sealed) ^ configured)
        raise PromotionError(
            f"{lead}: it is partial: configured checks {', '.join(sorted(configured))} but "
            f"recorded {', '.join(sorted(ran)) or 'none'} (missing: {', '.join(missing)}); run "
            "every configured check to promote"
        )
    for name, result in nested.items():
        entry = sealed.get(name) or {}
        if entry.get("status") != result.status.value or entry.get("blocking") != result.blocking:
            raise PromotionError(
                f"{lead}: check {name} is recorded as {result.status.value} but sealed as "
                f"{entry.get('status')}; the records disagree, validate again"
            )
    if record.get("run_id") != run_id or record.get("decision") != "pass":
        raise PromotionError(
            f"{lead}: its decision record says '{record.get('decision')}' for run "
            f"{record.get('run_id')}"
        )
    decision = decide(list(nested.values()))
    if not decision.passed:
        raise PromotionError(
            f"{lead}: its recorded checks do not pass ({'; '.join(decision.reasons)[:200]})"
        )
    if tags.get("validate.candidate_digest") != record.get("candidate_digest"):
        raise PromotionError(f"{lead}: the candidate digest tags disagree; validate again")
    return record


def nested_check_results(client: Any, run: Any) -> dict[str, CheckResult]:
    """Each check's status and blocking flag as its own nested run recorded them."""
    found = client.search_runs(
        [run.info.experiment_id],
        f"tags.mlflow.parentRunId = '{run.info.run_id}' and tags.`validate.kind` = 'check'",
        max_results=1000,
    )
    results: dict[str, CheckResult] = {}
    for child in found:
        child_tags = child.data.tags
        name = child_tags.get("validate.check", "")
        if name in results:
            raise PromotionError(
                f"refusing to promote run {run.info.run_id}: check {name} is recorded twice"
            )
        try:
            status = Status(child_tags.get("validate.status", ""))
        except ValueError:
            status = Status.ERROR
        results[name] = CheckResult(
            name=name,
            status=status,
            message=child_tags.get("validate.message", ""),
            blocking=child_tags.get("validate.blocking", "true") != "false",
        )
    return results


def _load_config(config_path: str | None) -> Any:
    if config_path is None:
        return None
    from validate.config import load_config

    return load_config(config_path)


def _config_requires_signature(loaded: Any) -> bool:
    section = loaded.config.promote if loaded is not None else None
    return bool(section and section.require_signature)


def _require_same_model(
    run_id: str, candidate: Any, model_uri: str, digest: str, tracking_uri: str
) -> None:
    """``--model-uri`` must name the validated bytes (compared by digest, not by path)."""
    from validate.digest import candidate_digest
    from validate.models.adapter import resolve_model

    wanted = resolve_model(model_uri, role="candidate", task=candidate.task)
    found = candidate_digest(wanted, tracking_uri)
    if found != digest:
        validated = candidate.registry.uri if candidate.registry else candidate.location
        raise PromotionError(
            f"run {run_id} validated {validated} (digest {digest[7:19]}), but {model_uri} has "
            f"digest {(found or 'none')[7:19]}; validate that model before promoting it"
        )
