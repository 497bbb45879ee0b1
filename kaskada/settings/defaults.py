"""Built-in defaults and the transport-security policy a resolved layer must pass.

A layer supplies some fields; ``complete`` fills the rest with the built-in
defaults (the local server), never with a value from another layer, so a secret
only goes where its own layer said, and then refuses plaintext to a host that
is not loopback unless ``allow_insecure`` says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from kaskada._errors import ConfigError, IncompleteCredentialsError, InsecureConnectionError
from kaskada._secret import Secret
from kaskada.settings import env as _env
from kaskada.settings.hostport import is_loopback
from kaskada.settings.parse import (
    check_endpoint,
    endpoint_host,
    exchange_url,
    parse_bool,
    parse_timeout,
)
from kaskada.settings.schema import DEFAULT_ENDPOINT, DEFAULT_EXCHANGE_ENDPOINT, DEFAULT_TIMEOUT
from kaskada.settings.values import BUILTIN, Settings, SignIn, Sourced


def complete(
    layer: str,
    fields: Mapping[str, Sourced[Any]],
    safe: Mapping[str, Sourced[Any]],
    env: Mapping[str, str | None],
) -> Settings:
    """Fill what the layer left unset with built-in defaults, then validate."""

    def get(name: str, default: Any) -> Sourced[Any]:
        if name in safe:
            return safe[name]
        return fields.get(name) or Sourced(default, BUILTIN)

    endpoint: Sourced[str] = get("endpoint", DEFAULT_ENDPOINT)
    check_endpoint(endpoint)  # a malformed endpoint is named before what it lacks
    token: Sourced[Secret | None] = get("token", None)
    exchange: Sourced[str | None] = get("exchange_endpoint", None)
    if exchange.value is None and token.value is None:
        if endpoint.source != BUILTIN:
            raise IncompleteCredentialsError(
                f"the endpoint {endpoint.value} (from {endpoint.source}) has no exchange "
                f"endpoint: set exchange_endpoint in the same place ({_where_to_set(layer)}); "
                "kaskada never guesses where to send a secret"
            )
        exchange = Sourced(DEFAULT_EXCHANGE_ENDPOINT, BUILTIN)
    elif exchange.value is not None:
        exchange = Sourced(exchange_url(exchange.value), exchange.source)
    host = endpoint_host(endpoint.value)
    is_secure: Sourced[bool] = get("is_secure", None)
    if is_secure.value is None and get("ca_bundle", None).value is not None:
        is_secure = Sourced(True, f"{BUILTIN} (TLS: a ca_bundle is set)")
    elif is_secure.value is None:
        is_secure = Sourced(not is_loopback(host), f"{BUILTIN} (TLS unless the host is loopback)")
    allow: Sourced[bool] = safe.get("allow_insecure") or env_allow_insecure(env)
    timeout: Sourced[float] = get("timeout", None)
    if timeout.value is None:
        timeout = env_timeout(env)
    secret: Sourced[Any] = get("client_secret", None)
    auth: Sourced[SignIn] | None = fields.get("auth")
    if auth is None:  # the kind the layer's credentials imply, from where they came
        kind = "token" if token.value is not None else "client_secret"
        auth = Sourced(SignIn(kind), token.source if token.value is not None else secret.source)
    settings = Settings(
        layer=layer,
        profile=get("profile", None),
        client_id=get("client_id", None),
        client_secret=secret,
        token=token,
        auth=auth,
        endpoint=endpoint,
        is_secure=is_secure,
        exchange_endpoint=exchange,
        audience=get("audience", None),
        ca_bundle=get("ca_bundle", None),
        timeout=timeout,
        allow_insecure=allow,
    )
    check_transport_security(settings)
    return settings


def env_timeout(env: Mapping[str, str | None]) -> Sourced[float]:
    """KASKADA_TIMEOUT applies under every layer that did not set a timeout itself."""
    raw = env.get(_env.TIMEOUT)
    if raw:
        return Sourced(parse_timeout(raw, _env.TIMEOUT), _env.TIMEOUT)
    return Sourced(DEFAULT_TIMEOUT, BUILTIN)


def env_allow_insecure(env: Mapping[str, str | None]) -> Sourced[bool]:
    """KASKADA_ALLOW_INSECURE: never read from a profile file, so a file cannot lower TLS."""
    raw = env.get(_env.ALLOW_INSECURE)
    if raw:
        return Sourced(parse_bool(raw, _env.ALLOW_INSECURE), _env.ALLOW_INSECURE)
    return Sourced(False, BUILTIN)


def _where_to_set(layer: str) -> str:
    if layer.startswith("environment"):
        return "KASKADA_AUTH_ENDPOINT"
    if layer.startswith("arguments"):
        return "exchange_endpoint="
    name = layer.split("'")[1] if layer.count("'") >= 2 else "NAME"
    return (
        "the profile's exchange_endpoint key: "
        f"`kaskada profile set {name} exchange_endpoint URL`"
    )


def check_transport_security(settings: Settings) -> None:
    """Plaintext only to loopback unless allow_insecure: a secret never crosses a network bare."""
    if settings.allow_insecure.value:
        return
    endpoint = settings.endpoint.value
    if not settings.is_secure.value and not is_loopback(endpoint_host(endpoint)):
        raise InsecureConnectionError(
            f"plaintext to {endpoint} (is_secure=false from {settings.is_secure.source}) is "
            "refused because the host is not loopback: use TLS, or pass allow_insecure=True / "
            "set KASKADA_ALLOW_INSECURE=1 / --allow-insecure if you really mean it"
        )
    url = settings.exchange_endpoint.value
    if url and settings.token.value is None:
        parts = urlsplit(url)
        if parts.scheme == "http" and not is_loopback(parts.hostname or ""):
            raise InsecureConnectionError(
                f"the exchange endpoint {url} (from {settings.exchange_endpoint.source}) is "
                "plain http on a non-loopback host, so the secret would cross the network "
                "unencrypted: use https, or allow_insecure=True / KASKADA_ALLOW_INSECURE=1"
            )
        try:
            valid = parts.scheme in ("http", "https") and bool(parts.hostname)
            parts.port  # noqa: B018 - raises ValueError for a port that is not a number
        except ValueError:
            valid = False
        if not valid:
            raise ConfigError(
                f"the exchange endpoint {url!r} (from {settings.exchange_endpoint.source}) is "
                "not an http(s) URL or a bare host: give e.g. https://auth.example.com/oauth/token"
            )
