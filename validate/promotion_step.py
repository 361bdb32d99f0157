"""``validate promote RUN_ID``: the promotion gate of a deployment pipeline.

It promotes only what a recorded validation passed: the run must have passed, must
have validated exactly the model version being deployed (``--model-uri``), with the
same config (``--config``, compared by hash); the alias move itself is the same
compare-and-set as ``validate run --promote``. ``--dry-run`` checks all of that and
says what it would do, changing nothing.
"""

from __future__ import annotations

import json
from typing import Any

from validate.errors import ConfigError, PromotionError, ValidateError
from validate.promotion import PromotionTarget, promote, ref_from_json, require_alias_unmoved
from validate.tracking import redact_uri, tracking_uri_for, use_tracking_uri


def promote_recorded_run(
    run_id: str,
    tracking_uri: str | None = None,
    *,
    config_path: str | None = None,
    model_uri: str | None = None,
    dry_run: bool = False,
) -> dict[str, Any]:
    """Check the recorded run, then promote its candidate (or, with ``dry_run``, say how)."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    uri = tracking_uri_for(tracking_uri)
    use_tracking_uri(uri)
    client = MlflowClient()
    try:
        tags = client.get_run(run_id).data.tags
    except MlflowException as exc:
        raise ValidateError(
            f"run {run_id}: not found in MLflow at {redact_uri(uri)}; check the run id and "
            "--tracking-uri"
        ) from exc
    if tags.get("validate.kind") != "validation":
        raise ValidateError(f"run {run_id}: not a validation run recorded by validate")
    recorded = tags.get("validate.decision")
    if recorded != "pass":
        raise PromotionError(
            f"run {run_id} recorded decision '{recorded or 'unfinished'}'; only a passing "
            "validation can be promoted"
        )
    if "validate.promotion_target" not in tags:
        raise ConfigError(
            f"run {run_id} recorded no promotion target; add promote: (model, alias) to the config"
        )
    if config_path is not None:
        _require_same_config(run_id, tags, config_path)
    candidate = ref_from_json(tags["validate.candidate_ref"])
    if model_uri is not None:
        _require_same_model(run_id, candidate, model_uri)
    target = PromotionTarget.from_dict(json.loads(tags["validate.promotion_target"]))
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
    outcome = promote(client, candidate=candidate, target=target, run_id=run_id).to_dict()
    client.set_tag(run_id, "validate.promotion", json.dumps(outcome))
    return outcome


def _require_same_config(run_id: str, tags: dict[str, str], config_path: str) -> None:
    from validate.config import load_config

    digest = load_config(config_path).digest
    if tags.get("validate.config_hash") != digest:
        raise PromotionError(
            f"run {run_id} validated a different config than {config_path} (hash "
            f"{tags.get('validate.config_hash', '?')[:12]} vs {digest[:12]}); re-run the validation"
        )


def _require_same_model(run_id: str, candidate: Any, model_uri: str) -> None:
    from validate.models.adapter import resolve_model

    wanted = resolve_model(model_uri, role="candidate", task=candidate.task)
    validated = candidate.registry.uri if candidate.registry else candidate.location
    asked = wanted.registry.uri if wanted.registry else wanted.location
    if validated != asked:
        raise PromotionError(
            f"run {run_id} validated {validated}, not {asked}; validate that model before "
            "promoting it"
        )
