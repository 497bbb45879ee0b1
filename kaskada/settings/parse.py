"""Parsing and checking one setting's value: booleans, timeouts, endpoints, tokens.

Shared by resolution (every layer), the binding check and the CLI's flag types,
so one value is accepted or refused the same way wherever it is given. Every
error names the value's source and the fix, never a secret's value.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from kaskada._errors import ConfigError
from kaskada._secret import Secret
from kaskada.settings import env as _env
from kaskada.settings.hostport import endpoint_message, is_loopback
from kaskada.settings.values import Sourced

if TYPE_CHECKING:
    from kaskada.config.file import Profile

MAX_TIMEOUT = 86400.0  # a day; past ~1e9 s the socket layer overflows (a traceback, not an error)


def endpoint_host(endpoint: str) -> str:
    """The host of a gRPC ``host:port`` (``[::1]:50051`` too)."""
    if endpoint.startswith("["):
        return endpoint[1 : endpoint.find("]")]
    host, _, _port = endpoint.rpartition(":")
    return host or endpoint


def exchange_url(value: str) -> str:
    """A bare host means ``https://<host>/oauth/token``; a URL is kept as is.

    A bare *loopback* host (``127.0.0.1:50052``, ``localhost``) means
    ``http://``: the local server's token endpoint is plain HTTP unless it was
    started with ``--tls-cert``, and then the URL must say ``https://``.

    ``host/path`` without a scheme is taken as ``https://host/path``: appending
    ``/oauth/token`` to a value that already has a path would never be meant.
    """
    value = value.strip()
    if "://" in value:
        return value
    host = value.strip("/").split("/", 1)[0]
    scheme = "http" if is_loopback(endpoint_host(host) if ":" in host else host) else "https"
    if "/" in value.strip("/"):
        return f"{scheme}://{value.strip('/')}"
    return f"{scheme}://{value.rstrip('/')}/oauth/token"


def check_endpoint(endpoint: Sourced[str]) -> None:
    """A gRPC target is ``host:port``; a URL there fails later with a resolver error."""
    message = endpoint_message(endpoint.value, endpoint.source)
    if message is not None:
        raise ConfigError(message)


def check_token(token: str, source: str) -> Secret:
    """A pre-issued token, trimmed; it must be able to travel in a header.

    Without this a pasted newline surfaces as an opaque gRPC INTERNAL error.
    The message names the source, never the value.
    """
    token = token.strip()
    if not token or not token.isascii() or not token.isprintable():
        raise ConfigError(
            f"the pre-issued token from {source} is empty or holds characters that cannot "
            "travel in a header (a newline, a control or non-ASCII character): copy it again"
        )
    return Secret(token)


def parse_bool(value: str, where: str) -> bool:
    """``true``/``false`` and their usual spellings (``1``, ``no``, ``off`` ...)."""
    word = value.strip().lower()
    if word in _env.TRUE_WORDS:
        return True
    if word in _env.FALSE_WORDS:
        return False
    raise ConfigError(f"{where} is {value!r}, not a boolean: set it to true or false")


def parse_timeout(value: Any, where: str) -> float:
    """Seconds above 0 and at most a day, from a number or its text."""
    try:
        seconds = float(value)
    except (TypeError, ValueError, OverflowError):
        raise ConfigError(
            f"{where} is {value!r}, not a number of seconds: set it to e.g. 30"
        ) from None
    if isinstance(value, bool) or not (math.isfinite(seconds) and 0 < seconds <= MAX_TIMEOUT):
        raise ConfigError(
            f"{where} is {value!r}: the timeout must be a number of seconds above 0 and at "
            f"most {MAX_TIMEOUT:.0f} (a day), e.g. 30"
        )
    return seconds


def argument_bool(value: Any, name: str) -> bool:
    """``is_secure="false"`` must not mean TLS because a non-empty string is truthy."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return parse_bool(value, f"{name}=")
    raise ConfigError(f"{name}= is {value!r}: pass True or False")


def profile_fields(profile: Profile, source: str) -> dict[str, Sourced[Any]]:
    """The fields a profile sets, each sourced to it; its timeout parsed and checked."""
    fields: dict[str, Sourced[Any]] = {"profile": Sourced(profile.name, source)}
    where = f"profile '{profile.name}'"
    for name in ("client_id", "endpoint", "is_secure", "exchange_endpoint", "audience"):
        value = getattr(profile, name)
        if value is not None:
            fields[name] = Sourced(value, where)
    if profile.ca_bundle is not None:
        fields["ca_bundle"] = Sourced(profile.ca_bundle, where)
    if profile.timeout is not None:
        fields["timeout"] = Sourced(parse_timeout(profile.timeout, f"{where} timeout"), where)
    return fields
