"""Capture servers on loopback: they record every request they receive.

``CaptureHTTP`` records the method, path, headers and body of each HTTP request
and answers with ``respond`` (by default an RFC 6749 error that echoes the
request back, as a hostile or careless token endpoint might). ``EchoGrpc`` is a
TableService that records the metadata of each call and fails it with a status
message and a BadRequest detail that echo the ``authorization`` header.
Tests assert that a secret never arrives at them, and that what they echo never
reaches the user. A pytest plugin (conftest loads it): the ``capture`` fixture is
one CaptureHTTP for one test.
"""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

Answer = tuple[int, dict[str, str], bytes]


def echo_error(request: dict[str, Any]) -> Answer:
    """A 400 whose error_description repeats the request's body and headers."""
    echoed = f"you sent {request['body'].decode('latin-1')} with {request['headers']}"
    body = json.dumps({"error": "invalid_client", "error_description": echoed}).encode()
    return 400, {"Content-Type": "application/json"}, body


class CaptureHTTP:
    """A threaded HTTP server on 127.0.0.1 that records everything it is sent."""

    def __init__(self, respond: Callable[[dict[str, Any]], Answer] = echo_error) -> None:
        self.requests: list[dict[str, Any]] = []
        capture = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                request = {
                    "method": self.command,
                    "path": self.path,
                    "headers": dict(self.headers.items()),
                    "body": body,
                }
                capture.requests.append(request)
                status, headers, payload = respond(request)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = _handle

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/oauth/token"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def received(self) -> bytes:
        """Every byte of every recorded request (headers and bodies)."""
        return b"".join(
            json.dumps(request["headers"]).encode() + request["path"].encode() + request["body"]
            for request in self.requests
        )

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class EchoGrpc:
    """A TableService on 127.0.0.1 that records metadata and echoes it in its errors."""

    def __init__(self, message_suffix: str = "") -> None:
        from concurrent import futures

        import grpc
        from google.protobuf import any_pb2
        from google.rpc import code_pb2, error_details_pb2, status_pb2
        from grpc_status import rpc_status

        self.metadata: list[dict[str, str]] = []
        capture = self

        def handle(request: Any, context: Any) -> Any:
            received = {key: str(value) for key, value in context.invocation_metadata()}
            capture.metadata.append(received)
            auth = received.get("authorization", "")
            detail = any_pb2.Any()
            detail.Pack(
                error_details_pb2.BadRequest(
                    field_violations=[
                        error_details_pb2.BadRequest.FieldViolation(
                            field="authorization", description=f"bad header {auth}"
                        )
                    ]
                )
            )
            status = status_pb2.Status(
                code=code_pb2.INVALID_ARGUMENT,
                message=f"you sent authorization: {auth}{message_suffix}",
                details=[detail],
            )
            context.abort_with_status(rpc_status.to_status(status))

        def lookup(details: Any) -> Any:
            return grpc.unary_unary_rpc_method_handler(
                handle, request_deserializer=lambda raw: raw, response_serializer=lambda m: m
            )

        class Generic(grpc.GenericRpcHandler):
            def service(self, handler_call_details: Any) -> Any:
                return lookup(handler_call_details)

        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        self.server.add_generic_rpc_handlers((Generic(),))
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.endpoint = f"127.0.0.1:{self.port}"
        self.server.start()

    def close(self) -> None:
        self.server.stop(None)


@pytest.fixture
def capture() -> Iterator[CaptureHTTP]:
    """A CaptureHTTP answering every request with ``echo_error``, for one test."""
    server = CaptureHTTP()
    yield server
    server.close()
