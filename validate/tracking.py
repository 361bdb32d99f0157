"""Which MLflow to talk to, and the provenance a run records (versions, git commit)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
_VERSIONED_PACKAGES = (
    "validate-gate",
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
    """Config first, then ``MLFLOW_TRACKING_URI``, then the embedded sqlite default.

    ``configured`` comes from :func:`validate.config.load_config`, which has already made
    a relative local store absolute against the config's folder. A configured sqlite
    database that does not exist yet is named on stderr (a wrong path would otherwise
    create an empty store silently and then miss the champion). The environment's URI
    and the default stay as they are: relative to the current folder, as in MLflow.
    """
    if configured:
        from validate.config import sqlite_database

        database = sqlite_database(configured)
        if database is not None and not database.exists():
            print(
                f"note: mlflow.tracking_uri: tracking database {database} does not exist yet; "
                "it will be created",
                file=sys.stderr,
            )
        return configured
    return os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI


# MLflow retries HTTP calls with exponential backoff; its defaults (7 retries, factor 2,
# 120 s timeout) make one call to a dead server wait minutes. Ours: 3 retries at 1, 2 and
# 4 s, so an outage costs about 7 s before the run fails closed. MLflow's own variables
# still win when set. MLflow also prints "View run … at URL" lines to stdout for each run
# it closes on a server; our report names the run once.
MLFLOW_ENV_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "3",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "30",
    "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",
}


def use_tracking_uri(uri: str) -> None:
    """Point MLflow's tracking and registry at ``uri`` for this process, with bounded
    retries."""
    import mlflow

    for name, value in MLFLOW_ENV_DEFAULTS.items():
        os.environ.setdefault(name, value)

    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)


def is_unreachable(exc: BaseException) -> bool:
    """Whether ``exc`` (or what it wraps) is a connection failure or timeout, not a refusal."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        name = type(current).__name__
        if isinstance(current, (ConnectionError, TimeoutError)) or name in (
            "ConnectionError",
            "ConnectTimeout",
            "ReadTimeout",
            "Timeout",
        ):
            return True
        if "Max retries exceeded" in str(current):
            return True
        current = current.__cause__ or current.__context__
    return False


def failure_kind(exc: BaseException) -> str:
    """What a failed MLflow interaction means: ``"outage"``, ``"refused"`` or ``"bug"``.

    * outage: MLflow could not be reached or could not serve, so the same call can succeed
      later (``validate sync``): a connection failure or timeout, an ``OSError`` (a full
      disk, a read-only store) or a database ``OperationalError`` (sqlite locked or gone)
      anywhere in what ``exc`` wraps, an artifact-store client's error with a 5xx or 429
      status, or an MLflow error with a 5xx, 429, 401 or 403 status;
    * refused: MLflow itself rejected the request (another 4xx: an invalid value, a store
      it does not support, a run that does not exist), or the direct sqlite writer refused
      what MLflow would refuse: retrying will not help;
    * bug: any other exception, raised by our code or wrapped by MLflow (it turns any
      failure inside its store into an ``MlflowException``).
    """
    chain = _exception_chain(exc)
    for item in chain:
        if is_unreachable(item) or isinstance(item, OSError):
            return "outage"
        if type(item).__name__ == "OperationalError":  # sqlite3's and SQLAlchemy's
            return "outage"
        status = _http_status(item)
        if status is not None and (status >= 500 or status == 429):
            return "outage"  # an artifact store's own client (S3, GCS, Azure) saying so
        if getattr(item, "validate_refusal", False):
            return "refused"  # validate.sqlite_store refusing what MLflow would refuse
    if any(not _from_mlflow(item) for item in chain):
        return "bug"
    status = getattr(exc, "get_http_status_code", lambda: 500)()
    return "outage" if status >= 500 or status in (401, 403, 429) else "refused"


def _http_status(exc: BaseException) -> int | None:
    """The HTTP status an artifact-store client's exception carries, if any: botocore's
    ``response["ResponseMetadata"]["HTTPStatusCode"]``, requests' ``response.status_code``,
    google-api-core's ``code``, azure-core's ``status_code``."""
    response = getattr(exc, "response", None)
    candidates = [
        response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if isinstance(response, dict)
        else getattr(response, "status_code", None),
        getattr(exc, "status_code", None),
        getattr(exc, "code", None),
    ]
    return next((c for c in candidates if isinstance(c, int) and 100 <= c <= 599), None)


def _exception_chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and what it wraps (explicit causes first, then implicit contexts)."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and all(current is not seen for seen in chain):
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def _from_mlflow(exc: BaseException) -> bool:
    return type(exc).__module__.split(".")[0] == "mlflow"


def redact_uri(uri: str) -> str:
    """Drop credentials (the whole user info, whatever it contains) from a URI before it is
    printed or recorded.

    The user info is everything before the *last* ``@`` of the authority, so a password
    holding ``@`` (``http://u:p@ss@host/``) goes entirely. An unparsable URI is scrubbed
    as text instead of raising.
    """
    try:
        parts = urlsplit(uri)
    except ValueError:
        return scrub_credentials(uri)
    if "@" not in parts.netloc:
        return scrub_credentials(uri) if "@" in uri else uri
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


# scheme://, then the authority (up to the first / ? # or blank, RFC 3986); the greedy
# match backtracks to the authority's last @, so the user info goes whatever it contains.
_USERINFO = re.compile(r"([a-zA-Z][\w+.-]*://)[^/?#\s]*@")


def scrub_credentials(text: str) -> str:
    """Remove the user info (``user:password@``) from every URL in ``text`` (libraries echo
    full URLs in their errors)."""
    return _USERINFO.sub(r"\1", text)


def scrubbed_traceback(exc: BaseException | None = None) -> str:
    """The traceback of ``exc`` (default: the exception being handled), chained causes
    included, with credentials removed from every URL in it: what ``--debug`` prints."""
    import traceback

    if exc is None:
        exc = sys.exc_info()[1]
    if exc is None:
        return ""
    lines = traceback.format_exception(type(exc), exc, exc.__traceback__)
    return scrub_credentials("".join(lines))


def package_versions() -> dict[str, str]:
    """Installed versions of the packages that shape a result (no imports)."""
    from validate.dist_metadata import version

    versions = {}
    for name in _VERSIONED_PACKAGES:
        try:
            versions[name] = version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


@dataclass(frozen=True)
class GitCheckout:
    """The git work tree holding the config, and its commit (None where there is none)."""

    root: Path | None
    commit: str | None


def git_checkout(folder: Path) -> GitCheckout:
    """Where the config's repository is and which commit it is at: one git subprocess."""
    try:
        completed = subprocess.run(
            ["git", "rev-parse", "--show-toplevel", "HEAD"],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return GitCheckout(root=None, commit=None)
    # Outside a repository nothing is printed; in one without commits the top level is
    # printed, then HEAD fails (exit 128).
    lines = completed.stdout.splitlines()
    root = Path(lines[0]).resolve() if lines and os.path.isabs(lines[0]) else None
    commit = lines[1].strip() if completed.returncode == 0 and len(lines) > 1 else None
    return GitCheckout(root=root, commit=commit or None)
