"""The OAuth2 token endpoint: ``POST /oauth/token``, client-credentials grant only.

Built on ``asyncio`` streams with ``h11`` (python-hyper's HTTP/1.1 parser, a
small pure-Python library with no dependencies) instead of ``http.server``,
whose documentation says it is not for production and which spends a thread
per connection. Here one event-loop thread holds every connection, so an idle
or trickling connection costs a socket and a few KiB, never a thread:

- at most ``max_connections`` open connections, below the process's file
  descriptor limit; a new connection beyond it closes the oldest one that is
  waiting for bytes (or, if every one is busy, the new one): serving never stops;
- a deadline for the *whole* request, from its first byte (or from the end of
  the previous answer on a kept-alive connection) to its last;
- a listen backlog of ``BACKLOG``;
- credential checks and database writes on a small pool of worker threads,
  with a bound on the requests waiting for them (beyond it: 503 ``Retry-After``);
- failed sign-ins limited per peer address and by a global budget (429
  ``Retry-After``), logged at INFO one line each within the budget and as one
  summary line per interval beyond it; a correct secret is always checked and
  always gets its token, so nobody can lock a client out; a full database
  answers 503 ``Retry-After``.

Accepted (RFC 6749 §4.4 and docs/protocol.md): a form-encoded body, a JSON body (as
Auth0 took it), and HTTP Basic client authentication (§2.3.1). Errors are the
§5.2 JSON shape. Nothing logged here carries a secret, a token or a query string.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import logging
import ssl
import sys
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

import h11

from kaskada.server.limits import FD_RESERVE, FailureLimiter, LogSummary
from kaskada.server.oauth_http import OAuthRoutes, claims
from kaskada.server.oauth_store import MAX_PENDING_DEVICE_CODES_PER_PEER
from kaskada.server.options import default_public_url
from kaskada.server.store import StorageFull, Store

log: logging.Logger = logging.getLogger(__name__)

TOKEN_PATH = "/oauth/token"
MAX_BODY_BYTES = 8192
MAX_HEADER_BYTES = 16384
"""The request line and header fields together, as docs/server.md says (431 beyond)."""
MAX_HEADERS = 100
REQUEST_DEADLINE_SECONDS = 10.0
"""The whole request (headers and body) must arrive within this, however it trickles."""
BACKLOG = 1024
WORKERS = 4
MAX_WAITING = 256
"""Requests queued for a worker beyond this are answered 503 at once."""
DEFAULT_MAX_CONNECTIONS = 2048
PEER_FAILURES = (100, 1.0)
"""Failed sign-ins per peer address: a burst of 100, then 1 a second."""
GLOBAL_FAILURES = (200, 2.0)
"""Failed sign-ins of the whole server, whatever the address: a burst of 200, then 2 a
second. Bounds the failure lines in the log when a flood comes from many addresses."""
GLOBAL = "*"
"""The global budget's one key."""
FULL_RETRY_AFTER = 30
_KNOWN_METHODS = {"POST", "GET", "HEAD", "PUT", "DELETE", "PATCH"}


class OAuthError(Exception):
    """An RFC 6749 §5.2 error answer."""

    def __init__(
        self, error: str, description: str, status: int = 400,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status
        self.headers: dict[str, str] = headers or {}


def connection_cap(requested: int | None = None) -> int:
    """Open connections allowed: the request (or the default), under the fd limit."""
    if sys.platform == "win32":  # no descriptor limit to stay under (no ``resource``)
        return max(8, requested or DEFAULT_MAX_CONNECTIONS)
    import resource  # POSIX only (returned above on Windows)

    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    room = DEFAULT_MAX_CONNECTIONS if soft == resource.RLIM_INFINITY else (soft - FD_RESERVE) // 2
    return max(8, min(requested or DEFAULT_MAX_CONNECTIONS, room))


@dataclass(eq=False)
class _Connection:
    writer: asyncio.StreamWriter
    opened: float = field(default_factory=time.monotonic)
    busy: bool = False


@dataclass
class _Response:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    close: bool = False
    head: bool = False
    html: str | None = None
    """A page (the device verification page) instead of the JSON ``body``."""


class TokenEndpoint:
    """The token endpoint on its own event-loop thread; ``start()`` binds and listens."""

    def __init__(
        self,
        address: tuple[str, int],
        store: Store,
        *,
        token_ttl: int,
        ssl_context: ssl.SSLContext | None = None,
        max_connections: int | None = None,
        public_url: str | None = None,
        device_codes_per_peer: int = MAX_PENDING_DEVICE_CODES_PER_PEER,
    ) -> None:
        """``public_url``: the issuer and page address clients reach (None: the bound
        address, a wildcard one as ``localhost``); ``device_codes_per_peer``: device codes
        one address may have waiting for approval."""
        self.store = store
        self.token_ttl = token_ttl
        self.max_connections: int = connection_cap(max_connections)
        self._address = address
        self._ssl = ssl_context
        self._loop = asyncio.new_event_loop()
        self._loop.set_exception_handler(self._loop_error)
        self._executor = ThreadPoolExecutor(WORKERS, thread_name_prefix="kaskada-token")
        self._connections: dict[_Connection, None] = {}  # insertion order = age
        self._waiting = 0
        self.by_peer: FailureLimiter = FailureLimiter(*PEER_FAILURES)
        self.failures: FailureLimiter = FailureLimiter(*GLOBAL_FAILURES)
        self.limited: LogSummary = LogSummary(
            log, "failed sign-ins beyond the rate limit (answered 429)")
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self.server_address: tuple[str, int] = address
        # Bind now, so a taken port is an error of the constructor (as before).
        self._server = self._loop.run_until_complete(
            asyncio.start_server(
                self._serve, address[0], address[1], backlog=BACKLOG, ssl=ssl_context,
                ssl_handshake_timeout=REQUEST_DEADLINE_SECONDS if ssl_context else None,
                limit=MAX_HEADER_BYTES * 2,
            )
        )
        sockname = self._server.sockets[0].getsockname()
        self.server_address = (sockname[0], sockname[1])
        self.base_url = public_url or default_public_url(
            "https" if ssl_context else "http", address[0], sockname[1])
        self.routes = OAuthRoutes(
            store, access_ttl=token_ttl, base_url=self.base_url,
            failure=self._failure, device_codes_per_peer=device_codes_per_peer)

    @staticmethod
    def _loop_error(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        """asyncio's own complaints (a failed handshake, an accept error): one quiet line."""
        error = context.get("exception")
        log.debug("token endpoint: %s%s", context.get("message", "event"),
                  f" ({type(error).__name__})" if error else "")

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="kaskada-token-endpoint", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        async def shut() -> None:
            if self._server is not None:
                self._server.close()
            for connection in list(self._connections):
                connection.writer.transport.abort()
            self._loop.stop()

        if self._thread is not None and self._thread.is_alive():
            asyncio.run_coroutine_threadsafe(shut(), self._loop)
            self._thread.join()
        elif self._server is not None:
            self._server.close()
        with contextlib.suppress(RuntimeError):
            self._loop.run_until_complete(asyncio.sleep(0))
        self._loop.close()
        self._executor.shutdown(wait=True, cancel_futures=True)
        self.limited.flush()
        self.routes.refused.flush()

    # -- connections -------------------------------------------------------------

    def _admit(self, connection: _Connection) -> bool:
        """Make room for a new connection: close the oldest idle one at the cap."""
        if len(self._connections) >= self.max_connections:
            victim = next((c for c in self._connections if not c.busy), None)
            if victim is None:
                return False
            victim.writer.transport.abort()
            self._connections.pop(victim, None)
        self._connections[connection] = None
        return True

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connection = _Connection(writer)
        if not self._admit(connection):
            writer.transport.abort()
            return
        peer = writer.get_extra_info("peername")
        host = str(peer[0]) if peer else "?"
        http = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEADER_BYTES)
        try:
            while True:
                try:
                    async with asyncio.timeout(REQUEST_DEADLINE_SECONDS):
                        request = await self._read(http, reader)
                except TimeoutError:
                    if http.their_state is h11.SEND_BODY or (
                        http.their_state is h11.IDLE and http.trailing_data[0]
                    ):
                        await self._send(http, writer, _Response(
                            HTTPStatus.REQUEST_TIMEOUT,
                            {"error": "invalid_request",
                             "error_description": "the request did not arrive in time"},
                            close=True))
                    return
                except _Early as early:
                    await self._send(http, writer, early.response)
                    return
                if request is None:
                    return
                connection.busy = True
                response = await self._answer(*request, host)
                response.head = request[0].method == b"HEAD"
                await self._send(http, writer, response)
                connection.busy = False
                if response.close or http.our_state is not h11.DONE:
                    return
                try:
                    http.start_next_cycle()
                except h11.LocalProtocolError:
                    return
        except (ConnectionError, ssl.SSLError, TimeoutError, h11.ProtocolError) as error:
            log.debug("token endpoint: connection from %s ended: %s", host, type(error).__name__)
        finally:
            self._connections.pop(connection, None)
            writer.close()

    async def _read(
        self, http: h11.Connection, reader: asyncio.StreamReader
    ) -> tuple[h11.Request, bytes] | None:
        """The next request and its body; None when the client closed the connection."""
        request: h11.Request | None = None
        body = bytearray()
        while True:
            try:
                event = http.next_event()
            except h11.RemoteProtocolError as error:
                raise _Early(_Response(
                    error.error_status_hint,
                    {"error": "invalid_request", "error_description": "malformed HTTP request"},
                    close=True)) from None
            if event is h11.NEED_DATA:
                http.receive_data(await reader.read(16384))
            elif isinstance(event, h11.Request):
                request = event
                self._check_length(event)
            elif isinstance(event, h11.Data):
                body += event.data
                if len(body) > MAX_BODY_BYTES:
                    raise _Early(_too_large(len(body)))
            elif isinstance(event, h11.EndOfMessage):
                if request is None:  # pragma: no cover - h11 orders its events
                    return None
                return request, bytes(body)
            else:  # ConnectionClosed or PAUSED
                return None

    @staticmethod
    def _check_length(request: h11.Request) -> None:
        if request.http_version not in (b"1.0", b"1.1"):
            raise _Early(_Response(
                HTTPStatus.HTTP_VERSION_NOT_SUPPORTED,
                {"error": "invalid_request", "error_description": "use HTTP/1.1"}, close=True))
        if len(request.headers) > MAX_HEADERS:
            raise _Early(_Response(
                HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE,
                {"error": "invalid_request",
                 "error_description": f"more than {MAX_HEADERS} headers"}, close=True))
        # h11's own bound holds only while the head is incomplete: a 20 KB head that
        # arrives in two reads passes it, so the head is measured once parsed too.
        size = len(request.method) + len(request.target) + sum(
            len(name) + len(value) + 4 for name, value in request.headers)
        if size > MAX_HEADER_BYTES:
            raise _Early(_Response(
                HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE,
                {"error": "invalid_request",
                 "error_description": f"request headers of {size} bytes are over the "
                                      f"{MAX_HEADER_BYTES}-byte limit"}, close=True))
        headers = {name: value for name, value in request.headers}
        if request.method != b"POST":
            return
        length = headers.get(b"content-length")
        if headers.get(b"transfer-encoding") or length is None:
            raise _Early(_Response(
                HTTPStatus.BAD_REQUEST,
                {"error": "invalid_request",
                 "error_description": "send the body with a Content-Length header"},
                close=True))
        if int(length) > MAX_BODY_BYTES:
            raise _Early(_too_large(int(length)))

    async def _send(
        self, http: h11.Connection, writer: asyncio.StreamWriter, response: _Response
    ) -> None:
        if response.html is not None:
            data, kind = response.html.encode(), "text/html;charset=UTF-8"
        else:
            data, kind = json.dumps(response.body).encode(), "application/json;charset=UTF-8"
        headers = [
            ("Content-Type", kind),
            ("Content-Length", str(len(data))),
            ("Cache-Control", "no-store"),
            ("Pragma", "no-cache"),
            ("Server", "kaskada-token"),
            *response.headers.items(),
        ]
        if response.close:
            headers.append(("Connection", "close"))
        try:
            out = http.send(h11.Response(
                status_code=int(response.status), headers=headers,
                reason=HTTPStatus(response.status).phrase.encode()))
            if not response.head:
                out = (out or b"") + (http.send(h11.Data(data=data)) or b"")
            out += http.send(h11.EndOfMessage()) or b""
        except h11.LocalProtocolError:
            return
        writer.write(out)
        async with asyncio.timeout(REQUEST_DEADLINE_SECONDS):
            await writer.drain()

    # -- requests ------------------------------------------------------------------

    async def _answer(self, request: h11.Request, body: bytes, peer: str) -> _Response:
        target = request.target.decode("latin-1")
        method = request.method.decode("latin-1")
        if method not in _KNOWN_METHODS:
            return _Response(
                HTTPStatus.NOT_IMPLEMENTED,
                {"error": "invalid_request",
                 "error_description": f"method {method[:20]!r} is not supported: use POST"})
        routed = await self._route(request, body, peer)
        if routed is not None:
            return routed
        if method != "POST":
            return _Response(
                HTTPStatus.METHOD_NOT_ALLOWED,
                {"error": "invalid_request",
                 "error_description": f"use POST {TOKEN_PATH} with grant_type=client_credentials"},
                {"Allow": "POST"})
        if urllib.parse.urlsplit(target).path != TOKEN_PATH:
            return _Response(HTTPStatus.NOT_FOUND, {"error": "not_found",
                             "error_description": f"no such endpoint: POST {TOKEN_PATH}"})
        headers = {name.decode("latin-1").lower(): value.decode("latin-1")
                   for name, value in request.headers}
        try:
            client_id, secret = _credentials(headers, body)
            if self._waiting >= MAX_WAITING:
                raise OAuthError("temporarily_unavailable",
                                 "the server is busy: try again in a second", 503,
                                 {"Retry-After": "1"})
            self._waiting += 1
            try:
                answer = await self._loop.run_in_executor(
                    self._executor, self._grant, client_id, secret, peer
                )
            finally:
                self._waiting -= 1
        except OAuthError as error:
            extra = dict(error.headers)
            # RFC 6749 §5.2: a 401 to a client that used the Authorization header
            # names the scheme it should use.
            if error.status == 401 and "authorization" in headers:
                extra["WWW-Authenticate"] = 'Basic realm="kaskada", charset="UTF-8"'
            return _Response(error.status,
                             {"error": error.error, "error_description": error.description},
                             extra)
        return _Response(HTTPStatus.OK, answer)

    async def _route(self, request: h11.Request, body: bytes, peer: str) -> _Response | None:
        """Device login, refresh, exchange, revocation, metadata and the verification page
        (``kaskada.server.oauth_http``), on a worker; None for a client-credentials request."""
        target = request.target.decode("latin-1")
        method = request.method.decode("latin-1")
        headers = {name.decode("latin-1").lower(): value.decode("latin-1")
                   for name, value in request.headers}
        try:
            fields = _read_fields(headers, body) if method == "POST" else {}
        except OAuthError:
            fields = {}
        path = urllib.parse.urlsplit(target).path
        if not claims(method, path, fields.get("grant_type")):
            return None
        if self._waiting >= MAX_WAITING:
            return _Response(HTTPStatus.SERVICE_UNAVAILABLE,
                             {"error": "temporarily_unavailable",
                              "error_description": "the server is busy: try again in a second"},
                             {"Retry-After": "1"})
        self._waiting += 1
        try:
            answer = await self._loop.run_in_executor(
                self._executor, self.routes.handle, method, target, headers, fields, peer)
        finally:
            self._waiting -= 1
        return _Response(answer.status, answer.body or {}, answer.headers, html=answer.html)

    def _failure(self, peer: str) -> tuple[int, str]:
        """Count one failure (a wrong secret, password, code or subject token) against the
        peer's budget and the global one: ``(0, "")`` within both (the caller logs its own
        line), else (seconds to wait, whose budget ran out), counted in the log summary.

        Only failures are counted, after the credential was checked: a correct credential
        is never refused, so nobody can lock a client or a person out by failing in their
        name; the limits bound what failures cost (log lines, answers inviting a retry).
        """
        for limiter, key, whose in ((self.by_peer, peer, "from this address"),
                                    (self.failures, GLOBAL, "on this server")):
            wait = limiter.take(key)
            if wait:
                self.limited.note(f"too many failed sign-ins {whose}", f" (peer {peer})")
                return wait, whose
        return 0, ""

    def _refuse_failure(self, peer: str) -> None:
        """A failed client sign-in beyond the limits: 429 ``Retry-After``."""
        wait, whose = self._failure(peer)
        if wait:
            raise OAuthError(
                "temporarily_unavailable",
                f"client authentication failed, and there were too many failed sign-ins "
                f"{whose}: try again in {wait} s",
                HTTPStatus.TOO_MANY_REQUESTS, {"Retry-After": str(wait)})

    def _grant(self, client_id: str, secret: str, peer: str) -> dict[str, Any]:
        """On a worker thread: check the secret and issue a token."""
        store = self.store
        try:
            outcome = store.sign_in(client_id, secret)
            client = outcome.client
            if client is None or client.revoked is not None:
                reason = outcome.reason if client is None else "revoked client"
                self._refuse_failure(peer)
                log.info("sign-in failed: client %s from %s: %s", repr(client_id[:64]), peer,
                         reason)
                if client is None:
                    raise OAuthError(
                        "invalid_client",
                        "client authentication failed: unknown client or wrong secret", 401)
                raise OAuthError("invalid_client", f"client {client_id!r} was revoked", 401)
            ttl = self.token_ttl
            token = store.issue_token(client.client_id, ttl)
        except StorageFull:
            log.warning("token request refused: the database or disk is full")
            raise OAuthError(
                "temporarily_unavailable",
                "the server's storage is full: try again later (the operator must free "
                "disk space)", HTTPStatus.SERVICE_UNAVAILABLE,
                {"Retry-After": str(FULL_RETRY_AFTER)}) from None
        log.info("issued a token to client %s (account %s)", client.client_id, client.account)
        return {"access_token": token.reveal(), "token_type": "Bearer", "expires_in": ttl}


class _Early(Exception):
    """An answer decided before the request was read whole; the connection then closes."""

    def __init__(self, response: _Response) -> None:
        super().__init__(response.status)
        self.response = response


def _too_large(length: int) -> _Response:
    return _Response(
        HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
        {"error": "invalid_request",
         "error_description": f"request body of {length} bytes is over the "
                              f"{MAX_BODY_BYTES}-byte limit"},
        close=True)


def _credentials(headers: dict[str, str], body: bytes) -> tuple[str, str]:
    """(client id, secret) of a client-credentials request; OAuthError otherwise."""
    fields = _read_fields(headers, body)
    basic = _basic_credentials(headers.get("authorization"))
    grant_type = fields.get("grant_type")
    if not grant_type:
        raise OAuthError("invalid_request", "grant_type is required: send client_credentials")
    if grant_type != "client_credentials":
        raise OAuthError(
            "unsupported_grant_type",
            f"grant_type {grant_type[:40]!r} is not supported: use client_credentials",
        )
    if basic is not None:
        if "client_secret" in fields or fields.get("client_id", basic[0]) != basic[0]:
            raise OAuthError(
                "invalid_request",
                "client credentials sent both by HTTP Basic and in the body: use one",
            )
        return basic
    client_id = fields.get("client_id", "")
    secret = fields.get("client_secret", "")
    if not client_id or not secret:
        raise OAuthError(
            "invalid_client",
            "no client authentication: send client_id and client_secret "
            "(in the body or by HTTP Basic)",
            401,
        )
    return client_id, secret


def _read_fields(headers: dict[str, str], body: bytes) -> dict[str, str]:
    content_type = headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/json":
        return _json_fields(body)
    if content_type == "application/x-www-form-urlencoded" or not body:
        return _form_fields(body)
    raise OAuthError(
        "invalid_request",
        f"Content-Type {content_type[:80]!r} is not supported: "
        "use application/x-www-form-urlencoded or application/json",
    )


def _form_fields(body: bytes) -> dict[str, str]:
    try:
        parsed = urllib.parse.parse_qs(
            body.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(body),
            max_num_fields=20,
        )
    except (UnicodeDecodeError, ValueError):
        raise OAuthError("invalid_request", "the form body is not valid") from None
    repeated = sorted(name for name, values in parsed.items() if len(values) > 1)
    if repeated:
        raise OAuthError(
            "invalid_request", f"parameter {repeated[0][:40]!r} is given more than once"
        )
    return {name: values[0] for name, values in parsed.items()}


def _json_fields(body: bytes) -> dict[str, str]:
    try:
        value = json.loads(body)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise OAuthError("invalid_request", "the JSON body is not valid JSON") from None
    if not isinstance(value, dict):
        raise OAuthError("invalid_request", "the JSON body must be an object")
    fields: dict[str, str] = {}
    for name, item in value.items():
        if not isinstance(item, str):
            raise OAuthError(
                "invalid_request", f"JSON field {str(name)[:40]!r} must be a string"
            )
        fields[name] = item
    return fields


def _basic_credentials(header: str | None) -> tuple[str, str] | None:
    if header is None:
        return None
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        raise OAuthError(
            "invalid_client",
            f"authorization scheme {scheme[:20]!r} is not supported: use Basic",
            401,
        )
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise OAuthError("invalid_client", "HTTP Basic credentials are not valid base64",
                         401) from None
    user, colon, password = decoded.partition(":")
    if not colon or not user:
        raise OAuthError("invalid_client", "HTTP Basic credentials lack 'id:secret'", 401)
    # RFC 6749 §2.3.1: both parts are form-encoded before base64.
    return urllib.parse.unquote_plus(user), urllib.parse.unquote_plus(password)
