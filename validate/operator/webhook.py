"""The admission webhook's TLS endpoint and the ValidatingWebhookConfiguration it keeps true.

kopf serves admission reviews (``kopf.WebhookServer``, aiohttp, HTTPS). Two things are ours:

- the certificate: kopf self-signs with ``certbuilder``, which is not installed with it; we
  self-sign with ``cryptography`` (already a dependency), a fresh key at every start that
  never leaves the process;
- several replicas: each self-signs its own certificate, and the API server reaches any of
  them through the one Service, so the ``caBundle`` holds every live replica's CA: a replica
  adds its own and drops the expired ones and those of replicas (named in the certificate's
  common name, ``POD_ID``) whose pod is gone. A dead replica's CA is harmless meanwhile: its
  key died with it;
- the configuration: kopf's managed mode rewrites whole webhook entries and has no
  ``namespaceSelector``, so opted-in namespaces and the failure policy could not be set by
  the install. The install ships the ValidatingWebhookConfiguration (``ci/operator``); the
  operator only writes each webhook's ``clientConfig``: the CA bundle of the certificate it
  serves, and, when reached by URL (outside a cluster, as in the tests), the URL.

Imported only by ``validate operator`` when admission is enabled.
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import ipaddress
import os
from collections.abc import AsyncIterator, Callable, Collection
from typing import Any

import kopf

WEBHOOK_PATH = "validate-workloads"  # kopf's handler id: the path the API server posts to
COMMON_NAME = "validate-operator"
MAX_BUNDLE = 16  # CAs kept in the bundle, newest first, whatever happens to pruning


def self_signed(
    hostnames: Collection[str], password: str | None = None, replica: str | None = None
) -> tuple[bytes, bytes]:
    """A self-signed CA-and-server certificate for ``hostnames`` (DNS names and IPs as
    subject alternative names; Go's TLS ignores the common name, which names the replica)
    and its private key, PEM."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    names: list[x509.GeneralName] = []
    for host in dict.fromkeys(hostnames):
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            names.append(x509.DNSName(host))
        else:
            if not address.is_unspecified:
                names.append(x509.IPAddress(address))
    key = ec.generate_private_key(ec.SECP256R1())
    name = f"{COMMON_NAME} {replica}" if replica else COMMON_NAME
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name[:64])])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=365))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password.encode())
        if password
        else serialization.NoEncryption()
    )
    return (
        certificate.public_bytes(serialization.Encoding.PEM),
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
        ),
    )


def merge_ca_bundle(
    current: str | None,
    own_pem: bytes,
    *,
    now: datetime.datetime,
    live: Callable[[], Collection[str]] | None = None,
) -> str:
    """The ``caBundle`` (base64 of PEM certificates) with this replica's CA first, then the
    others that have not expired and, when ``live`` lists the replicas that exist, whose
    replica still does (a certificate naming none is kept until it expires)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.x509.oid import NameOID

    own = x509.load_pem_x509_certificate(own_pem)
    others = x509.load_pem_x509_certificates(base64.b64decode(current)) if current else []
    try:
        alive = None if live is None else set(live())
    except Exception:  # noqa: BLE001 - cannot tell who lives: prune only the expired
        alive = None
    kept = [own]
    for cert in sorted(others, key=lambda c: c.not_valid_before_utc, reverse=True):
        names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        replica = str(names[0].value).partition(" ")[2] if names else ""
        if cert == own or cert.not_valid_after_utc <= now:
            continue
        if alive is not None and replica and replica not in alive:
            continue
        kept.append(cert)
    pem = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in kept[:MAX_BUNDLE])
    return base64.b64encode(pem).decode()


class AdmissionServer(kopf.WebhookServer):
    """kopf's HTTPS webhook server, self-signed with ``cryptography``, which writes the CA
    bundle (and, with ``by_url``, the URL) into the webhooks of ``configuration`` each time
    it (re)starts serving."""

    def __init__(
        self,
        *,
        configuration: str | None,
        by_url: bool,
        admissionregistration: Any,
        replicas: Callable[[], Collection[str]] | None = None,
        **kw: Any,
    ) -> None:
        super().__init__(**kw)
        self.configuration = configuration
        self.by_url = by_url
        self.api = admissionregistration
        self.replicas = replicas  # the pods that exist now, for pruning the CA bundle

    @staticmethod
    def build_certificate(
        hostnames: Collection[str], password: str | None = None
    ) -> tuple[bytes, bytes]:
        return self_signed(hostnames, password, replica=os.environ.get("POD_ID"))

    async def __call__(self, fn: Any) -> AsyncIterator[Any]:
        async for client_config in super().__call__(fn):
            if self.configuration:
                await asyncio.to_thread(self.write_client_config, dict(client_config))
            yield client_config

    def write_client_config(self, client_config: dict[str, Any]) -> None:
        """Write ``client_config``'s CA (and, ``by_url``, its URL) into every webhook of the
        configuration; everything else stays as the install shipped it. Replicas write at
        the same time: a write over a changed object is refused, re-read and tried again."""
        from kubernetes.client.rest import ApiException

        for attempt in range(8):
            try:
                self.write_once(client_config)
                return
            except ApiException as exc:
                if exc.status not in (409, 422) or attempt == 7:
                    raise

    def write_once(self, client_config: dict[str, Any]) -> None:
        found = self.api.read_validating_webhook_configuration(self.configuration)
        patch: list[dict[str, Any]] = []
        for index, _ in enumerate(found.webhooks or []):
            if self.by_url:
                url = f"{client_config['url'].rstrip('/')}/{WEBHOOK_PATH}"
                value = {"url": url, "caBundle": client_config["caBundle"]}
                patch.append({"op": "replace", "path": f"/webhooks/{index}/clientConfig",
                              "value": value})  # fmt: skip
            else:  # the install's Service reference stays; only the CA bundle is ours
                current = found.webhooks[index].client_config.ca_bundle
                if isinstance(current, bytes):
                    current = current.decode()
                bundle = merge_ca_bundle(
                    current,
                    base64.b64decode(client_config["caBundle"]),
                    now=datetime.datetime.now(datetime.timezone.utc),
                    live=self.replicas,
                )
                patch.append({"op": "add", "path": f"/webhooks/{index}/clientConfig/caBundle",
                              "value": bundle})  # fmt: skip
        if patch:
            # Refuse to write over a list that changed since it was read.
            guard = {
                "op": "test",
                "path": "/metadata/resourceVersion",
                "value": found.metadata.resource_version,
            }
            self.api.patch_validating_webhook_configuration(self.configuration, [guard, *patch])
