"""MLflow registry webhooks: a signed "model version created" shortens a policy's wait.

MLflow (3.3+) can POST registry events to a URL, signed the Standard Webhooks way
(``mlflow/webhooks/delivery.py``): the headers ``X-MLflow-Delivery-Id``,
``X-MLflow-Timestamp`` (Unix seconds) and ``X-MLflow-Signature`` (``v1,<base64>``, the
HMAC-SHA256 with the webhook's secret of ``<delivery id>.<timestamp>.<body>``). This module
checks exactly that, refuses anything else (missing or wrong signature, a timestamp outside
the tolerance window, a delivery id already seen, a body over the limit), and hands each
valid ``model_version.created`` to a callback, which only asks the policies watching that
model to poll the registry now. Polling stays the source of truth: nothing is created from
a webhook's content, so a forged or replayed event can at worst cause one early poll.

No kopf and no kubernetes client here (the callback is the caller's), so it is tested
against a real MLflow server without a cluster.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

SECRET_ENV = "VALIDATE_REGISTRY_WEBHOOK_SECRET"
MIN_SECRET_CHARS = 16
PATH = "/mlflow-webhook"
DELIVERY_HEADER = "X-MLflow-Delivery-Id"
TIMESTAMP_HEADER = "X-MLflow-Timestamp"
SIGNATURE_HEADER = "X-MLflow-Signature"
SIGNATURE_VERSION = "v1"
# Standard Webhooks' default: MLflow stamps the time it sends, retries within a minute or so.
TOLERANCE_S = 300
# A model_version.created payload is a name, a version, a source, tags and a description.
MAX_BODY_BYTES = 1024 * 1024
MAX_REMEMBERED = 10_000

logger = logging.getLogger(__name__)


class Headers(Protocol):
    """HTTP headers: ``http.server``'s message (names case-insensitive), or a dict."""

    def get(self, name: str, default: None = None) -> str | None: ...


class Rejected(Exception):
    """A delivery refused: the HTTP status to answer and why."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class Event:
    """A verified registry event: ``entity.action`` and, for model versions, which one."""

    delivery_id: str
    entity: str
    action: str
    model: str | None
    version: str | None


def signature(secret: str, delivery_id: str, timestamp: str, body: bytes) -> str:
    """``v1,<base64 HMAC-SHA256>`` of ``<delivery id>.<timestamp>.<body>``, as MLflow signs."""
    signed = f"{delivery_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).digest()
    return f"{SIGNATURE_VERSION},{base64.b64encode(digest).decode()}"


def verify(
    secret: str,
    headers: Headers,
    body: bytes,
    *,
    now: float,
    tolerance_s: float = TOLERANCE_S,
) -> Event:
    """The event a delivery carries, or :class:`Rejected` (401 for anything unsigned or
    signed wrongly or too far from ``now``; 400 for a signed body that is not an event)."""
    delivery_id = headers.get(DELIVERY_HEADER) or ""
    timestamp = headers.get(TIMESTAMP_HEADER) or ""
    offered = headers.get(SIGNATURE_HEADER) or ""
    if not delivery_id or not timestamp or not offered:
        raise Rejected(401, "unsigned: a delivery id, a timestamp and a signature are required")
    if not timestamp.isdigit() or len(timestamp) > 12:
        raise Rejected(401, "the timestamp is not Unix seconds")
    if abs(now - int(timestamp)) > tolerance_s:
        raise Rejected(401, f"the timestamp is more than {tolerance_s:.0f} s from now")
    expected = signature(secret, delivery_id, timestamp, body)
    # Standard Webhooks allows several space-separated signatures (key rotation).
    if not any(hmac.compare_digest(expected, one) for one in offered.split()):
        raise Rejected(401, "the signature does not match")
    try:
        payload = json.loads(body)
        entity, action = str(payload["entity"]), str(payload["action"])
        data = payload.get("data") or {}
    except (ValueError, KeyError, TypeError) as exc:
        raise Rejected(400, f"not an MLflow webhook payload: {exc}") from exc
    model = data.get("name") if isinstance(data, dict) else None
    version = data.get("version") if isinstance(data, dict) else None
    return Event(
        delivery_id=delivery_id,
        entity=entity,
        action=action,
        model=str(model) if model is not None else None,
        version=str(version) if version is not None else None,
    )


class Deliveries:
    """Delivery ids seen within the tolerance window: a replay inside it does nothing.
    (Outside it the timestamp refuses it; MLflow's own retries reuse the id.)"""

    def __init__(self, window_s: float = TOLERANCE_S) -> None:
        self.window_s = window_s
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()

    def first(self, delivery_id: str, now: float) -> bool:
        with self._lock:
            for key in [k for k, t in self._seen.items() if now - t > 2 * self.window_s]:
                del self._seen[key]
            if delivery_id in self._seen:
                return False
            if len(self._seen) >= MAX_REMEMBERED:  # a flood of valid deliveries: forget
                self._seen.pop(next(iter(self._seen)))
            self._seen[delivery_id] = now
            return True


def handler_class(
    secret: str, on_created: Callable[[str, str], Any], deliveries: Deliveries
) -> type[BaseHTTPRequestHandler]:
    """The request handler: POST ``PATH`` only, a body of at most ``MAX_BODY_BYTES``."""

    class Handler(BaseHTTPRequestHandler):
        timeout = 10  # a client that stalls mid-request loses its thread after this
        server_version = "validate-operator"
        sys_version = ""

        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            try:
                self.answer(202, self.receive())
            except Rejected as exc:
                logger.warning(f"registry webhook refused: {exc.reason}")
                self.answer(exc.status, exc.reason)

        def do_GET(self) -> None:  # noqa: N802
            self.answer(405, "POST only")

        def receive(self) -> str:
            if self.path.split("?")[0] != PATH:
                raise Rejected(404, f"not found: the registry webhook is {PATH}")
            length = self.headers.get("Content-Length")
            if length is None or not length.isdigit():
                raise Rejected(411, "a Content-Length is required")
            if int(length) > MAX_BODY_BYTES:
                raise Rejected(413, f"the body is over {MAX_BODY_BYTES} bytes")
            body = self.rfile.read(int(length))
            now = time.time()
            event = verify(secret, self.headers, body, now=now)
            if not deliveries.first(event.delivery_id, now):
                return "already received"
            if (event.entity, event.action) != ("model_version", "created"):
                return f"ignored: {event.entity}.{event.action}"
            if not event.model or not event.version:
                raise Rejected(400, "model_version.created without a name and a version")
            try:
                on_created(event.model, event.version)
            except Exception as exc:  # noqa: BLE001 - 503: MLflow retries it
                raise Rejected(503, f"could not ask the policies to poll: {exc}") from exc
            return f"poll requested for {event.model} (version {event.version})"

        def answer(self, status: int, message: str) -> None:
            body = (json.dumps({"message": message}) + "\n").encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)
            self.close_connection = True

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            logger.debug(format, *args)

    return Handler


@dataclass(frozen=True)
class Serving:
    """Where the registry webhook listens; HTTPS when a certificate and key are given."""

    port: int
    address: str = "0.0.0.0"
    tls_cert: str | None = None
    tls_key: str | None = None


def serve(
    secret: str, serving: Serving, on_created: Callable[[str, str], Any]
) -> ThreadingHTTPServer:
    """Start serving in a daemon thread; returns the server (``shutdown()`` stops it)."""
    if len(secret) < MIN_SECRET_CHARS:
        raise ValueError(f"{SECRET_ENV} is shorter than {MIN_SECRET_CHARS} characters")
    server = ThreadingHTTPServer(
        (serving.address, serving.port), handler_class(secret, on_created, Deliveries())
    )
    server.daemon_threads = True
    if serving.tls_cert:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(serving.tls_cert, serving.tls_key)
        # The handshake happens in the request's own thread (under its timeout), not in the
        # accepting one, so a client that stalls mid-handshake holds up nobody else.
        server.socket = context.wrap_socket(
            server.socket, server_side=True, do_handshake_on_connect=False
        )
    threading.Thread(target=server.serve_forever, name="registry-webhook", daemon=True).start()
    return server
