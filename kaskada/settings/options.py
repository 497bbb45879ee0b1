"""The connection options a user gives: one type for init, session, %fenl_auth and the CLI.

``kda.init()``/``kda.session()`` take these as keyword arguments, ``%fenl_auth``
and the CLI's connection flags build one from what was typed, and resolution
(``_session``/``_resolve``) takes one. ``None`` means "not given here": the layer
rule then decides (see ``_resolve``).

An immutable, hashable value: ``kda.session()`` builds one on every call and
uses it as the memo key. Build it by keyword, never by position.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from kaskada._secret import MASK, Secret

# Options that choose where credentials go: they need credentials (or a
# profile) from the same layer.
CONNECTION_OPTIONS = ("endpoint", "is_secure", "exchange_endpoint", "audience")
# Options that never redirect a credential: they apply to any layer.
SAFE_OPTIONS = ("ca_bundle", "timeout", "allow_insecure")


class ConnectionOptions(NamedTuple):
    """What the caller chose; ``None`` for each option not given."""

    profile: str | None = None
    client_id: str | None = None
    client_secret: str | Secret | None = None
    jwt: str | Secret | None = None
    endpoint: str | None = None
    is_secure: bool | None = None
    exchange_endpoint: str | None = None
    audience: str | None = None
    ca_bundle: str | None = None
    timeout: float | None = None
    allow_insecure: bool | None = None

    def given(self) -> dict[str, Any]:
        """The options that were given (not None), by name."""
        pairs = zip(self._fields, self, strict=True)
        return {name: value for name, value in pairs if value is not None}

    def __repr__(self) -> str:
        # A secret given as a plain str must not reach a repr, a log line or a traceback.
        shown = {
            name: (MASK if name in ("client_secret", "jwt") else value)
            for name, value in self.given().items()
        }
        return "ConnectionOptions(" + ", ".join(f"{k}={v!r}" for k, v in shown.items()) + ")"


OPTION_NAMES: tuple[str, ...] = ConnectionOptions._fields


class ChannelKey(NamedTuple):
    """What a gRPC channel is shared by: the destination, its TLS settings, and the
    caller's channel options and interceptors (compared by identity)."""

    endpoint: str
    is_secure: bool
    ca_bundle: str | None
    options: tuple[tuple[str, Any], ...] = ()
    interceptors: tuple[Any, ...] = ()


class Seams(NamedTuple):
    """What a caller plugs into a session besides settings: grpc's own channel options
    and interceptors (sync ``grpc.UnaryUnaryClientInterceptor`` or ``grpc.aio`` ones),
    and the HTTP transport of the token exchange (``kaskada.credentials.Request``).

    Not part of resolution: two sessions with the same settings and different seams
    share their credentials' token but not their channel.
    """

    channel_options: tuple[tuple[str, Any], ...] = ()
    interceptors: tuple[Any, ...] = ()
    token_request: Any = None


NO_SEAMS = Seams()
