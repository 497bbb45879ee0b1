"""``kaskada demo``: the whole job, end to end, on a throwaway local server.

Everything it makes lives in a temporary folder (server database, config file)
and under a throwaway keyring service name; all of it is removed at the end,
also after a failure, and the process environment is restored.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import kaskada as kda
from kaskada import _reset, table
from kaskada._errors import KeyringTimeoutError, NoKeyringError
from kaskada._secret import Secret
from kaskada.config import lifecycle as _profiles
from kaskada.config import paths as _paths
from kaskada.credentials import keyring as _keyring
from kaskada.server import start_server
from kaskada.settings import env as _env

Say = Callable[[str], None]


# Settings of this machine rather than of an account: the demo honours them.
_MACHINE_SETTINGS = frozenset({_env.KEYRING_TIMEOUT, _env.SERVER_SCRYPT_N})


@contextlib.contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """Set ``values`` and hide the caller's KASKADA_* account settings; restore on exit."""
    saved = {
        name: value for name, value in os.environ.items()
        if name.startswith("KASKADA_") and name not in _MACHINE_SETTINGS
    }
    for name in saved:
        del os.environ[name]
    os.environ.update(values)
    try:
        yield
    finally:
        for name in [n for n in os.environ if n.startswith("KASKADA_")]:
            if name not in _MACHINE_SETTINGS:
                del os.environ[name]
        os.environ.update(saved)


PROBE = "demo-probe"


def _why_unusable(error: Exception) -> str:
    """Why the real keyring cannot hold the demo's secrets, in a newcomer's words."""
    if isinstance(error, NoKeyringError):
        return f"no keyring backend is available: {_keyring.describe_backend()}"
    if isinstance(error, KeyringTimeoutError):
        return f"the keyring did not answer within {_keyring.timeout():g} s; it may be locked"
    return f"the keyring refused a test entry ({type(error).__name__})"


@contextlib.contextmanager
def _keyring_for_demo(say: Say, stored: list[str]) -> Iterator[str]:
    """The real keyring when it answers; otherwise an in-memory one, and say which
    (it yields where the secrets go, in words for the later messages)."""
    _keyring.timeout()  # a malformed KASKADA_KEYRING_TIMEOUT is the user's to fix: ConfigError
    problem: str | None = None
    stored.append(PROBE)  # removed at the end even if only half of the probe worked
    try:
        _keyring.set_secret(PROBE, Secret(uuid.uuid4().hex), {})
        _keyring.delete_secret(PROBE)
    except Exception as error:
        problem = _why_unusable(error)
    if problem is None:
        say(f"Secrets go to the real keyring ({_keyring.describe_backend()}) under the "
            f"throwaway service {os.environ[_env.KEYRING_SERVICE]!r}, removed at the end.")
        yield "the keyring"
        return
    import keyring  # costly to import: only when the demo needs its in-memory keyring

    stored.remove(PROBE)  # nothing can have been stored: leave the broken keyring alone
    say(f"No usable keyring here ({problem}), so the demo keeps its secrets in memory "
        "for this run. Real profiles without a keyring: see 'No desktop keyring?' in the "
        "README (a variable, a command, or an opted-in file per profile).")
    previous = keyring.get_keyring()
    keyring.set_keyring(_keyring.memory_backend())
    try:
        yield "this process's memory (no keyring here)"
    finally:
        keyring.set_keyring(previous)


def _cleanup_secrets(names: list[str]) -> None:
    for name in names:
        with contextlib.suppress(Exception):
            _keyring.delete_secret(name)


def run(say: Say = print) -> None:
    """Walk through profiles, init, tables, sessions, the environment and explain()."""
    with tempfile.TemporaryDirectory(prefix="kaskada-demo-") as folder:
        root = Path(folder)
        values = {
            _env.CONFIG_DIR: str(root / "config"),
            _env.DATA_DIR: str(root / "data"),
            _env.CACHE_DIR: str(root / "cache"),  # the token cache, else ~/.cache/kaskada
            _env.KEYRING_SERVICE: f"kaskada-demo-{uuid.uuid4().hex[:12]}",
        }
        stored: list[str] = []
        place = "the keyring"
        with _environment(values):
            _reset.reset_all()
            try:
                with _keyring_for_demo(say, stored) as place:
                    try:
                        _walk_through(root, say, stored, place)
                    finally:  # in the keyring that holds them, also after a failure
                        _cleanup_secrets(stored)
            finally:
                _reset.reset_all()
    gone = ("the keyring entries are removed" if place == "the keyring"
            else "the secrets held in memory are gone with it")
    say(f"\nDone: the server is stopped; the throwaway folder (config file, database) is "
        f"removed and {gone}.")
    say("To do this for real: `kaskada serve` in one terminal, then `kaskada server add-client "
        "--account NAME --save-profile NAME` in another (README: 'Quick start with a real "
        "server').")


def _walk_through(root: Path, say: Say, stored: list[str], place: str) -> None:
    with start_server(db=root / "data" / "server.sqlite3") as server:
        say(f"\n1. Started a local Kaskada API server: gRPC on {server.endpoint}, "
            f"token endpoint {server.token_url}")
        connection: dict[str, Any] = {
            "endpoint": server.endpoint,
            "is_secure": False,
            "exchange_endpoint": server.token_url,
        }
        accounts = {"dev": "analytics-dev", "prod": "analytics-prod"}
        credentials = {}
        say("2. Created two accounts on it, each with a client, and saved each as a profile:")
        for profile, account in accounts.items():
            client_id, secret = server.add_client(account)
            credentials[profile] = (client_id, secret)
            _profiles.add_profile(
                profile, {"client_id": client_id, **connection}, secret,
                make_default=(profile == "dev"),
            )
            stored.append(profile)
            say(f"   profile {profile!r:7} -> account {account!r}, client id {client_id}")
        say(f"   The secrets went to {place}; the config file (throwaway, like everything "
            "here) holds no secret:")
        for line in _paths.config_file().read_text(encoding="utf-8").splitlines():
            say(f"     {line}".rstrip())

        kda.init(profile="dev")
        say("\n3. kda.init(profile='dev'); table.list_tables()")
        say(f"   -> {table.list_tables()!r}")

        table.create_table("purchases", "purchase_time", "customer_id")
        say("4. table.create_table('purchases', 'purchase_time', 'customer_id')")
        say(f"   -> list_tables() now: {sorted(table.list_tables())}")

        with kda.session(profile="prod"):
            say("\n5. with kda.session(profile='prod'): table.list_tables()")
            say(f"   -> {table.list_tables()!r}   (another account: its own tables)")
        say(f"   back outside the block, as dev: {sorted(table.list_tables())}")

        client_id, secret = credentials["prod"]
        notebook_env = {
            _env.CLIENT_ID: client_id,
            _env.CLIENT_SECRET: secret.reveal(),
            _env.API_ENDPOINT: server.endpoint,
            _env.AUTH_ENDPOINT: server.token_url,
            _env.IS_SECURE: "false",
        }
        os.environ.update(notebook_env)
        try:
            kda.init()
            say("\n6. The environment way (notebooks, CI): KASKADA_CLIENT_ID and "
                "KASKADA_CLIENT_SECRET set to prod's client, with KASKADA_API_ENDPOINT, "
                "KASKADA_AUTH_ENDPOINT and KASKADA_IS_SECURE=false; then kda.init()")
            say(f"   -> credentials from {kda.explain().source('client_id')} (they come "
                f"before the default profile): list_tables() = {table.list_tables()!r}   "
                "(prod's account)")
            say("\n7. print(kda.explain())")
            for line in str(kda.explain()).splitlines():
                say(f"   {line}")
        finally:
            for name in notebook_env:
                os.environ.pop(name, None)
