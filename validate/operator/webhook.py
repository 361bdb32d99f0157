"""The admission webhook's TLS endpoint and the ValidatingWebhookConfiguration it keeps true.

kopf serves admission reviews (``kopf.WebhookServer``, aiohttp, HTTPS). Two things are ours:

- the certificate: kopf self-signs with ``certbuilder``, which is not installed with it; we
  self-sign with ``cryptography`` (already a dependency), a fresh key at every start that
  never leaves the process;
- the configuration: kopf's managed mode rewrites whole webhook entries and has no
  ``namespaceSelector``, so opted-in namespaces and the failure policy could not be set by
  the install. The install ships the ValidatingWebhookConfiguration (``ci/operator``); the
  operator only writes each webhook's ``clientConfig``: the CA bundle of the certificate it
  serves, and, when reached by URL (outside a cluster, as in the tests), the URL.

Imported only by ``validate operator`` when admission is enabled.
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
from collections.abc import AsyncIterator, Collection
from typing import Any

import kopf

WEBHOOK_PATH = "validate-workloads"  # kopf's handler id: the path the API server posts to


def self_signed(hostnames: Collection[str], password: str | None = None) -> tuple[bytes, bytes]:
    """A self-signed CA-and-server certificate for ``hostnames`` (DNS names and IPs as
    subject alternative names; Go's TLS ignores the common name) and its private key, PEM."""
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
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "validate-operator")])
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


class AdmissionServer(kopf.WebhookServer):
    """kopf's HTTPS webhook server, self-signed with ``cryptography``, which writes the CA
    bundle (and, with ``by_url``, the URL) into the webhooks of ``configuration`` each time
    it (re)starts serving."""

    def __init__(
        self, *, configuration: str | None, by_url: bool, admissionregistration: Any, **kw: Any
    ) -> None:
        super().__init__(**kw)
        self.configuration = configuration
        self.by_url = by_url
        self.api = admissionregistration

    @staticmethod
    def build_certificate(
        hostnames: Collection[str], password: str | None = None
    ) -> tuple[bytes, bytes]:
        return self_signed(hostnames, password)

    async def __call__(self, fn: Any) -> AsyncIterator[Any]:
        async for client_config in super().__call__(fn):
            if self.configuration:
                await asyncio.to_thread(self.write_client_config, dict(client_config))
            yield client_config

    def write_client_config(self, client_config: dict[str, Any]) -> None:
        """Write ``client_config``'s CA bundle (and, ``by_url``, its URL) into every webhook
        of the configuration; everything else stays as the install shipped it."""
        found = self.api.read_validating_webhook_configuration(self.configuration)
        patch: list[dict[str, Any]] = []
        for index, _ in enumerate(found.webhooks or []):
            if self.by_url:
                url = f"{client_config['url'].rstrip('/')}/{WEBHOOK_PATH}"
                value = {"url": url, "caBundle": client_config["caBundle"]}
                patch.append({"op": "replace", "path": f"/webhooks/{index}/clientConfig",
                              "value": value})  # fmt: skip
            else:  # the install's Service reference stays; only the CA is ours
                patch.append({"op": "add", "path": f"/webhooks/{index}/clientConfig/caBundle",
                              "value": client_config["caBundle"]})  # fmt: skip
        if patch:
            # Refuse to write over a list that changed since it was read.
            guard = {
                "op": "test",
                "path": "/metadata/resourceVersion",
                "value": found.metadata.resource_version,
            }
            self.api.patch_validating_webhook_configuration(self.configuration, [guard, *patch])
