"""The local Kaskada API server, in process: what ``kaskada serve`` and ``kaskada demo`` run.

    from kaskada.server import start_server
    with start_server(db=path) as server:
        client_id, secret = server.add_client("dev")
        ...  # server.endpoint, server.token_url

grpc and the generated code load only when a server starts.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from kaskada.server._errors import ServerError

if TYPE_CHECKING:
    from kaskada.server.app import RunningServer

__all__ = ["RunningServer", "ServerError", "start_server"]


def start_server(
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    token_port: int = 0,
    db: Path | None = None,
    tls_cert: Path | str | None = None,
    tls_key: Path | str | None = None,
    token_ttl: int = 3600,
    allow_insecure: bool = False,
    scrypt_n: int | None = None,
    auth: bool = True,
    max_tables_per_account: int = 10000,
    max_db_mb: int | None = None,
    max_connections: int | None = None,
) -> RunningServer:
    """Start gRPC and the token endpoint; returns once both listen.

    ``db`` defaults to ``<data dir>/server.sqlite3``. ``scrypt_n`` is kept for
    0.1 callers and has no effect (new secrets are keyed hashes). ``auth=False`` is
    for the benchmark's baseline only: every call then runs as account ``default``.
    ``max_tables_per_account``, ``max_db_mb`` (a cap on the database file) and
    ``max_connections`` (token endpoint; capped below the fd limit) are the limits
    of docs/server.md.
    """
    from kaskada.server.app import RunningServer

    return RunningServer(
        host=host,
        port=port,
        token_port=token_port,
        db=db,
        tls_cert=tls_cert,
        tls_key=tls_key,
        token_ttl=token_ttl,
        allow_insecure=allow_insecure,
        scrypt_n=scrypt_n,
        auth=auth,
        max_tables_per_account=max_tables_per_account,
        max_db_mb=max_db_mb,
        max_connections=max_connections,
    )


def __getattr__(name: str) -> object:
    if name == "RunningServer":
        from kaskada.server.app import RunningServer

        return RunningServer
    raise AttributeError(f"module 'kaskada.server' has no attribute {name!r}")
