"""A node agent that stands in for the kubelet in the executor's integration tests.

It registers a Node (advertising ``nvidia.com/gpu`` when asked), runs the container
command of each pod the real scheduler binds to it as a local process (images are
ignored: the command runs in this Python environment, in its own empty working
directory), reports pod status with exit code and termination message the way the
kubelet does, honours deletion (the process is killed, then the pod is released),
enforces the container's memory limit (OOMKilled), and serves container logs over
HTTPS so the API server's pod-log endpoint works.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import http.server
import os
import re
import signal
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

TERMINATION_LIMIT = 4096
FALLBACK_LOG_BYTES = 2048
_UNITS = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "k": 10**3, "M": 10**6, "G": 10**9}


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _bytes(quantity: str) -> int:
    match = re.fullmatch(r"([0-9.]+)([A-Za-z]*)", quantity)
    assert match, quantity
    return int(float(match.group(1)) * _UNITS.get(match.group(2), 1))


class _Container:
    def __init__(self, pod: Any, folder: Path) -> None:
        self.pod = pod
        self.folder = folder
        self.process: subprocess.Popen[bytes] | None = None
        self.started = _now()
        self.killed_for_memory = False
        self.deleting = False


class NodeAgent:
    """``start()`` registers the node and begins serving; ``stop()`` ends every pod."""

    def __init__(
        self, kubeconfig: Path, folder: Path, name: str = "validate-node-0", gpus: int = 1
    ) -> None:
        from kubernetes import client, config

        self.api_client = config.new_client_from_config(str(kubeconfig))
        self.core = client.CoreV1Api(self.api_client)
        self.folder = folder
        self.name = name
        self.gpus = gpus
        self.containers: dict[str, _Container] = {}
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.port = 0
        self.threads: list[threading.Thread] = []

    # --- lifecycle ------------------------------------------------------------------

    def start(self) -> NodeAgent:
        self.folder.mkdir(parents=True, exist_ok=True)
        self._serve_logs()
        self._register()
        for target in (self._watch_pods, self._watch_memory):
            thread = threading.Thread(target=target, daemon=True)
            thread.start()
            self.threads.append(thread)
        return self

    def stop(self) -> None:
        self.stopping.set()
        with self.lock:
            containers = list(self.containers.values())
        for container in containers:
            self._kill(container)
        self.httpd.shutdown()

    def _register(self) -> None:
        from kubernetes.client.rest import ApiException

        capacity = {"cpu": "16", "memory": "64Gi", "pods": "110"}
        if self.gpus:
            capacity["nvidia.com/gpu"] = str(self.gpus)
        body = {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": self.name,
                "labels": {"kubernetes.io/hostname": self.name, "kubernetes.io/os": "linux"},
            },
        }
        try:
            self.core.create_node(body)
        except ApiException as exc:
            if exc.status != 409:
                raise
        status = {
            "capacity": capacity,
            "allocatable": capacity,
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "reason": "KubeletReady",
                    "message": "validate node agent is ready",
                    "lastHeartbeatTime": _now(),
                    "lastTransitionTime": _now(),
                }
            ],
            "addresses": [
                {"type": "InternalIP", "address": "127.0.0.1"},
                {"type": "Hostname", "address": self.name},
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": self.port}},
            "nodeInfo": {
                "machineID": "validate",
                "systemUUID": "validate",
                "bootID": "validate",
                "kernelVersion": os.uname().release,
                "osImage": "validate node agent",
                "containerRuntimeVersion": "process://1",
                "kubeletVersion": "v1.20.2",
                "kubeProxyVersion": "v1.20.2",
                "operatingSystem": "linux",
                "architecture": "amd64",
            },
        }
        self.core.patch_node_status(self.name, {"status": status})

    # --- pods -----------------------------------------------------------------------

    def _watch_pods(self) -> None:
        from kubernetes import watch

        selector = f"spec.nodeName={self.name}"
        while not self.stopping.is_set():
            stream = watch.Watch()
            try:
                for event in stream.stream(
                    self.core.list_pod_for_all_namespaces,
                    field_selector=selector,
                    timeout_seconds=5,
                ):
                    self._on_pod(event["type"], event["object"])
                    if self.stopping.is_set():
                        stream.stop()
            except Exception:  # noqa: BLE001 - re-watch
                time.sleep(0.5)

    def _on_pod(self, kind: str, pod: Any) -> None:
        uid = pod.metadata.uid
        with self.lock:
            container = self.containers.get(uid)
        if kind == "DELETED" or pod.metadata.deletion_timestamp is not None:
            if container is not None:
                container.deleting = True
                self._kill(container)
            if kind != "DELETED":
                self._release(pod)
            return
        if container is None and pod.status.phase == "Pending":
            self._run(pod)

    def _run(self, pod: Any) -> None:
        spec = pod.spec.containers[0]
        folder = self.folder / pod.metadata.uid
        work = folder / "work"
        work.mkdir(parents=True)  # the container's own empty working directory
        container = _Container(pod, folder)
        with self.lock:
            self.containers[pod.metadata.uid] = container
        env = {
            # The "image" is this environment: its console scripts (validate) come first.
            "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
            "VALIDATE_TERMINATION_LOG": str(folder / "termination-log"),
            **{k: v for k, v in os.environ.items() if k.startswith(("PYTHON", "LANG", "LC_"))},
        }
        env.update(self._environment(pod.metadata.namespace, spec))
        env.update(self._service_account(pod, folder))
        env["HOME"] = str(folder)  # the pod's emptyDir /tmp
        env["MPLCONFIGDIR"] = str(folder / "matplotlib")
        log = open(folder / "log", "wb")  # noqa: SIM115 - the process holds it
        try:
            container.process = subprocess.Popen(
                [*(spec.command or []), *(spec.args or [])],
                cwd=work,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as exc:  # as the kubelet reports a command that cannot start
            terminated = {
                "exitCode": 128,
                "reason": "StartError",
                "message": f"failed to start container: {exc}",
                "startedAt": container.started,
                "finishedAt": _now(),
            }
            self._status(pod, "Failed", {"terminated": terminated})
            return
        finally:
            log.close()
        self._status(pod, "Running", {"running": {"startedAt": container.started}}, ready=True)
        threading.Thread(target=self._wait, args=(container,), daemon=True).start()

    def _service_account(self, pod: Any, folder: Path) -> dict[str, str]:
        """The kubelet's token projection, for a pod that mounts its service account's token:
        a bound token from the TokenRequest API, handed over as a kubeconfig ($KUBECONFIG)
        since a local process cannot read /var/run/secrets. Check pods mount none."""
        if pod.spec.automount_service_account_token is False:
            return {}
        account = pod.spec.service_account_name or "default"
        body = {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {
                "expirationSeconds": 3600,
                "boundObjectRef": {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "name": pod.metadata.name,
                    "uid": pod.metadata.uid,
                },
            },
        }
        token = self.core.create_namespaced_service_account_token(
            account, pod.metadata.namespace, body
        ).status.token
        path = folder / "kubeconfig.yaml"
        server = self.api_client.configuration.host
        path.write_text(
            "apiVersion: v1\nkind: Config\ncurrent-context: pod\n"
            f"clusters: [{{name: c, cluster: {{server: '{server}', "
            "insecure-skip-tls-verify: true}}]\n"
            f"users: [{{name: {account}, user: {{token: '{token}'}}}}]\n"
            "contexts: [{name: pod, context: {cluster: c, user: "
            f"{account}, namespace: {pod.metadata.namespace}}}}}]\n"
        )
        return {"KUBECONFIG": str(path)}

    def _wait(self, container: _Container) -> None:
        assert container.process is not None
        code = container.process.wait()
        if container.deleting:
            return
        pod = container.pod
        spec = pod.spec.containers[0]
        message = ""
        path = container.folder / "termination-log"
        if path.exists():
            message = path.read_bytes()[:TERMINATION_LIMIT].decode(errors="replace")
        if not message and code != 0 and spec.termination_message_policy == "FallbackToLogsOnError":
            message = (
                (container.folder / "log")
                .read_bytes()[-FALLBACK_LOG_BYTES:]
                .decode(errors="replace")
            )
        reason = (
            "OOMKilled" if container.killed_for_memory else ("Completed" if code == 0 else "Error")
        )
        exit_code = 137 if container.killed_for_memory else (code if code >= 0 else 128 - code)
        terminated = {
            "exitCode": exit_code,
            "reason": reason,
            "message": message,
            "startedAt": container.started,
            "finishedAt": _now(),
        }
        self._status(pod, "Succeeded" if exit_code == 0 else "Failed", {"terminated": terminated})

    def _status(self, pod: Any, phase: str, state: dict, ready: bool = False) -> None:
        from kubernetes.client.rest import ApiException

        spec = pod.spec.containers[0]
        status = {
            "phase": phase,
            "hostIP": "127.0.0.1",
            "podIP": "127.0.0.1",
            "startTime": pod.status.start_time.strftime("%Y-%m-%dT%H:%M:%SZ")
            if pod.status.start_time
            else _now(),
            "conditions": [
                {"type": "PodScheduled", "status": "True"},
                {"type": "Initialized", "status": "True"},
                {"type": "Ready", "status": "True" if ready else "False"},
                {"type": "ContainersReady", "status": "True" if ready else "False"},
            ],
            "containerStatuses": [
                {
                    "name": spec.name,
                    "image": spec.image,
                    "imageID": f"process://{spec.image}",
                    "ready": ready,
                    "restartCount": 0,
                    "started": phase == "Running",
                    "state": state,
                }
            ],
        }
        try:
            self.core.patch_namespaced_pod_status(
                pod.metadata.name, pod.metadata.namespace, {"status": status}
            )
        except ApiException as exc:
            if exc.status != 404:  # deleted meanwhile
                raise

    def _release(self, pod: Any) -> None:
        """The kubelet's last word on a deleted pod: remove it now."""
        from kubernetes.client import V1DeleteOptions
        from kubernetes.client.rest import ApiException

        try:
            self.core.delete_namespaced_pod(
                pod.metadata.name,
                pod.metadata.namespace,
                body=V1DeleteOptions(grace_period_seconds=0),
            )
        except ApiException as exc:
            if exc.status != 404:
                raise

    def _kill(self, container: _Container) -> None:
        process = container.process
        if process is None or process.poll() is not None:
            return
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def _environment(self, namespace: str, spec: Any) -> dict[str, str]:
        env: dict[str, str] = {}
        for source in spec.env_from or []:
            if source.secret_ref is not None:
                env.update(self._secret(namespace, source.secret_ref.name))
        for var in spec.env or []:
            if var.value is not None:
                env[var.name] = var.value
            elif var.value_from is not None and var.value_from.secret_key_ref is not None:
                ref = var.value_from.secret_key_ref
                env[var.name] = self._secret(namespace, ref.name)[ref.key]
        return env

    def _secret(self, namespace: str, name: str) -> dict[str, str]:
        secret = self.core.read_namespaced_secret(name, namespace)
        return {k: base64.b64decode(v).decode() for k, v in (secret.data or {}).items()}

    def _watch_memory(self) -> None:
        """The container's memory limit: over it, the process is killed (OOMKilled)."""
        while not self.stopping.is_set():
            with self.lock:
                containers = list(self.containers.values())
            for container in containers:
                process = container.process
                limits = container.pod.spec.containers[0].resources.limits or {}
                if process is None or process.poll() is not None or "memory" not in limits:
                    continue
                if _tree_rss(process.pid) > _bytes(limits["memory"]):
                    container.killed_for_memory = True
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(process.pid, signal.SIGKILL)
            time.sleep(0.2)

    # --- logs -----------------------------------------------------------------------

    def _serve_logs(self) -> None:
        agent = self

        class Logs(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                match = re.match(r"^/containerLogs/([^/]+)/([^/]+)/([^/?]+)", self.path)
                found = None
                if match:
                    namespace, pod, _ = match.groups()
                    with agent.lock:
                        for container in agent.containers.values():
                            meta = container.pod.metadata
                            if (meta.namespace, meta.name) == (namespace, pod):
                                found = container
                if found is None:
                    self.send_error(404)
                    return
                text = (found.folder / "log").read_bytes()
                tail = re.search(r"tailLines=(\d+)", self.path)
                if tail:
                    text = (
                        b"\n".join(text.rstrip(b"\n").split(b"\n")[-int(tail.group(1)) :]) + b"\n"
                    )
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(text)))
                self.end_headers()
                self.wfile.write(text)

            def log_message(self, *args: Any) -> None:
                return

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Logs)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        cert, key = _self_signed(self.folder)
        context.load_cert_chain(cert, key)
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


def _tree_rss(pid: int) -> int:
    """Resident memory of a process and its descendants (bytes), from /proc."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            statm = (entry / "statm").read_text().split()
        except OSError:
            continue
        children.setdefault(int(stat[1]), []).append(int(entry.name))
        rss[int(entry.name)] = int(statm[1]) * os.sysconf("SC_PAGE_SIZE")
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        total += rss.get(current, 0)
        todo.extend(children.get(current, []))
    return total


def _self_signed(folder: Path) -> tuple[str, str]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "validate-node")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "node.crt", folder / "node.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(cert_path), str(key_path)
