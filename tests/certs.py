"""Test certificates that pass strict verification (Python 3.13's default
VERIFY_X509_STRICT): a CA with basicConstraints critical, keyUsage and a Subject
Key Identifier; leaves with an Authority Key Identifier, keyUsage, serverAuth."""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

NAMES = ("localhost", "127.0.0.1")


@dataclass
class Issued:
    cert: Path
    key: Path
    certificate: Any
    private_key: Any


def _write(folder: Path, stem: str, certificate: Any, key: Any) -> Issued:
    from cryptography.hazmat.primitives import serialization

    cert_path, key_path = folder / f"{stem}.pem", folder / f"{stem}-key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ))
    return Issued(cert_path, key_path, certificate, key)


def _alt_names(names: tuple[str, ...]) -> Any:
    from cryptography import x509

    entries: list[Any] = []
    for name in names:
        try:
            entries.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            entries.append(x509.DNSName(name))
    return x509.SubjectAlternativeName(entries)


def make_ca(folder: Path, common_name: str = "kaskada test CA", stem: str = "ca") -> Issued:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
            encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                       critical=False)
        .sign(key, hashes.SHA256())
    )
    return _write(folder, stem, certificate, key)


def make_leaf(
    folder: Path,
    issuer: Issued | None = None,
    *,
    names: tuple[str, ...] = NAMES,
    stem: str = "cert",
    expired: bool = False,
) -> Issued:
    """A server certificate for ``names``, signed by ``issuer`` (self-signed without
    one, then also a CA so that it can be its own trust anchor)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    now = datetime.datetime.now(datetime.UTC)
    start, end = ((now - datetime.timedelta(days=2), now - datetime.timedelta(days=1))
                  if expired else (now - datetime.timedelta(minutes=5),
                                   now + datetime.timedelta(days=1)))
    signer_key = issuer.private_key if issuer else key
    issuer_name = issuer.certificate.subject if issuer else subject
    signer_public = signer_key.public_key()
    builder = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(issuer_name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(start).not_valid_after(end)
        .add_extension(_alt_names(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=None),
                       critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=issuer is None,
            crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                       critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                       critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(signer_public),
                       critical=False)
    )
    return _write(folder, stem, builder.sign(signer_key, hashes.SHA256()), key)


def chain_file(folder: Path, leaf: Issued, *issuers: Issued, stem: str = "chain") -> Path:
    """The leaf followed by its issuers, as a server's --tls-cert."""
    path = folder / f"{stem}.pem"
    path.write_bytes(b"".join(c.cert.read_bytes() for c in (leaf, *issuers)))
    return path
