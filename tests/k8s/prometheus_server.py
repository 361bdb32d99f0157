"""A real Prometheus server (Debian's ``prometheus`` package) on 127.0.0.1 for tests: it
scrapes the given targets every second, and is queried through its HTTP API."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from control_plane import free_port

BINARY = "prometheus"


def prometheus_binary() -> str | None:
    """The prometheus executable, or None where the package is not installed."""
    return shutil.which(BINARY) or (
        "/usr/bin/prometheus" if os.access("/usr/bin/prometheus", os.X_OK) else None
    )


class PrometheusServer:
    """Start with :meth:`start`, :meth:`query` its HTTP API, :meth:`stop` at the end."""

    def __init__(self, folder: Path, targets: list[str], binary: str) -> None:
        self.folder, self.targets, self.binary = folder, targets, binary
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 120) -> PrometheusServer:
        self.folder.mkdir(parents=True, exist_ok=True)
        config = self.folder / "prometheus.yml"
        config.write_text(
            json.dumps(  # YAML is a superset of JSON
                {
                    "global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
                    "scrape_configs": [
                        {
                            "job_name": "validate-operator",
                            "static_configs": [{"targets": self.targets}],
                        }
                    ],
                }  # fmt: skip
            )
        )
        log = open(self.folder / "prometheus.log", "w")  # noqa: SIM115 - the process holds it
        self.process = subprocess.Popen(
            [
                self.binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={self.folder / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--log.level=warn",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"prometheus exited: {self.log()}")
            with (
                contextlib.suppress(OSError),
                urllib.request.urlopen(f"{self.url}/-/ready", timeout=3) as response,
            ):
                if response.status == 200:
                    return self
            time.sleep(0.5)
        raise RuntimeError(f"prometheus not ready: {self.log()}")

    def query(self, expression: str) -> list[dict[str, Any]]:
        """The instant vector ``expression`` evaluates to now (Prometheus's /api/v1/query)."""
        url = f"{self.url}/api/v1/query?{urllib.parse.urlencode({'query': expression})}"
        with urllib.request.urlopen(url, timeout=10) as response:
            answer = json.load(response)
        assert answer["status"] == "success", answer
        return answer["data"]["result"]

    def wait_for(self, expression: str, expected: float, timeout_s: float = 60) -> float:
        """Poll until ``expression`` has the single value ``expected`` (a scrape or two);
        returns the last value seen, so a mismatch reports what Prometheus holds."""
        deadline = time.monotonic() + timeout_s
        value = float("nan")
        while time.monotonic() < deadline:
            result = self.query(expression)
            if len(result) == 1:
                value = float(result[0]["value"][1])
                if value == expected:
                    return value
            time.sleep(0.5)
        return value

    def log(self) -> str:
        path = self.folder / "prometheus.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
