"""Resolution: which layer supplies a connection's settings.

The third step of the data's way (config file -> settings -> resolution ->
credentials and tokens -> transport -> API). The layers are a row of small
functions tried in order (the shape of google-auth's ``_default.py``); the
first that supplies credentials supplies *every* connection setting, and what
it leaves unset takes the built-in default (``_defaults``), never a value from
another layer, so a secret only goes where its own layer said.

The order is the README's resolution rule (written there once); this module
holds its arguments, environment and default-profile steps, ``_session`` the
steps that pick an already-resolved session and keep what was resolved.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import warnings
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from kaskada._errors import (
    ConfigError,
    IncompleteCredentialsError,
    NoCredentialsError,
    ProfileNotFoundError,
)
from kaskada._secret import Secret
from kaskada.config import file as _config
from kaskada.config.paths import keyring_service
from kaskada.settings import env as _env
from kaskada.settings.defaults import complete
from kaskada.settings.options import CONNECTION_OPTIONS, ConnectionOptions
from kaskada.settings.parse import (
    argument_bool,
    check_token,
    parse_bool,
    parse_timeout,
    profile_fields,
)
from kaskada.settings.schema import BY_NAME, ENV_CONNECTION
from kaskada.settings.values import (
    ARGUMENT,
    PROFILE_LAYER,
    Settings,
    SignIn,
    Sourced,
    StoredSecret,
)

log = logging.getLogger(__name__)

HOW_TO_GIVE_CREDENTIALS = (
    "give credentials in one of three ways: "
    "a profile (`kaskada profile add NAME --client-id ID` then `kaskada profile use NAME`, "
    "or kda.init(profile=NAME); with no keyring, add --secret-env VAR or --secret-command "
    "'PROGRAM ARGS' to that first command), "
    "environment variables (KASKADA_CLIENT_ID and KASKADA_CLIENT_SECRET, or KASKADA_TOKEN), "
    "or arguments (kda.init(client_id=..., client_secret=...))"
)


def _from_profile(
    name: str,
    how: str,
    overrides: Mapping[str, Sourced[Any]],
    safe: Mapping[str, Sourced[Any]],
    env: Mapping[str, str | None],
) -> Settings:
    """A named profile, its secret from the keyring, keyword arguments over its fields."""
    try:
        profile = _config.get_profile(name)
    except ProfileNotFoundError as error:
        raise ProfileNotFoundError(f"{error} (the name came from {how})") from None
    fields = profile_fields(profile, how)
    fields.update(overrides)
    service = keyring_service(env)  # read through env: a kept session notices a change
    client_id = fields.get("client_id")
    if "token" not in fields:
        if client_id is None or not client_id.value:
            raise IncompleteCredentialsError(
                f"profile '{name}' has no client_id: add one with "
                f"`kaskada profile set {name} client_id ID`"
            )
        kind = profile.auth or "client_secret"  # its keys agree (config.file's checks)
        if kind != "client_secret" and "client_secret" not in fields:  # device or federated
            fields["auth"] = _sign_in(profile, kind, service)
            if profile.issuer and "exchange_endpoint" not in fields:
                # Names the issuer (cache key, explain); the kind reads the real token
                # endpoint from the issuer's RFC 8414 metadata when it signs in.
                fields["exchange_endpoint"] = Sourced(
                    profile.issuer, f"issuer of profile '{name}' (endpoints from its metadata)")
        if "client_secret" not in fields and "auth" not in fields:
            if "client_id" in overrides:
                raise IncompleteCredentialsError(
                    f"client_id {client_id.value} was passed without its client_secret: pass "
                    f"client_secret= too (the secret of profile '{name}' belongs to its own id)"
                )
            _profile_secret(name, client_id.value, profile.fields(), fields, service)
    # The secret is read (on a cold cache) by _session.RESOLVED, not here: on an
    # event loop the rest of resolution runs at once and only that read waits.
    return complete(f"{PROFILE_LAYER}{name}' ({how})", fields, safe, env)


def _sign_in(profile: _config.Profile, kind: str, service: str) -> Sourced[SignIn]:
    """A device or federated profile's sign-in: what it needs, as plain values; its source
    says where its token comes from."""
    name = profile.name
    own = profile.fields()
    if kind == "device":
        where = ("a plain-text file (insecure storage)" if _config.store_of(own) == "file"
                 else "the keyring")
        source = f"refresh token in {where} (profile '{name}')"
        subject = None
    else:
        chosen = _config.subject_token_source_of(own)
        subject = (chosen, str(own.get(f"subject_token_{chosen}", "")))
        if chosen != "github_actions" and not subject[1]:
            raise ConfigError(
                f"profile '{name}' says subject_token_source = {chosen!r} but has no "
                f"subject_token_{chosen}: `kaskada profile set {name} subject_token_{chosen} …`")
        shown = {"file": f"file {subject[1]}", "env": f"variable {subject[1]}",
                 "github_actions": "GitHub Actions' OIDC request"}[chosen]
        source = f"subject token from {shown} (profile '{name}')"
    issuer = profile.issuer.rstrip("/") if profile.issuer else None
    value = SignIn(kind, name, service, issuer, subject, None, tuple(own.items()))
    return Sourced(value, source)


def _profile_secret(
    name: str, client_id: str, own: Mapping[str, Any], fields: dict[str, Sourced[Any]],
    service: str,
) -> None:
    """The profile's secret (or token) from its store, into ``fields``.

    A keyring, env or file secret is read on first use (a warm token cache needs no
    keyring), its binding checked then against the fields these settings were built
    from. A ``secret_command`` runs when a token is needed, not here: its output decides
    then whether it is a secret to exchange or a token (used until it expires).
    """
    # Where it is stored, not the secret (a plain value): read when a token must be
    # bought, its binding checked then against the fields these settings were built from.
    where = StoredSecret(name, client_id, service, tuple(own.items()))
    if _config.store_of(own) == "keyring":
        label = f"keyring (profile '{name}')"
        fields["client_secret"] = Sourced(where, label)
        fields["auth"] = Sourced(SignIn("client_secret", name), label)
        return
    from kaskada.credentials import (
        profile_stores as _secret_stores,  # subprocess and the store classes: only when used
    )

    store = _secret_stores.store_for(name, own)
    label = f"{store.describe().removeprefix('the ')} (profile '{name}')"
    if isinstance(store, _secret_stores.CommandStore):
        # Run when a token is needed (credentials CommandCredentials), never here.
        sign_in = SignIn("command", name, service, None, None, store.argv,
                         tuple(own.items()))
        fields["auth"] = Sourced(sign_in, f"{label}, run when a token is needed")
        return
    fields["client_secret"] = Sourced(where, label)
    fields["auth"] = Sourced(SignIn("client_secret", name), label)


# --- the layers -------------------------------------------------------------------


class EnvironmentReads(Mapping[str, "str | None"]):
    """``os.environ`` as one resolution sees it: each variable read when a layer first
    asks for it (None when unset), then remembered.

    ``read`` is then exactly what the settings were made from, so ``_session`` keeps
    them by those variables alone: a variable no layer asked for cannot change them.
    Diagnostics (the shadowing warning, a debug line) read ``os.environ`` themselves,
    so they do not widen that key.
    """

    def __init__(self) -> None:
        self.read: dict[str, str | None] = {}

    def __getitem__(self, name: str) -> str | None:
        if name not in self.read:
            self.read[name] = os.environ.get(name)
        return self.read[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.read)

    def __len__(self) -> int:
        return len(self.read)


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
        fields["is_secure"] = Sourced(argument_bool(args["is_secure"], "is_secure"), ARGUMENT)
    if args.get("client_secret") is not None:
        fields["client_secret"] = Sourced(Secret(args["client_secret"]), ARGUMENT)
    if args.get("jwt") is not None:
        jwt = args["jwt"]
        raw = jwt.reveal() if isinstance(jwt, Secret) else jwt
        fields["token"] = Sourced(check_token(raw, "argument jwt"), "argument jwt")
    profile = args.get("profile")
    if profile is not None:
        if "client_secret" not in fields and "token" not in fields:
            _warn_if_shadowing(f"profile={profile!r}", profile)
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
        return complete("arguments", fields, safe, env)
    chosen = [name for name in CONNECTION_OPTIONS if name in fields]
    if chosen:
        raise IncompleteCredentialsError(
            f"{', '.join(chosen)} passed without credentials: pass profile= or "
            "client_id=/client_secret= (or jwt=) with it; kaskada never sends credentials "
            "from another layer to an endpoint chosen here"
        )
    return None


_warned_shadow = False
_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep  # kaskada/


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


def _warn_if_shadowing(chosen: str, profile: str) -> None:
    """An explicitly chosen profile beats credential variables: say so, once per process.

    A notebook that set KASKADA_CLIENT_ID earlier would otherwise run as another
    account without a sign. Given when a profile's settings are resolved; the
    variables are read from ``os.environ`` here, not through the resolution's
    ``EnvironmentReads``: they do not change the settings, so settings kept for
    reuse are not resolved again when one of them changes.
    """
    global _warned_shadow
    if _warned_shadow:
        return
    own = None
    with contextlib.suppress(Exception):  # a broken profile is reported by resolution
        own = _config.get_profile(profile).secret_env  # the profile's own variable
    shadowed = [var for var in _env.CREDENTIAL_VARIABLES if os.environ.get(var) and var != own]
    if shadowed:
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
    _warn_if_shadowing(f"KASKADA_PROFILE={name}", name)
    return _from_profile(name, _env.PROFILE, {}, safe, env)


def _from_env_credentials(
    args: dict[str, Any], safe: dict[str, Sourced[Any]], env: Mapping[str, str | None]
) -> Settings | None:
    """Layer 4b: KASKADA_TOKEN, or KASKADA_CLIENT_ID with KASKADA_CLIENT_SECRET."""
    client_id = env.get(_env.CLIENT_ID)
    secret = env.get(_env.CLIENT_SECRET)
    token = env.get(_env.TOKEN)
    if not (client_id or secret or token):
        _log_ignored_connection_variables()
        return None
    fields: dict[str, Sourced[Any]] = {}
    if token:
        from kaskada.credentials import handed as _handed  # only for a handed-over token

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
    for name, var in ENV_CONNECTION.items():  # the one table of settings names them
        raw = env.get(var)
        if raw:
            fields[name] = Sourced(parse_env(BY_NAME[name].kind, raw, var), var)
    layer = "environment (KASKADA_TOKEN)" if token else "environment (KASKADA_CLIENT_ID)"
    return complete(layer, fields, safe, env)


def _log_ignored_connection_variables() -> None:
    """A debug line when endpoint variables are set without credential variables.

    Reads ``os.environ`` itself: what it reads does not change the settings.
    """
    if not log.isEnabledFor(logging.DEBUG):
        return
    connection = [var for var in _env.CONNECTION_VARIABLES if os.environ.get(var)]
    if any(var in connection for var in (_env.API_ENDPOINT, _env.AUTH_ENDPOINT)):
        log.debug("ignoring %s: no credential variables are set", ", ".join(connection))


def parse_env(kind: str, raw: str, var: str) -> Any:
    """A variable's text as the kind of its setting."""
    if kind == "bool":
        return parse_bool(raw, var)
    if kind == "seconds":
        return parse_timeout(raw, var)
    return raw


def _from_default_profile(
    args: dict[str, Any], safe: dict[str, Sourced[Any]], env: Mapping[str, str | None]
) -> Settings | None:
    """Layer 5: ``default_profile`` in the config file."""
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


def resolve_layers(options: ConnectionOptions, env: Mapping[str, str | None]) -> Settings:
    """The settings of the first layer that supplies credentials (not memoized)."""
    arguments = options.given()
    safe: dict[str, Sourced[Any]] = {}
    if arguments.get("ca_bundle") is not None:
        safe["ca_bundle"] = Sourced(str(arguments["ca_bundle"]), ARGUMENT)
    if arguments.get("timeout") is not None:
        safe["timeout"] = Sourced(parse_timeout(arguments["timeout"], "timeout="), ARGUMENT)
    if arguments.get("allow_insecure") is not None:
        allow = argument_bool(arguments["allow_insecure"], "allow_insecure")
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


def clear_process_state() -> None:
    """Forget what this module keeps for the process (see kaskada/_reset.py)."""
    global _warned_shadow
    _warned_shadow = False
