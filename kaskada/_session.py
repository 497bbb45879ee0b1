"""Sessions: which settings a call runs with, picked by the five-step rule.

1. ``session=`` passed to the call
2. the innermost ``with kda.session(...)`` (a ContextVar: per thread and per
   asyncio task, nests, restored on exit and after an exception)
3. the global activation of ``kda.init(...)``; before any ``init()``, what
   ``kda.init()`` would resolve, once
4./5. the environment and the default profile (``_resolve``, memoized in ``_memo``)

A Session is cheap: resolved settings plus lazily fetched shared parts (the
channel in ``_transport``, the token cache in ``_token``). Entering one for
settings already seen costs a dictionary lookup and a ContextVar set.
``DelegatedSession`` (made by ``Session.delegate()``) is defined here too, beside
the class that makes it; what it holds comes from ``_delegate``, below this module.
"""

from __future__ import annotations

import functools
import sys
import threading
from collections.abc import Callable
from contextvars import ContextVar
from types import TracebackType
from typing import TYPE_CHECKING, Any, ParamSpec

from kaskada import _fork, _token_cache
from kaskada._errors import IncompleteCredentialsError
from kaskada._memo import memoized, resolve_default, resolve_options
from kaskada._options import ConnectionOptions
from kaskada._reset import on_reset
from kaskada._secret import Secret
from kaskada._settings import Settings

if TYPE_CHECKING:
    from kaskada._explain import Explanation
    from kaskada._token import StaticToken, TokenSource

P = ParamSpec("P")

# (innermost session, the rest of the stack): immutable, so copied contexts
# (threads, asyncio tasks) never share a mutable stack.
_Stack = tuple["Session", Any]
_active: ContextVar[_Stack | None] = ContextVar("kaskada_session", default=None)

_global: Session | None = None
_global_lock = threading.Lock()


class Session:
    """Resolved settings for one account; a context manager and a ``session=`` argument."""

    __module__ = "kaskada"  # shown as kaskada.X (it is exported there)

    __slots__ = ("_tokens", "settings")

    def __init__(self, settings: Settings) -> None:
        self.settings: Settings = settings
        self._tokens: TokenSource | StaticToken | None = None

    @property
    def profile(self) -> str | None:
        return self.settings.profile.value

    @property
    def client_id(self) -> str | None:
        return self.settings.client_id.value

    @property
    def endpoint(self) -> str:
        return self.settings.endpoint.value

    def explain(self) -> Explanation:
        """Every setting of this session, masked, with its source.

        Returns:
            An Explanation (``str()`` for people, ``to_json()`` for programs).
        """
        # Imported here: defining Explanation costs ~1 ms (`python -X importtime`)
        # that a process which never explains should not pay at its first session.
        from kaskada._explain import Explanation

        return Explanation.from_settings(self.settings)

    def token_source(self) -> TokenSource | StaticToken:
        """The shared token cache for these credentials."""
        tokens = self._tokens
        if tokens is None:
            # Here, not at the top: resolving and explaining never need the token
            # machinery, and _token costs ~5 ms of a first kda.session() (json,
            # random, weakref; `python -X importtime`, bench/bench_session.py).
            from kaskada import _token

            settings = self.settings
            if settings.token.value is not None:
                tokens = _token.StaticToken(settings.token.value)
            else:
                client_id = settings.client_id.value
                secret = settings.client_secret.value
                url = settings.exchange_endpoint.value
                if client_id is None or secret is None or url is None:
                    # Resolution never builds such settings; a hand-made Settings might.
                    raise IncompleteCredentialsError(
                        f"settings from {settings.layer} have neither a token nor a client id, "
                        "secret and exchange endpoint: resolve them with kda.session(...)"
                    )
                tokens = _token.token_source(
                    url,
                    client_id,
                    secret,
                    settings.audience.value,
                    timeout=settings.timeout.value,
                    ca_bundle=settings.ca_bundle.value,
                    disk=_token_cache.for_settings(settings),
                )
            self._tokens = tokens
        return tokens

    def access_token(self) -> Secret:
        """A valid access token for these credentials (exchanged or cached).

        Returns:
            The token as a masked Secret (``reveal()`` gives the value).

        Raises:
            AuthenticationError: the token endpoint refused the credentials.
            TokenEndpointUnavailableError: it could not be reached, or asked to wait.
            KeyringError, SecretBindingError: the profile's secret cannot be used.
        """
        return self.token_source().get()

    def __enter__(self) -> Session:
        _active.set((self, _active.get()))
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        stack = _active.get()
        if stack is None or stack[0] is not self:
            raise RuntimeError("kaskada sessions must be exited in the reverse order of entry")
        _active.set(stack[1])

    async def __aenter__(self) -> Session:
        # Runs in the awaiting task's context, so the session is that task's alone.
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, traceback)

    def delegate(self, min_lifetime: float | None = None) -> DelegatedSession:
        """A picklable session with only a current token (``min_lifetime`` seconds left,
        refreshed first if needed), its expiry, the endpoint and TLS settings: for
        process pools and Dask workers. Never the secret; it cannot refresh.

        Args:
            min_lifetime: seconds the token must still live (default: any valid token).

        Returns:
            A DelegatedSession: use it as ``session=``, in ``with`` or ``async with``.

        Raises:
            AuthenticationError: the token endpoint's tokens live less than
                ``min_lifetime``, or the credentials were refused.
        """
        # Here, not at the top: _delegate imports _token (~5 ms, see token_source()).
        from kaskada import _delegate

        settings, expires_at = _delegate.handed_over(
            self.settings, self.token_source(), min_lifetime
        )
        return DelegatedSession(settings, expires_at)

    def __repr__(self) -> str:
        return (
            f"Session(profile={self.profile!r}, client_id={self.client_id!r}, "
            f"endpoint={self.endpoint!r}, from={self.settings.layer!r})"
        )

    def __reduce__(self) -> Any:
        raise TypeError(
            "a kaskada Session holds a secret and refuses to be pickled: hand worker "
            "processes session.delegate() instead (a current token, never the secret)"
        )


class DelegatedSession(Session):
    """A Session holding only a token, its expiry, the endpoint and TLS settings.

    Defined beside Session (``Session.delegate()`` makes one); what it holds and
    its token that cannot refresh come from ``_delegate``, a module below this one.
    """

    __module__ = "kaskada"  # shown as kaskada.X (it is exported there)

    __slots__ = ()

    def __init__(self, settings: Settings, expires_at: float | None) -> None:
        from kaskada import _delegate  # imports _token (~5 ms): only when delegating

        super().__init__(settings)
        self._tokens = _delegate.token_for(settings, expires_at)

    @property
    def expires_at(self) -> float | None:
        """When the token expires (epoch seconds; None when unknown)."""
        expires_at: float | None = getattr(self._tokens, "expires_at", None)
        return expires_at

    def delegate(self, min_lifetime: float | None = None) -> DelegatedSession:
        """Itself, when its token still has ``min_lifetime`` seconds left (it cannot refresh)."""
        from kaskada import _delegate  # imports _token (~5 ms), as in __init__

        _delegate.check_lifetime(self._tokens, min_lifetime)
        return self

    def __repr__(self) -> str:
        from kaskada._delegate import utc_text  # imports _token (~5 ms), as in __init__

        expiry = "unknown" if self.expires_at is None else utc_text(self.expires_at)
        return (
            f"DelegatedSession(profile={self.profile!r}, client_id={self.client_id!r}, "
            f"endpoint={self.endpoint!r}, expires={expiry!r})"
        )

    def __reduce__(self) -> Any:
        from kaskada._delegate import DELEGATED_FIELDS  # imports _token (~5 ms)

        settings = self.settings
        token = settings.token.value
        if token is None:  # pragma: no cover
            raise TypeError("a delegated session without a token cannot be pickled")
        fields = (getattr(settings, name).value for name in DELEGATED_FIELDS)
        return (_restore_delegated, (token.reveal(), self.expires_at, *fields))


def _restore_delegated(token: str, expires_at: float | None, *values: Any) -> DelegatedSession:
    """Unpickling: the parts DelegatedSession.__reduce__ wrote."""
    from kaskada import _delegate  # imports _token (~5 ms), as in DelegatedSession

    fields = dict(zip(_delegate.DELEGATED_FIELDS, values, strict=True))
    return DelegatedSession(_delegate.settings_for(Secret(token), **fields), expires_at)


_sessions: dict[int, Session] = {}


def _session_for(settings: Settings) -> Session:
    """One Session per resolved Settings object, so its token source is found once."""
    found = _sessions.get(id(settings))
    if found is not None and found.settings is settings:
        return found
    made = Session(settings)
    if len(_sessions) > 1024:
        _sessions.clear()
    _sessions[id(settings)] = made
    return made


def session(
    profile: str | None = None,
    *,
    client_id: str | None = None,
    client_secret: str | Secret | None = None,
    endpoint: str | None = None,
    is_secure: bool | None = None,
    exchange_endpoint: str | None = None,
    audience: str | None = None,
    jwt: str | Secret | None = None,
    ca_bundle: str | None = None,
    timeout: float | None = None,
    allow_insecure: bool | None = None,
) -> Session:
    """A Session resolved now; use it with ``with`` or pass it as ``session=``.

    Inside a running event loop, settings not seen before (their resolution may
    read the keyring) are resolved on first use instead: ``async with`` and
    ``kaskada.aio`` calls do it in a thread, so the loop never waits on the keyring.

    Args:
        profile: a profile of the config file; its fields are the connection.
        client_id, client_secret: explicit credentials (a secret is never taken
            from another layer).
        endpoint, is_secure, exchange_endpoint, audience: where the credentials go;
            with ``profile=`` they override its fields, else they need credentials.
        jwt: a pre-issued access token, used as is.
        ca_bundle, timeout, allow_insecure: apply to any layer.

    Returns:
        The Session (also a context manager, sync and async).

    Raises:
        ProfileNotFoundError, NoCredentialsError, IncompleteCredentialsError,
        InsecureConnectionError, ConfigError (a bad value), KeyringError (the
        profile's secret cannot be read), SecretBindingError.
    """
    # Built as a tuple in ConnectionOptions' field order, not by keyword: the
    # NamedTuple's keyword __new__ costs ~0.5 us of the 3 us budget of entering a
    # session (bench/bench_session.py). tests/test_shape.py checks every option
    # lands in its own field.
    return session_for(
        _new_options(
            ConnectionOptions,
            (
                profile,
                client_id,
                client_secret,
                jwt,
                endpoint,
                is_secure,
                exchange_endpoint,
                audience,
                ca_bundle,
                timeout,
                allow_insecure,
            ),
        )
    )


_new_options: Any = tuple.__new__


def session_for(options: ConnectionOptions) -> Session:
    """``session(**options)`` for options already built (``%fenl_auth``, the CLI's flags)."""
    found = memoized(options)  # the hot path: settings already seen
    if found is not None:
        return _session_for(found)
    if _in_event_loop():
        return _Deferred(options)
    return _session_for(resolve_options(options))


def _in_event_loop() -> bool:
    asyncio = sys.modules.get("asyncio")  # never imported: no loop can be running
    return asyncio is not None and asyncio._get_running_loop() is not None


class _Deferred(Session):
    """A Session made on an event loop, resolved when first used (off the loop if awaited)."""

    __slots__ = ("_options",)

    def __init__(self, options: ConnectionOptions) -> None:
        self._tokens = None
        self._options = options

    @property
    def settings(self) -> Settings:
        try:
            return _SETTINGS_SLOT.__get__(self, Session)  # type: ignore[no-any-return]
        except AttributeError:
            resolved = resolve_options(self._options)
            _SETTINGS_SLOT.__set__(self, resolved)
            return resolved

    @settings.setter
    def settings(self, value: Settings) -> None:
        _SETTINGS_SLOT.__set__(self, value)

    def resolved(self) -> bool:
        try:
            _SETTINGS_SLOT.__get__(self, Session)
        except AttributeError:
            return False
        return True

    async def resolve(self) -> Session:
        """Resolve in a thread (the keyring may be slow); the loop keeps running."""
        if not self.resolved():
            # _offloop imports asyncio (~10 ms): only here, where a loop already runs.
            from kaskada import _offloop

            options = self._options
            resolving = _offloop.shared(_resolving, options, lambda: resolve_options(options))
            self.settings = await resolving
        return self

    async def __aenter__(self) -> Session:
        await self.resolve()
        return self.__enter__()


_SETTINGS_SLOT: Any = Session.__dict__["settings"]
_resolving: dict[Any, Any] = {}  # (loop, values) -> the resolution in flight


def _activating(make: Callable[P, Session]) -> Callable[P, Session]:
    """``init``: ``session``'s parameters (one signature, not two), then activate globally."""

    @functools.wraps(make)
    def init(*args: P.args, **kwargs: P.kwargs) -> Session:
        global _global
        made = make(*args, **kwargs)
        made.settings  # noqa: B018 - init() resolves now, on an event loop too
        with _global_lock:
            _global = made
        return made

    init.__name__ = init.__qualname__ = "init"
    init.__doc__ = """Resolve now and activate globally (every thread and task without a ``with``).

    Args:
        The same as ``session()``: ``profile``, or explicit credentials, plus
        keyword arguments over that profile's fields.

    Returns:
        The Session now in force for calls made outside any ``with kda.session()``.

    Raises:
        The same as ``session()``; nothing is activated when it raises.
    """
    return init


init = _activating(session)


def current(session: Session | None = None) -> Session:
    """The Session a call runs with: the five-step rule."""
    global _global
    if session is not None:
        return session
    stack = _active.get()
    if stack is not None:
        return stack[0]
    found = _global
    if found is not None:
        return found
    with _global_lock:
        if _global is None:
            _global = _session_for(resolve_default())
        return _global


def explain(session: Session | None = None) -> Explanation:
    """The settings a call made here would use, and where each came from.

    Args:
        session: explain this session instead of the one in force here.

    Returns:
        An Explanation; ``str()`` lists each setting (secrets masked) and its source.

    Raises:
        The resolution errors of ``session()`` when nothing was activated yet.
    """
    return current(session).explain()


@on_reset
def _clear() -> None:
    global _global
    _global = None
    _sessions.clear()
    _active.set(None)


def _after_fork_in_child() -> None:
    global _global_lock
    _global_lock = threading.Lock()  # another thread may have held it at fork time


_fork.in_child_after_fork(_after_fork_in_child)
