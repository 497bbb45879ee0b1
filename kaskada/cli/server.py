"""``kaskada serve`` and ``kaskada server add-client|revoke-client``.

The verbs; ``kaskada.cli.parsers.server`` holds the grammar, so the server
(grpc, SQLite) loads only when one of these runs.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from dataclasses import fields
from pathlib import Path
from typing import Any

from kaskada import _profiles
from kaskada.cli._output import emit_json, note
from kaskada.cli.parsers.server import DEFAULT_PORT, DEFAULT_TOKEN_PORT
from kaskada.server import ServerError, ServerOptions, start_server
from kaskada.server.store import Store


def _options(args: argparse.Namespace) -> ServerOptions:
    """The flags of ``kaskada serve`` are ServerOptions' fields by name (``--max-db-mb``
    is ``max_db_mb``): the parameter list is written once, in the dataclass."""
    given = vars(args)
    return ServerOptions(
        **{field.name: given[field.name] for field in fields(ServerOptions) if field.name in given}
    )


def _serve(args: argparse.Namespace) -> int:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    logger = logging.getLogger("kaskada.server")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if args.verbose else logging.INFO)

    stop = threading.Event()

    def request_stop(signum: int, frame: object) -> None:
        stop.set()

    if args.tls_ca is not None and args.tls_cert is None:
        raise ServerError("--tls-ca names the CA of --tls-cert: give --tls-cert and --tls-key too")
    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        server = start_server(_options(args))
        try:
            trust = _announce_trust(args.tls_cert, args.tls_ca)
            server.store.set_meta({"tls_cert": trust})  # what add-client --save-profile trusts
            print(
                f"kaskada serve: gRPC on {server.endpoint}, "
                f"token endpoint {server.token_url}",
                flush=True,
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


def _announce_trust(tls_cert: Path | None, tls_ca: Path | None) -> str:
    """Say which file clients must trust, and return it ("" when none is known).

    A self-signed certificate, or a chain file that ends in its root, is trusted
    as it is; a leaf signed by a CA is not (Python 3.11's OpenSSL and gRPC ask
    for the CA: "unable to get local issuer certificate"), so the CA is named.
    """
    from kaskada._tls import holds_its_own_root

    if tls_cert is None:
        return ""
    cert = str(Path(tls_cert).absolute())
    if tls_ca is not None:
        trust = str(Path(tls_ca).absolute())
    elif holds_its_own_root(cert):
        trust = cert
    else:
        note(
            f"kaskada serve: TLS with {cert}, which is signed by a CA the file does not "
            "hold: clients trust that CA, not this file (--ca-bundle CA.pem); restart with "
            "--tls-ca CA.pem (or append the CA to the certificate file) and `kaskada server "
            "add-client --save-profile NAME` saves it for you"
        )
        return ""
    note(
        f"kaskada serve: TLS with {cert}; clients trust it with --ca-bundle {trust}; "
        "`kaskada server add-client --save-profile NAME` saves that for you"
    )
    return trust


def _add_client(args: argparse.Namespace) -> int:
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
        if not args.save_profile:
            note("kaskada: the secret is shown only now; store it (e.g. kaskada profile add)")
    if args.save_profile:
        note(f"kaskada: saved profile {args.save_profile!r} (secret in the keyring)")
    return 0


def _save_profile(
    args: argparse.Namespace, meta: dict[str, str], client_id: str, secret: Any
) -> None:
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
        note("kaskada: the server uses TLS with a certificate signed by a CA it was not "
             "told about: pass --ca-bundle CA.pem naming that CA (or restart kaskada serve "
             "with --tls-ca CA.pem), unless the system already trusts it")
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
