"""The config file itself: reading its text safely and resolving the locations it names.

Kept apart from :mod:`validate.config` (which builds pydantic models, a tenth of a second
to import) so that a run process can read the file before that import: the parquet files
it names are then decoded during the import (:func:`validate.prefetch.start_early`).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from validate import yaml_loader
from validate.errors import ConfigError

# Locations on a server or store, readable from any machine (a Kubernetes pod included).
REMOTE_URI_PREFIXES = (
    "models:/",
    "runs:/",
    "mlflow-artifacts:/",
    "s3://",
    "gs://",
    "http://",
    "https://",
    "dbfs:/",
)
# URIs that are handed to MLflow (or a remote store) as they are, never joined to the config dir.
URI_PREFIXES = (*REMOTE_URI_PREFIXES, "file:/")

# The data sections naming files the run reads, in the order they are read in: the early
# reading (validate.prefetch) and the validated config's must name them alike.
DATA_FILE_FIELDS = ("eval", "reference", "train")

# How the CLI asks for a config; the pytest plugin rewrites it into its own option's words.
CONFIG_HINT = "pass -c PATH to a validation.yaml file"


def resolve_location(folder: Path, location: str) -> str:
    """A file location resolved against ``folder`` (the config's); URIs pass through."""
    if location.startswith(URI_PREFIXES):
        return location
    expanded = Path(os.path.expanduser(location))
    if not expanded.is_absolute():
        expanded = folder / expanded
    return str(expanded.resolve())


def read_config_text(config_path: Path) -> str:
    """The config's text, refusing folders, pipes, devices and files over the size cap.

    The file is opened without blocking and checked on the open descriptor, so a FIFO
    never hangs the run and nothing can be swapped in between the check and the read.
    """
    try:
        fd = os.open(config_path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError as exc:
        raise ConfigError(f"{config_path}: config file not found; {CONFIG_HINT}") from exc
    except IsADirectoryError as exc:
        raise ConfigError(f"{config_path}: is a folder, not a config file; {CONFIG_HINT}") from exc
    except OSError as exc:
        raise ConfigError(f"{config_path}: cannot open the config ({exc.strerror})") from exc
    try:
        _refuse_unusual_file(config_path, os.fstat(fd))
        data = _read_at_most(fd, yaml_loader.MAX_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"{config_path}: cannot read the config ({exc.strerror})") from exc
    finally:
        os.close(fd)
    if len(data) > yaml_loader.MAX_BYTES:  # it grew after fstat
        raise _too_large(config_path, len(data))
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{config_path}: is not UTF-8 text (byte {exc.start}); save it as UTF-8"
        ) from exc


def _read_at_most(fd: int, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while size < limit:
        chunk = os.read(fd, limit - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _refuse_unusual_file(config_path: Path, info: os.stat_result) -> None:
    """Only a regular file under the size cap is read (not a folder, a FIFO or a device)."""
    if stat.S_ISDIR(info.st_mode):
        raise ConfigError(f"{config_path}: is a folder, not a config file; {CONFIG_HINT}")
    if not stat.S_ISREG(info.st_mode):
        raise ConfigError(
            f"{config_path}: is not a regular file (a pipe, device or socket); "
            f"write the config to a file and {CONFIG_HINT}"
        )
    if info.st_size > yaml_loader.MAX_BYTES:
        raise _too_large(config_path, info.st_size)


def _too_large(config_path: Path, size: int) -> ConfigError:
    limit = yaml_loader.MAX_BYTES // (1024 * 1024)
    return ConfigError(
        f"{config_path}: is {size / (1024 * 1024):,.1f} MiB, over the {limit} MiB limit for a "
        "config; a validation.yaml is a few kilobytes: keep data in data files"
    )
