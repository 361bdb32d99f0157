"""The decision record: what a validation decided, bound to the exact candidate bytes, and
(optionally) signed with Ed25519 so that MLflow write access alone cannot forge a pass.

Keys are PEM files named by environment variables:

* ``VALIDATE_SIGNING_KEY``: the Ed25519 private key ``validate run`` signs with;
* ``VALIDATE_VERIFY_KEY``: the public key ``validate promote --require-signature`` (and
  ``promote.require_signature: true``) verifies with; default: derived from the signing key.

Make a key pair with ``openssl genpkey -algorithm ed25519 -out signing.pem`` and
``openssl pkey -in signing.pem -pubout -out verify.pem``.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

from validate.errors import ConfigError, PromotionError

SIGNING_KEY_ENV = "VALIDATE_SIGNING_KEY"
VERIFY_KEY_ENV = "VALIDATE_VERIFY_KEY"
RECORD_SCHEMA = 1


def decision_record(
    *,
    run_id: str,
    candidate: dict[str, Any] | None,  # None: the checks needed no model (drift only)
    candidate_digest: str | None,
    config_hash: str,
    configured: list[str],
    checks: dict[str, dict[str, Any]],
    decision: str,
    target: dict[str, Any] | None,
) -> dict[str, Any]:
    """The facts promotion relies on, in one JSON-able mapping: ``validate promote`` takes
    the candidate, its digest, the config hash and the promotion target from here, never
    from a separate tag."""
    return {
        "schema": RECORD_SCHEMA,
        "run_id": run_id,
        "candidate": candidate,
        "candidate_digest": candidate_digest,
        "config_hash": config_hash,
        "checks_configured": sorted(configured),
        "checks": {name: checks[name] for name in sorted(checks)},
        "decision": decision,
        "promotion_target": target,
    }


def canonical(record: dict[str, Any]) -> str:
    """The exact text that is signed and stored."""
    return json.dumps(record, sort_keys=True, separators=(",", ":"))


def _read_key(env: str) -> bytes | None:
    value = os.environ.get(env)
    if not value:
        return None
    if value.lstrip().startswith("-----BEGIN"):
        return value.encode()
    try:
        return Path(value).expanduser().read_bytes()
    except OSError as exc:
        raise ConfigError(f"{env}: cannot read {value} ({exc.strerror}); give a PEM file") from exc


def signing_key() -> Any:
    """The configured Ed25519 private key, or None."""
    pem = _read_key(SIGNING_KEY_ENV)
    if pem is None:
        return None
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    try:
        key = load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise ConfigError(
            f"{SIGNING_KEY_ENV}: not an unencrypted PEM private key; make one with `openssl "
            "genpkey -algorithm ed25519`"
        ) from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(f"{SIGNING_KEY_ENV}: not an Ed25519 key; decisions are signed Ed25519")
    return key


def verify_key() -> Any:
    """The public key to verify with: ``VALIDATE_VERIFY_KEY``, else the signing key's."""
    pem = _read_key(VERIFY_KEY_ENV)
    if pem is None:
        private = signing_key()
        return None if private is None else private.public_key()
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    try:
        key = load_pem_public_key(pem)
    except ValueError as exc:
        raise ConfigError(f"{VERIFY_KEY_ENV}: not a PEM public key") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise ConfigError(f"{VERIFY_KEY_ENV}: not an Ed25519 public key")
    return key


def sign(text: str, key: Any) -> str:
    return base64.b64encode(key.sign(text.encode())).decode()


def verify(text: str, signature: str | None, run: str) -> None:
    """Raise PromotionError unless ``signature`` is a valid signature of ``text``."""
    from cryptography.exceptions import InvalidSignature

    key = verify_key()
    if key is None:
        raise ConfigError(
            f"a signature is required but neither {VERIFY_KEY_ENV} nor {SIGNING_KEY_ENV} is set; "
            "give the public key to verify with"
        )
    if not signature:
        raise PromotionError(
            f"refusing to promote: {run} carries no signed decision record (it ran without "
            f"{SIGNING_KEY_ENV}); re-run the validation with the signing key"
        )
    try:
        key.verify(base64.b64decode(signature, validate=True), text.encode())
    except (InvalidSignature, ValueError) as exc:
        raise PromotionError(
            f"refusing to promote: the signature on {run}'s decision record does not verify "
            "(edited, or signed with another key); re-run the validation"
        ) from exc
