"""The OAuth2 token endpoint: ``POST /oauth/token``, client-credentials grant only.

Built on the standard library's ``http.server.ThreadingHTTPServer``: a
well-kept HTTP/1.1 parser that ships with Python, so no request is parsed by
hand here and no dependency is added. Bodies are read by Content-Length (with
a small limit), forms by ``urllib.parse.parse_qs``, JSON by ``json``.

Accepted (RFC 6749 §4.4 and PROTOCOL.md): a form-encoded body, a JSON body (as
Auth0 took it), and HTTP Basic client authentication (§2.3.1). Errors are the
§5.2 JSON shape. Nothing logged here carries a secret, a token or a query string.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import socket
import ssl
import sys
import threading
import urllib.parse
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from kaskada.server.store import Store

log = logging.getLogger("kaskada.server")

TOKEN_PATH = "/oauth/token"
MAX_BODY_BYTES = 8192
REQUEST_TIMEOUT_SECONDS = 10.0


class OAuthError(Exception):
    """An RFC 6749 §5.2 error answer."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status


class TokenHTTPServer(ThreadingHTTPServer):
    """A threading HTTP server that knows the store, the token lifetime and TLS."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self,
        address: tuple[str, int],
        store: Store,
        *,
        token_ttl: int,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, TokenRequestHandler)
        self.store = store
        self.token_ttl = token_ttl
        self.ssl_context = ssl_context
        self._thread: threading.Thread | None = None

    def get_request(self) -> tuple[socket.socket, Any]:
        connection, address = super().get_request()
        if self.ssl_context is not None:
            # The handshake runs on the handler's thread at first read, under its
            # timeout, so a slow client cannot stall accept().
            connection = self.ssl_context.wrap_socket(
                connection, server_side=True, do_handshake_on_connect=False
            )
        return connection, address

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        """Serve one connection on its own thread, then close that thread's database
        connection: threads here live for one connection, and an open SQLite
        connection per finished thread would leak two file descriptors per request."""
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.store.release_thread()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that drops its connection is routine: one log line, no traceback."""
        error = sys.exc_info()[1]
        if isinstance(error, ConnectionError | ssl.SSLError | TimeoutError):
            log.debug("token endpoint: connection from %s ended: %s",
                      client_address[0], type(error).__name__)
            return
        log.error("token endpoint: unexpected %s while serving %s",
                  type(error).__name__, client_address[0])

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self.serve_forever, name="kaskada-token-endpoint", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        if self._thread is not None:
            self._thread.join()


class TokenRequestHandler(BaseHTTPRequestHandler):
    server: TokenHTTPServer
    protocol_version = "HTTP/1.1"
    server_version = "kaskada-token"
    sys_version = ""
    timeout = REQUEST_TIMEOUT_SECONDS

    # -- logging: method, path without query, status; never args that may hold secrets

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        path = urllib.parse.urlsplit(getattr(self, "path", "")).path
        log.debug("token endpoint %s %s -> %s", getattr(self, "command", "?"), path, code)

    def log_error(self, format: str, *args: Any) -> None:
        log.debug("token endpoint: malformed HTTP request refused")

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("token endpoint: %s", format.split("%")[0].strip() or "event")

    # -- methods -------------------------------------------------------------

    def do_POST(self) -> None:
        if urllib.parse.urlsplit(self.path).path != TOKEN_PATH:
            self._send_json(HTTPStatus.NOT_FOUND, {"error": "not_found",
                            "error_description": f"no such endpoint: POST {TOKEN_PATH}"})
            return
        try:
            answer = self._token_request()
        except OAuthError as error:
            headers = {}
            # RFC 6749 §5.2: a 401 to a client that used the Authorization header
            # names the scheme it should use.
            if error.status == 401 and "Authorization" in self.headers:
                headers["WWW-Authenticate"] = 'Basic realm="kaskada", charset="UTF-8"'
            self._send_json(
                error.status,
                {"error": error.error, "error_description": error.description},
                headers,
            )
            return
        self._send_json(HTTPStatus.OK, answer)

    def do_GET(self) -> None:
        self._method_not_allowed()

    do_PUT = do_DELETE = do_PATCH = do_HEAD = do_GET

    def _method_not_allowed(self) -> None:
        self._send_json(
            HTTPStatus.METHOD_NOT_ALLOWED,
            {"error": "invalid_request",
             "error_description": f"use POST {TOKEN_PATH} with grant_type=client_credentials"},
            {"Allow": "POST"},
        )

    # -- the grant -----------------------------------------------------------

    def _token_request(self) -> dict[str, Any]:
        fields = self._read_fields()
        basic = self._basic_credentials()
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
            client_id, secret = basic
        else:
            client_id = fields.get("client_id", "")
            secret = fields.get("client_secret", "")
            if not client_id or not secret:
                raise OAuthError(
                    "invalid_client",
                    "no client authentication: send client_id and client_secret "
                    "(in the body or by HTTP Basic)",
                    401,
                )
        store = self.server.store
        client = store.authenticate_client(client_id, secret)
        if client is None:
            raise OAuthError(
                "invalid_client", "client authentication failed: unknown client or wrong secret",
                401,
            )
        if client.revoked is not None:
            raise OAuthError("invalid_client", f"client {client_id!r} was revoked", 401)
        ttl = self.server.token_ttl
        token = store.issue_token(client.client_id, ttl)
        log.info("issued a token to client %s (account %s)", client.client_id, client.account)
        return {"access_token": token.reveal(), "token_type": "Bearer", "expires_in": ttl}

    def _read_fields(self) -> dict[str, str]:
        length_header = self.headers.get("Content-Length")
        if self.headers.get("Transfer-Encoding") or length_header is None:
            raise OAuthError("invalid_request", "send the body with a Content-Length header")
        try:
            length = int(length_header)
        except ValueError:
            raise OAuthError("invalid_request", "Content-Length is not a number") from None
        if length < 0 or length > MAX_BODY_BYTES:
            self.close_connection = True
            raise OAuthError(
                "invalid_request",
                f"request body of {length} bytes is over the {MAX_BODY_BYTES}-byte limit",
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
            )
        body = self.rfile.read(length)
        content_type = self.headers.get_content_type()
        if content_type == "application/json":
            return self._json_fields(body)
        if content_type == "application/x-www-form-urlencoded" or not body:
            return self._form_fields(body)
        raise OAuthError(
            "invalid_request",
            f"Content-Type {content_type!r} is not supported: "
            "use application/x-www-form-urlencoded or application/json",
        )

    @staticmethod
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

    @staticmethod
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

    def _basic_credentials(self) -> tuple[str, str] | None:
        header = self.headers.get("Authorization")
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

    # -- answers -------------------------------------------------------------

    def _send_json(
        self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
    ) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json;charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("Pragma", "no-cache")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
