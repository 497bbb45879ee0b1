"""Resolution: which settings a connection uses, and where each one came from.

``init()``/``session()`` resolve their arguments here. The layers are a row of
small functions tried in order (the shape of google-auth's ``_default.py``);
the first that supplies credentials supplies *every* connection setting, and
what it leaves unset takes the built-in default (the local server), never a
value from another layer, so a secret only goes where its own layer said.

    arguments (profile=, client_id=/client_secret=, jwt=)
    -> KASKADA_PROFILE -> KASKADA_TOKEN / KASKADA_CLIENT_ID+SECRET
    -> default_profile in the config file

(``session=`` and the ``with kda.session()`` / ``kda.init()`` layers live in
``_session.py``: they pick an already-resolved ``Settings``.)
"""

from __future__ import annotations

import logging
import math
import os
import sys
import threading
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, NamedTuple, TypeVar
from urllib.parse import urlsplit

from kaskada import _env, _fork, _handed
from kaskada._errors import (
    ConfigError,
    IncompleteCredentialsError,
    InsecureConnectionError,
    NoCredentialsError,
    ProfileNotFoundError,
)
from kaskada._loopback import is_loopback
from kaskada._reset import on_reset
from kaskada._secret import Secret

if TYPE_CHECKING:
    from kaskada._config import Profile
    from kaskada._explain import Explanation

log = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_ENDPOINT = "localhost:50051"
DEFAULT_EXCHANGE_ENDPOINT = "http://localhost:50052/oauth/token"
DEFAULT_TIMEOUT = 30.0
MAX_TIMEOUT = 86400.0  # a day; past ~1e9 s the socket layer overflows (a traceback, not an error)
BUILTIN = "built-in default"
ARGUMENT = "argument"

# Keyword arguments that choose where credentials go: they need credentials
# (or a profile) from the same layer.
CONNECTION_ARGS = ("endpoint", "is_secure", "exchange_endpoint", "audience")
# Keyword arguments that never redirect a credential: they apply to any layer.
SAFE_ARGS = ("ca_bundle", "timeout", "allow_insecure")
ARGUMENT_NAMES = ("profile", "client_id", "client_secret", "jwt", *CONNECTION_ARGS, *SAFE_ARGS)

_ENV_VARS = (
    _env.PROFILE,
    *_env.CREDENTIAL_VARIABLES,
    *_env.CONNECTION_VARIABLES,
    _env.ALLOW_INSECURE,
)

HOW_TO_GIVE_CREDENTIALS = (
    "give credentials in one of three ways: "
    "a profile (`kaskada profile add NAME --client-id ID` then `kaskada profile use NAME`, "
    "or kda.init(profile=NAME)), "
    "environment variables (KASKADA_CLIENT_ID and KASKADA_CLIENT_SECRET, or KASKADA_TOKEN), "
    "or arguments (kda.init(client_id=..., client_secret=...))"
)


class Sourced(NamedTuple, Generic[T]):
    """A setting's value and the place it came from (for explain and whoami)."""

    value: T
    source: str


@dataclass(frozen=True)
class Settings:
    """Everything one connection uses; every value carries its source."""

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

    def channel_key(self) -> tuple[str, bool, str | None]:
        """Channels are shared per (endpoint, TLS settings)."""
        return (self.endpoint.value, self.is_secure.value, self.ca_bundle.value)

    def rows(self) -> list[tuple[str, Any, str]]:
        """(setting, value, source) for every field; secrets stay Secret (masked)."""
        names = (
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
        return [(name, *getattr(self, name)) for name in names]


# --- small parsers -----------------------------------------------------------


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
    value = endpoint.value
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(
            f"the endpoint from {endpoint.source} is {value!r}, not a gRPC host:port: "
            "give e.g. localhost:50051"
        )
    if "://" in value or any(ch.isspace() for ch in value):
        raise ConfigError(
            f"the endpoint {value!r} (from {endpoint.source}) is not a gRPC host:port: "
            "give the host and port alone, e.g. api.example.com:443, without a scheme or spaces"
        )
    from kaskada._hostport import example_for, host_port_problem

    problem = host_port_problem(value)
    if problem is not None:
        raise ConfigError(
            f"the endpoint {value!r} (from {endpoint.source}) {problem}: a gRPC endpoint is "
            f"host:port, e.g. {example_for(value)} (the local server listens on 50051)"
        )


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
    word = value.strip().lower()
    if word in _env.TRUE_WORDS:
        return True
    if word in _env.FALSE_WORDS:
        return False
    raise ConfigError(f"{where} is {value!r}, not a boolean: set it to true or false")


def parse_timeout(value: Any, where: str) -> float:
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


def _argument_bool(value: Any, name: str) -> bool:
    """``is_secure="false"`` must not mean TLS because a non-empty string is truthy."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return parse_bool(value, f"{name}=")
    raise ConfigError(f"{name}= is {value!r}: pass True or False")


# --- building a Settings from one layer ------------------------------------------


def _complete(
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
    check_endpoint(endpoint)
    host = endpoint_host(endpoint.value)
    is_secure: Sourced[bool] = get("is_secure", None)
    if is_secure.value is None and get("ca_bundle", None).value is not None:
        is_secure = Sourced(True, f"{BUILTIN} (TLS: a ca_bundle is set)")
    elif is_secure.value is None:
        is_secure = Sourced(not is_loopback(host), f"{BUILTIN} (TLS unless the host is loopback)")
    allow: Sourced[bool] = safe.get("allow_insecure") or _env_allow_insecure(env)
    timeout: Sourced[float] = get("timeout", None)
    if timeout.value is None:
        timeout = _env_timeout(env)
    settings = Settings(
        layer=layer,
        profile=get("profile", None),
        client_id=get("client_id", None),
        client_secret=get("client_secret", None),
        token=token,
        endpoint=endpoint,
        is_secure=is_secure,
        exchange_endpoint=exchange,
        audience=get("audience", None),
        ca_bundle=get("ca_bundle", None),
        timeout=timeout,
        allow_insecure=allow,
    )
    _check_transport_security(settings)
    return settings


def _env_timeout(env: Mapping[str, str | None]) -> Sourced[float]:
    """KASKADA_TIMEOUT applies under every layer that did not set a timeout itself."""
    raw = env.get(_env.TIMEOUT)
    if raw:
        return Sourced(parse_timeout(raw, _env.TIMEOUT), _env.TIMEOUT)
    return Sourced(DEFAULT_TIMEOUT, BUILTIN)


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


def _env_allow_insecure(env: Mapping[str, str | None]) -> Sourced[bool]:
    raw = env.get(_env.ALLOW_INSECURE)
    if raw:
        return Sourced(parse_bool(raw, _env.ALLOW_INSECURE), _env.ALLOW_INSECURE)
    return Sourced(False, BUILTIN)


def _check_transport_security(settings: Settings) -> None:
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


def _profile_fields(profile: Profile, source: str) -> dict[str, Sourced[Any]]:
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


def _from_profile(
    name: str,
    how: str,
    overrides: Mapping[str, Sourced[Any]],
    safe: Mapping[str, Sourced[Any]],
    env: Mapping[str, str | None],
) -> Settings:
    """A named profile, its secret from the keyring, keyword arguments over its fields."""
    from kaskada import _config, _token_cache
    from kaskada._lazy_secret import KeyringSecret

    try:
        profile = _config.get_profile(name)
    except ProfileNotFoundError as error:
        raise ProfileNotFoundError(f"{error} (the name came from {how})") from None
    fields = _profile_fields(profile, how)
    fields.update(overrides)
    client_id = fields.get("client_id")
    if "token" not in fields:
        if client_id is None or not client_id.value:
            raise IncompleteCredentialsError(
                f"profile '{name}' has no client_id: add one with "
                f"`kaskada profile set {name} client_id ID`"
            )
        if "client_secret" not in fields:
            if "client_id" in overrides:
                raise IncompleteCredentialsError(
                    f"client_id {client_id.value} was passed without its client_secret: pass "
                    f"client_secret= too (the secret of profile '{name}' belongs to its own id)"
                )
            # Read on first use (a warm token cache needs no keyring), its binding
            # checked then against the fields these settings were built from.
            secret = KeyringSecret(name, client_id.value, profile.fields())
            fields["client_secret"] = Sourced(secret, f"keyring (profile '{name}')")
    settings = _complete(f"profile '{name}' ({how})", fields, safe, env)
    _token_cache.require_secret_unless_cached(settings)  # a warm cache reads no keyring
    return settings


# --- the layers -------------------------------------------------------------------

Layer = Callable[
    [dict[str, Any], dict[str, Sourced[Any]], Mapping[str, str | None]], Settings | None
]


def _from_arguments(
    args: dict[str, Any], safe: dict[str, Sourced[Any]], env: Mapping[str, str | None]
) -> Settings | None:
    """Layer 1: ``profile=`` or explicit credentials passed to init()/session()."""
    fields: dict[str, Sourced[Any]] = {}
    for name in ("client_id", "endpoint", "exchange_endpoint", "audience"):
        value = args.get(name)
        if value is not None:
            if not isinstance(value, str):
                raise ConfigError(f"{name}= is a {type(value).__name__}: pass a string")
            fields[name] = Sourced(value, ARGUMENT)
    if args.get("is_secure") is not None:
        fields["is_secure"] = Sourced(_argument_bool(args["is_secure"], "is_secure"), ARGUMENT)
    if args.get("client_secret") is not None:
        fields["client_secret"] = Sourced(Secret(args["client_secret"]), ARGUMENT)
    if args.get("jwt") is not None:
        jwt = args["jwt"]
        raw = jwt.reveal() if isinstance(jwt, Secret) else jwt
        fields["token"] = Sourced(check_token(raw, "argument jwt"), "argument jwt")
    profile = args.get("profile")
    if profile is not None:
        if "client_secret" not in fields and "token" not in fields:
            _warn_if_shadowing(f"profile={profile!r}", env)
        return _from_profile(profile, "argument profile=", fields, safe, env)
    if "client_secret" in fields and "client_id" not in fields:
        raise IncompleteCredentialsError(
            "client_secret was passed without client_id: pass client_id= too"
        )
    if "client_id" in fields and "client_secret" not in fields and "token" not in fields:
        raise IncompleteCredentialsError(
            f"client_id {fields['client_id'].value} was passed without client_secret: pass "
            "client_secret= too (it is never taken from another layer); in a notebook, "
            "client_secret=getpass() keeps it off the screen"
        )
    if "client_secret" in fields or "token" in fields:
        return _complete("arguments", fields, safe, env)
    chosen = [name for name in CONNECTION_ARGS if name in fields]
    if chosen:
        raise IncompleteCredentialsError(
            f"{', '.join(chosen)} passed without credentials: pass profile= or "
            "client_id=/client_secret= (or jwt=) with it; kaskada never sends credentials "
            "from another layer to an endpoint chosen here"
        )
    return None


_warned_shadow = False
_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


def _outside_stacklevel() -> int:
    """The ``stacklevel`` (for the caller of this) of the first frame outside kaskada.

    The path from the user's line to the warning differs (init, session, a first
    call before init), so a fixed level would blame a line of kaskada itself.
    """
    frame = sys._getframe(2)  # the caller of the function that warns: stacklevel 2
    level = 2
    while frame.f_back is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        frame = frame.f_back
        level += 1
    return level


def _warn_if_shadowing(chosen: str, env: Mapping[str, str | None]) -> None:
    """An explicitly chosen profile beats credential variables: say so, once per process.

    A notebook that set KASKADA_CLIENT_ID earlier would otherwise run as another
    account without a sign.
    """
    global _warned_shadow
    shadowed = [var for var in _env.CREDENTIAL_VARIABLES if env.get(var)]
    if shadowed and not _warned_shadow:
        _warned_shadow = True
        warnings.warn(
            f"{chosen} is used; {', '.join(shadowed)} "
            f"{'is' if len(shadowed) == 1 else 'are'} set too and ignored: unset one or the other",
            UserWarning,
            stacklevel=_outside_stacklevel(),
        )


def _from_env_profile(
    args: dict[str, Any], safe: dict[str, Sourced[Any]], env: Mapping[str, str | None]
) -> Settings | None:
    """Layer 4a: ``KASKADA_PROFILE`` beats environment credentials (with one warning)."""
    name = env.get(_env.PROFILE)
    if not name:
        return None
    _warn_if_shadowing(f"KASKADA_PROFILE={name}", env)
    return _from_profile(name, _env.PROFILE, {}, safe, env)


def _from_env_credentials(
    args: dict[str, Any], safe: dict[str, Sourced[Any]], env: Mapping[str, str | None]
) -> Settings | None:
    """Layer 4b: KASKADA_TOKEN, or KASKADA_CLIENT_ID with KASKADA_CLIENT_SECRET."""
    client_id = env.get(_env.CLIENT_ID)
    secret = env.get(_env.CLIENT_SECRET)
    token = env.get(_env.TOKEN)
    connection = [var for var in _env.CONNECTION_VARIABLES if env.get(var)]
    if not (client_id or secret or token):
        if any(var in connection for var in (_env.API_ENDPOINT, _env.AUTH_ENDPOINT)):
            log.debug("ignoring %s: no credential variables are set", ", ".join(connection))
        return None
    fields: dict[str, Sourced[Any]] = {}
    if token:
        checked = _handed.with_expiry(check_token(token, _env.TOKEN), env)
        fields["token"] = Sourced(checked, _env.TOKEN)
    if client_id:
        fields["client_id"] = Sourced(client_id, _env.CLIENT_ID)
    if secret:
        if not client_id:
            raise IncompleteCredentialsError(
                "KASKADA_CLIENT_SECRET is set without KASKADA_CLIENT_ID: set the client id too"
            )
        fields["client_secret"] = Sourced(Secret(secret), _env.CLIENT_SECRET)
    elif client_id and not token:
        raise IncompleteCredentialsError(
            f"KASKADA_CLIENT_ID ({client_id}) is set without KASKADA_CLIENT_SECRET: set it "
            "(in a notebook: os.environ['KASKADA_CLIENT_SECRET'] = getpass()) or use a profile"
        )
    text = {
        "endpoint": _env.API_ENDPOINT,
        "exchange_endpoint": _env.AUTH_ENDPOINT,
        "audience": _env.AUTH_AUDIENCE,
        "ca_bundle": _env.CA_BUNDLE,
    }
    for name, var in text.items():
        if env.get(var):
            fields[name] = Sourced(env[var], var)
    raw_secure = env.get(_env.IS_SECURE)
    if raw_secure:
        fields["is_secure"] = Sourced(parse_bool(raw_secure, _env.IS_SECURE), _env.IS_SECURE)
    raw_timeout = env.get(_env.TIMEOUT)
    if raw_timeout:
        fields["timeout"] = Sourced(parse_timeout(raw_timeout, _env.TIMEOUT), _env.TIMEOUT)
    layer = "environment (KASKADA_TOKEN)" if token else "environment (KASKADA_CLIENT_ID)"
    return _complete(layer, fields, safe, env)


def _from_default_profile(
    args: dict[str, Any], safe: dict[str, Sourced[Any]], env: Mapping[str, str | None]
) -> Settings | None:
    """Layer 5: ``default_profile`` in the config file."""
    from kaskada import _config

    config = _config.load()
    if not config.default_profile:
        return None
    return _from_profile(config.default_profile, f"default_profile in {config.path}", {}, safe, env)


LAYERS: tuple[Layer, ...] = (
    _from_arguments,
    _from_env_profile,
    _from_env_credentials,
    _from_default_profile,
)


# --- entry points -------------------------------------------------------------


_ENV_KEYS = tuple(os.fsencode(name) for name in _ENV_VARS)


def _snapshot_env() -> tuple[str | None, ...]:
    """The KASKADA_* values in force. ``os.environ.get`` costs ~2 us a name (it encodes
    the key and decodes the value), so on POSIX, where CPython keeps the environment
    as a dict of bytes, the hot path reads that dict; elsewhere (Windows keys are
    upper-cased str) it takes the public way."""
    data = getattr(os.environ, "_data", None) if os.name == "posix" else None
    if isinstance(data, dict):
        get = data.get
        return tuple([None if (raw := get(key)) is None else os.fsdecode(raw) for key in _ENV_KEYS])
    return tuple([os.environ.get(name) for name in _ENV_VARS])


def _config_identity() -> object:
    """The cached ConfigFile (same object while the file is unchanged), or None."""
    from kaskada import _config

    try:
        return _config.load()
    except Exception:  # a broken file is reported by the layer that reads it
        return None


_memo: dict[tuple[Any, ...], tuple[Settings, object]] = {}
_memo_lock = threading.Lock()
_MEMO_LIMIT = 1024


@on_reset
def _clear() -> None:
    global _warned_shadow
    _memo.clear()
    _warned_shadow = False


def _after_fork_in_child() -> None:
    global _memo_lock
    _memo_lock = threading.Lock()  # another thread may have held it at fork time


_fork.in_child_after_fork(_after_fork_in_child)


def resolve(**arguments: Any) -> Settings:
    """The settings ``init(**arguments)`` would use, memoized per (arguments, env, file)."""
    unknown = set(arguments) - set(ARGUMENT_NAMES)
    if unknown:
        raise TypeError(f"unexpected keyword argument(s): {', '.join(sorted(unknown))}")
    return resolve_values(tuple(arguments.get(name) for name in ARGUMENT_NAMES))


def memoized(
    values: tuple[Any, ...], env_values: tuple[str | None, ...] | None = None
) -> Settings | None:
    """What resolve_values would return without reading the keyring, or None (not memoized)."""
    if env_values is None:
        env_values = _snapshot_env()
    hit = _memo.get((values, env_values))
    if hit is not None:
        settings, identity = hit
        if identity is None or _config_identity() is identity:
            return settings
    return None


def resolve_values(values: tuple[Any, ...]) -> Settings:
    """``resolve`` with the arguments in ARGUMENT_NAMES order: the hot path of session()."""
    env_values = _snapshot_env()
    key = (values, env_values)
    found = memoized(values, env_values)
    if found is not None:
        return found
    arguments = {
        name: value for name, value in zip(ARGUMENT_NAMES, values, strict=True) if value is not None
    }
    uses_file = (
        bool(arguments.get("profile"))
        or env_values[0] is not None
        or not any(arguments.get(name) is not None for name in ("client_secret", "jwt"))
    )
    identity = _config_identity() if uses_file else None
    settings = _resolve_uncached(arguments, dict(zip(_ENV_VARS, env_values, strict=True)))
    with _memo_lock:
        if len(_memo) >= _MEMO_LIMIT:
            _memo.clear()
        _memo[key] = (settings, identity)
    return settings


def _resolve_uncached(arguments: dict[str, Any], env: Mapping[str, str | None]) -> Settings:
    safe: dict[str, Sourced[Any]] = {}
    if arguments.get("ca_bundle") is not None:
        safe["ca_bundle"] = Sourced(str(arguments["ca_bundle"]), ARGUMENT)
    if arguments.get("timeout") is not None:
        safe["timeout"] = Sourced(parse_timeout(arguments["timeout"], "timeout="), ARGUMENT)
    if arguments.get("allow_insecure") is not None:
        allow = _argument_bool(arguments["allow_insecure"], "allow_insecure")
        safe["allow_insecure"] = Sourced(allow, ARGUMENT)
    for layer in LAYERS:
        settings = layer(arguments, safe, env)
        if settings is not None:
            log.debug(
                "resolved %s: client %s at %s",
                settings.layer,
                settings.client_id.value,
                settings.endpoint.value,
            )
            return settings
    raise NoCredentialsError(f"no Kaskada credentials found: {HOW_TO_GIVE_CREDENTIALS}")


def resolve_default() -> Settings:
    """What ``kda.init()`` with no arguments would use."""
    return resolve()


def describe_default() -> Explanation:
    """What ``kda.init()`` would use and why (``kaskada profile current``).

    Raises the resolution error (NoCredentialsError, ...) when it would fail.
    """
    from kaskada._explain import Explanation

    return Explanation.from_settings(resolve_default(), title="kda.init() would use")
