"""Settings: the values one connection uses, each with the place it came from.

The second step of the data's way (config file -> settings -> resolution ->
credentials and tokens -> transport -> API): resolution builds a ``Settings``,
presentation (``_explain``) and the transport read it. Nothing here reads a
file, the environment or the keyring.
"""

from __future__ import annotations

import hashlib
from typing import Any, Generic, NamedTuple, TypeVar

from kaskada._secret import MASK, Secret
from kaskada.settings.schema import FIELD_NAMES

T = TypeVar("T")

BUILTIN = "built-in default"
ARGUMENT = "argument"
PROFILE_LAYER = "profile '"
"""How the label of every layer read from a config-file profile begins."""



class Sourced(NamedTuple, Generic[T]):
    """A setting's value and the place it came from (for explain and whoami)."""

    value: T
    source: str


class StoredSecret(NamedTuple):
    """Where a profile's secret is stored: a value, read by nothing until a store reads it."""

    profile: str
    client_id: str
    service: str  # the keyring service at resolution time
    bound_to: tuple[tuple[str, Any], ...]  # the profile's fields, to check the binding against

    def fingerprint(self) -> str:
        """Where the secret lives (not its value): a cache key computed without a read."""
        fields = dict(self.bound_to)
        store = fields.get("secret_store") or (
            "env" if fields.get("secret_env") else "command" if fields.get("secret_command")
            else "keyring"
        )
        if store == "keyring":  # as before stores existed: cached tokens stay valid
            where = f"keyring\0{self.service}\0{self.profile}\0{self.client_id}"
        else:
            source = fields.get("secret_env") or "\0".join(fields.get("secret_command") or ())
            where = f"{store}\0{source}\0{self.profile}\0{self.client_id}"
        return hashlib.sha256(where.encode()).hexdigest()

    def __str__(self) -> str:
        return MASK


class SignIn(NamedTuple):
    """Which kind signs in, and what it needs: plain values, read by nothing until the
    credentials use them (as ``StoredSecret``).

    ``kind`` picks the credentials class (``credentials.tokens.KINDS``): ``client_secret``,
    ``token``, ``device``, ``federated`` or ``command`` (a ``secret_command`` profile,
    whose program runs when a token is needed: its output is a secret or a token).
    """

    kind: str
    profile: str | None = None
    service: str | None = None  # the keyring service at resolution (where a refresh token is)
    issuer: str | None = None  # device, federated: the server whose metadata names endpoints
    subject_token: tuple[str, str] | None = None  # federated: (file|env|github_actions, where)
    command: tuple[str, ...] | None = None  # command: the program and its arguments
    bound_to: tuple[tuple[str, Any], ...] = ()  # the profile's fields (binding, store)

    def fingerprint(self) -> str:
        """Who signs in (not a secret): the token cache's key part, computed without a read.

        A device or federated profile: its kind, keyring service and name (as before these
        kinds were classes, so cached tokens stay valid); a command: its program and the
        profile's client id.
        """
        if self.kind == "command":
            client_id = dict(self.bound_to).get("client_id")
            where = f"command\0{chr(0).join(self.command or ())}\0{self.profile}\0{client_id}"
        else:
            where = f"{self.kind}\0{self.service}\0{self.profile}"
        return hashlib.sha256(where.encode()).hexdigest()

    def __str__(self) -> str:
        return self.kind


class Settings(NamedTuple):
    """Everything one connection uses; every value carries its source.

    A plain immutable value: no field reads a file, the keyring or the network.
    """

    layer: str
    profile: Sourced[str | None]
    client_id: Sourced[str | None]
    client_secret: Sourced[Secret | StoredSecret | None]  # where a stored one lives
    token: Sourced[Secret | None]
    auth: Sourced[SignIn]  # which kind signs in; its source says where its token comes from
    endpoint: Sourced[str]
    is_secure: Sourced[bool]
    exchange_endpoint: Sourced[str | None]
    audience: Sourced[str | None]
    ca_bundle: Sourced[str | None]
    timeout: Sourced[float]
    allow_insecure: Sourced[bool]

    def from_config_file(self) -> bool:
        """Whether a profile of the config file named these destinations (``_resolve``'s
        profile layers are labelled ``profile 'NAME' (how)``)."""
        return self.layer.startswith(PROFILE_LAYER)

    def rows(self) -> list[tuple[str, Any, str]]:
        """(setting, value, source) for every field; secrets stay Secret (masked)."""
        return [(name, *getattr(self, name)) for name in FIELD_NAMES]
