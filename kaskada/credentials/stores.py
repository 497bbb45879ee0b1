"""Where a client secret comes from: a store object the credentials read it through.

``Settings`` holds plain values only: a secret given as an argument or a
variable is a ``Secret``; a profile's stored secret is a ``StoredSecret``, a
plain description of where it lives (no read, no I/O). The credentials turn
either into a ``SecretStore`` (``store_for``) and read it when a token must be
bought, so a warm call (a token in the disk cache) never reads the keyring.

A new store (a command, an environment variable named by the profile, a file)
is one more class with ``get``/``known``/``fingerprint`` and one more branch in
``store_for``; the credentials do not change.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from kaskada._errors import IncompleteCredentialsError
from kaskada._secret import Secret
from kaskada.settings.values import StoredSecret


class SecretStore(Protocol):
    """What the client-secret credentials need of a store."""

    def get(self) -> Secret:
        """The secret (may do I/O and raise KeyringError, SecretBindingError, ...)."""
        ...

    def known(self) -> Secret | None:
        """The secret if this process has read it already; never I/O (for scrubbing)."""
        ...

    def fingerprint(self) -> str:
        """A key naming the secret (its hash, or where it lives) without reading it."""
        ...


class GivenSecret:
    """A secret passed in (an argument, ``KASKADA_CLIENT_SECRET``): already in memory."""

    __slots__ = ("_secret",)

    def __init__(self, secret: Secret) -> None:
        self._secret = secret

    def get(self) -> Secret:
        return self._secret

    def known(self) -> Secret | None:
        return self._secret

    def fingerprint(self) -> str:
        return self._secret.fingerprint()


class KeyringStore:
    """A profile's stored secret (the OS keyring, or the profile's env or file store),
    read on first use, its binding checked then.

    Every read goes through ``_stored_secrets.profile_secret`` (cached per process
    until the config file changes), so a secret rotated from another shell is
    picked up at the next exchange.
    """

    __slots__ = ("_where",)

    def __init__(self, where: StoredSecret) -> None:
        self._where = where

    def get(self) -> Secret:
        """The stored secret; IncompleteCredentialsError when the keyring holds none."""
        # Imported here: a warm call never reads the secret, so it never loads keyring.
        from kaskada.credentials import stored as _stored_secrets

        where = self._where
        fields: Mapping[str, Any] = dict(where.bound_to)
        secret = _stored_secrets.profile_secret(where.profile, where.client_id, fields)
        if secret is None:
            from kaskada.credentials import profile_stores

            store = profile_stores.store_for(where.profile, fields)
            if isinstance(store, profile_stores.EnvStore):
                raise IncompleteCredentialsError(store.missing())
            raise IncompleteCredentialsError(
                no_secret_message(where.profile, where.client_id, store)
            )
        return secret

    def known(self) -> Secret | None:
        from kaskada.credentials import stored as _stored_secrets  # the keyring side, as get()

        entry = _stored_secrets.cached_entry(self._where.profile, self._where.client_id)
        return None if entry is None else entry.secret

    def fingerprint(self) -> str:
        return self._where.fingerprint()


def no_secret_message(name: str, client_id: str, store: Any) -> str:
    """A profile whose store holds no secret: where it looked and each way to put one there.

    Never "supply KASKADA_CLIENT_SECRET": a profile's secret is never taken from another
    layer, so that advice went in a circle (issue 20); ``secret_env`` makes it the
    profile's own.
    """
    from kaskada.credentials import keyring as _keyring  # the keyring side, as in get()

    where = store.describe()
    if store.kind == "file":
        return (
            f"profile '{name}' (client id {client_id}) has no secret in {where}: store it with "
            f"`kaskada configure --profile {name} --insecure-storage`"
        )
    return (
        f"profile '{name}' (client id {client_id}) has no secret in {where}: store it with "
        f"`kaskada configure --profile {name}`; {_keyring.ways_out(name)}"
    )


def store_for(value: Secret | StoredSecret | SecretStore) -> SecretStore:
    """The store that reads a secret described by a settings value."""
    if isinstance(value, Secret):
        return GivenSecret(value)
    if isinstance(value, StoredSecret):
        return KeyringStore(value)
    return value
