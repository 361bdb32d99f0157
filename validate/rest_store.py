"""Recording into an MLflow tracking server over its REST API without importing MLflow.

The counterpart of :mod:`validate.sqlite_store` for ``http://`` servers: the same calls
MLflow's client makes (``runs/create``, ``runs/log-batch``, ``runs/update``, artifact
uploads to the server's proxied artifact store), with the standard library's HTTP
client. The server validates and stores what it is sent exactly as it does for MLflow's
client, so what is recorded is the same (``tests/test_rest_store.py`` compares).

Used only where that is certain; :meth:`RestStore.open` returns None (the caller then
uses MLflow) for anything else: HTTPS (MLflow's client verifies certificates with its own
CA bundle), any credential or TLS setting (``MLFLOW_TRACKING_TOKEN``, ``…_USERNAME``,
``…_INSECURE_TLS``, client certificates, custom auth, AWS SigV4, a ``.netrc``), user info
in the URI, request-header or auth plug-ins, a server that does not answer, an experiment
that does not exist yet or is deleted, and artifacts the server does not proxy.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from validate.sqlite_store import StoreRefused

_ENV_FOR_MLFLOW = (
    "MLFLOW_TRACKING_TOKEN",
    "MLFLOW_TRACKING_USERNAME",
    "MLFLOW_TRACKING_PASSWORD",
    "MLFLOW_TRACKING_INSECURE_TLS",
    "MLFLOW_TRACKING_SERVER_CERT_PATH",
    "MLFLOW_TRACKING_CLIENT_CERT_PATH",
    "MLFLOW_TRACKING_AUTH",
    "MLFLOW_TRACKING_AWS_SIGV4",
    "MLFLOW_ENABLE_WORKSPACES",
    "MLFLOW_WORKSPACE",
    "MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD",
)
_PLUGIN_GROUPS = ("mlflow.request_header_provider", "mlflow.request_auth_provider")
_PROXIED = "mlflow-artifacts:/"
_RETRIED_STATUSES = (429, 500, 502, 503, 504)  # what MLflow's client retries
_BACKOFF_S = (1, 2, 4)  # validate.tracking.MLFLOW_ENV_DEFAULTS: 3 retries, factor 1
_MAX_PARAMS_TAGS, _MAX_METRICS = 100, 1000  # MLflow's log-batch limits


class ServerUnavailable(ConnectionError):
    """The server did not answer, or answered 5xx/429, after the retries: an outage."""


class RestStore:
    """Writes runs through an MLflow server's REST API (one request per call, retried)."""

    def __init__(self, base: str, experiment_id: str, timeout: float) -> None:
        self._base = base
        self.experiment_id = experiment_id
        self._timeout = timeout
        self._artifact_uris: dict[str, str] = {}

    def together(self) -> contextlib.nullcontext[None]:
        """The REST API has no transactions: each call stands alone (as through MLflow)."""
        return contextlib.nullcontext()

    @classmethod
    def open(cls, uri: str, experiment: str, *, timeout: float = 30.0) -> RestStore | None:
        """The server's store for ``experiment`` if writing it without MLflow is certainly
        what MLflow would do; None where MLflow must do it (see the module's docstring)."""
        parts = urlsplit(uri)
        if parts.scheme.lower() != "http" or not parts.hostname:
            return None
        if parts.username or parts.password or parts.query or parts.fragment:
            return None
        if any(os.environ.get(name) for name in _ENV_FOR_MLFLOW) or _plugins_installed():
            return None
        if os.environ.get("NETRC") or Path("~/.netrc").expanduser().exists():
            return None  # MLflow's HTTP client (requests) sends .netrc credentials; ours not
        base = uri.rstrip("/")
        store = cls(base, "", timeout)
        try:
            found = store._request(
                "GET",
                "/api/2.0/mlflow/experiments/get-by-name?"
                + urlencode({"experiment_name": experiment}),
                retries=False,
            )
        except (StoreRefused, ServerUnavailable, ValueError):
            return None  # MLflow creates it, or reports the failure in its own words
        details = found.get("experiment", {})
        location = str(details.get("artifact_location", ""))
        if details.get("lifecycle_stage") != "active" or not _proxied(location):
            return None
        store.experiment_id = str(details["experiment_id"])
        return store

    # ------------------------------------------------------------------ writes

    def create_run(self, *, run_name: str, tags: Mapping[str, str]) -> str:
        """``runs/create``, as MlflowClient.create_run sends it."""
        created = self._request(
            "POST",
            "/api/2.0/mlflow/runs/create",
            {
                "experiment_id": self.experiment_id,
                "user_id": tags.get("mlflow.user", "unknown"),
                "start_time": int(time.time() * 1000),
                "tags": [{"key": k, "value": v} for k, v in tags.items()],
                "run_name": run_name,
            },
        )
        info = created["run"]["info"]
        artifact_uri = str(info.get("artifact_uri", ""))
        if not _proxied(artifact_uri):
            raise StoreRefused(f"run {info['run_id']}: artifacts at {artifact_uri} are not proxied")
        self._artifact_uris[info["run_id"]] = artifact_uri
        return str(info["run_id"])

    def log_batch(
        self,
        run_id: str,
        *,
        metrics: Iterable[tuple[str, float, int]] = (),
        params: Mapping[str, str] | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> None:
        """``runs/log-batch``, in chunks within MLflow's limits (params first, as MLflow)."""
        metric_rows = [
            {"key": k, "value": float(v), "timestamp": int(t), "step": 0} for k, v, t in metrics
        ]
        param_rows = [{"key": k, "value": v} for k, v in (params or {}).items()]
        tag_rows = [{"key": k, "value": v} for k, v in (tags or {}).items()]
        for start in range(0, max(len(param_rows), len(tag_rows), 1), _MAX_PARAMS_TAGS):
            body = {
                "run_id": run_id,
                "params": param_rows[start : start + _MAX_PARAMS_TAGS],
                "tags": tag_rows[start : start + _MAX_PARAMS_TAGS],
            }
            if body["params"] or body["tags"]:
                self._request("POST", "/api/2.0/mlflow/runs/log-batch", body)
        for start in range(0, len(metric_rows), _MAX_METRICS):
            body = {"run_id": run_id, "metrics": metric_rows[start : start + _MAX_METRICS]}
            self._request("POST", "/api/2.0/mlflow/runs/log-batch", body)

    def set_tags(self, run_id: str, tags: Mapping[str, str]) -> None:
        self.log_batch(run_id, tags=tags)

    def set_terminated(
        self, run_id: str, status: str, tags: Mapping[str, str] | None = None
    ) -> None:
        if tags:
            self.set_tags(run_id, tags)
        self._request(
            "POST",
            "/api/2.0/mlflow/runs/update",
            {
                "run_id": run_id,
                "run_uuid": run_id,
                "status": status,
                "end_time": int(time.time() * 1000),
            },
        )

    def log_text(self, run_id: str, text: str, artifact_file: str) -> None:
        self._upload(run_id, artifact_file, text.encode("utf-8"))

    def log_artifact(self, run_id: str, local_file: str) -> None:
        self._upload(run_id, Path(local_file).name, Path(local_file).read_bytes())

    def log_artifacts(self, run_id: str, local_dir: str) -> None:
        root = Path(local_dir)
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            self._upload(run_id, path.relative_to(root).as_posix(), path.read_bytes())

    # ------------------------------------------------------------------ HTTP

    def _upload(self, run_id: str, artifact_path: str, content: bytes) -> None:
        artifact_uri = self._artifact_uris.get(run_id)
        if artifact_uri is None:
            raise StoreRefused(f"run {run_id} was not created by this recorder")
        if any(part in ("", ".", "..") for part in artifact_path.split("/")):
            raise StoreRefused(f"invalid artifact path {artifact_path!r}")
        root = artifact_uri[len(_PROXIED) :].strip("/")
        endpoint = "/api/2.0/mlflow-artifacts/artifacts/" + quote(f"{root}/{artifact_path}")
        self._request("PUT", endpoint, content, content_type="application/octet-stream")

    def _request(
        self,
        method: str,
        endpoint: str,
        body: Any = None,
        *,
        content_type: str = "application/json",
        retries: bool = True,
    ) -> dict[str, Any]:
        data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
        headers = {"Content-Type": content_type} if data is not None else {}
        delays = _BACKOFF_S if retries else ()
        for attempt in range(len(delays) + 1):
            request = urllib.request.Request(
                self._base + endpoint, data=data, method=method, headers=headers
            )
            try:
                with urllib.request.urlopen(request, timeout=self._timeout) as response:  # noqa: S310 - http only, checked in open()
                    payload = response.read()
                return json.loads(payload) if payload.strip() else {}
            except urllib.error.HTTPError as exc:
                detail = _error_text(exc)
                if exc.code not in _RETRIED_STATUSES and exc.code not in (401, 403):
                    raise StoreRefused(f"HTTP {exc.code} from {endpoint}: {detail}") from exc
                failure: Exception = ServerUnavailable(f"HTTP {exc.code} from {endpoint}: {detail}")
                if exc.code in (401, 403):
                    raise failure from exc  # as validate.tracking: an outage, not retried
            except (urllib.error.URLError, OSError) as exc:
                failure = ServerUnavailable(f"{method} {endpoint}: {exc}")
            if attempt < len(delays):
                time.sleep(delays[attempt])
        raise failure


def _proxied(location: str) -> bool:
    """Artifacts served by this server (``mlflow-artifacts:/…``, no other host)."""
    return location.startswith(_PROXIED) and not location.startswith(_PROXIED + "/")


def _plugins_installed() -> bool:
    from importlib.metadata import entry_points

    return any(entry_points(group=group) for group in _PLUGIN_GROUPS)


def _error_text(exc: urllib.error.HTTPError) -> str:
    try:
        body = json.loads(exc.read() or b"{}")
    except (ValueError, OSError):
        return exc.reason if isinstance(exc.reason, str) else str(exc)
    return str(body.get("message") or body.get("error_code") or exc.reason)[:300]
