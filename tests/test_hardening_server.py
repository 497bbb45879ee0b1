"""Hardening: a bounded fuzz pass over a real ``kaskada serve`` on loopback.

Every input goes to 127.0.0.1 only. Inputs come from a seeded ``random.Random``
so a failure replays exactly; a few hundred in all. After each batch the server
must still answer a valid authenticated call and still be running; at the end
it must stop cleanly and its log and output must hold neither the canary
client secret, nor the access token, nor a traceback.
"""

from __future__ import annotations

import base64
import http.client
import json
import random
import re
import socket
import string
import struct
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import grpc
import pytest
from google.protobuf.message import DecodeError

from kaskada.api.v1alpha import table_pb2
from tests.server_fixtures import bearer, fetch_token, table_stub

SEED = 20240611
SERVICE = "/kaskada.api.v1alpha.TableService/"
METHODS = ("ListTables", "GetTable", "CreateTable", "DeleteTable")
CANARY_PREFIX = "hardening-canary"
# Codes a server may answer a hostile call with. UNKNOWN (an unhandled exception in a
# handler) and UNAVAILABLE (a dead server) are not among them.
FINE = {
    grpc.StatusCode.OK,
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.INTERNAL,  # grpcio's answer when the request bytes do not deserialize
    grpc.StatusCode.UNAUTHENTICATED,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.ALREADY_EXISTS,
    grpc.StatusCode.RESOURCE_EXHAUSTED,  # metadata over the limit
}


class Target:
    """One fresh server, a client of it whose secret is the canary, and its token."""

    def __init__(self, server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
        from kaskada.server import store as store_module

        self.server = server
        real = store_module.new_identifier
        self.canary = f"{CANARY_PREFIX}-{random.Random().getrandbits(64):016x}"
        names = iter([f"hardening-client-{random.Random().getrandbits(32):08x}", self.canary])
        monkeypatch.setattr(store_module, "new_identifier", lambda n: next(names, None) or real(n))
        self.client_id, secret = server.add_client("hardening")
        assert secret == self.canary
        self.token = fetch_token(server, self.client_id, self.canary)
        self.channel = grpc.insecure_channel(server.endpoint)
        self.stub = table_stub(server.endpoint)
        parts = urlsplit(server.token_url)
        assert parts.hostname == "127.0.0.1"
        self.http_host, self.http_port = parts.hostname, int(parts.port or 80)

    def raw(self, method: str) -> Any:
        return self.channel.unary_unary(
            SERVICE + method, request_serializer=None, response_deserializer=None
        )

    def assert_alive(self) -> None:
        """The process runs and a valid authenticated call succeeds."""
        assert self.server.process.poll() is None, self.server.log()
        response = self.stub.ListTables(
            table_pb2.ListTablesRequest(page_size=1), metadata=bearer(self.token), timeout=10
        )
        assert response.next_page_token is not None

    def close(self) -> None:
        self.channel.close()
        self.stub.channel.close()


@pytest.fixture
def target(start_server: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Target]:
    server = start_server(verbose=True)
    target = Target(server, monkeypatch)
    try:
        yield target
    finally:
        target.close()
        code = server.stop()
        log, output = server.log(), server.output()
        assert code == 0, log
        for text in (log, output):
            assert target.canary not in text
            assert target.token not in text
            assert "Traceback" not in text, text[-3000:]
        files = b"".join(
            path.read_bytes()
            for path in server.db.parent.iterdir()
            if path.name.startswith(server.db.name)
        )
        assert target.canary.encode() not in files and target.token.encode() not in files


def code_of(call: Any, *args: Any, **kwargs: Any) -> grpc.StatusCode:
    try:
        call(*args, timeout=10, **kwargs)
    except grpc.RpcError as error:
        return error.code()
    return grpc.StatusCode.OK


# --- gRPC: malformed request bytes ------------------------------------------------


def _valid_requests() -> dict[str, bytes]:
    table = table_pb2.Table(
        table_name="fuzz_table", time_column_name="t", entity_key_column_name="k"
    )
    return {
        "ListTables": table_pb2.ListTablesRequest(page_size=5, search="f").SerializeToString(),
        "GetTable": table_pb2.GetTableRequest(table_name="fuzz_table").SerializeToString(),
        "CreateTable": table_pb2.CreateTableRequest(table=table).SerializeToString(),
        "DeleteTable": table_pb2.DeleteTableRequest(table_name="nope").SerializeToString(),
    }


def malformed(rng: random.Random, valid: bytes) -> bytes:
    """One hostile message: random, mutated, truncated or with lying lengths and wire types."""
    kind = rng.randrange(8)
    if kind == 0:
        return rng.randbytes(rng.randrange(1, 64))
    if kind == 1 and valid:
        data = bytearray(valid)
        for _ in range(rng.randrange(1, 4)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        return bytes(data)
    if kind == 2 and len(valid) > 1:
        return valid[: rng.randrange(1, len(valid))]
    if kind == 3:  # field 1, length-delimited, claiming far more bytes than follow
        return b"\x0a\xff\xff\xff\xff\x0f" + rng.randbytes(8)
    if kind == 4:  # invalid UTF-8 in a string field
        return b"\x0a\x04\xff\xfe\xfd\xfc"
    if kind == 5:  # every field number with a wrong wire type
        return bytes([(rng.randrange(1, 20) << 3) | rng.choice([0, 1, 2, 5])]) + rng.randbytes(9)
    if kind == 6:  # deep nesting of field 1 (a Table inside CreateTable, then deeper)
        depth = rng.randrange(50, 200)
        nested = b""
        for _ in range(depth):
            nested = b"\x0a" + _varint(len(nested)) + nested
        return nested
    return valid + rng.randbytes(rng.randrange(1, 16))  # trailing garbage / unknown fields


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def test_malformed_protobuf_to_each_method(target: Target) -> None:
    rng = random.Random(SEED)
    valid = _valid_requests()
    seen: dict[str, set[grpc.StatusCode]] = {}
    for method in METHODS:
        call = target.raw(method)
        codes = seen.setdefault(method, set())
        request_type = getattr(table_pb2, f"{method}Request")
        for _ in range(30):
            data = malformed(rng, valid[method])
            code = code_of(call, data, metadata=bearer(target.token))
            codes.add(code)
            try:
                request_type.FromString(data)
            except DecodeError:  # grpcio answers bytes that do not deserialize with INTERNAL
                assert code == grpc.StatusCode.INTERNAL, (method, data, code)
            else:  # a message that parses is the handler's to answer, never INTERNAL/UNKNOWN
                assert code in FINE - {grpc.StatusCode.INTERNAL}, (method, data, code)
        # and without credentials: refused, whatever the bytes
        for _ in range(5):
            code = code_of(call, malformed(rng, valid[method]))
            assert code in {grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.INTERNAL}, code
        target.assert_alive()
    for method, codes in seen.items():
        assert codes <= FINE, (method, codes)
        assert codes - {grpc.StatusCode.OK}, method  # the fuzz did reach the error paths


def test_unknown_methods_and_services_are_unimplemented(target: Target) -> None:
    for path in ("Nope", "listtables", "ListTables/extra", "../ListTables", "\u00e9"):
        call = target.channel.unary_unary(
            SERVICE + path, request_serializer=None, response_deserializer=None
        )
        assert code_of(call, b"", metadata=bearer(target.token)) == grpc.StatusCode.UNIMPLEMENTED
    call = target.channel.unary_unary(
        "/kaskada.api.v1alpha.Nope/ListTables", request_serializer=None, response_deserializer=None
    )
    assert code_of(call, b"") == grpc.StatusCode.UNIMPLEMENTED
    target.assert_alive()


# --- gRPC: hostile metadata -------------------------------------------------------


def test_huge_and_many_metadata_entries(target: Target) -> None:
    call = target.raw("ListTables")
    request = table_pb2.ListTablesRequest().SerializeToString()
    huge: list[list[tuple[str, str | bytes]]] = [
        [("authorization", "Bearer " + "a" * 65536)],
        [("authorization", "a" * 65536)],
        [("authorization", f"Bearer {target.token}"), ("x-pad", "p" * 65536)],
        [("authorization", f"Bearer {target.token}"), *[(f"x-h-{i}", "v") for i in range(500)]],
        [(f"x-h-{i}", "v" * 100) for i in range(200)],
        [("authorization", f"Bearer {target.token}"), ("authorization", f"Bearer {target.token}")],
        [("authorization-bin", target.token.encode())],
        [("client-id", target.client_id)],
        [("client-id", "c" * 65536)],
    ]
    for metadata in huge:
        code = code_of(call, request, metadata=metadata)
        assert code in FINE - {grpc.StatusCode.OK}, (code, [k for k, _ in metadata][:3])
        target.assert_alive()


def random_authorization(rng: random.Random, token: str) -> str:
    printable = string.ascii_letters + string.digits + string.punctuation + " "
    kind = rng.randrange(7)
    if kind == 0:
        return "".join(rng.choice(printable) for _ in range(rng.randrange(0, 80)))
    if kind == 1:
        return "Bearer " + "".join(rng.choice(printable) for _ in range(rng.randrange(0, 80)))
    if kind == 2:  # the real token, damaged
        spot = rng.randrange(len(token))
        other = rng.choice(string.ascii_letters.replace(token[spot], ""))
        return "Bearer " + token[:spot] + other + token[spot + 1 :]
    if kind == 3:
        return rng.choice(["Basic ", "bearer", "Bearer", "Token ", "Bearer  Bearer "]) + token[:-1]
    if kind == 4:
        return token + rng.choice(["x", "=", " x", "~"])
    if kind == 5:
        return "Bearer " + token[: rng.randrange(1, 16)]
    return "Basic " + base64.b64encode(f"{token}:{token}".encode()).decode()


def test_random_authorization_values_are_refused(target: Target) -> None:
    rng = random.Random(SEED + 1)
    call = target.raw("ListTables")
    request = table_pb2.ListTablesRequest().SerializeToString()
    for _ in range(80):
        # grpcio itself refuses values with surrounding spaces before sending them
        value = random_authorization(rng, target.token).strip()
        code = code_of(call, request, metadata=[("authorization", value)])
        assert code == grpc.StatusCode.UNAUTHENTICATED, (code, len(value))
    target.assert_alive()


# --- the token endpoint over raw sockets ------------------------------------------


def exchange_raw(target: Target, data: bytes, *, shutdown_write: bool = False) -> bytes:
    """Send ``data`` on a fresh connection; the bytes answered until close (or 5 s)."""
    with socket.create_connection((target.http_host, target.http_port), timeout=5) as sock:
        try:
            sock.sendall(data)
            if shutdown_write:
                sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the server may close early on an oversized request: fine
        chunks: list[bytes] = []
        try:
            while len(chunks) < 64:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
                if _complete(b"".join(chunks)):
                    break
        except (TimeoutError, ConnectionResetError):
            pass
        return b"".join(chunks)


def _complete(answer: bytes) -> bool:
    head, sep, body = answer.partition(b"\r\n\r\n")
    if not sep:
        return False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value.strip())
    return True


def status_of(answer: bytes) -> int:
    """The status of an HTTP/1.x answer, or of http.server's bare HTML error page.

    To a request line without a (valid) HTTP/1.x version, ``http.server``
    answers as HTTP/0.9 does: the error page without a status line.
    """
    if answer.startswith(b"HTTP/1."):
        return int(answer.split(b" ", 2)[1])
    match = re.search(rb"<p>Error code: (\d{3})</p>", answer)
    assert match, answer[:200]
    return int(match.group(1))


def request(method: str, path: str, body: bytes, headers: dict[str, str]) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def test_token_endpoint_hostile_requests(target: Target) -> None:
    rng = random.Random(SEED + 2)
    canary = target.canary
    form = "application/x-www-form-urlencoded"
    good = f"grant_type=client_credentials&client_id={target.client_id}&client_secret={canary}"
    cases: list[tuple[bytes, set[int]]] = [
        # oversized: declared and sent
        (request("POST", "/oauth/token", b"a=" + b"x" * 200_000, {"Content-Type": form,
                 "Content-Length": "200002"}), {413}),
        (request("POST", "/oauth/token", b"", {"Content-Type": form,
                 "Content-Length": str(10**12)}), {413}),
        (request("POST", "/oauth/token", b"", {"Content-Type": form,
                 "Content-Length": "-1"}), {400, 413}),
        (request("POST", "/oauth/token", b"", {"Content-Type": form,
                 "Content-Length": "12abc"}), {400}),
        (request("POST", "/oauth/token", b"", {"Content-Type": form,
                 "Transfer-Encoding": "chunked"}), {400}),
        (request("POST", "/oauth/token", good.encode(), {"Content-Type": form}), {400}),
        # wrong content types, invalid UTF-8, wrong JSON shapes, the canary in odd places
        (request("POST", "/oauth/token", good.encode(), {"Content-Type": "text/plain",
                 "Content-Length": str(len(good))}), {400}),
        (request("POST", "/oauth/token", b"\xff\xfe" + good.encode(), {"Content-Type": form,
                 "Content-Length": str(len(good) + 2)}), {400, 401}),
        (request("POST", "/oauth/token", b'{"client_secret": "\xff"}', {"Content-Type":
                 "application/json", "Content-Length": "21"}), {400}),
        (request("POST", "/oauth/token", b"[" * 50 + b"]" * 50, {"Content-Type":
                 "application/json", "Content-Length": "100"}), {400}),
        (request("POST", "/oauth/token?client_secret=" + canary, b"", {"Content-Length": "0"}),
         {400, 401}),
        (request("GET", "/oauth/token?client_secret=" + canary, b"", {}), {405}),
        (request("POST", "/oauth/token", b"", {"Content-Length": "0", "Authorization":
                 "Basic " + base64.b64encode(f"{target.client_id}:{canary}x".encode()).decode()}),
         {400, 401}),
        (request("POST", "/oauth/token", b"", {"Content-Length": "0", "Authorization":
                 "Basic !!!" + canary}), {401}),
        (request("POST", "/oauth/token", b"", {"Content-Length": "0", "Authorization":
                 "Bearer " + target.token}), {401}),
        # garbage methods, paths and request lines
        (request("BREW", "/oauth/token", b"", {}), {501}),
        (request("POST", "/" + "a" * 70_000, b"", {"Content-Length": "0"}), {414, 431}),
        (request("POST", "*", b"", {"Content-Length": "0"}), {404}),
        (request("POST", "/../../etc/passwd", b"", {"Content-Length": "0"}), {404}),
        (request("POST", "/oauth/token", b"", {f"X-H-{i}": "v" for i in range(150)}), {431}),
        (b"GET / HTTP/9.9\r\n\r\n", {505}),
        (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\0" * 40 + b"\r\n\r\n", {400}),
        (b"POST /oauth/token\r\n\r\n", {400}),
        (b"\r\n\r\n", set()),  # an empty request line: http.server just closes
    ]  # fmt: skip
    for _ in range(40):  # random request lines and headers
        line = bytes(rng.choice(b"ABCPOST /%?&=\x00\xff\t:") for _ in range(rng.randrange(1, 40)))
        # No "HTTP/x.y" can come out of that alphabet (no H), so every line is malformed: 400.
        cases.append((line + b"\r\n" + rng.randbytes(rng.randrange(0, 40)) + b"\r\n\r\n", {400}))
    for _ in range(40):  # random bodies, form and JSON
        kind = rng.choice([form, "application/json", "multipart/form-data", ""])
        body = rng.choice(
            [
                rng.randbytes(rng.randrange(0, 200)),
                json.dumps(
                    {
                        rng.choice(["client_id", "client_secret", "grant_type", "x"]): rng.choice(
                            [1, None, [canary], {"a": canary}, canary, "client_credentials"]
                        )
                        for _ in range(3)
                    }
                ).encode(),
            ]
        )
        headers = {"Content-Length": str(len(body))}
        if kind:
            headers["Content-Type"] = kind
        cases.append((request("POST", "/oauth/token", body, headers), {400, 401}))
    for index, (data, expected) in enumerate(cases):
        answer = exchange_raw(target, data)
        if answer:
            status = status_of(answer)
            assert status != 500, (index, answer[:200])
            if expected:
                assert status in expected, (index, data[:80], answer[:300])
            assert canary.encode() not in answer and target.token.encode() not in answer
        else:
            # only requests the HTTP layer itself may drop without an answer
            assert not expected, (index, data[:80])
        if index % 25 == 0:
            target.assert_alive()
    target.assert_alive()


def test_truncated_bodies_and_abandoned_connections(target: Target) -> None:
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    body = f"grant_type=client_credentials&client_id={target.client_id}&client_secret=".encode()
    for cut in (0, 5, len(body) // 2, len(body)):
        declared = {**form, "Content-Length": str(len(body) + 100)}
        answer = exchange_raw(
            target, request("POST", "/oauth/token", body[:cut], declared), shutdown_write=True
        )
        if answer:
            assert status_of(answer) in {400, 401}, answer[:200]
    # connections that send half a request and wait: the server answers or times them out
    waiting = [
        socket.create_connection((target.http_host, target.http_port), timeout=5) for _ in range(3)
    ]
    for sock, partial in zip(
        waiting,
        (
            b"POS",
            b"POST /oauth/token HTTP/1.1\r\nHost: x",
            b"POST /oauth/token HTTP/1.1\r\nContent-Length: 50\r\n\r\ngrant",
        ),
        strict=True,
    ):
        sock.sendall(partial)
    try:
        target.assert_alive()  # the waiting connections hold no lock the grant needs
        assert fetch_token(target.server, target.client_id, target.canary) != target.token
    finally:
        for sock in waiting:  # end politely and read the answer (a reset is tested below)
            with sock:
                sock.shutdown(socket.SHUT_WR)
                answer = sock.recv(65536)
                if answer:
                    assert status_of(answer) == 400, answer[:200]
    target.assert_alive()
    # and the endpoint still grants tokens to the right client
    assert fetch_token(target.server, target.client_id, target.canary) != target.token


def test_token_endpoint_answers_keep_alive_requests_after_errors(target: Target) -> None:
    connection = http.client.HTTPConnection(target.http_host, target.http_port, timeout=10)
    try:
        for body in (b"{", b"grant_type=password", b"\xff", b"a=1&a=2"):
            connection.request(
                "POST",
                "/oauth/token",
                body=body,
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            )
            response = connection.getresponse()
            assert response.status == 400
            assert json.loads(response.read())["error"] in {
                "invalid_request",
                "unsupported_grant_type",
            }
    finally:
        connection.close()
    target.assert_alive()


def test_deeply_nested_json_body_is_invalid_request(start_server: Any) -> None:
    server = start_server()
    parts = urlsplit(server.token_url)
    connection = http.client.HTTPConnection("127.0.0.1", int(parts.port or 80), timeout=10)
    try:
        connection.request(
            "POST", "/oauth/token", body=b"[" * 8000, headers={"Content-Type": "application/json"}
        )
        response = connection.getresponse()
        assert response.status == 400
        assert json.loads(response.read())["error"] == "invalid_request"
    finally:
        connection.close()
    assert server.stop() == 0
    assert "Traceback" not in server.log()


def _vanish(host: str, port: int, partial: bytes) -> None:
    """Send part of a request, then reset the connection (SO_LINGER 0: an RST, not a FIN)."""
    sock = socket.create_connection((host, port), timeout=5)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.sendall(partial)
    sock.close()


def test_a_client_resetting_mid_request_leaves_no_traceback(start_server: Any) -> None:
    server = start_server()
    port = int(urlsplit(server.token_url).port or 80)
    for partial in (
        b"POST /oauth/token HTTP/1.1\r\nContent-Length: 50\r\n\r\ngrant",
        b"POST /oauth/token HTTP/1.1\r\nHost: x",
    ):
        _vanish("127.0.0.1", port, partial)
    client_id, secret = server.add_client("vanish")
    assert fetch_token(server, client_id, secret)  # still serving
    assert server.stop() == 0
    assert "Traceback" not in server.log()
