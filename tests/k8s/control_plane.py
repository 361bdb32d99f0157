"""A real Kubernetes control plane on 127.0.0.1 for the executor's integration tests:
Debian's etcd, and kube-apiserver, kube-controller-manager (Job, TTL-after-finished,
garbage-collector and service-account controllers) and kube-scheduler v1.20.2 built
by build_control_plane.sh. Token authentication, RBAC, loopback only."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def binaries() -> Path:
    """Build (or find cached) the control-plane binaries; raises RuntimeError when it cannot."""
    done = subprocess.run(
        ["bash", str(HERE / "build_control_plane.sh")], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(done.stderr.strip() or "build_control_plane.sh failed")
    return Path(done.stdout.strip().splitlines()[-1])


class ControlPlane:
    """Start with :meth:`start`, point clients at :attr:`kubeconfig`, :meth:`stop` at the end."""

    def __init__(self, folder: Path, bin_dir: Path) -> None:
        self.folder = folder
        self.bin_dir = bin_dir
        self.api_port = free_port()
        self.etcd_port = free_port()
        self.token = secrets.token_hex(16)
        self.server = f"https://127.0.0.1:{self.api_port}"
        self.kubeconfig = folder / "kubeconfig.yaml"
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def start(self) -> ControlPlane:
        self.folder.mkdir(parents=True, exist_ok=True)
        self._keys()
        (self.folder / "tokens.csv").write_text(f'{self.token},admin,1,"system:masters"\n')
        self.kubeconfig.write_text(
            "apiVersion: v1\nkind: Config\ncurrent-context: local\n"
            f"clusters: [{{name: local, cluster: {{server: '{self.server}', "
            "insecure-skip-tls-verify: true}}]\n"
            f"users: [{{name: admin, user: {{token: '{self.token}'}}}}]\n"
            "contexts: [{name: local, context: {cluster: local, user: admin}}]\n"
        )
        peer = free_port()
        self._spawn(
            "etcd",
            [
                shutil.which("etcd") or "/usr/bin/etcd",
                "--data-dir",
                str(self.folder / "etcd"),
                "--listen-client-urls",
                f"http://127.0.0.1:{self.etcd_port}",
                "--advertise-client-urls",
                f"http://127.0.0.1:{self.etcd_port}",
                "--listen-peer-urls",
                f"http://127.0.0.1:{peer}",
                "--initial-advertise-peer-urls",
                f"http://127.0.0.1:{peer}",
                "--initial-cluster",
                f"default=http://127.0.0.1:{peer}",
            ],
        )
        self._spawn(
            "kube-apiserver",
            [
                str(self.bin_dir / "kube-apiserver"),
                f"--etcd-servers=http://127.0.0.1:{self.etcd_port}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                f"--secure-port={self.api_port}",
                "--insecure-port=0",
                f"--cert-dir={self.folder / 'certs'}",
                f"--token-auth-file={self.folder / 'tokens.csv'}",
                "--authorization-mode=RBAC",
                f"--service-account-key-file={self.folder / 'sa.pub'}",
                f"--service-account-signing-key-file={self.folder / 'sa.key'}",
                "--service-account-issuer=https://kubernetes.default.svc",
                "--service-cluster-ip-range=10.96.0.0/24",
                "--feature-gates=TTLAfterFinished=true",
                # Nodes register Ready at once (no node-lifecycle controller clears taints).
                "--disable-admission-plugins=TaintNodesByCondition",
                # On by default in 1.20; named so the operator's admission test never
                # depends on a default (it calls the operator on https://127.0.0.1).
                "--enable-admission-plugins=ValidatingAdmissionWebhook",
                "--kubelet-preferred-address-types=InternalIP",
                "--allow-privileged=false",
                "--profiling=false",
            ],
        )
        self._wait_healthy()
        common = [
            f"--kubeconfig={self.kubeconfig}",
            "--leader-elect=false",
            "--bind-address=127.0.0.1",
            "--port=0",
            f"--secure-port={free_port()}",
        ]
        self._spawn(
            "kube-controller-manager",
            [
                str(self.bin_dir / "kube-controller-manager"),
                *common,
                # serviceaccount-token: a 1.20 API server admits a pod that mounts its
                # service account's token only once the account has a token Secret.
                "--controllers=job,ttl-after-finished,garbagecollector,serviceaccount,"
                "serviceaccount-token",
                f"--service-account-private-key-file={self.folder / 'sa.key'}",
                "--feature-gates=TTLAfterFinished=true",
                "--use-service-account-credentials=false",
            ],
        )
        self._spawn(
            "kube-scheduler",
            [str(self.bin_dir / "kube-scheduler"), *common[:4], f"--secure-port={free_port()}"],
        )
        return self

    def stop(self) -> None:
        for name in reversed(list(self.processes)):
            process = self.processes.pop(name)
            try:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(timeout=20)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)

    def log(self, name: str) -> str:
        path = self.folder / f"{name}.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def _spawn(self, name: str, command: list[str]) -> None:
        log = open(self.folder / f"{name}.log", "w")  # noqa: SIM115 - the process holds it
        self.processes[name] = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()

    def _wait_healthy(self, timeout_s: float = 120) -> None:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        request = urllib.request.Request(
            f"{self.server}/readyz", headers={"Authorization": f"Bearer {self.token}"}
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for name, process in self.processes.items():
                if process.poll() is not None:
                    raise RuntimeError(f"{name} exited: {self.log(name)}")
            try:
                with urllib.request.urlopen(request, timeout=3, context=context) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.5)
        raise RuntimeError(f"kube-apiserver not ready: {self.log('kube-apiserver')}")

    def _keys(self) -> None:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        (self.folder / "sa.key").write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.TraditionalOpenSSL,
                serialization.NoEncryption(),
            )
        )
        (self.folder / "sa.pub").write_bytes(
            key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
