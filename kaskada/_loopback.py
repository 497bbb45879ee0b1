"""What counts as loopback: one rule for the client (plaintext allowed) and the server.

``localhost`` (exactly; not ``localhost.`` and not ``*.localhost``, which a
resolver may send to DNS), any address in 127.0.0.0/8, and ``::1``. Nothing
else: an IPv4-mapped address or a zone id is not loopback here, so a secret
never travels in plaintext on the strength of a name that might not be local.
"""

from __future__ import annotations

import ipaddress


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
