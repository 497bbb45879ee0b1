"""Sessions: what a call runs with, and the object that owns a connection's parts.

Which session a call uses is the resolution rule of the README ("Which account
a call uses"), written there once; ``current()`` applies its first three steps
(``session=``, the innermost ``with``, ``kda.init()``) and ``_resolve``
the last two.

A ``Session`` owns its resolved settings (plain values), its credentials
(``kaskada.credentials``, made on first use) and the key of its gRPC channel
(the channel itself belongs to the transport's one pool, shared per key).
Entering one for settings already seen costs a dictionary lookup and a
ContextVar set. ``DelegatedSession`` (made by ``Session.delegate()``) is
defined here too, beside the class that makes it.
"""

from __future__ import annotations

import functools
import os
import sys
import threading
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from types import TracebackType
from typing import TYPE_CHECKING, Any, NamedTuple, ParamSpec

from kaskada import _fork
from kaskada._errors import ConfigError
from kaskada._secret import Secret
from kaskada.config import file as _config
from kaskada.credentials import token_cache as _token_cache
from kaskada.settings.options import NO_SEAMS, ChannelKey, ConnectionOptions, Seams
from kaskada.settings.resolve import EnvironmentReads, resolve_layers
from kaskada.settings.values import Settings

if TYPE_CHECKING:
    from kaskada.credentials.tokens import Credentials, Request
    from kaskada.settings.explain import Explanation

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

    __slots__ = ("_seams", "_settings", "_tokens")

    def __init__(self, settings: Settings, seams: Seams = NO_SEAMS) -> None:
        self._settings: Settings | None = settings
        self._tokens: Credentials | None = None
        self._seams = seams

    @property
    def seams(self) -> Seams:
        """The channel options, interceptors and token transport given to this session."""
        return self._seams

    def channel_key(self) -> ChannelKey:
        """Where this session's calls go and how: the key of its shared gRPC channel."""
        settings = self.settings
        seams = self._seams
        return ChannelKey(
            settings.endpoint.value,
            settings.is_secure.value,
            settings.ca_bundle.value,
            seams.channel_options,
            seams.interceptors,
        )

    def channel(self) -> Any:
        """This session's gRPC channel (``grpc.Channel``), shared with every session
        that has the same channel key; open until the process exits."""
        from kaskada.transport import (
            sync as _transport,  # loads grpc: only when a channel is needed
        )

        return _transport.POOL.channel(self.channel_key())

    @property
    def settings(self) -> Settings:
        """The resolved settings: plain values, each with its source."""
        settings = self._settings
        if settings is None:  # pragma: no cover - only a deferred session starts without
            raise RuntimeError("this session has no settings")
        return settings

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
        # Imported here: a process that never explains does not load it.
        from kaskada.settings.explain import Explanation

        return Explanation.from_settings(self.settings)

    @property
    def credentials(self) -> Credentials:
        """What signs this session's calls (one class per kind, see ``kaskada.credentials``).

        Made on first use and kept as long as the session; shared with every
        session of the same credentials (``credentials.tokens.SHARED``, keyed by
        each class's ``sharing_key``). Every
        credential leaves through here (exchange, cached token, calls,
        ``access_token``, ``delegate``), so a profile from a config file another
        account could write is refused here, before the first one
        (``_config.check_trusted``): a secret passed with ``profile=`` or a token
        cached for it goes nowhere such a file says.
        """
        credentials = self._tokens
        if credentials is None:
            if self.settings.from_config_file():
                _config.check_trusted()
            # Here, not at the top: resolving and explaining never need the token machinery.
            from kaskada.credentials import tokens as _token

            request = self._seams.token_request or _token.post_form
            credentials = _token.credentials_for(
                self.settings, _token_cache.for_settings(self.settings), request
            )
            self._tokens = credentials
        return credentials

    def access_token(self) -> Secret:
        """A valid access token for these credentials (exchanged or cached).

        Returns:
            The token as a masked Secret (``reveal()`` gives the value).

        Raises:
            AuthenticationError: the token endpoint refused the credentials.
            TokenEndpointUnavailableError: it could not be reached, or asked to wait.
            KeyringError, SecretBindingError: the profile's secret cannot be used.
        """
        return self.credentials.get()

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
        # Here, not at the top: _delegate imports _token.
        from kaskada.credentials import delegate as _delegate

        settings, expires_at = _delegate.handed_over(
            self.settings, self.credentials, min_lifetime
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
        from kaskada.credentials import (
            delegate as _delegate,  # imports _token: only when delegating
        )

        super().__init__(settings)
        self._tokens = _delegate.token_for(settings, expires_at)

    @property
    def expires_at(self) -> float | None:
        """When the token expires (epoch seconds; None when unknown)."""
        expires_at: float | None = getattr(self._tokens, "expires_at", None)
        return expires_at

    def delegate(self, min_lifetime: float | None = None) -> DelegatedSession:
        """Itself, when its token still has ``min_lifetime`` seconds left (it cannot refresh)."""
        from kaskada.credentials import delegate as _delegate  # imports _token, as in __init__

        _delegate.check_lifetime(self._tokens, min_lifetime)
        return self

    def __repr__(self) -> str:
        from kaskada.credentials.tokens import utc_text

        expiry = "unknown" if self.expires_at is None else utc_text(self.expires_at)
        return (
            f"DelegatedSession(profile={self.profile!r}, client_id={self.client_id!r}, "
            f"endpoint={self.endpoint!r}, expires={expiry!r})"
        )

    def __reduce__(self) -> Any:
        from kaskada.credentials.delegate import DELEGATED_FIELDS  # imports _token

        settings = self.settings
        token = settings.token.value
        if token is None:  # pragma: no cover
            raise TypeError("a delegated session without a token cannot be pickled")
        fields = (getattr(settings, name).value for name in DELEGATED_FIELDS)
        return (_restore_delegated, (token.reveal(), self.expires_at, *fields))


def _restore_delegated(token: str, expires_at: float | None, *values: Any) -> DelegatedSession:
    """Unpickling: the parts DelegatedSession.__reduce__ wrote."""
    from kaskada.credentials import delegate as _delegate  # imports _token, as in DelegatedSession

    fields = dict(zip(_delegate.DELEGATED_FIELDS, values, strict=True))
    return DelegatedSession(_delegate.settings_for(Secret(token), **fields), expires_at)


class _Kept(NamedTuple):
    """A resolved Session and what its resolution read, to tell whether it still holds."""

    session: Session
    variables: tuple[str, ...]  # the KASKADA_* variables resolution read...
    values: tuple[str | None, ...]  # ...and their values then (None: unset)
    config: object  # the ConfigFile it read (None: it read none)


class _Resolved:
    """The one owner of what resolution produced in this process: a Session per
    options, so entering ``kda.session(...)`` for settings already seen is a
    dictionary lookup, and the Session keeps its credentials.

    Invalidation rule: a kept Session holds while what its resolution read is
    unchanged: the KASKADA_* variables it read (``EnvironmentReads``; a variable no
    layer asked for cannot change it), and the config file if it read one
    (``_config.load_recent()`` returns the same object). ``clear()`` drops everything.
    """

    LIMIT = 1024

    def __init__(self) -> None:
        self._kept: dict[ConnectionOptions, _Kept] = {}
        self._lock = threading.Lock()

    def lookup(self, options: ConnectionOptions) -> Session | None:
        """The Session kept for ``options``, if what it was resolved from is unchanged;
        no I/O but the config file's freshness check."""
        kept = self._kept.get(options)
        if kept is None:
            return None
        if tuple(map(os.environ.get, kept.variables)) != kept.values:
            return None
        if kept.config is None:
            return kept.session
        try:
            current = _config.load_recent()
        except Exception:  # a broken file is reported by the layer that reads it
            return None
        return kept.session if current is kept.config else None

    def resolve(self, options: ConnectionOptions) -> Session:
        """The Session of ``options``: from the cache, else resolved now (may read the
        config file and the keyring) and kept."""
        found = self.lookup(options)
        if found is not None:
            return found
        env = EnvironmentReads()
        config = _config_identity() if _uses_file(options) else None
        settings = resolve_layers(options, env)
        # A profile's secret is read now unless the token cache is warm, so a missing
        # one fails here, at init() or the ``with``.
        _token_cache.require_secret_unless_cached(settings)
        made = Session(settings)
        kept = _Kept(made, tuple(env.read), tuple(env.read.values()), config)
        with self._lock:
            if len(self._kept) >= self.LIMIT:
                self._kept.clear()
            self._kept[options] = kept
        return made

    def check(self, options: ConnectionOptions) -> Settings:
        """Everything ``resolve`` checks but the keyring read (not kept: the secret is
        unchecked). A session made on an event loop is checked with this at once, so a
        mistyped profile fails at the ``with`` line, and the keyring waits for first use."""
        found = self.lookup(options)
        if found is not None:
            return found.settings
        return resolve_layers(options, EnvironmentReads())

    def clear(self) -> None:
        self._kept.clear()

    def after_fork_in_child(self) -> None:
        self._lock = threading.Lock()  # another thread may have held it at fork time


def _uses_file(options: ConnectionOptions) -> bool:
    """Whether resolving ``options`` may read the config file: a profile named here,
    or no credentials given (then ``KASKADA_PROFILE`` or the default profile may)."""
    return bool(options.profile) or (options.client_secret is None and options.jwt is None)


def _config_identity() -> object:
    """The cached ConfigFile (the same object while the file is unchanged), or None."""
    try:
        return _config.load()
    except Exception:  # a broken file is reported by the layer that reads it
        return None


RESOLVED = _Resolved()
_fork.in_child_after_fork(RESOLVED.after_fork_in_child)


def _with_seams(found: Session, seams: Seams) -> Session:
    """A session given seams is its own (its channel differs); its settings are shared."""
    return found if seams == NO_SEAMS else Session(found.settings, seams)


def resolve(**options: Any) -> Settings:
    """The settings ``kda.session(**options)`` would use (from the cache when seen)."""
    return RESOLVED.resolve(ConnectionOptions(**options)).settings


def resolve_default() -> Settings:
    """What ``kda.init()`` with no arguments would use."""
    return RESOLVED.resolve(ConnectionOptions()).settings


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
    channel_options: Sequence[tuple[str, Any]] | None = None,
    interceptors: Sequence[Any] | None = None,
    token_request: Request | None = None,
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
        channel_options: grpc channel options (``[("grpc.max_receive_message_length",
            n)]``); the user agent ``kaskada-python/VERSION`` is always added.
        interceptors: grpc client interceptors (``grpc.UnaryUnaryClientInterceptor``
            for ``kaskada.table``, ``grpc.aio.UnaryUnaryClientInterceptor`` for
            ``kaskada.aio``), for tracing, proxies or metadata of your own.
        token_request: the HTTP transport of the token exchange, a
            ``kaskada.credentials.Request`` (default: the standard library's urllib).

    Returns:
        The Session (also a context manager, sync and async).

    Raises:
        ProfileNotFoundError, NoCredentialsError, IncompleteCredentialsError,
        InsecureConnectionError, ConfigError (a bad value), KeyringError (the
        profile's secret cannot be read), SecretBindingError.
    """
    return session_for(
        ConnectionOptions(
            profile=profile,
            client_id=client_id,
            client_secret=client_secret,
            jwt=jwt,
            endpoint=endpoint,
            is_secure=is_secure,
            exchange_endpoint=exchange_endpoint,
            audience=audience,
            ca_bundle=ca_bundle,
            timeout=timeout,
            allow_insecure=allow_insecure,
        ),
        _seams(channel_options, interceptors, token_request),
    )


def _seams(
    channel_options: Sequence[tuple[str, Any]] | None,
    interceptors: Sequence[Any] | None,
    token_request: Request | None,
) -> Seams:
    if channel_options is None and interceptors is None and token_request is None:
        return NO_SEAMS
    options = tuple(channel_options or ())
    for option in options:
        if not (isinstance(option, tuple) and len(option) == 2 and isinstance(option[0], str)):
            raise ConfigError(
                f"channel_options holds {option!r}: pass (name, value) pairs as grpc takes "
                'them, e.g. [("grpc.max_receive_message_length", 64 << 20)]'
            )
    if token_request is not None and not callable(token_request):
        raise ConfigError("token_request is not callable: pass a kaskada.credentials.Request")
    return Seams(options, tuple(interceptors or ()), token_request)


def session_for(options: ConnectionOptions, seams: Seams = NO_SEAMS) -> Session:
    """``session(**options)`` for options already built (``%fenl_auth``, the CLI's flags)."""
    found = RESOLVED.lookup(options)  # the hot path: seen settings
    if found is not None:
        return _with_seams(found, seams)
    if _in_event_loop():
        return _Deferred(options, seams)
    return _with_seams(RESOLVED.resolve(options), seams)


def _in_event_loop() -> bool:
    asyncio = sys.modules.get("asyncio")  # never imported: no loop can be running
    if asyncio is None:
        return False
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


class _Deferred(Session):
    """A Session made on an event loop (a notebook cell runs on one), checked at once
    and resolved when first used (off the loop if awaited).

    The check is all of resolution but the keyring read: a mistyped profile, a bad
    value or missing credentials raise where the session is made, as in a script;
    only the read of a stored secret, which may wait on the Secret Service, is left
    to first use, so the loop never waits on the keyring.
    """

    __slots__ = ("_options",)

    def __init__(self, options: ConnectionOptions, seams: Seams = NO_SEAMS) -> None:
        RESOLVED.check(options)
        self._settings = None
        self._tokens = None
        self._seams = seams
        self._options = options

    @property
    def settings(self) -> Settings:
        settings = self._settings
        if settings is None:
            settings = self._settings = RESOLVED.resolve(self._options).settings
        return settings

    def resolved(self) -> bool:
        return self._settings is not None

    async def resolve(self) -> Session:
        """Resolve in a thread (the keyring may be slow); the loop keeps running."""
        if self._settings is None:
            # _offloop imports asyncio: only here, where a loop already runs.
            from kaskada.transport import offloop as _offloop

            options = self._options
            resolving = _offloop.shared(
                _resolving, options, lambda: RESOLVED.resolve(options).settings
            )
            self._settings = await resolving
        return self

    async def __aenter__(self) -> Session:
        await self.resolve()
        return self.__enter__()


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
            _global = RESOLVED.resolve(ConnectionOptions())
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


def clear_process_state() -> None:
    """Forget what this module keeps for the process (see kaskada/_reset.py)."""
    global _global
    _global = None
    RESOLVED.clear()
    _active.set(None)


def _after_fork_in_child() -> None:
    global _global_lock
    _global_lock = threading.Lock()  # another thread may have held it at fork time


_fork.in_child_after_fork(_after_fork_in_child)
