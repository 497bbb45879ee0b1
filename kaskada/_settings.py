"""Settings: the values one connection uses, each with the place it came from.

The second step of the data's way (config file -> settings -> resolution ->
credentials and tokens -> transport -> API): resolution builds a ``Settings``,
presentation (``_explain``) and the transport read it. Nothing here reads a
file, the environment or the keyring.
"""

from __future__ import annotations

from typing import Any, Generic, NamedTuple, TypeVar

from kaskada._secret import Secret

T = TypeVar("T")

BUILTIN = "built-in default"
ARGUMENT = "argument"
PROFILE_LAYER = "profile '"
"""How the label of every layer read from a config-file profile begins."""

FIELD_NAMES = (
    "profile",
    "client_id",
    "client_secret",
    "token",
    "endpoint",
    "is_secure",
    "exchange_endpoint",
    "audience",
    "ca_bundle",
    "timeout",
    "allow_insecure",
)


class Sourced(NamedTuple, Generic[T]):
    """A setting's value and the place it came from (for explain and whoami)."""

    value: T
    source: str


class Settings(NamedTuple):
    """Everything one connection uses; every value carries its source.

    A NamedTuple rather than a frozen dataclass, like ``ConnectionOptions``: it is
    as immutable and hashable, and defining it costs ~0.1 ms at the first
    resolution of a process where a frozen dataclass of twelve fields costs ~1.3 ms.
    """

    layer: str
    profile: Sourced[str | None]
    client_id: Sourced[str | None]
    client_secret: Sourced[Secret | None]
    token: Sourced[Secret | None]
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

    def channel_key(self) -> tuple[str, bool, str | None]:
        """Channels are shared per (endpoint, TLS settings)."""
        return (self.endpoint.value, self.is_secure.value, self.ca_bundle.value)

    def rows(self) -> list[tuple[str, Any, str]]:
        """(setting, value, source) for every field; secrets stay Secret (masked)."""
        return [(name, *getattr(self, name)) for name in FIELD_NAMES]
