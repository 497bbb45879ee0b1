"""``kaskada serve`` and ``kaskada server add-client|revoke-client``.

The verbs; ``kaskada.cli.parsers.server`` holds the grammar, so the server
(grpc, SQLite) loads only when one of these runs.
"""

from __future__ import annotations

import argparse
import logging
import shlex
import signal
import socket
import sys
import threading
from dataclasses import fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from kaskada import profiles
from kaskada._errors import KaskadaError, NoKeyringError
from kaskada.cli._output import emit_json, note
from kaskada.cli.parsers import UsageError
from kaskada.cli.parsers.server import DEFAULT_PORT, DEFAULT_TOKEN_PORT
from kaskada.server import ServerOptions, start_server
from kaskada.server._errors import ServerError
from kaskada.server.store import Store
from kaskada.settings.parse import endpoint_host


def _options(args: argparse.Namespace) -> ServerOptions:
    """The flags of ``kaskada serve`` are ServerOptions' fields by name (``--max-db-mb``
    is ``max_db_mb``): the parameter list is written once, in the dataclass."""
    given = vars(args)
    return ServerOptions(
        **{field.name: given[field.name] for field in fields(ServerOptions) if field.name in given}
    )


def _serve(args: argparse.Namespace) -> int:
    if (args.tls_cert is None) != (args.tls_key is None):
        raise UsageError("TLS needs both --tls-cert and --tls-key: give both or neither")
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
            if args.public_url:
                note(f"kaskada serve: sign-in metadata and the device page name "
                     f"{server.public_url} (--public-url)")
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
    if args.public:
        from kaskada.cli.server_identity import add_public_client

        return add_public_client(args)
    store = Store(args.db, scrypt_n=args.scrypt_n)
    replaced: str | None = None
    revoked = False
    no_keyring: NoKeyringError | None = None
    try:
        client_id, secret = store.add_client(args.account)
        fields = _profile_fields(args, store.meta(), client_id)
        if args.save_profile:
            replaced = _client_of(args.save_profile) if args.force else None
            try:
                _save_profile(args, fields, secret)
            except NoKeyringError as error:
                # No keyring here: keep the client and a profile without a secret, show
                # the secret once and each way to give it (issue 20).
                no_keyring = error
                _save_profile(args, fields, None)
            except BaseException:
                store.delete_client(client_id)
                raise
            if replaced == client_id:
                replaced = None
            revoked = replaced is not None and _revoke_replaced(store, replaced)
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
        if not args.save_profile or no_keyring is not None:
            note("kaskada: the secret is shown only now; give it to kaskada in one of these "
                 "ways (each needs no keyring):")
            for line in next_steps(args.save_profile, fields):
                note(f"  {line}")
    if no_keyring is not None:
        note(f"kaskada: saved profile {args.save_profile!r} WITHOUT its secret: there is no "
             "usable keyring here; use one of the ways above")
    elif args.save_profile:
        note(f"kaskada: saved profile {args.save_profile!r} (secret in the keyring)")
        if replaced is not None:
            note(
                f"kaskada: revoked the profile's old client {replaced}: its secret and tokens "
                "no longer work"
                if revoked
                else f"kaskada: the profile's old client {replaced} is not in {store.path}, so "
                "it was not revoked and still works where it was issued"
            )
        _warn_unless_listening(args.save_profile)
    return 0


def _client_of(name: str) -> str | None:
    """The client id profile ``name`` holds now, if it exists (``--force`` replaces it)."""
    try:
        return profiles.get(name).client_id
    except KaskadaError:
        return None


def _revoke_replaced(store: Store, client_id: str) -> bool:
    """Revoke the client a ``--force`` re-run replaced, when this database issued it:
    otherwise each re-run would leave one more working secret behind."""
    try:
        store.revoke_client(client_id)
    except ServerError:
        return False  # issued by another server's database
    return True


def _warn_unless_listening(name: str) -> None:
    """The profile is saved either way; say so when nothing answers at its ports yet
    (a server not started, or started on other ports), rather than let the first
    call fail with "unreachable"."""
    profile = profiles.get(name)
    endpoint = profile.endpoint or f"localhost:{DEFAULT_PORT}"
    exchange = urlsplit(profile.exchange_endpoint or "")
    places = [(endpoint, endpoint_host(endpoint), int(endpoint.rsplit(":", 1)[1]))]
    if exchange.hostname and exchange.port:
        places.append((exchange.netloc, exchange.hostname, exchange.port))
    silent = [shown for shown, host, port in places if not _listening(host, port)]
    if silent:
        note(
            f"kaskada: warning: nothing listens on {' or '.join(silent)} now; start the "
            "server (`kaskada serve`, with the same --db and ports) before using profile "
            f"{name!r}, or point it elsewhere with `kaskada profile set {name} endpoint HOST:PORT`"
        )


def _listening(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2.0):
            return True
    except OSError:
        return False


def next_steps(name: str | None, fields: dict[str, Any]) -> list[str]:
    """The exact commands that put a new client's secret to use without a keyring: with a
    saved profile ``name``, each finishes it; without one, each makes one (or none)."""
    profile = name or "dev"
    variable = f"{profile.upper().replace('-', '_').replace('.', '_')}_KASKADA_SECRET"
    flags = [f"--client-id {fields['client_id']}"]
    if fields.get("endpoint") != f"localhost:{DEFAULT_PORT}":
        flags.append(f"--endpoint {shlex.quote(fields['endpoint'])}")
        flags.append(f"--exchange-endpoint {shlex.quote(fields['exchange_endpoint'])}")
    if fields.get("is_secure"):
        flags.append("--tls")
    if fields.get("ca_bundle"):
        flags.append(f"--ca-bundle {shlex.quote(fields['ca_bundle'])}")
    base = f"kaskada profile add {profile} {' '.join(flags)}"
    if name:
        env_way = f"kaskada profile set {profile} secret_env {variable}"
        command_way = f"kaskada profile set {profile} secret_command 'pass show kaskada/{profile}'"
        file_way = f"{base} --insecure-storage --secret-stdin --force"
    else:
        env_way = f"{base} --secret-env {variable}"
        command_way = f"{base} --secret-command 'pass show kaskada/{profile}'"
        file_way = f"{base} --insecure-storage --secret-stdin"
    plain = [f"KASKADA_CLIENT_ID={fields['client_id']}", "KASKADA_CLIENT_SECRET='…'"]
    if fields.get("endpoint") != f"localhost:{DEFAULT_PORT}":
        plain.append(f"KASKADA_API_ENDPOINT={shlex.quote(fields['endpoint'])}")
        plain.append(f"KASKADA_AUTH_ENDPOINT={shlex.quote(fields['exchange_endpoint'])}")
    return [
        f"a variable:  {env_way}  then  export {variable}='…'",
        f"a command:   {command_way}  (after `pass insert kaskada/{profile}`; any program "
        "that prints the secret)",
        f"a plain-text file (0600, opt-in):  printf %s '…' | {file_way}",
        f"no profile:  export {' '.join(plain)}",
    ]


def _profile_fields(
    args: argparse.Namespace, meta: dict[str, str], client_id: str
) -> dict[str, Any]:
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
    if is_secure and ca_bundle is None and args.save_profile:
        note("kaskada: the server uses TLS with a certificate signed by a CA it was not "
             "told about: pass --ca-bundle CA.pem naming that CA (or restart kaskada serve "
             "with --tls-ca CA.pem), unless the system already trusts it")
    return fields


def _save_profile(args: argparse.Namespace, fields: dict[str, Any], secret: Any) -> None:
    profiles.add(
        args.save_profile, fields, secret=secret, default=args.default, force=args.force
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
