"""What a delegated session holds: a current access token for worker processes, never the secret.

``Session.delegate()`` (in ``_session``, with the ``DelegatedSession`` class)
uses this module for the parts that need no session: which token to hand over
and for how long, the settings a delegated session carries (the token, its
expiry, the endpoint and TLS settings, plus the client id and profile name for
error messages only), and the credentials of a delegated session (``DelegatedCredentials``). It
imports no session module, so the session objects sit above it.
"""

from __future__ import annotations

from kaskada import _clock
from kaskada._errors import DelegationExpiredError
from kaskada._secret import Secret
from kaskada.credentials.tokens import (
    Credentials,
    DelegatedCredentials,
    utc_text,
)
from kaskada.settings.values import Settings, SignIn, Sourced

DELEGATED = "delegate()"

# The Settings fields a delegated session carries besides its token (and pickles, in
# this order).
DELEGATED_FIELDS = (
    "endpoint", "is_secure", "ca_bundle", "timeout", "allow_insecure", "client_id", "profile",
)


def token_for(settings: Settings, expires_at: float | None) -> DelegatedCredentials:
    """The token source of a delegated session built from ``settings``."""
    profile = settings.profile.value
    origin = f"delegated from client id {settings.client_id.value or 'unknown'}"
    if profile:
        origin += f" of profile '{profile}'"
    token = settings.token.value
    if token is None:  # pragma: no cover - settings_for() always sets it
        raise TypeError("a delegated session needs a token")
    return DelegatedCredentials(token, expires_at, origin)


def check_lifetime(tokens: object, min_lifetime: float | None) -> None:
    """DelegationExpiredError when a delegated token has less than ``min_lifetime`` left
    (it cannot refresh, so delegating it again cannot help)."""
    if not isinstance(tokens, DelegatedCredentials) or tokens.expires_at is None:
        return
    needed = min_lifetime or 0.0
    if tokens.expires_at - _clock.get().time() < needed:
        raise DelegationExpiredError(
            f"the delegated session's token expires at {utc_text(tokens.expires_at)} "
            f"({tokens.origin}), sooner than min_lifetime={needed:g} s: call delegate() in "
            "the process that holds the credentials"
        )


def settings_for(
    token: Secret,
    *,
    endpoint: str,
    is_secure: bool,
    ca_bundle: str | None,
    timeout: float,
    allow_insecure: bool,
    client_id: str | None,
    profile: str | None,
) -> Settings:
    """The settings of a delegated session: the token and where it may go, nothing else."""
    where = f"{DELEGATED} of " + (f"profile '{profile}'" if profile else f"client {client_id}")
    return Settings(
        layer=where,
        profile=Sourced(profile, where),
        client_id=Sourced(client_id, where),
        client_secret=Sourced(None, where),
        token=Sourced(token, where),
        auth=Sourced(SignIn("delegated"), where),
        endpoint=Sourced(endpoint, where),
        is_secure=Sourced(is_secure, where),
        exchange_endpoint=Sourced(None, where),
        audience=Sourced(None, where),
        ca_bundle=Sourced(ca_bundle, where),
        timeout=Sourced(timeout, where),
        allow_insecure=Sourced(allow_insecure, where),
    )


def handed_over(
    settings: Settings, tokens: Credentials, min_lifetime: float | None
) -> tuple[Settings, float | None]:
    """The settings and token expiry (epoch seconds, None if unknown) of a delegated
    copy of a session with these settings and tokens: ``min_lifetime`` seconds left."""
    if min_lifetime is not None and (
        isinstance(min_lifetime, bool)
        or not isinstance(min_lifetime, int | float)
        or not 0 <= min_lifetime < 10**9
    ):
        raise ValueError(
            f"min_lifetime={min_lifetime!r} is not a number of seconds: pass e.g. 600, or None"
        )
    expires_at: float | None
    if tokens.refreshable:
        found = tokens.token_for(float(min_lifetime or 0.0))
        token = found.access_token
        expires_at = _clock.to_wall(found.expires_at)
    else:
        token = tokens.get()  # a pre-issued token: its expiry is not known here
        expires_at = None
    fields = {name: getattr(settings, name).value for name in DELEGATED_FIELDS}
    return settings_for(token, **fields), expires_at
