"""Which MLflow to talk to, and the provenance a run records (versions, git commit)."""

from __future__ import annotations

import os
import re
import subprocess
from importlib import metadata
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
_VERSIONED_PACKAGES = (
    "validate-models",
    "mlflow",
    "numpy",
    "pandas",
    "pyarrow",
    "scipy",
    "scikit-learn",
    "fairlearn",
    "tensorflow",
    "tf-keras",
    "tensorflow-model-remediation",
    "kubernetes",
)


def tracking_uri_for(configured: str | None) -> str:
    """Config first, then ``MLFLOW_TRACKING_URI``, then the embedded sqlite default."""
    return configured or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI


def use_tracking_uri(uri: str) -> None:
    """Point MLflow's tracking and registry at ``uri`` for this process."""
    import mlflow

    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)


def redact_uri(uri: str) -> str:
    """Drop credentials from a URI before it is printed or recorded."""
    parts = urlsplit(uri)
    if parts.username or parts.password:
        host = parts.hostname or ""
        if parts.port:
            host += f":{parts.port}"
        return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))
    return uri


_USERINFO = re.compile(r"([a-zA-Z][\w+.-]*://)[^/\s@]+@")


def scrub_credentials(text: str) -> str:
    """Remove ``user:password@`` from every URL in ``text`` (libraries echo full URLs)."""
    return _USERINFO.sub(r"\1", text)


def package_versions() -> dict[str, str]:
    """Installed versions of the packages that shape a result (no imports)."""
    versions = {}
    for name in _VERSIONED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def git_commit(folder: Path) -> str | None:
    """The commit the config's repository is at, when it is in one."""
    try:
        completed = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    commit = completed.stdout.strip()
    return commit if completed.returncode == 0 and commit else None
