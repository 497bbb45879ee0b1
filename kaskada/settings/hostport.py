"""The one check of a gRPC ``host:port``, for every entry point.

A flag (``--endpoint``, ``profile set NAME endpoint VALUE``), a profile in the
file, ``KASKADA_API_ENDPOINT`` and ``endpoint=`` all go through
:func:`endpoint_message`, so one mistake reads the same wherever it is made.
Without a port, gRPC silently dials 443 and the failure comes much later as
``ipv4:127.0.0.1:443 … Connection refused``; the check says so at the entry.

Also what counts as loopback, one rule for the client (plaintext allowed) and the
server: ``localhost`` (exactly; not ``localhost.`` and not ``*.localhost``, which
a resolver may send to DNS), any address in 127.0.0.0/8, and ``::1``. Nothing
else: an IPv4-mapped address or a zone id is not loopback here, so a secret
never travels in plaintext on the strength of a name that might not be local.
"""

from __future__ import annotations

import ipaddress


def host_port_problem(value: str) -> str | None:
    """Why ``value`` is not ``host:port`` (``[v6]:port`` too), or None when it is."""
    if value.startswith("["):
        close = value.find("]")
        host, rest = value[1:close], value[close + 1 :] if close > 0 else ""
        if close < 0 or not rest.startswith(":"):
            return "has no port after the bracketed address"
        port = rest[1:]
    else:
        host, colon, port = value.rpartition(":")
        if not colon:
            return "has no port"
        if ":" in host:
            return "is an IPv6 address without brackets; write it as [ADDRESS]:PORT"
    if not host:
        return "has no host"
    if not port.isdigit() or not 0 < int(port) <= 65535:
        return f"has {port!r} as its port, not a number from 1 to 65535"
    return None


def example_for(value: str) -> str:
    """A corrected value to show in the message: the local server's port on loopback."""
    host = value.strip().rstrip(":") or "localhost"
    if host.startswith("[") and "]" in host:
        host = host[: host.index("]") + 1]
    port = "50051" if host in ("localhost", "127.0.0.1", "[::1]") else "443"
    return f"{host}:{port}"


def _without_scheme(url: str) -> str:
    """``http://localhost:50051/x`` as the ``host:port`` it was meant to be."""
    # Lazy: only a mistaken endpoint gets here; the CLI's grammar imports this module.
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return "api.example.com:443"
    host = parts.hostname or "localhost"
    if ":" in host:
        host = f"[{host}]"
    if port is None:
        return example_for(host)
    return f"{host}:{port}"


def endpoint_problem(value: object) -> str | None:
    """What is wrong with ``value`` as a gRPC endpoint and how to write it, or None."""
    if not isinstance(value, str) or not value.strip():
        return "is not a gRPC host:port: give e.g. localhost:50051"
    if "://" in value:
        return (
            "is a URL, not a gRPC host:port: give it without a scheme, "
            f"e.g. {_without_scheme(value)}"
        )
    if any(ch.isspace() for ch in value):
        return "holds a space: give host:port alone, e.g. api.example.com:443"
    problem = host_port_problem(value)
    if problem is None:
        return None
    host, _, port = value.rpartition(":")
    example = f"[{host}]:{port}" if "without brackets" in problem else example_for(value)
    return (
        f"{problem}: a gRPC endpoint is host:port, e.g. {example} "
        "(the local server listens on 50051)"
    )


def endpoint_message(value: object, source: str | None) -> str | None:
    """The one message for a bad endpoint (None when it is good), naming where it came from."""
    problem = endpoint_problem(value)
    if problem is None:
        return None
    where = f" (from {source})" if source else ""
    return f"the endpoint {value!r}{where} {problem}"


def is_loopback(host: str) -> bool:
    """``localhost``, 127.0.0.0/8 and ``::1`` (brackets allowed around an IPv6 address)."""
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if host.lower() == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv4Address):
        return address in _V4_LOOPBACK
    return address == _V6_LOOPBACK


_V4_LOOPBACK = ipaddress.ip_network("127.0.0.0/8")
_V6_LOOPBACK = ipaddress.ip_address("::1")
