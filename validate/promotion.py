"""Promotion: move a registry alias to the candidate, compare-and-set, under a registry lock.

MLflow has no conditional alias update, but ``create_registered_model`` fails
atomically when the name exists. A registered model named ``<model>.validate-lock``
is created to acquire and deleted to release; a lock older than ``stale_after_s``
is taken over (its holder died).
"""

from __future__ import annotations

import contextlib
import getpass
import io
import json
import socket
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from validate.errors import PromotionError, RecorderError, ValidateError
from validate.models.adapter import FILE_KINDS, ModelRef

LOCK_SUFFIX = ".validate-lock"
DIGEST_TAG = "validate.candidate_digest"
CANDIDATE_ARTIFACT = "candidate_model"


@dataclass(frozen=True)
class PromotionTarget:
    """Which alias to move, and the version it pointed at when the validation evaluated it."""

    model: str
    alias: str
    expected_version: str | None  # None: the alias did not exist
    alias_read: bool = True  # False: the registry was unreachable, the alias is unknown

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PromotionTarget:
        return cls(
            model=data["model"],
            alias=data["alias"],
            expected_version=data.get("expected_version"),
            alias_read=data.get("alias_read", True),
        )

    def require_alias_read(self, run: str) -> None:
        """Compare-and-set needs the version the alias held when the validation ran."""
        if not self.alias_read:
            raise PromotionError(
                f"{run} could not read {self.model}@{self.alias} when it ran (MLflow was "
                "unreachable), so compare-and-set has nothing to compare; re-run the validation"
            )


@dataclass(frozen=True)
class PromotionOutcome:
    model: str
    alias: str
    version: str | None
    promoted: bool
    previous_version: str | None
    message: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def current_alias_version(client: Any, model: str, alias: str) -> str | None:
    """The version ``alias`` points at, or None when the model or alias does not exist."""
    from mlflow.exceptions import MlflowException

    from validate.tracking import is_unreachable

    try:
        return str(client.get_model_version_by_alias(model, alias).version)
    except MlflowException as exc:
        if is_unreachable(exc):  # not "no such alias": the registry could not be asked
            raise RecorderError(
                f"the MLflow registry is unreachable, so {model}@{alias} cannot be read; "
                "nothing was promoted; try again when it is back"
            ) from exc
        return None


@contextlib.contextmanager
def registry_lock(
    client: Any, model: str, *, wait_s: float = 60.0, stale_after_s: float = 300.0
) -> Iterator[None]:
    """Hold ``<model>.validate-lock`` while the block runs."""
    from mlflow.exceptions import MlflowException

    name = model + LOCK_SUFFIX
    deadline = time.monotonic() + wait_s
    owner = f"{getpass.getuser()}@{socket.gethostname()} at {_now()}"
    while True:
        try:
            client.create_registered_model(
                name, tags={"validate.lock": "true"}, description=f"promotion lock held by {owner}"
            )
            break
        except MlflowException as exc:
            if "RESOURCE_ALREADY_EXISTS" not in str(exc.error_code):
                raise
            if _lock_is_stale(client, name, stale_after_s):
                with contextlib.suppress(MlflowException):
                    client.delete_registered_model(name)
                continue
            if time.monotonic() > deadline:
                raise PromotionError(
                    f"registry lock {name} is held by another promotion; retry later, or delete "
                    f"that registered model if its holder died"
                ) from exc
            time.sleep(0.2)
    try:
        yield
    finally:
        with contextlib.suppress(MlflowException):
            client.delete_registered_model(name)


def _lock_is_stale(client: Any, name: str, stale_after_s: float) -> bool:
    from mlflow.exceptions import MlflowException

    try:
        created_ms = client.get_registered_model(name).creation_timestamp or 0
    except MlflowException:
        return False  # released meanwhile: just retry
    return (time.time() * 1000 - created_ms) / 1000 > stale_after_s


def promote(
    client: Any,
    *,
    candidate: ModelRef,
    target: PromotionTarget,
    run_id: str,
    digest: str | None,
    tracking_uri: str,
) -> PromotionOutcome:
    """Move ``target.alias`` to the candidate if it still points at the evaluated champion,
    and only if the candidate's bytes still have the validated ``digest``.

    Raises
    ------
    PromotionError
        When the alias moved since the validation resolved it (compare-and-set), or the
        candidate changed since it was validated.
    """
    if digest is None:
        raise PromotionError(
            "refusing to promote: the validation recorded no content digest of the candidate; "
            "re-run it with this version of validate"
        )
    with registry_lock(client, target.model):
        try:
            current = require_alias_unmoved(client, target)
        except PromotionError:
            # This very validation promoted these bytes already (``validate promote`` run
            # twice): say so. Any other validation finding the alias moved lost the race.
            held = current_alias_version(client, target.model, target.alias)
            if (
                held is None
                or _promoted_by(client, target.model, held) != run_id
                or held
                != version_with_digest(
                    client, target.model, digest, tracking_uri, only=held, candidate=candidate
                )
            ):
                raise
            return PromotionOutcome(
                target.model,
                target.alias,
                held,
                False,
                held,
                f"already promoted: version {held} holds alias '{target.alias}' with these "
                "bytes (this validation run promoted it)",
            )
        version = register_candidate(
            client, candidate, target.model, run_id, digest, tracking_uri, current=current
        )
        if version == current:
            return PromotionOutcome(
                target.model,
                target.alias,
                version,
                False,
                current,
                f"already promoted: version {version} holds alias '{target.alias}' with these "
                "bytes; nothing registered",
            )
        client.set_registered_model_alias(target.model, target.alias, version)
        for key, value in {
            "validate.validation_run_id": run_id,
            "validate.decision": "pass",
            DIGEST_TAG: digest,
            "validate.promoted_by": f"{getpass.getuser()}@{socket.gethostname()}",
            "validate.promoted_at": _now(),
            "validate.previous_version": current or "",
            "validate.alias": target.alias,
        }.items():
            client.set_model_version_tag(target.model, version, key, value)
    return PromotionOutcome(
        target.model,
        target.alias,
        version,
        True,
        current,
        f"alias '{target.alias}' of '{target.model}' moved {current or '(none)'} -> {version}",
    )


def require_alias_unmoved(
    client: Any, target: PromotionTarget, lead: str = "refusing to promote"
) -> str | None:
    """The compare of compare-and-set: the alias's current version, if it is still the one the
    validation compared against; otherwise PromotionError, the sentence starting with ``lead``."""
    current = current_alias_version(client, target.model, target.alias)
    if current != target.expected_version:
        raise PromotionError(
            f"{lead}: alias '{target.alias}' of model '{target.model}' now points "
            f"at version {current or '(none)'}, but this validation compared against version "
            f"{target.expected_version or '(none)'}; re-run the validation against the new "
            "champion"
        )
    return current


def register_candidate(
    client: Any,
    candidate: ModelRef,
    model: str,
    run_id: str,
    digest: str,
    tracking_uri: str,
    *,
    current: str | None = None,
) -> str:
    """The candidate's version in ``model``: the validated bytes, verified, registered once.

    A registry candidate is checked against the digest and used as it is (or copied into
    ``model``); a local or remote model is copied privately, verified, uploaded from that
    copy and registered, unless a version of ``model`` already holds exactly these bytes:
    one tagged with the digest, or ``current`` (the alias's version, which may have been
    registered by hand, without our tag) whose bytes turn out to be these.
    """
    from validate.digest import verified_copy

    if candidate.kind == "column" and candidate.registry is None:
        raise PromotionError(
            "cannot promote precomputed scores: set model.candidate to the model that made "
            "data.prediction so it can be registered"
        )
    if candidate.registry is not None:
        with verified_copy(candidate.registry.uri, digest, tracking_uri):
            pass
        if candidate.registry.name == model:
            return candidate.registry.version
        copied = client.copy_model_version(candidate.registry.uri, model)
        return str(copied.version)
    existing = version_with_digest(
        client, model, digest, tracking_uri, candidate=candidate, untagged=current
    )
    if existing is not None:
        return existing
    with verified_copy(candidate.location, digest, tracking_uri) as copy:
        _log_candidate(client, replace(candidate, location=str(copy), _loaded=[]), run_id)
    uri = f"runs:/{run_id}/{CANDIDATE_ARTIFACT}"
    import mlflow

    # register_model prints progress to stderr; users get our one promotion line instead.
    with contextlib.redirect_stderr(io.StringIO()):
        created = mlflow.register_model(
            uri,
            model,
            tags={"validate.candidate_uri": candidate.uri, DIGEST_TAG: digest},
        )
    return str(_wait_until_ready(client, model, str(created.version)))


def _promoted_by(client: Any, model: str, version: str) -> str | None:
    """The validation run that promoted ``version`` (its tag), if any."""
    from mlflow.exceptions import MlflowException

    try:
        return (client.get_model_version(model, version).tags or {}).get(
            "validate.validation_run_id"
        )
    except MlflowException:
        return None


def version_with_digest(
    client: Any,
    model: str,
    digest: str,
    tracking_uri: str,
    only: str | None = None,
    *,
    candidate: ModelRef | None = None,
    untagged: str | None = None,
) -> str | None:
    """The newest version of ``model`` whose stored artifacts are exactly the candidate.

    The ``validate.candidate_digest`` tag only narrows the search: anyone with MLflow write
    access can set a tag, so each candidate version's bytes are downloaded and digested.
    ``only`` restricts the search to one version; ``untagged`` is one more version to look
    at even without the tag (the current champion, perhaps registered by hand).
    A Keras candidate is registered inside a pyfunc wrapper: such a version matches when
    every file of it is what registering ``candidate`` would write now (the wrapper's code
    and environment byte for byte, the model file with the validated digest).
    """
    from mlflow.exceptions import MlflowException

    from validate.digest import materialised, tree_digest

    try:
        versions = client.search_model_versions(f"name = '{model}'")
    except MlflowException:
        return None
    numbers = {
        int(v.version)
        for v in versions
        if ((v.tags or {}).get(DIGEST_TAG) == digest or str(v.version) == untagged)
        and only in (None, str(v.version))
    }
    with _wrapper_matcher(candidate, digest, tracking_uri) as is_our_wrapper:
        for number in sorted(numbers, reverse=True):
            try:
                with materialised(f"models:/{model}/{number}", tracking_uri) as local:
                    if tree_digest(local) == digest or is_our_wrapper(local):
                        return str(number)
            except ValidateError:
                continue
    return None


# MLmodel keys that differ between two registrations of the same bytes.
_VOLATILE_MLMODEL_KEYS = frozenset(
    {"run_id", "utc_time_created", "model_uuid", "artifact_path", "model_id", "mlflow_version"}
)


def _is_our_wrapper_of(stored: Path, candidate: ModelRef, digest: str, tracking_uri: str) -> bool:
    """Whether ``stored`` is the pyfunc wrapper promotion would register for ``candidate``."""
    with _wrapper_matcher(candidate, digest, tracking_uri) as is_our_wrapper:
        return is_our_wrapper(stored)


@contextlib.contextmanager
def _wrapper_matcher(
    candidate: ModelRef | None, digest: str, tracking_uri: str
) -> Iterator[Callable[[Path], bool]]:
    """A test of "is this folder the pyfunc wrapper promotion would register for
    ``candidate``", which rebuilds that wrapper (MLflow infers its requirements in a
    subprocess) at most once, however many stored versions it is asked about.

    The wrapper is rebuilt from a verified copy of the candidate and compared file by
    file: the same set of files, each byte-identical except ``MLmodel``, whose contents must
    match once the per-registration keys (run id, time, uuids) are dropped."""
    from validate.digest import model_files, verified_copy

    with tempfile.TemporaryDirectory(prefix="validate-wrapper-") as folder:
        rebuilt = Path(folder) / CANDIDATE_ARTIFACT

        def is_our_wrapper(stored: Path) -> bool:
            if candidate is None or candidate.kind not in FILE_KINDS:
                return False
            if not stored.is_dir():
                return False
            if not rebuilt.exists():
                with verified_copy(candidate.location, digest, tracking_uri) as copy:
                    _save_wrapper(replace(candidate, location=str(copy), _loaded=[]), rebuilt)
            ours = dict(model_files(rebuilt))
            theirs = dict(model_files(stored))
            if set(ours) != set(theirs):
                return False
            for relative, path in ours.items():
                if relative == "MLmodel":
                    if _stable_mlmodel(path) != _stable_mlmodel(theirs[relative]):
                        return False
                elif path.read_bytes() != theirs[relative].read_bytes():
                    return False
            return True

        yield is_our_wrapper


def _stable_mlmodel(path: Path) -> Any:
    """An MLmodel file without what differs between two registrations of the same bytes:
    the top-level run id, times and uuids, and where each artifact was copied from."""
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None
    if not isinstance(data, dict):
        return None
    data = {k: v for k, v in data.items() if k not in _VOLATILE_MLMODEL_KEYS}
    pyfunc = (data.get("flavors") or {}).get("python_function") or {}
    for artifact in (pyfunc.get("artifacts") or {}).values():
        if isinstance(artifact, dict):
            artifact.pop("uri", None)  # the temporary copy the wrapper was built from
    return data


def _log_candidate(client: Any, candidate: ModelRef, run_id: str) -> None:
    """Upload the candidate into the validation run as an MLflow model folder."""
    if candidate.kind == "mlflow":
        client.log_artifacts(run_id, candidate.location, CANDIDATE_ARTIFACT)
        return
    with tempfile.TemporaryDirectory() as folder:
        target = Path(folder) / CANDIDATE_ARTIFACT
        _save_wrapper(candidate, target)
        client.log_artifacts(run_id, str(target), CANDIDATE_ARTIFACT)


def _save_wrapper(candidate: ModelRef, target: Path) -> None:
    """The pyfunc folder a model file (Keras, SavedModel, ONNX, PyTorch) is registered as."""
    with contextlib.redirect_stderr(io.StringIO()):
        # MLflow warns, when a PythonModel subclass is defined, that it has no type hints;
        # ours has none on purpose (hints would become an enforced schema).
        from validate.models.pyfunc_wrapper import save_tensorflow_pyfunc

    save_tensorflow_pyfunc(candidate, target, candidate.features or None)


def _wait_until_ready(client: Any, model: str, version: str, timeout_s: float = 120.0) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = client.get_model_version(model, version).status
        if status == "READY":
            return version
        if status == "FAILED_REGISTRATION":
            raise PromotionError(f"registering version {version} of '{model}' failed in MLflow")
        time.sleep(0.2)
    raise PromotionError(f"version {version} of '{model}' was not READY after {timeout_s:.0f} s")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def ref_to_json(ref: ModelRef) -> str:
    """Serialise a ModelRef so ``validate promote RUN_ID`` can rebuild it later."""
    return json.dumps(
        {
            "uri": ref.uri,
            "location": ref.location,
            "kind": ref.kind,
            "role": ref.role,
            "task": ref.task,
            "column": ref.column,
            "features": list(ref.features),
            "registry": None if ref.registry is None else asdict(ref.registry),
        }
    )


def ref_from_json(text: str) -> ModelRef:
    from validate.models.adapter import RegistryVersion

    data = json.loads(text)
    registry = data.pop("registry")
    data["features"] = tuple(data.get("features", ()))
    return ModelRef(**data, registry=None if registry is None else RegistryVersion(**registry))
