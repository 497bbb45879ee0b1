"""The gRPC client: shared channels, per-call bearer metadata, deadlines and retries.

A thin adapter, not a second auth system: the token comes from ``_token`` and
travels as per-call metadata (a call-credentials plugin costs about 35% per
call on loopback). Channels are shared per (endpoint, TLS settings), closed at
exit and dropped in a forked child. Reads are retried on UNAVAILABLE with
bounded backoff (``_retry``) inside the call's deadline; writes never are. An
UNAUTHENTICATED answer asks the credentials for a new token (``CallToken.
on_rejected``: one per call, their rule) and retries with it when one comes.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import grpc

from kaskada import _fork, _retry
from kaskada._errors import ApiAuthenticationError, ConfigError
from kaskada._grpc_errors import from_rpc_error
from kaskada._reset import on_reset
from kaskada._token import bad_ca_bundle

if TYPE_CHECKING:
    from kaskada._secret import Secret
    from kaskada._session import Session

log = logging.getLogger(__name__)

READ_ATTEMPTS = 4

_channels: dict[tuple[str, bool, str | None], grpc.Channel] = {}
_callables: dict[tuple[Any, ...], Callable[..., Any]] = {}
_lock = threading.Lock()
_orphans: list[grpc.Channel] = []  # channels inherited over fork: never touched again


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
    import ssl  # ~18 ms to import: only for a CA bundle

    try:
        ssl.create_default_context(cadata=roots.decode("ascii"))
    except (ssl.SSLError, ValueError, UnicodeDecodeError) as error:
        raise ConfigError(bad_ca_bundle(path, error)) from None


def channel(endpoint: str, is_secure: bool, ca_bundle: str | None) -> grpc.Channel:
    """The shared channel for (endpoint, TLS settings)."""
    key = (endpoint, is_secure, ca_bundle)
    found = _channels.get(key)
    if found is not None:
        return found
    with _lock:
        found = _channels.get(key)
        if found is None:
            log.debug("opening %s channel to %s", "TLS" if is_secure else "plaintext", endpoint)
            if is_secure:
                found = grpc.secure_channel(endpoint, _credentials(ca_bundle, endpoint))
            else:
                found = grpc.insecure_channel(endpoint)
            _channels[key] = found
    return found


def _method(key: tuple[str, bool, str | None], path: str, response_type: Any) -> Callable[..., Any]:
    cache_key = (key, path)
    found = _callables.get(cache_key)
    if found is None:
        # _registered_method, as the generated stubs pass it, registers the path with
        # the channel once; without it grpc resolves the path on every call (~50 us).
        found = channel(*key).unary_unary(  # type: ignore[call-arg]
            path,
            request_serializer=lambda message: message.SerializeToString(),
            response_deserializer=response_type.FromString,
            _registered_method=True,
        )
        _callables[cache_key] = found
    return found


def call(session: Session, path: str, request: Any, response_type: Any, *, read: bool) -> Any:
    """One unary call as ``session``: bearer metadata, deadline, retries, mapped errors."""
    settings = session.settings
    invoke = _method(settings.channel_key(), path, response_type)
    credentials = session.token_source().for_call()
    token: Secret = credentials.get()
    deadline = time.monotonic() + settings.timeout.value
    attempt = 0
    while True:
        started = time.monotonic()
        metadata = (("authorization", "Bearer " + token.reveal()),)
        try:
            response = invoke(request, timeout=max(deadline - started, 0.001), metadata=metadata)
            if log.isEnabledFor(logging.DEBUG):
                log.debug("%s at %s ok in %.1f ms", path.rsplit("/", 1)[-1],
                          settings.endpoint.value, (time.monotonic() - started) * 1e3)
            return response
        except grpc.RpcError as error:
            code = error.code() if isinstance(error, grpc.Call) else None
            log.debug("%s at %s failed: %s", path.rsplit("/", 1)[-1], settings.endpoint.value, code)
            if code == grpc.StatusCode.UNAUTHENTICATED:
                fresh = credentials.on_rejected(token)
                if fresh is not None:
                    token = fresh
                    continue
            pause = retry_pause(code, read=read, attempt=attempt, deadline=deadline)
            if pause is not None:
                attempt += 1
                time.sleep(pause)
                continue
            raise failure(
                session, error, path, sent=(token, settings.client_secret.value)
            ) from None


def retry_pause(code: Any, *, read: bool, attempt: int, deadline: float) -> float | None:
    """Seconds to wait before retrying a read answered UNAVAILABLE; None: do not retry."""
    if code == grpc.StatusCode.UNAVAILABLE and read and attempt + 1 < READ_ATTEMPTS:
        return _retry.pause_before(deadline, attempt, time.monotonic())
    return None


def failure(
    session: Session, error: grpc.RpcError, path: str, *, sent: Sequence[Secret | None] = ()
) -> Exception:
    """The KaskadaError for a failed call (sync or aio), with how to renew a fixed token.

    ``sent`` (the token, the secret) is scrubbed from the server's text: a hostile
    or broken server may echo what it received.
    """
    settings = session.settings
    tokens = session.token_source()
    who = f" of client {settings.client_id.value}" if settings.client_id.value else ""
    mapped = from_rpc_error(
        error, endpoint=settings.endpoint.value, method=path.rsplit("/", 1)[-1], who=who,
        sent=sent, ca_bundle=settings.ca_bundle.value if settings.is_secure.value else None,
    )
    if isinstance(mapped, ApiAuthenticationError) and not tokens.refreshable:
        renewal = getattr(tokens, "renewal_hint", None)
        hint = (
            renewal()
            if renewal is not None
            else f"the pre-issued token (from {settings.token.source}) cannot be refreshed: "
            "get a new one"
        )
        mapped.args = (f"{mapped.args[0]}; {hint}",)
    return mapped


def close_all() -> None:
    """Close every shared channel (at exit)."""
    with _lock:
        channels = list(_channels.values())
        _channels.clear()
        _callables.clear()
    for open_channel in channels:
        open_channel.close()


@on_reset
def _reset() -> None:
    close_all()


def _after_fork_in_child() -> None:
    global _lock
    _lock = threading.Lock()
    _orphans.extend(_channels.values())  # the parent owns them; closing here could hang
    _channels.clear()
    _callables.clear()


atexit.register(close_all)
_fork.in_child_after_fork(_after_fork_in_child)
