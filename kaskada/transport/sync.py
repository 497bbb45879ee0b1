"""The gRPC client: shared channels, per-call bearer metadata, deadlines and retries.

A thin adapter, not a second auth system: the token comes from ``_token`` and
travels as per-call metadata (a call-credentials plugin costs about 35% per
call on loopback). Channels belong to one owner, ``POOL``, shared per
``ChannelKey`` (destination, TLS settings, the caller's options and
interceptors), closed at exit and dropped in a forked child; every one carries
the user agent ``kaskada-python/VERSION``. Each channel lets at most
``KASKADA_MAX_IN_FLIGHT`` calls (default 64) of this process be on the wire at
once; more wait for a slot, within their deadline. Reads are retried on
UNAVAILABLE and RESOURCE_EXHAUSTED with bounded backoff (``_retry``) inside the
call's deadline, after the delay an overloaded server asks for
(google.rpc.RetryInfo); writes never are. An UNAUTHENTICATED answer asks the
credentials for a new token (``CallToken.on_rejected``: one per call, their
rule) and retries with it when one comes.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import grpc

from kaskada import __version__, _clock, _fork
from kaskada._errors import ApiAuthenticationError, ApiUnavailableError, ConfigError
from kaskada.credentials.tokens import bad_ca_bundle
from kaskada.settings import env as _env
from kaskada.settings.options import ChannelKey
from kaskada.transport import retry as _retry
from kaskada.transport.errors import from_rpc_error, is_overload, retry_delay

if TYPE_CHECKING:
    from kaskada._secret import Secret
    from kaskada._session import Session

log = logging.getLogger(__name__)

READ_ATTEMPTS = 4
"""Attempts of a read answered UNAVAILABLE (or RESOURCE_EXHAUSTED that is no overload)."""
MAX_IN_FLIGHT = 64
"""Calls one process has on the wire per channel at once unless KASKADA_MAX_IN_FLIGHT says
otherwise: a quarter of ``kaskada serve``'s 256, so four busy processes fit under it."""
USER_AGENT = f"kaskada-python/{__version__}"


def max_in_flight() -> int:
    """The per-channel bound on calls in flight: KASKADA_MAX_IN_FLIGHT, else MAX_IN_FLIGHT.

    Read when a channel opens (a channel keeps the bound it opened with).
    """
    raw = os.environ.get(_env.MAX_IN_FLIGHT, "").strip()
    if not raw:
        return MAX_IN_FLIGHT
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise ConfigError(
            f"{_env.MAX_IN_FLIGHT}={raw!r} is not a whole number of calls of at least 1: "
            f"set it to e.g. {MAX_IN_FLIGHT} (the default), or unset it"
        )
    return value


def _credentials(ca_bundle: str | None, endpoint: str) -> grpc.ChannelCredentials:
    if not ca_bundle:
        return grpc.ssl_channel_credentials()
    path = os.path.expanduser(ca_bundle)
    try:
        with open(path, "rb") as handle:
            roots = handle.read()
    except OSError as error:
        raise ConfigError(
            f"the ca_bundle {path} for {endpoint} cannot be read ({error.strerror}): "
            "point ca_bundle at a PEM file of trusted roots"
        ) from None
    _check_pem(path, roots)
    return grpc.ssl_channel_credentials(root_certificates=roots)


def _check_pem(path: str, roots: bytes) -> None:
    """gRPC takes any bytes as roots and fails every call later; say it here, once."""
    import ssl  # costly to import: only for a CA bundle

    try:
        ssl.create_default_context(cadata=roots.decode("ascii"))
    except (ssl.SSLError, ValueError, UnicodeDecodeError) as error:
        raise ConfigError(bad_ca_bundle(path, error)) from None


def user_agent(options: Sequence[tuple[str, Any]]) -> list[tuple[str, Any]]:
    """The caller's channel options with kaskada's user agent on every call
    (after the caller's own ``grpc.primary_user_agent``, if they gave one)."""
    theirs = [value for name, value in options if name == "grpc.primary_user_agent"]
    agent = " ".join([*map(str, theirs), USER_AGENT])
    rest = [(name, value) for name, value in options if name != "grpc.primary_user_agent"]
    return [("grpc.primary_user_agent", agent), *rest]


class _Shared(NamedTuple):
    """A shared channel and the slots that bound the calls in flight on it."""

    channel: grpc.Channel
    slots: threading.BoundedSemaphore


class ChannelPool:
    """The one owner of the process's sync gRPC channels, shared per ``ChannelKey``.

    Invalidation rule: a channel is keyed by everything that shapes it
    (destination, TLS settings, options, interceptors), so it never goes stale;
    all are closed at exit (``close_all``) and forgotten in a forked child (the
    parent's channels are not the child's to use or close). Each channel has its
    own bound on calls in flight (``max_in_flight()`` when it opened).
    """

    def __init__(self) -> None:
        self._channels: dict[ChannelKey, _Shared] = {}
        self._methods: dict[
            tuple[ChannelKey, str], tuple[Callable[..., Any], threading.BoundedSemaphore]
        ] = {}
        self._lock = threading.Lock()
        self._orphans: list[_Shared] = []  # inherited over fork: never touched again

    def shared(self, key: ChannelKey) -> _Shared:
        """The shared channel (and its slots) for ``key``, opened on first use."""
        found = self._channels.get(key)
        if found is not None:
            return found
        with self._lock:
            found = self._channels.get(key)
            if found is None:
                found = self._open(key)
                self._channels[key] = found
        return found

    def channel(self, key: ChannelKey) -> grpc.Channel:
        return self.shared(key).channel

    def _open(self, key: ChannelKey) -> _Shared:
        endpoint = key.endpoint
        bound = max_in_flight()
        log.debug("opening %s channel to %s (at most %d calls in flight)",
                  "TLS" if key.is_secure else "plaintext", endpoint, bound)
        options = user_agent(key.options)
        if key.is_secure:
            opened = grpc.secure_channel(
                endpoint, _credentials(key.ca_bundle, endpoint), options=options
            )
        else:
            opened = grpc.insecure_channel(endpoint, options=options)
        if key.interceptors:
            opened = grpc.intercept_channel(opened, *key.interceptors)
        return _Shared(opened, threading.BoundedSemaphore(bound))

    def method(
        self, key: ChannelKey, path: str, response_type: Any
    ) -> tuple[Callable[..., Any], threading.BoundedSemaphore]:
        """The bound unary method ``path`` on the channel of ``key``, and its slots."""
        found = self._methods.get((key, path))
        if found is None:
            shared = self.shared(key)
            # _registered_method, as the generated stubs pass it, registers the path with
            # the channel once instead of resolving it on every call.
            invoke = shared.channel.unary_unary(  # type: ignore[call-arg]
                path,
                request_serializer=lambda message: message.SerializeToString(),
                response_deserializer=response_type.FromString,
                _registered_method=True,
            )
            found = (invoke, shared.slots)
            self._methods[(key, path)] = found
        return found

    def keys(self) -> list[ChannelKey]:
        """The keys of the open channels."""
        return list(self._channels)

    def close_all(self) -> None:
        """Close every channel (at exit)."""
        with self._lock:
            channels = [shared.channel for shared in self._channels.values()]
            self._channels.clear()
            self._methods.clear()
        for open_channel in channels:
            open_channel.close()

    def after_fork_in_child(self) -> None:
        self._lock = threading.Lock()
        self._orphans.extend(self._channels.values())  # the parent's: closing could hang
        self._channels.clear()
        self._methods.clear()


POOL = ChannelPool()


def channel(
    endpoint: str, is_secure: bool, ca_bundle: str | None, options: Sequence[tuple[str, Any]] = ()
) -> grpc.Channel:
    """The shared channel for (endpoint, TLS settings, options)."""
    return POOL.channel(ChannelKey(endpoint, is_secure, ca_bundle, tuple(options)))


def call(session: Session, path: str, request: Any, response_type: Any, *, read: bool) -> Any:
    """One unary call as ``session``: bearer metadata, deadline, retries, mapped errors."""
    settings = session.settings
    invoke, slots = POOL.method(session.channel_key(), path, response_type)
    credentials = session.credentials.for_call()
    token: Secret = credentials.get()
    deadline = time.monotonic() + settings.timeout.value
    attempt = 0
    while True:
        if not slots.acquire(timeout=max(deadline - time.monotonic(), 0.0)):
            raise no_slot(session, path)
        started = time.monotonic()
        metadata = (("authorization", "Bearer " + token.reveal()),)
        try:
            response = invoke(request, timeout=max(deadline - started, 0.001), metadata=metadata)
        except grpc.RpcError as failed:
            error = failed
        else:
            if log.isEnabledFor(logging.DEBUG):
                log.debug("%s at %s ok in %.1f ms", path.rsplit("/", 1)[-1],
                          settings.endpoint.value, (time.monotonic() - started) * 1e3)
            return response
        finally:
            slots.release()  # a pause between attempts holds no slot
        code = error.code() if isinstance(error, grpc.Call) else None
        log.debug("%s at %s failed: %s", path.rsplit("/", 1)[-1], settings.endpoint.value, code)
        if code == grpc.StatusCode.UNAUTHENTICATED:
            fresh = credentials.on_rejected(token)
            if fresh is not None:
                token = fresh
                continue
        pause = retry_pause(error, read=read, attempt=attempt, deadline=deadline)
        if pause is not None:
            attempt += 1
            _clock.get().sleep(pause)
            continue
        raise failure(
            session, error, path, sent=(token, *session.credentials.sent_secrets()), read=read
        ) from None


def retry_pause(error: Any, *, read: bool, attempt: int, deadline: float) -> float | None:
    """Seconds to wait before retrying a read that failed with ``error``; None: do not retry.

    UNAVAILABLE: up to READ_ATTEMPTS attempts. RESOURCE_EXHAUSTED from an
    overloaded server (a RetryInfo delay, or grpcio's concurrency limit): as long
    as the deadline allows, after at least the delay it asked for. Any other
    RESOURCE_EXHAUSTED of a read: as UNAVAILABLE. Writes: never.
    """
    code = error.code() if hasattr(error, "code") else None
    if not read:
        return None
    if code == grpc.StatusCode.UNAVAILABLE:
        if attempt + 1 < READ_ATTEMPTS:
            return _retry.pause_before(deadline, attempt, time.monotonic())
        return None
    if code == grpc.StatusCode.RESOURCE_EXHAUSTED:
        asked = retry_delay(error)
        message = error.details() if hasattr(error, "details") else None
        if is_overload(code.name, message, asked) or attempt + 1 < READ_ATTEMPTS:
            return _retry.pause_before(deadline, attempt, time.monotonic(), asked=asked)
    return None


def no_slot(session: Session, path: str) -> ApiUnavailableError:
    """The error of a call that waited its whole deadline for a slot on its channel."""
    settings = session.settings
    return ApiUnavailableError(
        f"{path.rsplit('/', 1)[-1]} at {settings.endpoint.value} waited its whole deadline "
        f"({settings.timeout.value:g} s) for one of this process's call slots to that "
        f"endpoint ({_env.MAX_IN_FLIGHT}, default {MAX_IN_FLIGHT}): make fewer calls at once, "
        "give the call a longer timeout, or raise the bound",
        code="DEADLINE_EXCEEDED",
    )


def failure(
    session: Session,
    error: grpc.RpcError,
    path: str,
    *,
    sent: Sequence[Secret | None] = (),
    read: bool = True,
) -> Exception:
    """The KaskadaError for a failed call (sync or aio), with how to renew a fixed token.

    ``sent`` (the token, the secret) is scrubbed from the server's text: a hostile
    or broken server may echo what it received.
    """
    settings = session.settings
    tokens = session.credentials
    who = f" of client {settings.client_id.value}" if settings.client_id.value else ""
    mapped = from_rpc_error(
        error, endpoint=settings.endpoint.value, method=path.rsplit("/", 1)[-1], who=who,
        sent=sent, read=read,
        ca_bundle=settings.ca_bundle.value if settings.is_secure.value else None,
    )
    if isinstance(mapped, ApiAuthenticationError) and not tokens.refreshable:
        renewal = getattr(tokens, "renewal_hint", None)
        hint = (
            renewal(settings.token.source)
            if renewal is not None
            else f"the pre-issued token (from {settings.token.source}) cannot be refreshed: "
            "get a new one"
        )
        mapped.args = (f"{mapped.args[0]}; {hint}",)
    return mapped


def close_all() -> None:
    """Close every shared channel (at exit)."""
    POOL.close_all()


def clear_process_state() -> None:
    """Forget what this module keeps for the process (see kaskada/_reset.py)."""
    close_all()


atexit.register(close_all)
_fork.in_child_after_fork(POOL.after_fork_in_child)
