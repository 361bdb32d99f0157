"""A small OTLP/HTTP receiver on 127.0.0.1 for tests: it decodes the protobuf messages
(``opentelemetry-proto``) the exporters send to ``/v1/traces`` and ``/v1/metrics``."""

from __future__ import annotations

import gzip
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

ROUTES = {
    "/v1/traces": (ExportTraceServiceRequest, ExportTraceServiceResponse),
    "/v1/metrics": (ExportMetricsServiceRequest, ExportMetricsServiceResponse),
}


def value_of(value: AnyValue) -> Any:
    """An attribute's value as Python (strings, numbers, booleans, arrays)."""
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [value_of(v) for v in value.array_value.values]
    return getattr(value, kind) if kind else None


def attributes(items: Any) -> dict[str, Any]:
    return {item.key: value_of(item.value) for item in items}


class OtlpReceiver:
    """Collects every export request; ``spans()`` and ``metrics()`` flatten them."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, Any]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                route = ROUTES.get(self.path)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if route is None or self.headers.get("Content-Type") != "application/x-protobuf":
                    self.send_response(404)
                    self.end_headers()
                    return
                encoding = self.headers.get("Content-Encoding", "")
                if encoding == "gzip":
                    body = gzip.decompress(body)
                elif encoding == "deflate":
                    body = zlib.decompress(body)
                message = route[0]()
                message.ParseFromString(body)
                with receiver.lock:
                    receiver.requests.append((self.path, message))
                reply = route[1]().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> OtlpReceiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()

    def clear(self) -> None:
        with self.lock:
            self.requests.clear()

    def spans(self) -> list[dict[str, Any]]:
        """Every span received: name, hex ids, attributes, events, status, resource."""
        found = []
        with self.lock:
            requests = [m for path, m in self.requests if path == "/v1/traces"]
        for request in requests:
            for resource_spans in request.resource_spans:
                resource = attributes(resource_spans.resource.attributes)
                for scope in resource_spans.scope_spans:
                    for span in scope.spans:
                        found.append(
                            {
                                "name": span.name,
                                "trace_id": span.trace_id.hex(),
                                "span_id": span.span_id.hex(),
                                "parent_id": span.parent_span_id.hex() or None,
                                "attributes": attributes(span.attributes),
                                "events": [
                                    {"name": e.name, "attributes": attributes(e.attributes)}
                                    for e in span.events
                                ],
                                "status": (span.status.code, span.status.message),
                                "resource": resource,
                                "scope": scope.scope.name,
                            }
                        )
        return found

    def metrics(self) -> dict[str, list[dict[str, Any]]]:
        """Data points by metric name: attributes, value (sum/gauge) or count/sum (histogram),
        unit, and the kind of metric."""
        found: dict[str, list[dict[str, Any]]] = {}
        with self.lock:
            requests = [m for path, m in self.requests if path == "/v1/metrics"]
        for request in requests:
            for resource_metrics in request.resource_metrics:
                for scope in resource_metrics.scope_metrics:
                    for metric in scope.metrics:
                        kind = metric.WhichOneof("data")
                        for point in getattr(metric, kind).data_points:
                            entry = {
                                "kind": kind,
                                "unit": metric.unit,
                                "attributes": attributes(point.attributes),
                            }
                            if kind == "histogram":
                                entry.update(count=point.count, sum=point.sum)
                            else:
                                entry["value"] = (
                                    point.as_double
                                    if point.WhichOneof("value") == "as_double"
                                    else point.as_int
                                )
                            found.setdefault(metric.name, []).append(entry)
        return found
