"""Content digests of models: promotion registers exactly the bytes that were validated.

A local model (file or folder) is digested file by file: SHA-256 over each file's path
relative to the model's root, its size and its contents, in path order. A model in MLflow
(a registry version, ``runs:/``, ``mlflow-artifacts:/``) is downloaded and digested the
same way, so a registry version's digest is that of its artifacts as stored.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from validate.errors import ModelError, PromotionError

DIGEST_PREFIX = "sha256:"
_CHUNK = 1 << 20
# Written by MLflow itself into every download of a models:/ URI; not part of the model.
_MLFLOW_DOWNLOAD_FILES = frozenset({"registered_model_meta"})


def tree_digest(path: str | os.PathLike[str]) -> str:
    """``sha256:<hex>`` of a file, or of every file under a folder.

    Symlinks are followed, to files and to folders alike (what a loader reads is what is
    digested; a folder reached twice through links is read once, so loops end).
    """
    root = Path(path)
    total = hashlib.sha256()
    for relative, file in model_files(root):
        total.update(relative.encode() + b"\0" + str(file.stat().st_size).encode() + b"\0")
        with open(file, "rb") as stream:
            for chunk in iter(lambda: stream.read(_CHUNK), b""):
                total.update(chunk)
        total.update(b"\0")
    return DIGEST_PREFIX + total.hexdigest()


def model_files(root: Path) -> list[tuple[str, Path]]:
    """(path relative to ``root``, path) of every regular file, in path order.

    A folder reached through a link is read like a copy of it would be; only a link back
    to a folder above it (a loop) is not followed.
    """
    if root.is_file():
        return [(root.name, root)]
    found: list[tuple[str, Path]] = []

    def walk(folder: Path, prefix: str, above: frozenset[tuple[int, int]]) -> None:
        for entry in sorted(os.scandir(folder), key=lambda e: e.name):
            relative = f"{prefix}{entry.name}"
            if entry.is_dir():  # follows links
                info = os.stat(entry.path)
                key = (info.st_dev, info.st_ino)
                if key not in above:
                    walk(Path(entry.path), relative + "/", above | {key})
            elif entry.is_file() and relative not in _MLFLOW_DOWNLOAD_FILES:
                found.append((relative, Path(entry.path)))

    info = os.stat(root)
    walk(root, "", frozenset({(info.st_dev, info.st_ino)}))
    return found


def model_source(ref: Any) -> str | None:
    """Where the candidate's bytes are: a registry URI, an MLflow URI or a local path; None
    for precomputed scores with no model named."""
    if ref.registry is not None:
        return str(ref.registry.uri)
    if ref.kind == "column" and not ref.location:
        return None
    return str(ref.location) if ref.location else None


def candidate_digest(ref: Any, tracking_uri: str) -> str | None:
    """The digest of the model ``ref`` names (None when it names none)."""
    source = model_source(ref)
    if source is None:
        return None
    with materialised(source, tracking_uri) as local:
        return tree_digest(local)


@contextmanager
def materialised(source: str, tracking_uri: str) -> Iterator[Path]:
    """A local path holding ``source``'s bytes: the path itself, or a download of it."""
    if not source.startswith(("models:/", "runs:/", "mlflow-artifacts:/", "s3://", "gs://")):
        yield Path(source)
        return
    import mlflow.artifacts

    with tempfile.TemporaryDirectory(prefix="validate-digest-") as folder:
        try:
            local = mlflow.artifacts.download_artifacts(
                artifact_uri=source, dst_path=folder, tracking_uri=tracking_uri
            )
        except Exception as exc:  # noqa: BLE001 - MLflow raises many kinds here
            raise ModelError(
                f"{source}: cannot read the model's files to digest them ({type(exc).__name__}); "
                "check the URI and MLflow access"
            ) from exc
        yield Path(local)


@contextmanager
def verified_copy(source: str, expected: str, tracking_uri: str) -> Iterator[Path]:
    """A private copy of ``source`` whose digest is ``expected``; what is uploaded or pointed
    at is this copy, so the bytes cannot change between the check and the upload."""
    with tempfile.TemporaryDirectory(prefix="validate-promote-") as folder:
        with materialised(source, tracking_uri) as local:
            copy = Path(folder) / (local.name or "model")
            if local.is_dir():
                shutil.copytree(local, copy, symlinks=False)
            elif local.is_file():
                shutil.copy2(local, copy)
            else:
                raise PromotionError(
                    f"refusing to promote: the validated model {source} is gone; re-run the "
                    "validation"
                )
        found = tree_digest(copy)
        if found != expected:
            raise PromotionError(
                f"refusing to promote: {source} changed since it was validated (digest "
                f"{found[7:19]} now, {expected[7:19]} validated); re-run the validation on it"
            )
        yield copy
