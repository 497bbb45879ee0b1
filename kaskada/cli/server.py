"""``kaskada serve`` and ``kaskada server add-client|revoke-client``.

``register()`` only builds parsers; the server (grpc, SQLite) loads when a
handler runs.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from kaskada.cli._output import emit_json, note

DEFAULT_PORT = 50051
DEFAULT_TOKEN_PORT = 50052
_SCRYPT_HELP = (
    "accepted for 0.1 scripts and ignored: new client secrets are stored as keyed "
    "hashes (HMAC-SHA-256), not scrypt"
)


def _positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"{number} is not positive: give at least 1")
    return number


def _port(value: str) -> int:
    """An argparse type: a bad port is a usage error (exit 2), not a traceback from bind()."""
    try:
        port = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a port number") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a TCP port: give 1 to 65535, or 0")
    return port


def register(subparsers: Any) -> None:
    serve = subparsers.add_parser(
        "serve",
        help="run the local Kaskada API server in the foreground",
        description="Run the local Kaskada API: gRPC TableService and the OAuth2 token "
        "endpoint, with clients and tables in SQLite. Once listening it prints one line "
        "naming both addresses. Ctrl-C or SIGTERM stops it, finishing calls in flight.",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument(
        "--port", type=_port, default=DEFAULT_PORT, help="gRPC port (default 50051; 0 = a free one)"
    )
    serve.add_argument(
        "--token-port",
        type=_port,
        default=DEFAULT_TOKEN_PORT,
        help="token endpoint port (default 50052; 0 = a free one)",
    )
    _db_argument(serve)
    serve.add_argument("--tls-cert", type=Path, help="PEM certificate chain: TLS on both ports")
    serve.add_argument("--tls-key", type=Path, help="PEM private key of --tls-cert")
    serve.add_argument(
        "--token-ttl", type=int, default=3600, metavar="SECONDS",
        help="lifetime of access tokens (default 3600)",
    )
    serve.add_argument(
        "--allow-insecure",
        action="store_true",
        help="allow plaintext on a non-loopback --host (only on a trusted network)",
    )
    serve.add_argument("--scrypt-n", type=int, help=_SCRYPT_HELP)
    serve.add_argument(
        "--max-tables-per-account", type=_positive, default=10000, metavar="N",
        help="tables one account may have (default 10000); beyond: RESOURCE_EXHAUSTED",
    )
    serve.add_argument(
        "--max-db-mb", type=_positive, metavar="MB",
        help="cap on the database file's size (default: none but the disk's)",
    )
    serve.add_argument(
        "--max-connections", type=_positive, metavar="N",
        help="open token-endpoint connections (default 2048, always below the fd limit)",
    )
    serve.add_argument("-v", "--verbose", action="store_true", help="log every call and request")
    serve.epilog = (
        "examples:\n  kaskada serve\n  kaskada serve --port 0 --token-port 0\n"
        "  kaskada serve --tls-cert cert.pem --tls-key key.pem   # clients: --ca-bundle cert.pem"
    )
    serve.set_defaults(handler=_serve)

    server = subparsers.add_parser(
        "server", help="manage the local server's clients",
        description="Manage the clients of the local server's database.",
    )
    server.epilog = "example:\n  kaskada server add-client --account dev --save-profile dev"
    commands = server.add_subparsers(dest="server_command", metavar="COMMAND")
    commands.required = True

    add = commands.add_parser(
        "add-client",
        help="create a client and print its id and secret (once)",
        description="Create a client of ACCOUNT and print its id and secret: the secret is "
        "shown only now. --save-profile stores it as a profile, the secret in the keyring.",
    )
    add.add_argument("--account", required=True, help="account the client belongs to")
    _db_argument(add)
    add.add_argument(
        "--save-profile", metavar="NAME", help="also save a profile NAME pointing at this server"
    )
    add.add_argument(
        "--tls", action="store_true",
        help="with --save-profile: TLS to the server (default: as the running server says)",
    )
    add.add_argument(
        "--ca-bundle", metavar="FILE",
        help="with --save-profile: PEM roots to trust for a TLS server (default: the "
        "--tls-cert the running server was started with)",
    )
    add.add_argument("--default", action="store_true", help="make the saved profile the default")
    add.add_argument("--force", action="store_true", help="replace an existing profile NAME")
    add.add_argument("--scrypt-n", type=int, help=_SCRYPT_HELP)
    add.epilog = (
        "examples:\n  kaskada server add-client --account dev --save-profile dev --default\n"
        "  kaskada server add-client --account ci --json"
    )
    add.set_defaults(handler=_add_client)

    revoke = commands.add_parser(
        "revoke-client",
        help="revoke a client; its tokens stop working at once",
        description="Revoke a client: new tokens are refused and live ones stop working at "
        "the next call, also in a running server.",
    )
    revoke.add_argument("client_id", metavar="ID", help="the client id")
    _db_argument(revoke)
    revoke.epilog = "example:\n  kaskada server revoke-client CLIENT_ID"
    revoke.set_defaults(handler=_revoke_client)


def _db_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db", type=Path, help="SQLite database (default: the user data folder/server.sqlite3)"
    )


def _serve(args: argparse.Namespace) -> int:
    from kaskada.server import start_server

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    logger = logging.getLogger("kaskada.server")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if args.verbose else logging.INFO)

    stop = threading.Event()

    def request_stop(signum: int, frame: object) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        server = start_server(
            host=args.host,
            port=args.port,
            token_port=args.token_port,
            db=args.db,
            tls_cert=args.tls_cert,
            tls_key=args.tls_key,
            token_ttl=args.token_ttl,
            allow_insecure=args.allow_insecure,
            scrypt_n=args.scrypt_n,
            max_tables_per_account=args.max_tables_per_account,
            max_db_mb=args.max_db_mb,
            max_connections=args.max_connections,
        )
        try:
            cert = str(Path(args.tls_cert).absolute()) if args.tls_cert else ""
            server.store.set_meta({"tls_cert": cert})  # what add-client --save-profile trusts
            print(
                f"kaskada serve: gRPC on {server.endpoint}, "
                f"token endpoint {server.token_url}",
                flush=True,
            )
            if cert:
                note(
                    f"kaskada serve: TLS with {cert}; clients trust it with --ca-bundle {cert} "
                    "(or the CA that signed it); `kaskada server add-client --save-profile "
                    "NAME` saves that for you"
                )
            while not stop.wait(1.0):
                pass
            note("kaskada serve: stopping, finishing calls in flight")
        finally:
            server.stop(grace=5.0)
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
        logger.removeHandler(handler)
    return 0


def _add_client(args: argparse.Namespace) -> int:
    from kaskada.server.store import Store

    store = Store(args.db, scrypt_n=args.scrypt_n)
    try:
        client_id, secret = store.add_client(args.account)
        if args.save_profile:
            try:
                _save_profile(args, store.meta(), client_id, secret)
            except BaseException:
                store.delete_client(client_id)
                raise
    finally:
        store.close()
    if args.json:
        emit_json(
            {"client_id": client_id, "client_secret": secret.reveal(), "account": args.account}
        )
    else:
        print(f"client_id:     {client_id}")
        print(f"client_secret: {secret.reveal()}")
        print(f"account:       {args.account}")
        note("kaskada: the secret is shown only now; store it (e.g. kaskada profile add)")
    if args.save_profile:
        note(f"kaskada: saved profile {args.save_profile!r} (secret in the keyring)")
    return 0


def _save_profile(
    args: argparse.Namespace, meta: dict[str, str], client_id: str, secret: Any
) -> None:
    from kaskada import _profiles

    is_secure = args.tls or meta.get("is_secure", "false") == "true"
    ca_bundle = args.ca_bundle or (meta.get("tls_cert") or None if is_secure else None)
    fields = {
        "client_id": client_id,
        "endpoint": _reachable(meta.get("endpoint", f"localhost:{DEFAULT_PORT}")),
        "is_secure": is_secure,
        "exchange_endpoint": _reachable(
            meta.get("token_url", f"http://localhost:{DEFAULT_TOKEN_PORT}/oauth/token")
        ),
        "ca_bundle": str(Path(ca_bundle).expanduser().absolute()) if ca_bundle else None,
    }
    if is_secure and ca_bundle is None:
        note("kaskada: the server uses TLS: pass --ca-bundle CERT unless its certificate "
             "is trusted by the system")
    _profiles.add_profile(
        args.save_profile, fields, secret, make_default=args.default, force=args.force
    )


_ANY_ADDRESS = ("0.0.0.0", "[::]")


def _reachable(address: str) -> str:
    """A server bound to every interface (``--host 0.0.0.0``) is reached on this
    machine as ``localhost``: a client cannot connect to 0.0.0.0, and would
    refuse plaintext to it as a non-loopback host."""
    for any_address in _ANY_ADDRESS:
        for prefix in ("", "http://", "https://"):
            if address.startswith(prefix + any_address + ":"):
                return prefix + "localhost" + address[len(prefix + any_address):]
    return address


def _revoke_client(args: argparse.Namespace) -> int:
    from kaskada.server.store import Store

    store = Store(args.db, create=False)
    try:
        store.revoke_client(args.client_id)
    finally:
        store.close()
    if args.json:
        emit_json({"revoked": args.client_id})
        return 0
    note(f"kaskada: revoked client {args.client_id}; its tokens no longer work")
    return 0
