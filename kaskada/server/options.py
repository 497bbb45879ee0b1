"""What a local server is started with: one frozen dataclass that checks itself.

``start_server(**fields)`` and ``kaskada serve``'s flags both build a
``ServerOptions``; ``RunningServer`` takes it whole, so the parameters are
written down once. Cheap to import (no grpc, no sqlite3): the CLI builds it
before anything heavy loads.
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from kaskada._errors import InsecureConnectionError
from kaskada.server._errors import ServerError
from kaskada.settings.hostport import is_loopback

DEFAULT_MAX_TABLES_PER_ACCOUNT = 10000
MAX_PENDING_DEVICE_CODES_PER_PEER = 20
"""Unexpired device codes waiting for a person that one peer address asked for, by
default (``--max-device-codes-per-address``): one address cannot take the server's
whole pool of waiting codes from everyone else; beyond it, 429 ``Retry-After``."""
WILDCARD_HOSTS = ("0.0.0.0", "::", "[::]", "")
"""Bind addresses meaning every interface: no client can reach the server by them."""


def public_url_problem(url: str) -> str | None:
    """Why ``url`` cannot be the address clients reach the token endpoint by, else None."""
    parts = urllib.parse.urlsplit(url)
    try:
        parts.port  # noqa: B018 - a port out of range raises here
    except ValueError:
        return f"--public-url {url[:200]!r} has no valid port: give e.g. https://host:50052"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return (f"--public-url {url[:200]!r} is not an http(s) URL: give the address clients "
                "reach the token endpoint by, e.g. https://kaskada.example.com:50052")
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        return (f"--public-url {url[:200]!r} has a path, query or user: give only "
                "scheme://host[:port] (the endpoints' paths are fixed)")
    if parts.hostname in WILDCARD_HOSTS:
        return (f"--public-url {url[:200]!r} names every interface, which no client can "
                "reach: give this machine's name or address")
    return None


def default_public_url(scheme: str, host: str, port: int) -> str:
    """The bound address as a URL, a wildcard address as ``localhost``."""
    host = host.strip("[]")
    if host in WILDCARD_HOSTS:
        host = "localhost"
    return "{}://{}:{}".format(scheme, f"[{host}]" if ":" in host else host, port)


@dataclass(frozen=True)
class ServerOptions:
    """The server's settings; a bad value raises ``ServerError`` (or
    ``InsecureConnectionError``) naming the flag and the fix when it is built.

    Attributes:
        host: the address both ports bind (loopback unless TLS or ``allow_insecure``).
        port: the gRPC port; 0 picks a free one.
        token_port: the token endpoint's port; 0 picks a free one.
        db: the SQLite file; None for ``<data dir>/server.sqlite3``.
        tls_cert: a PEM certificate chain; with ``tls_key``, both ports use TLS.
        tls_key: the unencrypted PEM key of ``tls_cert``.
        token_ttl: seconds an access token lives.
        allow_insecure: serve plaintext on an address that is not loopback.
        scrypt_n: kept for 0.1 callers; no effect (new secrets are keyed hashes).
        auth: False for the benchmark's baseline only (every call runs as ``default``).
        max_tables_per_account: tables one account may hold.
        max_db_mb: a cap on the database file, in MiB; None for none.
        max_connections: open token-endpoint connections (capped below the fd limit).
        max_device_codes_per_address: device codes one peer address may have waiting
            for approval at once (beyond: 429 ``Retry-After``).
        public_url: ``scheme://host[:port]`` clients reach the token endpoint by: the
            metadata's issuer and the device page's address. None: the bound address
            (a wildcard one as ``localhost``, with a warning at start).
    """

    host: str = "127.0.0.1"
    port: int = 0
    token_port: int = 0
    db: Path | None = None
    tls_cert: Path | str | None = None
    tls_key: Path | str | None = None
    token_ttl: int = 3600
    allow_insecure: bool = False
    scrypt_n: int | None = None
    auth: bool = True
    max_tables_per_account: int = DEFAULT_MAX_TABLES_PER_ACCOUNT
    max_db_mb: int | None = None
    max_connections: int | None = None
    max_device_codes_per_address: int = MAX_PENDING_DEVICE_CODES_PER_PEER
    public_url: str | None = None

    def __post_init__(self) -> None:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ServerError("TLS needs both --tls-cert and --tls-key: give both or neither")
        if self.tls_cert is None and not self.allow_insecure and not is_loopback(self.host):
            raise InsecureConnectionError(
                f"refusing to serve plaintext on non-loopback address {self.host!r}: give "
                "--tls-cert and --tls-key, or --allow-insecure if the network is trusted"
            )
        if self.public_url is not None:
            problem = public_url_problem(self.public_url)
            if problem is not None:
                raise ServerError(problem)
            object.__setattr__(self, "public_url", self.public_url.rstrip("/"))
        for flag, value in (("--port", self.port), ("--token-port", self.token_port)):
            if not 0 <= value <= 65535:
                raise ServerError(
                    f"{flag} {value} is not a TCP port: give 1 to 65535, or 0 for a free one"
                )
        if self.token_ttl <= 0:
            raise ServerError(f"token lifetime {self.token_ttl} s is not positive: give e.g. 3600")
        limits = (
            ("--max-tables-per-account", self.max_tables_per_account),
            ("--max-db-mb", self.max_db_mb),
            ("--max-connections", self.max_connections),
            ("--max-device-codes-per-address", self.max_device_codes_per_address),
        )
        for flag, limit in limits:
            if limit is not None and limit < 1:
                raise ServerError(f"{flag} {limit} is not positive: give a number of at least 1")
