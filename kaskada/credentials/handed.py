"""A token handed to a child process (``kaskada exec`` / ``kaskada env``), never the secret.

The child gets ``KASKADA_TOKEN`` with ``KASKADA_TOKEN_EXPIRES_AT`` and the
connection settings, and no other credential variable. The library reads the
expiry with the token and checks it before every call, so an expired token
fails with when it expired and how to get a new one instead of an opaque
UNAUTHENTICATED.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from kaskada import _clock
from kaskada._errors import AuthenticationError, ConfigError
from kaskada._secret import Secret
from kaskada.settings import env as _env

REMOVED = (
    _env.CLIENT_ID,
    _env.CLIENT_SECRET,
    _env.PROFILE,
    _env.AUTH_ENDPOINT,
    _env.AUTH_AUDIENCE,
    _env.CA_BUNDLE,
    _env.TOKEN_EXPIRES_AT,
)
"""Credential variables a child must not see (CA_BUNDLE is set again when in force)."""


def format_time(epoch: float) -> str:
    """RFC 3339 in UTC, seconds precision: ``2026-01-02T03:04:05Z``."""
    return datetime.fromtimestamp(int(epoch), tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: str) -> float:
    """Seconds since the epoch from an RFC 3339 time; ConfigError naming the variable."""
    text = value.strip()
    try:
        parsed = datetime.fromisoformat(text[:-1] + "+00:00" if text[-1:] in "zZ" else text)
    except (ValueError, IndexError):
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise ConfigError(
            f"{_env.TOKEN_EXPIRES_AT}={value!r} is not an RFC 3339 time with a zone "
            "(e.g. 2026-01-02T03:04:05Z): fix or unset it"
        )
    return parsed.timestamp()


class ExpiringToken(Secret):
    """A pre-issued token that knows when it expires (``KASKADA_TOKEN_EXPIRES_AT``)."""

    __slots__ = ("expires_at", "source")
    expires_at: float
    source: str

    def __init__(self, token: Secret, expires_at: float, source: str) -> None:
        super().__init__(token.reveal())
        object.__setattr__(self, "expires_at", expires_at)
        object.__setattr__(self, "source", source)

    def check(self) -> None:
        """AuthenticationError when expired: says so, when, and how to get a new one."""
        if _clock.get().time() >= self.expires_at:
            raise AuthenticationError(
                f"the access token from {_env.TOKEN} expired at {format_time(self.expires_at)} "
                f"({self.source}): get a new one by running the command again under "
                "`kaskada exec --profile NAME -- …` or `eval \"$(kaskada env --profile NAME)\"`"
            )


def with_expiry(token: Secret, env: Mapping[str, str | None]) -> Secret:
    """``token`` with the expiry of ``KASKADA_TOKEN_EXPIRES_AT`` when that is set."""
    raw = env.get(_env.TOKEN_EXPIRES_AT)
    if not raw:
        return token
    return ExpiringToken(token, parse_time(raw), _env.TOKEN_EXPIRES_AT)


def check(token: Secret) -> None:
    """Raise if ``token`` is an ExpiringToken past its expiry (TokenCredentials calls this)."""
    if isinstance(token, ExpiringToken):
        token.check()
