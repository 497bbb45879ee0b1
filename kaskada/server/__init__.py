"""The local Kaskada API server, in process: what ``kaskada serve`` and ``kaskada demo`` run.

    from kaskada.server import start_server
    with start_server(db=path) as server:
        client_id, secret = server.add_client("dev")
        ...  # server.endpoint, server.token_url

``ServerOptions`` holds what a server starts with (``start_server(options)``, or its
fields as keywords). grpc and the generated code load only when a server starts.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from kaskada.server._errors import ServerError
from kaskada.server.options import ServerOptions

if TYPE_CHECKING:
    from kaskada.server.app import RunningServer

__all__ = ["RunningServer", "ServerError", "ServerOptions", "start_server"]


def start_server(options: ServerOptions | None = None, /, **fields: Any) -> RunningServer:
    """Start gRPC and the token endpoint; returns once both listen.

    Args:
        options: the settings; the defaults of ``ServerOptions`` when None.
        **fields: ``ServerOptions`` fields that replace those of ``options``
            (``start_server(db=path)`` as in 0.1).

    Returns:
        The running server; leave its ``with`` block (or call ``stop()``) to shut it down.

    Raises:
        ServerError: a bad value, a taken port, an unreadable certificate, an unusable
            database or a missing server extra (the message names the fix).
        InsecureConnectionError: plaintext on an address that is not loopback without
            ``allow_insecure``.
        TypeError: a keyword that is not a ``ServerOptions`` field.
    """
    # Here: app imports grpc and the server extra; `from kaskada.server import
    # ServerError` (the client's error tree) must not.
    from kaskada.server.app import RunningServer

    base = ServerOptions() if options is None else options
    return RunningServer(replace(base, **fields) if fields else base)


def __getattr__(name: str) -> object:
    if name == "RunningServer":
        from kaskada.server.app import RunningServer  # grpc: as in start_server

        return RunningServer
    raise AttributeError(f"module 'kaskada.server' has no attribute {name!r}")
