"""A profile's secret that is read from the keyring on first use, not at resolution.

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
        from kaskada import _stored_secrets

        secret = _stored_secrets.profile_secret(self._name, self._client_id, self._fields)
        if secret is None:
            raise IncompleteCredentialsError(
                f"profile '{self._name}' (client id {self._client_id}) has no secret in the "
                f"keyring: store it with `kaskada configure --profile {self._name}`"
            )
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
        where = f"keyring\0{_paths.keyring_service()}\0{self._name}\0{self._client_id}"
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
