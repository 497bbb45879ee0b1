"""A profile's secret that is read from its store on first use, not at resolution.

A warm call (a valid token in the disk cache) never needs the secret, so it
must not pay for importing keyring and asking the Secret Service (about 170 ms).
``explain()`` masks any Secret without revealing it, so it shows this one's
source ("keyring (profile 'x')") without a keyring read.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any, NoReturn

from kaskada import _paths
from kaskada._errors import IncompleteCredentialsError
from kaskada._secret import Secret


def no_secret_message(name: str, client_id: str, store: Any) -> str:
    """A profile whose store holds no secret: where it looked and each way to put one there.

    Never "supply KASKADA_CLIENT_SECRET": a profile's secret is never taken from another
    layer, so that advice went in a circle (issue 20); ``secret_env`` makes it the
    profile's own.
    """
    from kaskada import _keyring  # the keyring side, as in load()

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


class KeyringSecret(Secret):
    """The secret of profile ``name`` (client id ``client_id``), read when revealed.

    Every reveal goes through ``_stored_secrets.profile_secret`` (cached per process
    until the config file changes), so a secret rotated from another shell is
    picked up just as an eagerly read one would be.
    """

    __slots__ = ("_client_id", "_fields", "_name")
    _name: str
    _client_id: str
    _fields: Mapping[str, Any] | None

    def __init__(
        self, name: str, client_id: str, fields: Mapping[str, Any] | None = None
    ) -> None:
        object.__setattr__(self, "_value", "")
        object.__setattr__(self, "_name", name)
        object.__setattr__(self, "_client_id", client_id)
        object.__setattr__(self, "_fields", fields)  # what the binding is checked against

    def load(self) -> Secret:
        """The stored secret; IncompleteCredentialsError when the keyring holds none."""
        # Here: a warm call never reads the secret, so it never loads the keyring side.
        from kaskada import _secret_stores, _stored_secrets

        secret = _stored_secrets.profile_secret(self._name, self._client_id, self._fields)
        if secret is None:
            store = _secret_stores.store_for(self._name, self._fields)
            if isinstance(store, _secret_stores.EnvStore):
                raise IncompleteCredentialsError(store.missing())
            raise IncompleteCredentialsError(no_secret_message(self._name, self._client_id, store))
        return secret

    def reveal(self) -> str:
        return self.load().reveal()

    def known(self) -> str | None:
        """The secret if this process has read it already (so it may have been sent);
        never a keyring read: a secret not read yet was sent nowhere."""
        from kaskada import _stored_secrets  # the keyring side, as in load()

        entry = _stored_secrets.cached_entry(self._name, self._client_id)
        return None if entry is None else entry.secret.reveal()

    def fingerprint(self) -> str:
        """Where the secret is read from (not its value): a cache key that reads nothing."""
        fields = self._fields or {}
        store = fields.get("secret_store") or (
            "env" if fields.get("secret_env") else "command" if fields.get("secret_command")
            else "keyring"
        )
        if store == "keyring":  # as before stores existed: cached tokens stay valid
            where = f"keyring\0{_paths.keyring_service()}\0{self._name}\0{self._client_id}"
        else:
            source = fields.get("secret_env") or "\0".join(fields.get("secret_command") or ())
            where = f"{store}\0{source}\0{self._name}\0{self._client_id}"
        return hashlib.sha256(where.encode()).hexdigest()

    def __eq__(self, other: object) -> bool:
        if isinstance(other, KeyringSecret):
            return (self._name, self._client_id) == (other._name, other._client_id)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(("KeyringSecret", self._name, self._client_id))

    def __bool__(self) -> bool:
        return True  # a secret that is absent raises when read, as resolution used to

    def __reduce__(self) -> NoReturn:
        raise TypeError("a Secret refuses to be pickled: keep it in the keyring")
