"""A fake service "inside the customer's network" for the customer-agent tests: the
scripted FakeService (tests/fakes/http_service.py) behind TLS, with a certificate for
internal host names signed by a throwaway CA.

Warden's own client may not reach it: its names resolve (in the fake DNS of the test
process) to 127.0.0.1, which the SSRF guard refuses, and it speaks https on a port other
than 443. Only the agent reaches it (`--resolve NAME=127.0.0.1`, `--target-ca-bundle`).

    material = make_certificates(tmp_path, ["ghe.corp.test"])
    with InternalService(material) as service:
        service.script = [Answer(201)]
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from .http_service import Answer, FakeService


@dataclass(frozen=True)
class TlsMaterial:
    ca: Path  # the CA certificate (PEM): what the agent trusts
    cert: Path
    key: Path
    hosts: tuple[str, ...]


def _usage(**enabled: bool) -> x509.KeyUsage:
    names = ("digital_signature", "content_commitment", "key_encipherment", "data_encipherment", "key_agreement",
             "key_cert_sign", "crl_sign", "encipher_only", "decipher_only")
    return x509.KeyUsage(**{name: enabled.get(name, False) for name in names})


def make_certificates(directory: Path, hosts: list[str]) -> TlsMaterial:
    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Warden tests internal CA")])
    ca = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_usage(key_cert_sign=True, crl_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])]))
        .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1)).not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(h) for h in hosts]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_usage(digital_signature=True), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    paths = TlsMaterial(ca=directory / "internal-ca.pem", cert=directory / "internal.pem",
                        key=directory / "internal.key", hosts=tuple(hosts))
    paths.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths.key.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                            serialization.NoEncryption()))
    return paths


class InternalService(FakeService):
    """FakeService over TLS. The handshake happens in the request's own thread (on its
    first read), so a client that dies mid-handshake holds up nobody else."""

    def __init__(self, material: TlsMaterial, default: Answer | None = None) -> None:
        super().__init__(default)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(material.cert), str(material.key))
        accept = self.server.get_request

        def get_request():
            sock, address = accept()
            return context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), address

        self.server.get_request = get_request
        self.server.RequestHandlerClass.timeout = 15  # per read: a vanished client frees its thread
        self.url = f"https://{material.hosts[0]}:{self.port}"

    def url_for(self, host: str) -> str:
        return f"https://{host}:{self.port}"
