"""Delegated sessions: a current access token handed to worker processes, never the secret.

``Session.delegate()`` makes one. It carries the token, its expiry (UTC), the
endpoint and TLS settings, plus the client id and profile name it came from (for
error messages only). It pickles, so a ``ProcessPoolExecutor`` or a Dask worker
can call as the delegating account until the token expires; it cannot refresh.
"""

from __future__ import annotations

import datetime
from typing import Any

from kaskada import _clock
from kaskada._errors import DelegationExpiredError
from kaskada._secret import Secret
from kaskada._session import Session
from kaskada._settings import Settings, Sourced
from kaskada._token import StaticToken

DELEGATED = "delegate()"


def utc_text(epoch: float) -> str:
    """An epoch second as ``2026-12-01 05:37:27 UTC``."""
    moment = datetime.datetime.fromtimestamp(epoch, tz=datetime.UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


class DelegatedToken(StaticToken):
    """A token that cannot be refreshed and says so, with its origin, once it expired."""

    def __init__(self, token: Secret, expires_at: float | None, origin: str) -> None:
        super().__init__(token)
        self.expires_at = expires_at  # epoch seconds; None: unknown (a jwt= session)
        self.origin = origin

    def get(self) -> Secret:
        if self.expires_at is not None and _clock.get().time() >= self.expires_at:
            raise DelegationExpiredError(
                f"the delegated session's access token expired at {utc_text(self.expires_at)} "
                f"({self.origin}): {self.renewal_hint()}"
            )
        return super().get()

    def renewal_hint(self) -> str:
        """How to get a working session again (a delegated session cannot refresh)."""
        return (
            "a delegated session cannot refresh its token; call delegate() again in the "
            "process that holds the credentials and send the new session"
        )


class DelegatedSession(Session):
    """A Session holding only a token, its expiry, the endpoint and TLS settings."""

    __module__ = "kaskada"  # shown as kaskada.X (it is exported there)

    __slots__ = ()

    def __init__(self, settings: Settings, expires_at: float | None) -> None:
        super().__init__(settings)
        profile = settings.profile.value
        origin = f"delegated from client id {settings.client_id.value or 'unknown'}"
        if profile:
            origin += f" of profile '{profile}'"
        token = settings.token.value
        if token is None:  # pragma: no cover - make() always sets it
            raise TypeError("a delegated session needs a token")
        self._tokens = DelegatedToken(token, expires_at, origin)

    @property
    def expires_at(self) -> float | None:
        """When the token expires (epoch seconds; None when unknown)."""
        tokens = self._tokens
        return tokens.expires_at if isinstance(tokens, DelegatedToken) else None

    def delegate(self, min_lifetime: float | None = None) -> DelegatedSession:
        """Itself, when its token still has ``min_lifetime`` seconds left (it cannot refresh)."""
        expires_at = self.expires_at
        needed = min_lifetime or 0.0
        if expires_at is not None and expires_at - _clock.get().time() < needed:
            tokens = self._tokens
            origin = tokens.origin if isinstance(tokens, DelegatedToken) else DELEGATED
            raise DelegationExpiredError(
                f"the delegated session's token expires at {utc_text(expires_at)} ({origin}), "
                f"sooner than min_lifetime={needed:g} s: call delegate() in the process that "
                "holds the credentials"
            )
        return self

    def __repr__(self) -> str:
        expiry = "unknown" if self.expires_at is None else utc_text(self.expires_at)
        return (
            f"DelegatedSession(profile={self.profile!r}, client_id={self.client_id!r}, "
            f"endpoint={self.endpoint!r}, expires={expiry!r})"
        )

    def __reduce__(self) -> Any:
        settings = self.settings
        token = settings.token.value
        if token is None:  # pragma: no cover
            raise TypeError("a delegated session without a token cannot be pickled")
        fields = (getattr(settings, name).value for name in _PICKLED_FIELDS)
        state = (token.reveal(), self.expires_at, *fields)
        return (_restore, state)


# make()'s keyword fields (each also a Settings field), pickled in this order.
_PICKLED_FIELDS = (
    "endpoint", "is_secure", "ca_bundle", "timeout", "allow_insecure", "client_id", "profile",
)


def _restore(token: str, expires_at: float | None, *values: Any) -> DelegatedSession:
    """Unpickling: the parts __reduce__ wrote, back through make()."""
    return make(Secret(token), expires_at, **dict(zip(_PICKLED_FIELDS, values, strict=True)))


def make(
    token: Secret,
    expires_at: float | None,
    *,
    endpoint: str,
    is_secure: bool,
    ca_bundle: str | None,
    timeout: float,
    allow_insecure: bool,
    client_id: str | None,
    profile: str | None,
) -> DelegatedSession:
    """A delegated session from its parts (also how unpickling rebuilds one)."""
    where = f"{DELEGATED} of " + (f"profile '{profile}'" if profile else f"client {client_id}")
    settings = Settings(
        layer=where,
        profile=Sourced(profile, where),
        client_id=Sourced(client_id, where),
        client_secret=Sourced(None, where),
        token=Sourced(token, where),
        endpoint=Sourced(endpoint, where),
        is_secure=Sourced(is_secure, where),
        exchange_endpoint=Sourced(None, where),
        audience=Sourced(None, where),
        ca_bundle=Sourced(ca_bundle, where),
        timeout=Sourced(timeout, where),
        allow_insecure=Sourced(allow_insecure, where),
    )
    return DelegatedSession(settings, expires_at)


def delegate(session: Session, min_lifetime: float | None) -> DelegatedSession:
    """A delegated copy of ``session`` whose token has ``min_lifetime`` seconds left."""
    from kaskada import _token

    if min_lifetime is not None and (
        isinstance(min_lifetime, bool)
        or not isinstance(min_lifetime, int | float)
        or not 0 <= min_lifetime < 10**9
    ):
        raise ValueError(
            f"min_lifetime={min_lifetime!r} is not a number of seconds: pass e.g. 600, or None"
        )
    settings = session.settings
    tokens = session.token_source()
    expires_at: float | None
    if isinstance(tokens, _token.TokenSource):
        found = tokens.token_for(float(min_lifetime or 0.0))
        token = found.access_token
        expires_at = _clock.to_wall(found.expires_at)
    else:
        token = tokens.get()  # a pre-issued token: its expiry is not known here
        expires_at = None
    return make(
        token,
        expires_at,
        endpoint=settings.endpoint.value,
        is_secure=settings.is_secure.value,
        ca_bundle=settings.ca_bundle.value,
        timeout=settings.timeout.value,
        allow_insecure=settings.allow_insecure.value,
        client_id=settings.client_id.value,
        profile=settings.profile.value,
    )
