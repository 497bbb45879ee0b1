"""One check for a gRPC ``host:port``, shared by resolution and the CLI's flag type.

Without a port, gRPC silently dials 443 and the failure comes much later as
``ipv4:127.0.0.1:443 … Connection refused``; the check says so at the entry.
"""

from __future__ import annotations


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
