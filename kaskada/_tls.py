"""Say what TLS verification refused, and the fix, instead of "could not be reached".

gRPC and urllib report a refused certificate as a connection failure; the server
is running, what is missing is trust, the right name or a current certificate.
Both sides' texts (BoringSSL's and OpenSSL's) carry the verifier's reason.
"""

from __future__ import annotations

import socket
import ssl

_UNTRUSTED = (
    "unable to get local issuer certificate",
    "self-signed certificate",
    "self signed certificate",
    "unable to verify the first certificate",
    "unable to get issuer certificate",
)
_MISMATCH = (
    "Hostname Verification Check failed",  # gRPC 1.64+
    "is not in peer certificate",  # gRPC before 1.64: "Peer name X is not in peer certificate"
    "Hostname mismatch",  # OpenSSL (urllib)
    "IP address mismatch",
)
_REASONS = (*_UNTRUSTED, *_MISMATCH, "certificate has expired", "certificate is not yet valid")
# What marks a TLS error text as a refused certificate, in gRPC's and OpenSSL's words.
REFUSED_MARKERS = ("CERTIFICATE_VERIFY_FAILED", "Verification Check", "peer certificate")


def refusal_reason(address: str, ca_bundle: str | None, timeout: float = 2.0) -> str:
    """Why a TLS handshake with the same trust refuses ``address``'s certificate, in
    OpenSSL's words ("" if it does not): gRPC before 1.64 says only
    CERTIFICATE_VERIFY_FAILED, so the client asks once more itself."""
    where = split_host_port(address)
    if where is None:
        return ""
    host, port = where
    try:
        context = ssl.create_default_context(cafile=ca_bundle or None)
        context.set_alpn_protocols(["h2", "http/1.1"])
        with (socket.create_connection((host, port), timeout=timeout) as raw,
              context.wrap_socket(raw, server_hostname=host)):
            return ""
    except ssl.SSLCertVerificationError as error:
        return str(error.verify_message or error)
    except (OSError, ValueError):
        return ""


def split_host_port(address: str) -> tuple[str, int] | None:
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        return None
    return host.strip("[]"), int(port)


def certificate_names(host: str, port: int, timeout: float = 2.0) -> list[str]:
    """The names the server's certificate holds (its subjectAltName), read by
    trusting that certificate alone for this one look: [] if it cannot be read."""
    try:
        plain = ssl.create_default_context()
        plain.check_hostname = False
        plain.verify_mode = ssl.CERT_NONE
        plain.set_alpn_protocols(["h2", "http/1.1"])
        with (socket.create_connection((host, port), timeout=timeout) as raw,
              plain.wrap_socket(raw, server_hostname=host) as tls):
            der = tls.getpeercert(binary_form=True)
        if not der:
            return []
        pinned = ssl.create_default_context(cadata=ssl.DER_cert_to_PEM_cert(der))
        pinned.check_hostname = False
        pinned.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
        pinned.set_alpn_protocols(["h2", "http/1.1"])
        with (socket.create_connection((host, port), timeout=timeout) as raw,
              pinned.wrap_socket(raw, server_hostname=host) as tls):
            decoded = tls.getpeercert() or {}
    except (OSError, ValueError):
        return []
    alt_names: tuple[tuple[str, str], ...] = decoded.get("subjectAltName", ())  # type: ignore[assignment]
    return [value for _kind, value in alt_names]


def verify_failure(text: str, *, what: str, address: str, ca_bundle: str | None) -> str | None:
    """One line for a certificate the client refused (``text`` is the TLS error),
    or None when ``text`` is no verification failure. ``what`` names the service
    ("the Kaskada API at HOST:PORT"), ``address`` is its HOST:PORT."""
    if not any(reason in text for reason in _REASONS):
        text = f"{text} {refusal_reason(address, ca_bundle)}"
    if any(marker in text for marker in _MISMATCH):
        where = split_host_port(address)
        names = certificate_names(*where) if where else []
        held = f"it holds {', '.join(names)}" if names else "it names another host"
        return (
            f"{what}: its certificate is not for {where[0] if where else address} ({held}): "
            "connect with a name the certificate holds, or give the server a certificate "
            "for this name"
        )
    if "certificate has expired" in text:
        return (
            f"{what}: its certificate has expired: the server needs a renewed certificate "
            "(`kaskada serve --tls-cert NEW.pem --tls-key NEW-key.pem`); check this "
            "machine's clock too"
        )
    if "certificate is not yet valid" in text:
        return f"{what}: its certificate is not valid yet: check this machine's clock"
    if any(marker in text for marker in _UNTRUSTED):
        trusted = f"the ca_bundle {ca_bundle}" if ca_bundle else "the system's roots"
        return (
            f"{what}: its certificate is not trusted ({trusted} do not hold the CA that "
            "signed it): pass --ca-bundle FILE (ca_bundle in the profile, KASKADA_CA_BUNDLE) "
            "naming that CA, e.g. the file `kaskada serve` printed"
        )
    return None


def holds_its_own_root(path: str) -> bool:
    """Whether a PEM file holds a self-signed CA certificate, so that clients can
    trust the file itself: a self-signed certificate, or a chain ending in its root."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        context.load_verify_locations(cafile=path)
    except (OSError, ssl.SSLError):
        return False
    return any(c.get("subject") == c.get("issuer") for c in context.get_ca_certs())
