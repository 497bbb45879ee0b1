"""The grammar of ``kaskada serve`` and ``kaskada server …``; the verbs are in
``kaskada.cli.server`` and load when one runs."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from kaskada.cli.parsers import server_identity, takes, verb

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


def _public_url(value: str) -> str:
    from kaskada.server.options import public_url_problem  # cheap: no grpc, no sqlite3

    problem = public_url_problem(value)
    if problem is not None:
        raise argparse.ArgumentTypeError(problem.removeprefix("--public-url "))
    return value


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
        "--public-url", type=_public_url, metavar="URL",
        help="scheme://host[:port] clients reach the token endpoint by: the sign-in "
        "metadata's issuer and the device page's address (default: the bound address; "
        "0.0.0.0 or :: as localhost)",
    )
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
        "--tls-ca", type=Path, metavar="FILE",
        help="the CA clients trust when --tls-cert is signed by one (named to clients and "
        "saved by add-client --save-profile)",
    )
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
    serve.add_argument(
        "--max-device-codes-per-address", type=_positive, default=20, metavar="N",
        help="device logins one address may have waiting for approval (default 20); "
             "beyond: 429",
    )
    serve.add_argument("-v", "--verbose", action="store_true", help="log every call and request")
    serve.epilog = (
        "examples:\n  kaskada serve\n  kaskada serve --port 0 --token-port 0\n"
        "  kaskada serve --tls-cert cert.pem --tls-key key.pem   # clients: --ca-bundle cert.pem"
    )
    takes(serve)
    serve.set_defaults(handler=verb("kaskada.cli.server", "_serve"))

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
    who = add.add_mutually_exclusive_group(required=True)
    who.add_argument("--account", help="account the client belongs to")
    who.add_argument(
        "--public", action="store_true",
        help="a public client (no secret) for device login, like the built-in kaskada-cli",
    )
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
        "file the running server names: its --tls-ca, or a --tls-cert that holds its root)",
    )
    add.add_argument("--default", action="store_true", help="make the saved profile the default")
    add.add_argument("--force", action="store_true", help="replace an existing profile NAME")
    add.add_argument("--scrypt-n", type=int, help=_SCRYPT_HELP)
    add.epilog = (
        "examples:\n  kaskada server add-client --account dev --save-profile dev --default\n"
        "  kaskada server add-client --account ci --json"
    )
    takes(add, "json")
    add.set_defaults(handler=verb("kaskada.cli.server", "_add_client"))

    revoke = commands.add_parser(
        "revoke-client",
        help="revoke a client; its tokens stop working at once",
        description="Revoke a client: new tokens are refused and live ones stop working at "
        "the next call, also in a running server.",
    )
    revoke.add_argument("client_id", metavar="ID", help="the client id")
    _db_argument(revoke)
    revoke.epilog = "example:\n  kaskada server revoke-client CLIENT_ID"
    takes(revoke, "json")
    revoke.set_defaults(handler=verb("kaskada.cli.server", "_revoke_client"))
    server_identity.register(commands, _db_argument)


def _db_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db", type=Path, help="SQLite database (default: the user data folder/server.sqlite3)"
    )
