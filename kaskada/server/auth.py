"""Authentication of gRPC calls, in one server interceptor.

A call carries ``authorization: Bearer <token>`` (RFC 6750) or the raw token
(as the hosted client sent it). A bare ``client-id`` header is not a
credential: a client id is not a secret. Every refusal is UNAUTHENTICATED with
a message saying which check failed, and never the token itself.

The check runs inside the wrapped handler, on the worker thread that serves
the call, so token lookups of concurrent calls run in parallel.
"""

from __future__ import annotations

import contextvars
import logging
import re
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import grpc

from kaskada.server.limits import LogSummary
from kaskada.server.store import Store

log: logging.Logger = logging.getLogger(__name__)

current_account: contextvars.ContextVar[str] = contextvars.ContextVar("kaskada_server_account")
"""The account of the call being served, set by the interceptor."""

PUBLIC_PREFIXES = ("/grpc.health.v1.Health/", "/grpc.reflection.")
"""Services anyone may call: standard tools inspect the server with them."""

_TOKEN = re.compile(r"[A-Za-z0-9_\-]{16,512}")
_HOW = "get a token from the token endpoint and send 'authorization: Bearer <token>'"

MISSING = f"no credentials on the call: {_HOW}"
CLIENT_ID_ONLY = (
    "a client-id header is not a credential on this server (a client id is not a secret): "
    "exchange the client id and secret for a token at the token endpoint and send "
    "'authorization: Bearer <token>'"
)
MALFORMED = (
    "malformed authorization metadata: expected 'Bearer <token>' or the raw token "
    "(URL-safe characters only)"
)
UNKNOWN = f"unknown access token (not issued by this server, or long expired): {_HOW}"
EXPIRED = "access token expired: get a new one from the token endpoint"
REVOKED = "access token of a revoked client: ask the server's operator for a new client"


def check(metadata: tuple[tuple[str, str | bytes], ...] | None, store: Store) -> str:
    """The account the call's credentials belong to; raises _Refused with the reason."""
    values = [value for key, value in metadata or () if key == "authorization"]
    if not values:
        if any(key == "client-id" for key, _ in metadata or ()):
            raise _Refused(CLIENT_ID_ONLY)
        raise _Refused(MISSING)
    if len(values) > 1 or not isinstance(values[0], str):
        raise _Refused(MALFORMED)
    value = values[0].strip()
    scheme, _, rest = value.partition(" ")
    token = rest.strip() if scheme.lower() == "bearer" else value
    if not _TOKEN.fullmatch(token):
        raise _Refused(MALFORMED)
    info = store.lookup_token(token)
    if info is None:
        raise _Refused(UNKNOWN)
    if info.revoked:
        raise _Refused(REVOKED)
    if info.expires <= time.time():
        raise _Refused(EXPIRED)
    return info.account


class _Refused(Exception):
    pass


if TYPE_CHECKING:
    _Interceptor = grpc.ServerInterceptor[Any, Any]
else:  # grpc's runtime class is not generic; only its stubs are
    _Interceptor = grpc.ServerInterceptor


class AuthInterceptor(_Interceptor):
    """Admits TableService calls only with a live token; sets ``current_account``."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.refusals: LogSummary = LogSummary(log, "refused unauthenticated gRPC calls")
        self._wrapped: dict[str, grpc.RpcMethodHandler[Any, Any]] = {}

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler[Any, Any] | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = continuation(handler_call_details)
        method: str = handler_call_details.method
        if handler is None or method.startswith(PUBLIC_PREFIXES):
            return handler
        wrapped = self._wrapped.get(method)
        if wrapped is None:
            wrapped = self._wrapped[method] = self._wrap(method, handler)
        return wrapped

    def _wrap(
        self, method: str, handler: grpc.RpcMethodHandler[Any, Any]
    ) -> grpc.RpcMethodHandler[Any, Any]:
        """The method's handler with the check in front; built once per method."""
        if handler.unary_unary is None:  # every TableService method is unary
            return _unimplemented_handler(
                f"{method} streams, and this server authenticates unary calls only"
            )
        behavior = handler.unary_unary
        store = self._store
        refusals = self.refusals

        def authenticated(request: Any, context: grpc.ServicerContext) -> Any:
            try:
                account = check(context.invocation_metadata(), store)
            except _Refused as refused:
                refusals.note(str(refused).split(":")[0], f" ({method})")
                context.abort(grpc.StatusCode.UNAUTHENTICATED, str(refused))
            reset = current_account.set(account)
            try:
                return behavior(request, context)
            finally:
                current_account.reset(reset)

        return grpc.unary_unary_rpc_method_handler(
            authenticated,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )


def _unimplemented_handler(message: str) -> grpc.RpcMethodHandler[Any, Any]:
    """Fails closed: a streaming method added later is never served unauthenticated."""

    def refuse(request: Any, context: grpc.ServicerContext) -> Any:
        context.abort(grpc.StatusCode.UNIMPLEMENTED, message)

    return grpc.unary_unary_rpc_method_handler(refuse)
